"""Augmentations and normalisation of NeF parameters, vectorised over a batch.

A transform is any callable ``t(params, rng) -> params`` taking a float32 batch ``(B, P)`` in
layout order and a :class:`numpy.random.Generator`, and returning a new ``(B, P)`` float32
batch; given the same generator state it returns the same result. The whole batch is handled
at once (one gather or one elementwise product per call), never one NeF at a time.

Weight-space symmetries (function-preserving: the NeF computes exactly the same function):

- :class:`PermuteHidden`: an independent random permutation of the neurons of every hidden
  layer of every NeF in the batch. Each architecture module of :mod:`arena.nef` says which
  tensor axes a hidden layer's neurons index (:func:`hidden_layers`): for a SIREN or an RFFNet
  (the layers after the Fourier embedding), the weight columns and bias of ``layers.<l>`` and
  the rows of ``layers.<l+1>.weight``; an MFN has one hidden state per filter.
- :class:`SignFlip` (architectures with odd activations: SIREN): ``sin`` is odd, so negating a
  hidden neuron's incoming weights and bias and its outgoing weights changes nothing.

The symmetry transforms and functions take the dataset's :class:`arena.nef.FieldInfo`
(``split.field_info``), its manifest (``split.info``) or, for permutations, its ``Layout``.

Others: :class:`GaussianNoise`, :class:`Dropout`, :class:`Normalize` (with
:meth:`Normalize.from_manifest`, the train split's per-layer statistics) and :class:`Compose`.
The plain functions :func:`permute_hidden` and :func:`sign_flip` apply given permutations or
signs; :func:`hidden_layers` lists what they act on.

Example:
    >>> t = Compose([PermuteHidden(split.info), GaussianNoise(0.01), Normalize.from_manifest(split.info)])
    >>> for params, labels in split.batches(256, transforms=t):
    ...     ...
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np

from arena import format as fmt
from arena import nef
from arena.errors import ConfigError
from arena.nef import FieldInfo, HiddenLayer, hidden_layers

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]
Target = nef.Target


class _Plan:
    """Where each hidden layer's neurons sit in the flat vector, computed once per layout."""

    def __init__(self, target: Target):
        self.info: FieldInfo = nef.field_info(target)
        self.layers = self.info.hidden_layers
        layout = self.info.layout
        axes: dict[str, dict[int, int]] = {}
        for g, layer in enumerate(self.layers):
            for name, axis in layer.members:
                axes.setdefault(name, {})[axis] = g
        self.tensors = []
        for name, by_axis in axes.items():
            sl = layout.slice(name)
            shape = layout.shape(name)
            assert len(shape) in (1, 2), shape
            self.tensors.append((sl.start, shape, by_axis))
        self.untouched = [layout.slice(name) for name in layout.names if name not in axes]
        self.num_params = layout.num_params

    def permute(self, params: np.ndarray, perms: Sequence[np.ndarray]) -> np.ndarray:
        """Apply per-NeF permutations ``perms[g]`` ``(B, width_g)`` to a ``(B, P)`` batch.

        Each tensor is permuted with row gathers (contiguous rows, so close to a memory copy):
        its rows directly, its columns through a transposed copy; tensors no hidden layer
        touches are copied. About twice as fast as one fancy-indexed gather of the whole batch
        (measured on 256 Neural MNIST SIRENs, 2 CPU cores).
        """
        batch = len(params)
        out = np.empty(params.shape, params.dtype)
        for sl in self.untouched:
            out[:, sl] = params[:, sl]
        for start, shape, by_axis in self.tensors:
            d0, d1 = shape if len(shape) == 2 else (shape[0], 1)
            t = params[:, start:start + d0 * d1].reshape(batch, d0, d1)
            if 0 in by_axis:
                t = _take_rows(t, perms[by_axis[0]])
            if 1 in by_axis:
                t = _take_rows(t.transpose(0, 2, 1), perms[by_axis[1]]).transpose(0, 2, 1)
            out[:, start:start + d0 * d1].reshape(batch, d0, d1)[...] = t
        return out

    def flip(self, params: np.ndarray, signs: Sequence[np.ndarray]) -> np.ndarray:
        """Multiply hidden neurons by per-NeF signs ``signs[g]`` ``(B, width_g)`` (+1 or -1)."""
        out = np.array(params, copy=True)
        batch = len(out)
        for start, shape, by_axis in self.tensors:
            d0, d1 = shape if len(shape) == 2 else (shape[0], 1)
            t = out[:, start:start + d0 * d1].reshape(batch, d0, d1)
            if 0 in by_axis:
                t *= signs[by_axis[0]][:, :, None]
            if 1 in by_axis:
                t *= signs[by_axis[1]][:, None, :]
        return out


