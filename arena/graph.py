"""Neural graphs: a NeF's parameters as a graph with one node per neuron.

Kofinas et al., "Graph Neural Networks for Learning Equivariant Representations of Neural
Networks" (ICLR 2024) turn an MLP into a graph: every neuron is a node (the input coordinates,
the hidden neurons, the outputs), its bias is the node's feature (zero for the inputs), and every
weight ``W[i, j]`` of a layer is an edge from neuron ``i`` of one layer to neuron ``j`` of the
next, with the weight as its feature. Permuting the hidden neurons of a layer (a symmetry of the
NeF: the function does not change) permutes nodes and edges of the graph and nothing else, so a
graph network that is equivariant to node permutations respects the NeF's symmetry for free.

Positional ids (``GraphSpec.node_pos``) tell the nodes a network may tell apart: each input
node and each output node has its own id (they are ordered: x is not y), while all hidden neurons
of one layer share one id (they are interchangeable). ``GraphSpec.position_names`` names them.

SIREN (``layers=3``; node feature: the bias, zero at the inputs; edge feature: the weight)::

    layer 0        layer 1              layer 2              layer 3
    inputs         hidden.1             hidden.2             outputs
    x0 ---+       +--> h1_0 --+        +--> h2_0 --+
          |  W0   |           |   W1   |           |   W2
          +-------+--> h1_1 --+--------+--> h2_1 --+-------> y0 (bias b2[0])
          |       |           |        |           |
    x1 ---+       +--> h1_2 --+        +--> h2_2 --+
                  (bias b0[j])         (bias b1[j])

    every i -> j pair of consecutive layers is one edge with feature W_l[i, j]

RFFNet: the Fourier embedding ``[sin(2 pi x B), cos(2 pi x B)]`` is a layer of its own. Its
first ``hidden/2`` nodes are the sines (position ``embedding.sin``), the last ``hidden/2`` the
cosines (``embedding.cos``); input ``i`` has an edge to ``sin_j`` and one to ``cos_j``, both
with feature ``B[i, j]`` (``embedding.weight``, frozen at fit time but part of the parameters),
and the embedding nodes have no bias (feature 0). The ReLU layers follow as for SIREN::

    x_i --B[i,j]--> sin_j --+
    x_i --B[i,j]--> cos_j --+--layers.0--> hidden.2 --layers.1--> ... --> outputs

MFN (``filters=3``): hidden layer ``l`` (``l = 1..k``) holds ``z_l``; ``z_1 = g_1(x)``,
``z_{l+1} = (z_l W_{l-1} + b_{l-1}) * g_{l+1}(x)``, with filters ``g_l(x) = sin(x F_l + p_l)``.
Each filter is a set of edges from the inputs to its layer. Node features have two channels,
``("bias", "filter.bias")``: the dense bias ``b`` and the filter phase ``p`` of the neuron (zero
where a neuron has none: the dense bias of ``z_1``, the phase of an output). Edge features have
two channels, ``("weight", "filter.weight")``: a dense edge carries ``W[i, j]`` in channel 0 and
0 in channel 1, a filter edge 0 and ``F[i, j]``; the channel is the edge's type
(``GraphSpec.edge_type`` names it too)::

    x --filters.0--> z1 --layers.0--> z2 --layers.1--> z3 --layers.2--> y
    x --filters.1--------------------^                 ^
    x --filters.2--------------------------------------+

Each architecture module of :mod:`arena.nef` describes its topology with a
:class:`GraphBuilder` (``Architecture.graph``); the pictures above are those of
:mod:`arena.nef.siren`, :mod:`arena.nef.rffnet` and :mod:`arena.nef.mfn`. The topology is the
same for every NeF of a dataset and is computed once (:func:`graph_spec`); ``GraphSpec.node_index`` and ``GraphSpec.edge_param_index`` map the flat
parameter vector to the features, so converting a batch is one gather per tensor.
``GraphSpec.edge_blocks`` groups the edges by the two layers they join: in all three graphs each
group joins every node of one layer to every node of the other, so a network can hold it as a
dense ``(m, n)`` block. This module needs numpy only; the torch and PyTorch Geometric helpers
import them when called.

Example:
    >>> layout = Layout([("layers.0.weight", (2, 32)), ("layers.0.bias", (32,)),
    ...                  ("layers.1.weight", (32, 1)), ("layers.1.bias", (1,))])
    >>> spec = graph_spec(layout)  # or the dataset's FieldInfo / manifest
    >>> spec
    GraphSpec(siren, 35 nodes x 1, 96 edges x 1, layers [2, 32, 1])
    >>> params = np.random.default_rng(0).normal(size=(8, layout.num_params))
    >>> nodes, edges = spec.to_graph(params)
    >>> nodes.shape, edges.shape
    ((8, 35, 1), (8, 96, 1))
    >>> np.array_equal(spec.from_graph(nodes, edges), params)
    True
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from arena import nef
from arena.errors import ConfigError, MissingExtraError, require
from arena.layout import Layout

NODE_KINDS = ("input", "hidden", "output")
EDGE_TYPES = ("dense", "fourier", "filter")
INPUT, HIDDEN, OUTPUT = range(3)


@dataclasses.dataclass(frozen=True, eq=False)
class EdgeBlock:
    """Every edge from layer ``src`` to layer ``dst``: one from each of its ``m`` nodes to each of ``n``.

    Attributes:
        src: the senders' layer.
        dst: the receivers' layer.
        edges: ``(m, n)`` int64, ``edges[i, j]`` the id of the edge from node ``i`` of layer
            ``src`` to node ``j`` of layer ``dst`` (nodes counted within their layer).
    """

    src: int
    dst: int
    edges: np.ndarray


@dataclasses.dataclass(frozen=True, eq=False)
class GraphSpec:
    """The neural graph of one architecture and layout, shared by every NeF that has it.

    Nodes are numbered layer by layer (inputs first, outputs last), edges block by block in the
    order of the layout's tensors, each block row-major (edge ``W[i, j]`` before ``W[i, j+1]``).

    Attributes:
        arch: the architecture's name (:mod:`arena.nef`), ``"siren"``, ``"rffnet"``, ``"mfn"``, ...
        layout: the parameter layout the index arrays refer to.
        layer_sizes: nodes per layer, inputs first.
        edge_index: ``(2, E)`` int64, ``(sender, receiver)`` of each edge; senders are in the
            layer before their receivers.
        node_layer: ``(N,)`` int64, the layer of each node.
        node_kind: ``(N,)`` int64, 0 input, 1 hidden, 2 output (:data:`NODE_KINDS`).
        node_pos: ``(N,)`` int64 positional id: one per input node, one per output node, one per
            hidden layer (two for RFFNet's embedding: sines and cosines).
        position_names: the name of each positional id, e.g. ``"input.0"``, ``"hidden.1"``.
        edge_type: ``(E,)`` int64 index into :data:`EDGE_TYPES` (dense, fourier, filter).
        node_index: ``(N, node_dim)`` int64 position in the flat parameter vector of each node
            feature, ``-1`` for a feature that is always zero.
        edge_param_index: ``(E, edge_dim)`` int64, the same for edge features.
        node_channels: the meaning of each node feature channel.
        edge_channels: the meaning of each edge feature channel.
    """

    arch: str
    layout: Layout
    layer_sizes: tuple[int, ...]
    edge_index: np.ndarray
    node_layer: np.ndarray
    node_kind: np.ndarray
    node_pos: np.ndarray
    position_names: tuple[str, ...]
    edge_type: np.ndarray
    node_index: np.ndarray
    edge_param_index: np.ndarray
    node_channels: tuple[str, ...]
    edge_channels: tuple[str, ...]
    _torch_index: dict = dataclasses.field(default_factory=dict, repr=False)

    @property
    def num_nodes(self) -> int:
        return int(self.node_layer.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.shape[1])

    @property
    def node_dim(self) -> int:
        return int(self.node_index.shape[1])

    @property
    def edge_dim(self) -> int:
        return int(self.edge_param_index.shape[1])

    @property
    def num_params(self) -> int:
        return self.layout.num_params

    @property
    def num_positions(self) -> int:
        return len(self.position_names)

    def edge_blocks(self) -> tuple[EdgeBlock, ...] | None:
        """The edges grouped by the pair of layers they join, when each group is a complete block.

        When the edges between any two layers join every node of one to every node of the
        other, once each, a network can hold them as ``(m, n)`` arrays and pass messages with
        broadcasts and reductions along an axis instead of gathers and scatters. SIREN, RFFNet
        (the sine and cosine edges of its Fourier layer make one block) and MFN (each filter is a
        block from the inputs to its layer, beside the dense blocks) all have such graphs.

        Returns:
            The blocks, ordered by their first edge, or ``None`` when some pair of layers is
            joined by a partial or repeated set of edges.
        """
        starts = np.cumsum((0, *self.layer_sizes))
        senders, receivers = self.edge_index
        layers = np.stack([self.node_layer[senders], self.node_layer[receivers]], axis=1)
        pairs, first = np.unique(layers, axis=0, return_index=True)
        blocks = []
        for src, dst in pairs[np.argsort(first)]:
            ids = np.flatnonzero((layers[:, 0] == src) & (layers[:, 1] == dst))
            grid = np.full((self.layer_sizes[src], self.layer_sizes[dst]), -1, np.int64)
            grid[senders[ids] - starts[src], receivers[ids] - starts[dst]] = ids
            if ids.size != grid.size or (grid < 0).any():
                return None
            grid.setflags(write=False)
            blocks.append(EdgeBlock(int(src), int(dst), grid))
        return tuple(blocks)

    def to_graph(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Parameters ``(..., P)`` -> ``(nodes (..., N, node_dim), edges (..., E, edge_dim))``."""
        try:
            params = np.asarray(params)
        except ValueError:  # a ragged nest of lists
            params = np.asarray(None)
        self._check_params(params.shape)
        if params.dtype.kind in "OSUmM" or params.dtype.fields is not None:  # bfloat16 & co. are kind V
            raise ConfigError(f"Expected numeric flat parameters (..., {self.num_params}); got dtype {params.dtype}.")
        padded = np.concatenate([params, np.zeros((*params.shape[:-1], 1), params.dtype)], axis=-1)
        return padded[..., self.node_index], padded[..., self.edge_param_index]

    def from_graph(self, nodes: np.ndarray, edges: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`to_graph`: the exact parameters ``(..., P)`` of the graphs.

        Every parameter appears in the graph, so nothing is lost. Where two edges carry the same
        parameter (RFFNet's sine and cosine edges of ``B[i, j]``) the sine edge's value is read.
        """
        nodes, edges = np.asarray(nodes), np.asarray(edges)
        batch = nodes.shape[:-2]
        if nodes.shape[-2:] != self.node_index.shape or edges.shape[-2:] != self.edge_param_index.shape \
                or edges.shape[:-2] != batch:
            raise ConfigError(
                f"Expected nodes (..., {self.num_nodes}, {self.node_dim}) and edges "
                f"(..., {self.num_edges}, {self.edge_dim}) with the same leading shape; got "
                f"{nodes.shape} and {edges.shape}."
            )
        params = np.empty((*batch, self.num_params), np.result_type(nodes, edges))
        for values, index in ((nodes, self.node_index), (edges, self.edge_param_index)):
            targets, first = np.unique(index.ravel(), return_index=True)  # first copy of each
            keep = targets >= 0
            params[..., targets[keep]] = values.reshape(*batch, -1)[..., first[keep]]
        return params

    def batch(self, flat):
        """A torch batch ``(B, P)`` -> ``(nodes (B, N, node_dim), edges (B, E, edge_dim))``.

        One gather per tensor over index tensors cached per device; autograd flows through it.
        """
        torch = require("torch", "eval", "GraphSpec.batch")
        if flat.ndim != 2 or flat.shape[1] != self.num_params:
            raise ConfigError(
                f"Expected a batch of flat parameters (B, {self.num_params}); got {tuple(flat.shape)}."
            )
        node_index, edge_index = self._indices(flat.device)
        padded = torch.nn.functional.pad(flat, (0, 1))  # column P is the zero of index -1
        b = flat.shape[0]
        return (padded.index_select(1, node_index).view(b, self.num_nodes, self.node_dim),
                padded.index_select(1, edge_index).view(b, self.num_edges, self.edge_dim))

    def to_pyg(self, nodes, edges):
        """A batch of graphs as a ``torch_geometric.data.Batch`` (``x``, ``edge_index``, ``edge_attr``,
        ``node_pos``, ``batch``), made by ``Batch.from_data_list`` from one ``Data`` per NeF
        (views of ``nodes`` and ``edges``), so ``to_data_list()`` and ``get_example()`` work.

        Args:
            nodes: ``(B, N, node_dim)`` (numpy or torch).
            edges: ``(B, E, edge_dim)``.
        """
        torch = require("torch", "eval", "GraphSpec.to_pyg")
        try:
            from torch_geometric.data import Batch, Data
        except ImportError as exc:
            raise MissingExtraError(
                "GraphSpec.to_pyg needs PyTorch Geometric, which is not installed. "
                "Install it with: pip install torch_geometric"
            ) from exc
        nodes, edges = torch.as_tensor(nodes), torch.as_tensor(edges)
        b, n, e = nodes.shape[0], self.num_nodes, self.num_edges
        if nodes.shape[1:] != (n, self.node_dim) or edges.shape != (b, e, self.edge_dim):
            raise ConfigError(
                f"Expected nodes (B, {n}, {self.node_dim}) and edges (B, {e}, {self.edge_dim}); "
                f"got {tuple(nodes.shape)} and {tuple(edges.shape)}."
            )
        edge_index = torch.tensor(self.edge_index, device=nodes.device)
        node_pos = torch.tensor(self.node_pos, device=nodes.device)
        return Batch.from_data_list([
            Data(x=nodes[i], edge_index=edge_index, edge_attr=edges[i], node_pos=node_pos)
            for i in range(b)
        ])

    def _indices(self, device):
        key = str(device)
        if key not in self._torch_index:
            import torch

            self._torch_index[key] = tuple(
                torch.as_tensor(np.where(index < 0, self.num_params, index).ravel(), device=device)
                for index in (self.node_index, self.edge_param_index)
            )
        return self._torch_index[key]

    def _check_params(self, shape) -> None:
        if len(shape) < 1 or shape[-1] != self.num_params:
            raise ConfigError(
                f"Expected flat parameters with last dimension {self.num_params} (the layout's P); "
                f"got shape {tuple(shape)}."
            )

    def __repr__(self) -> str:
        return (
            f"GraphSpec({self.arch}, {self.num_nodes} nodes x {self.node_dim}, "
            f"{self.num_edges} edges x {self.edge_dim}, layers {list(self.layer_sizes)})"
        )


def graph_spec(target: nef.Target) -> GraphSpec:
    """The neural graph of a dataset's NeFs, computed once per architecture and layout.

    Args:
        target: the dataset's :class:`arena.nef.FieldInfo` (an :class:`arena.eval.ModelSpec`
            is one), its :class:`arena.format.Manifest`, or a :class:`arena.layout.Layout`
            (whose architecture :func:`arena.nef.infer` tells from the tensor names).

    Raises:
        ConfigError: the layout is not the one the architecture produces.
    """
    info = nef.field_info(target)
    return _build(info.architecture, info.layout)


@functools.lru_cache(maxsize=64)
def _build(arch: nef.Architecture, layout: Layout) -> GraphSpec:
    return arch.graph(GraphBuilder(arch.name, layout))


class GraphBuilder:
    """How an architecture module describes its neural graph (``Architecture.graph``).

    Add node layers in order (:meth:`inputs` first, then :meth:`layer`, the last with
    ``last=True``), connect them with :meth:`edges` (one edge per entry of an ``(in, out)``
    tensor), give nodes their features with :meth:`node_values`, and end with :meth:`finish`,
    which checks that every tensor of the layout appears in the graph.

    Attributes:
        arch: the architecture's name.
        layout: the layout whose tensors the graph holds.
    """

    def __init__(self, arch: str, layout: Layout):
        self.arch, self.layout = arch, layout
        self.offsets = {}
        offset = 0
        for name, shape in layout.entries:
            self.offsets[name] = offset
            offset += int(np.prod(shape))
        self.layers: list[tuple[int, int]] = []  # (first node, size)
        self.kinds: list[np.ndarray] = []
        self.pos: list[np.ndarray] = []
        self.position_names: list[str] = []
        self.senders, self.receivers, self.types = [], [], []
        self.edge_values: list[tuple[int, np.ndarray]] = []  # (channel, param index) per block
        self.node_values_: list[tuple[int, np.ndarray, np.ndarray]] = []  # (channel, nodes, index)
        self.used: set[str] = set()

    def mismatch(self, what: str) -> ConfigError:
        return ConfigError(
            f"The layout {self.layout.to_json()} is not a '{self.arch}' layout ({what}); "
            f"the neural graph follows the layouts of arena.nef."
        )

    def shape(self, name: str) -> tuple[int, ...]:
        if name not in self.offsets:
            raise self.mismatch(f"tensor '{name}' is missing")
        return self.layout.shape(name)

    def _add(self, size: int, kind: int, positions: list[tuple[str, int]]) -> int:
        first = sum(s for _, s in self.layers)
        self.layers.append((first, size))
        self.kinds.append(np.full(size, kind, np.int64))
        ids = []
        for name, count in positions:
            ids.append(np.full(count, len(self.position_names), np.int64))
            self.position_names.append(name)
        self.pos.append(np.concatenate(ids))
        return len(self.layers) - 1

    def inputs(self, size: int) -> int:
        return self._add(size, INPUT, [(f"input.{j}", 1) for j in range(size)])

    def layer(self, size: int, *, last: bool = False, positions=None) -> int:
        if last:
            return self._add(size, OUTPUT, [(f"output.{j}", 1) for j in range(size)])
        return self._add(size, HIDDEN, positions or [(f"hidden.{len(self.layers)}", size)])

    def _nodes(self, layer: int, sel: slice | None) -> np.ndarray:
        first, size = self.layers[layer]
        return first + np.arange(size)[sel if sel is not None else slice(None)]

    def edges(self, src: int, dst: int, name: str, etype: str, *, channel: int = 0,
              dst_sel: slice | None = None) -> None:
        """One edge per entry of the ``(in, out)`` tensor ``name``: sender ``i`` -> receiver ``j``."""
        senders, receivers = self._nodes(src, None), self._nodes(dst, dst_sel)
        shape = self.shape(name)
        if shape != (len(senders), len(receivers)):
            raise self.mismatch(f"'{name}' has shape {shape}, expected {(len(senders), len(receivers))}")
        self.senders.append(np.repeat(senders, len(receivers)))
        self.receivers.append(np.tile(receivers, len(senders)))
        self.types.append(np.full(senders.size * receivers.size, EDGE_TYPES.index(etype), np.int64))
        self.edge_values.append((channel, self.offsets[name] + np.arange(senders.size * receivers.size)))
        self.used.add(name)

    def node_values(self, layer: int, name: str, *, channel: int = 0) -> None:
        """Node ``j`` of ``layer`` gets entry ``j`` of the vector ``name`` in feature ``channel``."""
        nodes = self._nodes(layer, None)
        if self.shape(name) != (len(nodes),):
            raise self.mismatch(f"'{name}' has shape {self.shape(name)}, expected {(len(nodes),)}")
        self.node_values_.append((channel, nodes, self.offsets[name] + np.arange(len(nodes))))
        self.used.add(name)

    def finish(self, node_channels: tuple[str, ...], edge_channels: tuple[str, ...]) -> GraphSpec:
        unused = [name for name in self.layout.names if name not in self.used]
        if unused:
            raise self.mismatch(f"unexpected tensors {unused}")
        num_nodes = sum(size for _, size in self.layers)
        node_index = np.full((num_nodes, len(node_channels)), -1, np.int64)
        for channel, nodes, index in self.node_values_:
            node_index[nodes, channel] = index
        blocks = [index for _, index in self.edge_values]
        edge_param_index = np.full((sum(b.size for b in blocks), len(edge_channels)), -1, np.int64)
        start = 0
        for channel, index in self.edge_values:
            edge_param_index[start:start + index.size, channel] = index
            start += index.size
        covered = np.zeros(self.layout.num_params, bool)
        covered[node_index[node_index >= 0]] = True
        covered[edge_param_index[edge_param_index >= 0]] = True
        assert covered.all(), "every parameter must appear in the graph (exact round trip)"
        arrays = {
            "edge_index": np.stack([np.concatenate(self.senders), np.concatenate(self.receivers)]),
            "node_layer": np.concatenate([np.full(size, i, np.int64) for i, (_, size) in enumerate(self.layers)]),
            "node_kind": np.concatenate(self.kinds),
            "node_pos": np.concatenate(self.pos),
            "edge_type": np.concatenate(self.types),
            "node_index": node_index,
            "edge_param_index": edge_param_index,
        }
        for array in arrays.values():
            array.setflags(write=False)
        return GraphSpec(
            arch=self.arch,
            layout=self.layout,
            layer_sizes=tuple(size for _, size in self.layers),
            position_names=tuple(self.position_names),
            node_channels=node_channels,
            edge_channels=edge_channels,
            **arrays,
        )
