"""MFN / FourierNet (Fathony et al., 2021): a multiplicative filter network with sine filters.

Layout: the filters first, ``filters.<i>.weight (in_dim, hidden)`` and ``filters.<i>.bias
(hidden,)`` for ``i < filters``, then ``layers.<i>`` ``(hidden, hidden)``, the last
``(hidden, out_dim)``. Forward: ``z_1 = g_1(x)``, ``z_{i+1} = (z_i W_i + b_i) * g_{i+1}(x)``,
``y = z_k W_k + b_k`` with ``g_i(x) = sin(x F_i + p_i)`` computed as ``sinpi((x F_i + p_i) / pi)``.
Hidden layers: one per filter; state 0 is ``filters.0``'s output (its columns and bias, the rows
of ``layers.0.weight``), state ``i >= 1`` is ``layers.<i-1>``'s output times ``filters.<i>``'s
(the columns and bias of both, the rows of ``layers.<i>.weight``). The dense stack is
``layers.*``. fit-a-nef: ``FourierNet``, ``filters_<i>.linear.*``, ``linears_<i>.*`` and
``output_linear.*``.
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
    Members,
    Shapes,
    dense,
    dense_chain,
    depth,
    is_chain,
    sinpi,
    sizes,
)

NAME = "mfn"


def layout(hparams: Mapping[str, Any], in_dim: int, out_dim: int) -> Layout:
    h, k, in_dim, out_dim = sizes(hparams, ("hidden", "filters"), NAME, in_dim, out_dim)
    if k < 2:
        raise ConfigError(f"MFN needs filters >= 2 (got {k}).")
    if min(h, in_dim, out_dim) < 1:
        raise ConfigError(f"MFN sizes must be positive: hidden={h}, in_dim={in_dim}, out_dim={out_dim}.")
    entries = []
    for i in range(k):
        entries += [(f"filters.{i}.weight", (in_dim, h)), (f"filters.{i}.bias", (h,))]
    for i in range(k):
        out = out_dim if i == k - 1 else h
        entries += [(f"layers.{i}.weight", (h, out)), (f"layers.{i}.bias", (out,))]
    return Layout(entries)


def dims(shapes: Shapes, hparams: Mapping[str, Any]) -> tuple[int, int]:
    k = depth(shapes, "filters")
    return shapes["filters.0.weight"][0], shapes[f"layers.{max(k, 1) - 1}.bias"][0]


def matches(layout: Layout) -> bool:
    k = layout.depth("filters")
    names = set(layout.names)
    return is_chain(names, "filters", k) and is_chain(names, "layers", k) and len(names) == 4 * k


def hidden_groups(layout: Layout) -> tuple[Members, ...]:
    groups = [(("filters.0.weight", 1), ("filters.0.bias", 0), ("layers.0.weight", 0))]
    for i in range(1, layout.depth("filters")):
        groups.append((
            (f"layers.{i - 1}.weight", 1), (f"layers.{i - 1}.bias", 0),
            (f"filters.{i}.weight", 1), (f"filters.{i}.bias", 0), (f"layers.{i}.weight", 0),
        ))
    return tuple(groups)


def graph(g):
    k = g.layout.depth("filters")
    if k == 0:
        raise g.mismatch("no 'filters.0.weight'")
    x = g.inputs(g.shape("filters.0.weight")[0])
    zs = []
    for i in range(k):
        z = g.layer(g.shape(f"filters.{i}.weight")[1])
        g.edges(x, z, f"filters.{i}.weight", "filter", channel=1)
        g.node_values(z, f"filters.{i}.bias", channel=1)
        if i > 0:
            g.edges(zs[-1], z, f"layers.{i - 1}.weight", "dense")
            g.node_values(z, f"layers.{i - 1}.bias")
        zs.append(z)
    y = g.layer(g.shape(f"layers.{k - 1}.weight")[1], last=True)
    g.edges(zs[-1], y, f"layers.{k - 1}.weight", "dense")
    g.node_values(y, f"layers.{k - 1}.bias")
    return g.finish(("bias", "filter.bias"), ("weight", "filter.weight"))


def forward(info, t: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    k = info.layout.depth("filters")

    def filt(i):
        return sinpi(dense(t, f"filters.{i}", x, 1.0 / math.pi))

    z = filt(0)
    for i in range(1, k):
        z = dense(t, f"layers.{i - 1}", z) * filt(i)
    return dense(t, f"layers.{k - 1}", z)


def _foreign_hparams(params: Mapping[str, Any]) -> dict[str, Any]:
    return {"hidden": int(params["hidden_dim"]), "filters": int(params["num_filters"]),
            "input_scale": float(params["input_scale"])}


def _foreign_names(layout: Layout) -> dict[str, str]:
    k = layout.depth("filters")
    out = {}
    for i in range(k):
        out[f"filters.{i}.weight"], out[f"filters.{i}.bias"] = f"filters_{i}.linear.kernel", f"filters_{i}.linear.bias"
    for i in range(k):
        theirs = f"linears_{i}" if i < k - 1 else "output_linear"
        out[f"layers.{i}.weight"], out[f"layers.{i}.bias"] = f"{theirs}.kernel", f"{theirs}.bias"
    return out


def _foreign_claims(names: Sequence[str]) -> bool:
    return any(n.startswith("filters_") for n in names)


ARCH = Architecture(
    name=NAME,
    layout=layout,
    dims=dims,
    matches=matches,
    dense_stack=dense_chain,
    hidden_groups=hidden_groups,
    graph=graph,
    forward=forward,
    field="arena.fields.mfn:MFN",
    foreign=Foreign("FourierNet", _foreign_hparams, _foreign_names, _foreign_claims),
)
