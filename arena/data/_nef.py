"""What a dataset's NeFs are (architecture, layout, dimensions), and their forward pass in numpy.

The forward passes are :mod:`arena.fields`' ``apply`` rewritten for numpy, with the same
float32 arithmetic: SIREN folds ``omega0 / pi`` into each hidden layer's ``W`` and ``b`` and
takes ``sin(pi * u)`` with an exact argument reduction (``u - round(u)``), RFFNet computes
``sin(2 pi x B)`` as ``sinpi(2 x B)`` and the cosine as ``sinpi(2 x B + 1/2)``, MFN's filters
are ``sinpi((x W + b) / pi)``. So a NeF evaluates without JAX to float32 accuracy
(``tests/test_data.py`` pins the agreement with the JAX ``apply``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from arena.errors import ConfigError
from arena.layout import Layout

ARCHS = ("siren", "rffnet", "mfn")


@dataclasses.dataclass(frozen=True)
class FieldInfo:
    """The NeF architecture of a dataset, as its manifest describes it.

    Attributes:
        arch: ``"siren"``, ``"rffnet"``, ``"mfn"``, or ``None`` when only a layout is known
            (then the layout's names tell a dense ``layers.*`` stack from an MFN).
        layout: the parameter layout.
        hparams: the architecture's hyperparameters (``omega0`` for SIREN).
        in_dim: coordinate dimension.
        out_dim: output channels.
    """

    arch: str | None
    layout: Layout
    hparams: Mapping[str, Any]
    in_dim: int
    out_dim: int

    @property
    def dense_layers(self) -> int:
        """How many ``layers.<l>`` dense layers the layout has."""
        return self.layout.depth("layers")

    @property
    def filters(self) -> int:
        """How many ``filters.<i>`` the layout has (MFN)."""
        return self.layout.depth("filters")


def field_info(target) -> FieldInfo:
    """The :class:`FieldInfo` of a manifest, a split, a manifest's JSON object or a layout.

    Args:
        target: an :class:`arena.format.Manifest`, a :class:`arena.data.Split`, a manifest as a
            mapping, or an :class:`arena.layout.Layout` (architecture then unknown).
    """
    if isinstance(target, FieldInfo):
        return target
    if isinstance(target, Layout):
        return FieldInfo(None, target, {}, target.entries[0][1][0], target.entries[-1][1][-1])
    info = getattr(target, "info", target)  # a Split carries its manifest as .info
    data = getattr(info, "data", info)
    if not isinstance(data, Mapping) or "field" not in data:
        raise ConfigError(
            f"Expected a manifest, a Split or a Layout; got {type(target).__name__}. "
            "Pass split.info or split.layout."
        )
    field = data["field"]
    layout = Layout.from_json(field["layout"])
    arch = field.get("arch")
    if arch not in ARCHS:
        raise ConfigError(f"Unknown NeF architecture {arch!r}; the Arena knows {list(ARCHS)}.")
    return FieldInfo(
        arch,
        layout,
        dict(field.get("hparams") or {}),
        int(field.get("in_dim", layout.entries[0][1][0])),
        int(field.get("out_dim", layout.entries[-1][1][-1])),
    )


def infer_arch(info: FieldInfo) -> str:
    """The architecture, or the one the layout's names imply (``"mlp"``: a dense stack)."""
    if info.arch is not None:
        return info.arch
    if info.filters:
        return "mfn"
    if "embedding.weight" in info.layout.names:
        return "rffnet"
    if info.dense_layers:
        return "mlp"
    raise ConfigError(
        f"The layout {list(info.layout.names)} has neither 'layers.0.weight' nor "
        "'filters.0.weight'; it is not a NeF layout the Arena knows."
    )


# --------------------------------------------------------------------------------------------
# Forward passes


def sinpi(u: np.ndarray) -> np.ndarray:
    """``sin(pi * u)`` with an exact argument reduction, in the dtype of ``u``."""
    k = np.round(u)
    f = u - k
    sign = 1 - 2 * (k - 2 * np.floor(0.5 * k))
    return sign * np.sin(np.pi * f).astype(u.dtype, copy=False)


def _dense(t: Mapping[str, np.ndarray], name: str, x: np.ndarray, scale: float = 1.0):
    w, b = t[f"{name}.weight"], t[f"{name}.bias"]
    if scale != 1.0:
        w, b = np.float32(scale) * w, np.float32(scale) * b
    return x @ w + b


def _siren(info: FieldInfo, t, x):
    n = info.dense_layers
    try:
        scale = float(info.hparams["omega0"]) / math.pi
    except KeyError:
        raise ConfigError("A SIREN's manifest must give field.hparams.omega0.") from None
    for i in range(n - 1):
        x = sinpi(_dense(t, f"layers.{i}", x, scale))
    return _dense(t, f"layers.{n - 1}", x)


def _rffnet(info: FieldInfo, t, x):
    proj = np.float32(2.0) * (x @ t["embedding.weight"])
    x = np.concatenate([sinpi(proj), sinpi(proj + np.float32(0.5))], axis=-1)
    n = info.dense_layers
    for i in range(n - 1):
        x = np.maximum(_dense(t, f"layers.{i}", x), 0)
    return _dense(t, f"layers.{n - 1}", x)


def _mfn(info: FieldInfo, t, x):
    k = info.filters
    scale = 1.0 / math.pi

    def filt(i):
        return sinpi(_dense(t, f"filters.{i}", x, scale))

    z = filt(0)
    for i in range(1, k):
        z = _dense(t, f"layers.{i - 1}", z) * filt(i)
    return _dense(t, f"layers.{k - 1}", z)


def _mlp(info: FieldInfo, t, x):
    raise ConfigError(
        "This layout's architecture is unknown (only a Layout was given); the forward pass needs "
        "the manifest's field.arch."
    )


_FORWARD = {"siren": _siren, "rffnet": _rffnet, "mfn": _mfn, "mlp": _mlp}


def make_field(info: FieldInfo, flat: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The NeF with flat parameters ``flat`` ``(P,)`` as a numpy function of coordinates.

    Returns:
        ``f(coords (..., in_dim)) -> (..., out_dim)`` float32.
    """
    forward = _FORWARD[infer_arch(info)]
    tensors = {k: np.asarray(v, np.float32) for k, v in info.layout.unflatten(np.asarray(flat)).items()}

    def field(coords) -> np.ndarray:
        coords = np.asarray(coords, np.float32)
        if coords.shape[-1:] != (info.in_dim,):
            raise ConfigError(
                f"This NeF takes coordinates of shape (..., {info.in_dim}); got {coords.shape}."
            )
        lead = coords.shape[:-1]
        out = forward(info, tensors, coords.reshape(-1, info.in_dim))
        return out.reshape(*lead, out.shape[-1])

    return field

