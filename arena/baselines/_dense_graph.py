"""Message passing on a layered neural graph with dense blocks instead of gathers and scatters.

Every NeF of a dataset has the same graph, and in the graphs of :mod:`arena.graph` the edges
between two layers join each of the ``m`` nodes of one to each of the ``n`` nodes of the other
(:meth:`arena.graph.GraphSpec.edge_blocks`). Edge states are kept as one ``(B, E, k)`` tensor
whose edges are ordered block by block, each block row-major, so that block ``(m, n)`` is a
``(B, m, n, k)`` view of it and per-edge linear maps are one matrix product for all edges. What
a gather does on an edge list is then a broadcast of a layer's node states along an axis of its
block (:meth:`DenseBlocks.pair_sum`), and what a scatter does is a reduction along one.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from arena.errors import ConfigError

MESSAGE_PASSING = ("auto", "dense", "edge_list")


@dataclasses.dataclass(frozen=True)
class Block:
    """Edges from layer ``src`` (nodes ``senders``) to layer ``dst`` (nodes ``receivers``),
    held at ``edges`` of the block-ordered edge axis as an ``(m, n)`` grid."""

    src: int
    dst: int
    senders: slice
    receivers: slice
    edges: slice

    @property
    def shape(self) -> tuple[int, int]:
        return self.senders.stop - self.senders.start, self.receivers.stop - self.receivers.start


def use_dense(graph, message_passing: str, model: str) -> bool:
    """Whether ``model`` runs the dense path on ``graph``: ``"auto"`` picks it when the graph is layered.

    Raises:
        ConfigError: an unknown choice, or ``"dense"`` for a graph that is not made of complete blocks.
    """
    if message_passing not in MESSAGE_PASSING:
        raise ConfigError(
            f"{model}: unknown message_passing {message_passing!r}; choose one of {list(MESSAGE_PASSING)}."
        )
    layered = graph.edge_blocks() is not None
    if message_passing == "dense" and not layered:
        raise ConfigError(
            f"{model}: the {graph.arch} graph's edges are not complete blocks between layers, so they "
            "cannot be held densely; use message_passing='edge_list' (or 'auto')."
        )
    return message_passing == "dense" or (message_passing == "auto" and layered)


class DenseBlocks(nn.Module):
    """The blocks of a layered graph, and the two operations message passing needs on them.

    Args:
        graph: an :class:`arena.graph.GraphSpec` whose :meth:`~arena.graph.GraphSpec.edge_blocks`
            is not ``None``.
    """

    def __init__(self, graph):
        super().__init__()
        blocks = graph.edge_blocks()
        assert blocks is not None, "DenseBlocks needs a layered graph (see use_dense)"
        starts = np.cumsum((0, *graph.layer_sizes))
        self.layers = tuple(slice(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:]))  # nodes of each layer
        self.num_nodes = graph.num_nodes
        self.blocks, offset = [], 0
        for b in blocks:
            m, n = b.edges.shape
            self.blocks.append(Block(b.src, b.dst, slice(int(starts[b.src]), int(starts[b.src]) + m),
                                     slice(int(starts[b.dst]), int(starts[b.dst]) + n), slice(offset, offset + m * n)))
            offset += m * n
        order = np.concatenate([b.edges.ravel() for b in blocks])
        self.reordered = not np.array_equal(order, np.arange(order.size))
        self.register_buffer("order", torch.as_tensor(order), persistent=False)

    def order_edges(self, edges: torch.Tensor) -> torch.Tensor:
        """Edge features in ``graph.edge_index`` order ``(B, E, c)`` -> block order."""
        return edges.index_select(1, self.order) if self.reordered else edges

    def views(self, edges: torch.Tensor) -> list[torch.Tensor]:
        """Block-ordered ``(B, E, ...)`` -> one ``(B, m, n, ...)`` view per block."""
        return [edges[:, b.edges].unflatten(1, b.shape) for b in self.blocks]

    def pair_sum(self, senders: torch.Tensor, receivers: torch.Tensor) -> torch.Tensor:
        """``(B, N, k)`` node terms -> ``(B, E, k)``: edge ``i -> j`` holds ``senders[i] + receivers[j]``.

        The dense form of ``senders[:, src] + receivers[:, dst]`` (two gathers on an edge list);
        its backward sums along the block axes instead of scattering.
        """
        return _PairSum.apply(senders, receivers, self)


class _PairSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, senders, receivers, blocks: DenseBlocks):
        ctx.blocks = blocks
        out = senders.new_empty(senders.shape[0], blocks.blocks[-1].edges.stop, senders.shape[-1])
        for b, view in zip(blocks.blocks, blocks.views(out)):
            torch.add(senders[:, b.senders, None], receivers[:, None, b.receivers], out=view)
        return out

    @staticmethod
    def backward(ctx, grad):
        blocks = ctx.blocks
        shape = (grad.shape[0], blocks.num_nodes, grad.shape[-1])
        to_senders, to_receivers = grad.new_zeros(shape), grad.new_zeros(shape)
        for b, view in zip(blocks.blocks, blocks.views(grad)):
            to_senders[:, b.senders] += view.sum(2)
            to_receivers[:, b.receivers] += view.sum(1)
        return to_senders, to_receivers, None
