"""SIREN (Sitzmann et al., 2020): a sine-activated MLP, ``layers`` dense layers ``layers.<l>``.

Layout: ``layers.<l>.weight (in, out)`` and ``layers.<l>.bias (out,)`` for ``l < layers``, widths
``in_dim -> hidden -> ... -> hidden -> out_dim``. Forward:
``h_{l+1} = sin(omega0 * (h_l W_l + b_l))``, the last layer linear; in float32 as the JAX field
computes it, with ``omega0 / pi`` folded into each hidden layer's ``W`` and ``b`` and
``sin(pi u)`` reduced exactly. Hidden layers: the outputs of ``layers.0 .. layers.<L-2>``; ``sin``
is odd, so sign flips are symmetries too. fit-a-nef: ``SIREN``, ``kernel_net_<l>.linear.*``
then ``output_linear.*``.
"""

from __future__ import annotations

import math
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
    hparam,
    is_chain,
    sinpi,
    sizes,
)

NAME = "siren"


def layout(hparams: Mapping[str, Any], in_dim: int, out_dim: int) -> Layout:
    hidden, layers, in_dim, out_dim = sizes(hparams, ("hidden", "layers"), NAME, in_dim, out_dim)
    if layers < 2:
        raise ConfigError(f"Siren needs layers >= 2 (got {layers}).")
    if min(hidden, in_dim, out_dim) < 1:
        raise ConfigError(f"Siren sizes must be positive: hidden={hidden}, in_dim={in_dim}, out_dim={out_dim}.")
    return Layout(dense_entries("layers", [in_dim] + [hidden] * (layers - 1) + [out_dim]))


def dims(shapes: Shapes, hparams: Mapping[str, Any]) -> tuple[int, int]:
    n = depth(shapes, "layers")
    return shapes["layers.0.weight"][0], shapes[f"layers.{max(n, 1) - 1}.bias"][0]


def matches(layout: Layout) -> bool:
    n = layout.depth("layers")
    return is_chain(set(layout.names), "layers", n) and len(layout) == 2 * n


def graph(g):
    chain_graph(g, g.inputs(g.shape("layers.0.weight")[0]))
    return g.finish(("bias",), ("weight",))


def forward(info, t: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    n = info.layout.depth("layers")
    scale = float(hparam(info.hparams, "omega0", NAME)) / math.pi
    for i in range(n - 1):
        x = sinpi(dense(t, f"layers.{i}", x, scale))
    return dense(t, f"layers.{n - 1}", x)


def _foreign_hparams(params: Mapping[str, Any]) -> dict[str, Any]:
    return {"hidden": int(params["hidden_dim"]), "layers": int(params["num_layers"]),
            "omega0": float(params["omega_0"])}


def _foreign_names(layout: Layout) -> dict[str, str]:
    n = layout.depth("layers")
    out = {}
    for i in range(n):
        theirs = f"kernel_net_{i}.linear" if i < n - 1 else "output_linear"
        out[f"layers.{i}.weight"], out[f"layers.{i}.bias"] = f"{theirs}.kernel", f"{theirs}.bias"
    return out


def _foreign_claims(names: Sequence[str]) -> bool:
    return any(n.startswith("kernel_net_") for n in names)


ARCH = Architecture(
    name=NAME,
    layout=layout,
    dims=dims,
    matches=matches,
    dense_stack=dense_chain,
    hidden_groups=chain_groups,
    graph=graph,
    forward=forward,
    field="arena.fields.siren:Siren",
    foreign=Foreign("SIREN", _foreign_hparams, _foreign_names, _foreign_claims),
    sign_symmetric=True,
)
