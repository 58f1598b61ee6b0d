"""RFFNet (Tancik et al., 2020): random Fourier features, then a ReLU MLP ``layers.<l>``.

Layout: ``embedding.weight (in_dim, hidden/2)`` (the frequencies ``B``, ``std`` included), then
``layers.<l>.weight`` / ``.bias`` for ``l < layers``, widths ``hidden -> ... -> hidden -> out_dim``.
Forward: ``[sin(2 pi x B), cos(2 pi x B)]`` computed as ``sinpi(2 x B)`` and
``sinpi(2 x B + 1/2)``, then ReLU layers, the last linear. Hidden layers: the outputs of
``layers.0 .. layers.<L-2>`` (the embedding is not among them). The dense stack is ``layers.*``.
fit-a-nef: ``RFFNet``, ``encoding.coefficients.kernel`` stored without ``std``, then
``layers_<l>.linear.*`` and ``linear_final.*``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from arena.errors import ConfigError
from arena.layout import Layout
from arena.nef._common import (
    Architecture,
    Foreign,
    Shapes,
    chain_graph,
    chain_groups,
    dense,
    dense_chain,
    dense_entries,
    depth,
    is_chain,
    sinpi,
    sizes,
)

NAME = "rffnet"


def layout(hparams: Mapping[str, Any], in_dim: int, out_dim: int) -> Layout:
    hidden, layers, in_dim, out_dim = sizes(hparams, ("hidden", "layers"), NAME, in_dim, out_dim)
    if hidden % 2 or hidden < 2:
        raise ConfigError(f"RFFNet needs an even hidden width (got {hidden}).")
    if layers < 1:
        raise ConfigError(f"RFFNet needs layers >= 1 (got {layers}).")
    if min(in_dim, out_dim) < 1:
        raise ConfigError(f"RFFNet sizes must be positive: in_dim={in_dim}, out_dim={out_dim}.")
    return Layout([("embedding.weight", (in_dim, hidden // 2)),
                   *dense_entries("layers", [hidden] * layers + [out_dim])])


def dims(shapes: Shapes, hparams: Mapping[str, Any]) -> tuple[int, int]:
    n = depth(shapes, "layers")
    return shapes["embedding.weight"][0], shapes[f"layers.{max(n, 1) - 1}.bias"][0]


def matches(layout: Layout) -> bool:
    n = layout.depth("layers")
    names = set(layout.names)
    return "embedding.weight" in names and is_chain(names, "layers", n) and len(names) == 2 * n + 1


def graph(g):
    in_dim, half = g.shape("embedding.weight")
    x = g.inputs(in_dim)
    emb = g.layer(2 * half, positions=[("embedding.sin", half), ("embedding.cos", half)])
    g.edges(x, emb, "embedding.weight", "fourier", dst_sel=slice(0, half))
    g.edges(x, emb, "embedding.weight", "fourier", dst_sel=slice(half, 2 * half))
    chain_graph(g, emb)
    return g.finish(("bias",), ("weight",))


def forward(info, t: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    proj = np.float32(2.0) * (x @ t["embedding.weight"])
    x = np.concatenate([sinpi(proj), sinpi(proj + np.float32(0.5))], axis=-1)
    n = info.layout.depth("layers")
    for i in range(n - 1):
        x = np.maximum(dense(t, f"layers.{i}", x), 0)
    return dense(t, f"layers.{n - 1}", x)


def _foreign_hparams(params: Mapping[str, Any]) -> dict[str, Any]:
    return {"hidden": int(params["hidden_dim"]), "layers": int(params["num_layers"]),
            "std": float(params["std"]),
            "learnable_embedding": bool(params.get("learnable_coefficients", False))}


def _foreign_names(layout: Layout) -> dict[str, str]:
    n = layout.depth("layers")
    out = {"embedding.weight": "encoding.coefficients.kernel"}
    for i in range(n):
        theirs = f"layers_{i}.linear" if i < n - 1 else "linear_final"
        out[f"layers.{i}.weight"], out[f"layers.{i}.bias"] = f"{theirs}.kernel", f"{theirs}.bias"
    return out


def _foreign_claims(names: Sequence[str]) -> bool:
    return any(n.startswith("encoding.") for n in names)


def _foreign_scale(name: str, hparams: Mapping[str, Any]) -> float:
    """fit-a-nef computes ``std * (2 pi x) @ C`` and stores ``C``; the Arena stores ``std * C``."""
    return float(hparams["std"]) if name == "embedding.weight" else 1.0


ARCH = Architecture(
    name=NAME,
    layout=layout,
    dims=dims,
    matches=matches,
    dense_stack=dense_chain,
    hidden_groups=chain_groups,
    graph=graph,
    forward=forward,
    field="arena.fields.rffnet:RFFNet",
    foreign=Foreign("RFFNet", _foreign_hparams, _foreign_names, _foreign_claims, _foreign_scale),
)