def _take_rows(t: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """``t[b, perm[b, i], :]`` for every ``b`` and ``i``: one row gather over the whole batch."""
    batch, d0, d1 = t.shape
    flat = (perm + (np.arange(batch) * d0)[:, None]).ravel()
    return np.take(np.ascontiguousarray(t).reshape(batch * d0, d1), flat, axis=0).reshape(batch, d0, d1)


def _real(value, what: str) -> float:
    """``value`` as a float when it is a real number (not a bool or a string), else :class:`ConfigError`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{what} must be a number; got {value!r}.")
    return float(value)


def _batch_of(params, plan: _Plan, name: str) -> np.ndarray:
    """``params`` when it is a ``(B, P)`` batch of this layout's NeFs, else :class:`ConfigError`."""
    params = np.asarray(params)
    if params.ndim != 2 or params.shape[1] != plan.num_params:
        raise ConfigError(f"{name} takes a batch of parameters (B, {plan.num_params}); got shape {params.shape}.")
    return params


def _generator(rng, name: str) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ConfigError(f"{name} draws from a numpy Generator (np.random.default_rng(seed)); got {rng!r}.")
    return rng


def _as_batch(params, num_params: int) -> tuple[np.ndarray, bool]:
    arr = np.asarray(params)
    single = arr.ndim == 1
    batch = arr[None] if single else arr
    if batch.ndim != 2 or batch.shape[1] != num_params:
        raise ConfigError(
            f"Expected parameters of shape (P,) or (B, P) with P = {num_params}; got {arr.shape}."
        )
    return batch, single


def _per_layer(values: Sequence, plan: _Plan, batch: int, what: str) -> list[np.ndarray]:
    if len(values) != len(plan.layers):
        raise ConfigError(
            f"Expected one {what} array per hidden layer ({len(plan.layers)}, widths "
            f"{[l.width for l in plan.layers]}); got {len(values)}."
        )
    out = []
    for g, (v, layer) in enumerate(zip(values, plan.layers)):
        arr = np.asarray(v)
        if arr.ndim == 1:
            arr = arr[None]
        if arr.shape not in ((1, layer.width), (batch, layer.width)):
            raise ConfigError(
                f"The {what} of hidden layer {g} must have shape ({layer.width},) or "
                f"({batch}, {layer.width}); got {np.shape(v)}."
            )
        out.append(np.broadcast_to(arr, (batch, layer.width)))
    return out


def permute_hidden(params: np.ndarray, target: Target, perms: Sequence[np.ndarray]) -> np.ndarray:
    """Permute the hidden neurons of NeFs by the given permutations (function-preserving).

    Args:
        params: ``(P,)`` or ``(B, P)`` flat parameters in layout order.
        target: the dataset's :class:`arena.nef.FieldInfo` (``split.field_info``), its manifest
            (``split.info``) or its :class:`Layout`.
        perms: one integer array per hidden layer (see :func:`hidden_layers`), of shape
            ``(width,)`` (the same permutation for every NeF) or ``(B, width)``. New neuron
            ``j`` of hidden layer ``g`` is old neuron ``perms[g][..., j]``.

    Returns:
        The permuted parameters, same shape and dtype as ``params``.
    """
    plan = _Plan(target)
    batch, single = _as_batch(params, plan.num_params)
    perms = _per_layer(perms, plan, len(batch), "permutation")
    for g, p in enumerate(perms):
        if not np.issubdtype(p.dtype, np.integer) or not (
            np.sort(p, axis=1) == np.arange(p.shape[1])
        ).all():
            raise ConfigError(
                f"perms[{g}] must hold permutations of 0..{p.shape[1] - 1} (one per row)."
            )
    out = plan.permute(batch, perms)
    return out[0] if single else out


def sign_flip(params: np.ndarray, target: Target, signs: Sequence[np.ndarray]) -> np.ndarray:
    """Negate hidden neurons of SIRENs: incoming weights and bias, and outgoing weights.

    Args:
        params: ``(P,)`` or ``(B, P)`` flat SIREN parameters in layout order.
        target: the dataset's ``FieldInfo`` or manifest (the architecture must be SIREN).
        signs: one array of +1/-1 per hidden layer, of shape ``(width,)`` or ``(B, width)``.

    Returns:
        The flipped parameters, same shape and dtype as ``params``.
    """
    plan = _Plan(target)
    _require_sign_symmetric(plan.info, "sign_flip")
    batch, single = _as_batch(params, plan.num_params)
    signs = [np.asarray(s, np.float32) for s in _per_layer(signs, plan, len(batch), "sign")]
    if any(not np.isin(s, (-1.0, 1.0)).all() for s in signs):
        raise ConfigError("signs must hold only +1 and -1.")
    out = plan.flip(batch, signs)
    return out[0] if single else out


def _require_sign_symmetric(info: FieldInfo, what: str) -> None:
    if info.arch is None or not info.architecture.sign_symmetric:
        arch = info.arch or "unknown (only a Layout was given; pass the manifest)"
        raise ConfigError(
            f"{what} is a symmetry of odd activations, SIRENs only among the Arena's architectures "
            f"(sin is odd); this dataset's architecture is {arch}. Use PermuteHidden, which holds "
            "for every architecture."
        )


class PermuteHidden:
    """An independent random permutation of every hidden layer of every NeF in the batch.

    Args:
        target: the dataset's ``FieldInfo`` (``split.field_info``), its manifest (``split.info``)
            or its ``Layout``.
    """

    def __init__(self, target: Target):
        self._plan = _Plan(target)

    def __call__(self, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        params, rng = _batch_of(params, self._plan, "PermuteHidden"), _generator(rng, "PermuteHidden")
        batch = len(params)
        perms = [
            rng.permuted(np.broadcast_to(np.arange(l.width), (batch, l.width)), axis=1)
            for l in self._plan.layers
        ]
        return self._plan.permute(params, perms)

    def __repr__(self) -> str:
        return f"PermuteHidden(widths={[l.width for l in self._plan.layers]})"


class SignFlip:
    """Flip the sign of each hidden neuron of each SIREN with probability ``p`` (default 1/2).

    Args:
        target: the dataset's ``FieldInfo`` or manifest (the architecture must be SIREN).
        p: probability that a neuron is flipped.
    """

    def __init__(self, target: Target, p: float = 0.5):
        self._plan = _Plan(target)
        _require_sign_symmetric(self._plan.info, "SignFlip")
        if not 0.0 <= _real(p, "SignFlip's p") <= 1.0:
            raise ConfigError(f"SignFlip's p is a probability in [0, 1]; got {p}.")
        self.p = float(p)

    def __call__(self, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        params, rng = _batch_of(params, self._plan, "SignFlip"), _generator(rng, "SignFlip")
        batch = len(params)
        signs = [
            np.where(rng.random((batch, l.width)) < self.p, -1.0, 1.0).astype(np.float32)
            for l in self._plan.layers
        ]
        return self._plan.flip(params, signs)

    def __repr__(self) -> str:
        return f"SignFlip(p={self.p})"


@dataclasses.dataclass(frozen=True)
class GaussianNoise:
    """Add i.i.d. ``N(0, std^2)`` noise to every parameter."""

    std: float

    def __post_init__(self):
        if not 0 <= _real(self.std, "GaussianNoise's std") < math.inf:
            raise ConfigError(f"GaussianNoise needs a finite std >= 0; got {self.std}.")

    def __call__(self, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        noise = _generator(rng, "GaussianNoise").standard_normal(params.shape, dtype=np.float32)
        return params + np.float32(self.std) * noise


@dataclasses.dataclass(frozen=True)
class Dropout:
    """Zero each parameter independently with probability ``p``.

    By default the kept parameters are left as they are (``rescale=False``): a NeF's weights
    are not activations, and scaling them changes the function beyond the dropped entries.
    ``rescale=True`` divides the kept ones by ``1 - p`` (inverted dropout), which keeps the
    expected value of every parameter.
    """

    p: float
    rescale: bool = False

    def __post_init__(self):
        if not 0.0 <= _real(self.p, "Dropout's p") < 1.0:
            raise ConfigError(f"Dropout needs 0 <= p < 1; got {self.p}.")

    def __call__(self, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        keep = _generator(rng, "Dropout").random(params.shape, dtype=np.float32) >= np.float32(self.p)
        out = params * keep
        return out / np.float32(1.0 - self.p) if self.rescale else out


class Normalize:
    """``(params - mean) / std``, with ``mean`` and ``std`` scalars or ``(P,)`` arrays.

    A zero ``std`` (a tensor that is the same in every NeF, such as RFFNet's frozen embedding)
    counts as 1: such entries are centred, not divided.
    """

    def __init__(self, mean, std):
        try:
            self.mean = np.asarray(mean, np.float32)
            std = np.asarray(std, np.float32)
        except (TypeError, ValueError):
            raise ConfigError(f"Normalize takes numbers for mean and std; got {mean!r}, {std!r}.") from None
        if self.mean.size == 0 or std.size == 0:
            raise ConfigError("Normalize takes scalars or (P,) vectors for mean and std; got an empty one.")
        if self.mean.ndim > 1 or std.ndim > 1:
            raise ConfigError("Normalize takes scalars or (P,) vectors for mean and std.")
        if (std < 0).any() or not np.isfinite(std).all() or not np.isfinite(self.mean).all():
            raise ConfigError("Normalize needs finite mean and std >= 0.")
        self.std = np.where(std == 0, np.float32(1.0), std)

    @classmethod
    def from_manifest(cls, manifest: fmt.Manifest) -> Normalize:
        """The per-layer mean and std over the train split, as recorded in the manifest.

        Every parameter of tensor ``name`` is normalised with that tensor's mean and std over
        all train NeFs (``stats.params.per_layer_mean`` / ``per_layer_std``).

        Args:
            manifest: the dataset's manifest (``split.info``).
        """
        if not isinstance(manifest, fmt.Manifest):
            raise ConfigError(
                f"Normalize.from_manifest takes the dataset's manifest (split.info); got "
                f"{type(manifest).__name__}."
            )
        layout = manifest.layout
        stats = (manifest.get("stats") or {}).get("params") or {}
        means, stds = stats.get("per_layer_mean"), stats.get("per_layer_std")
        names = list(layout.names)
        if means is None or stds is None:
            raise ConfigError(
                f"Dataset '{manifest.name}' records no stats.params (per-layer mean/std over "
                "train); build Normalize(mean, std) from split.params yourself."
            )
        if len(means) != len(names) or len(stds) != len(names) or stats.get("layers", names) != names:
            raise ConfigError(
                f"stats.params of dataset '{manifest.name}' does not match its layout "
                f"{names}; the manifest is inconsistent."
            )
        sizes = [layout.slice(n).stop - layout.slice(n).start for n in names]
        return cls(np.repeat(means, sizes), np.repeat(stds, sizes))

    def __call__(self, params: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        return (self._fits(params) - self.mean) / self.std

    def inverse(self, params: np.ndarray) -> np.ndarray:
        """Undo the normalisation."""
        return self._fits(params) * self.std + self.mean

    def _fits(self, params) -> np.ndarray:
        """``params`` when its last axis has the length of the ``(P,)`` mean and std, else
        :class:`ConfigError` (numpy would broadcast a length-1 axis silently)."""
        params = np.asarray(params)
        width = max(self.mean.size if self.mean.ndim else 1, self.std.size if self.std.ndim else 1)
        if (self.mean.ndim or self.std.ndim) and (params.ndim == 0 or params.shape[-1] != width):
            raise ConfigError(f"This Normalize has mean and std of {width} parameters; got params of shape "
                              f"{params.shape}. Build it from this dataset (Normalize.from_manifest(split.info)).")
        return params

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.shape or float(self.mean)}, std={self.std.shape or float(self.std)})"


class Compose:
    """Apply transforms in order, all drawing from the same generator."""

    def __init__(self, transforms: Sequence[Transform]):
        self.transforms = tuple(transforms)
        for t in self.transforms:
            if not callable(t):
                raise ConfigError(f"Compose takes callables t(params, rng); got {t!r}.")

    def __call__(self, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for t in self.transforms:
            params = t(params, rng)
        return params

    def __repr__(self) -> str:
        return f"Compose({list(self.transforms)!r})"


def as_transform(transforms) -> Transform | None:
    """``None`` for no transform, a callable as it is, a sequence as :class:`Compose`.

    Transforms are objects, not names: a string (``"permute"``) or a class (``PermuteHidden``)
    raises :class:`ConfigError` naming it and what to pass instead.
    """
    items = [transforms] if isinstance(transforms, (str, type)) or not isinstance(transforms, Sequence) else transforms
    classes = [t for t in items if isinstance(t, type)]
    if classes:
        raise ConfigError(f"Transform {classes[0].__name__} is a class; pass an instance, e.g. "
                          f"{classes[0].__name__}(split.info) or GaussianNoise(0.01).")
    names = [t for t in items if isinstance(t, str)]
    if names:
        raise ConfigError(
            f"Unknown transform {names[0]!r}: transforms are objects, not names; pass e.g. "
            "[PermuteHidden(split.info), SignFlip(split.info), GaussianNoise(0.01), Dropout(0.1), "
            "Normalize.from_manifest(split.info)] from arena.data.")
    if transforms is None or (isinstance(transforms, Sequence) and not transforms):
        return None
    if callable(transforms):
        return transforms
    return Compose(transforms)


__all__ = [
    "Compose",
    "Dropout",
    "GaussianNoise",
    "HiddenLayer",
    "Normalize",
    "PermuteHidden",
    "SignFlip",
    "Transform",
    "hidden_layers",
    "permute_hidden",
    "sign_flip",
]
