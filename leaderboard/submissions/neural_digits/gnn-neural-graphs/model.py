"""``baseline:gnn``: the message-passing GNN over neural graphs (Kofinas et al., ICLR 2024).

The NeF becomes its neural graph (:mod:`arena.graph`): biases are node features, weights edge
features. The model follows the PNA network of neural-graphs (``nn/gnn.py``, configs
``inr_classification/model/pna.yaml`` and ``scripts/mnist_cls_pna.sh``):

- **embedding**: each scalar feature goes through fixed random Fourier features
  ``[cos 2 pi xB, sin 2 pi xB]`` (128 frequencies, ``B ~ N(0, 3^2)``) and a linear map to the
  hidden width; a learned positional embedding per ``spec.graph.node_pos`` is added to the nodes
  (input and output neurons each have their own, hidden neurons one per layer);
- **4 message-passing steps** (PNA with edge modulation): a message from ``s`` to ``r`` is
  ``scale(e) * (A x_r + B x_s) + shift(e)``, sent both ways along every edge (with separate
  ``scale, shift`` per direction, as ``rev_edge_features`` gives the reference model); each node
  aggregates its messages with mean, min, max and std, each also scaled by
  ``log(deg + 1) / mean log(deg + 1)`` (the identity and amplification scalers); the
  **node update** is an MLP of 3 layers (256, 256, hidden) on ``[x, aggregates]``, added to
  ``x``; between steps LayerNorm, SiLU and dropout 0.2, and an **edge update** MLP of 2 layers
  (256, hidden) on ``W_e e + W_s x_s + W_t x_r``;
- **readout**: the output neurons' features concatenated (the reference ``cat``/``last``
  pooling; output neurons are never permuted) together with the mean over all nodes, then an MLP
  ``hidden -> hidden -> classes``.

Hidden width 64 with the 3 x 256 node and 2 x 256 edge MLPs, as the Neural Field Arena paper
sets up its GNN (neural-graphs' PNA config has width 32 and one-layer updates). The output is
invariant to permutations of hidden neurons. The edge MLP runs at width 256 on every edge (1,120
for Neural MNIST's SIRENs), so a training step costs about 1.5 GFLOP per NeF: the full protocol
is for a GPU.

Every NeF of a dataset has the same graph, so nothing is rebuilt per batch and nothing runs per
sample. Two implementations of the same function share the parameters (``message_passing``):

- **dense** (chosen for SIREN, RFFNet and MFN, whose edges between two layers are complete
  blocks, :meth:`arena.graph.GraphSpec.edge_blocks`): the edge states are one ``(B, E, d)``
  tensor ordered block by block, so that a block is a ``(B, m, n, d)`` view and per-edge maps
  are one matrix product; a gather is a broadcast of a layer's node states along an axis of its
  blocks, a scatter a reduction along one, and the four aggregations have one fused backward;
- **edge list** (any other graph, and the reference the dense path is tested against):
  ``index_select``, ``index_add_`` and ``index_reduce`` over ``edge_index``.

Deviations from the reference: the node update is residual (``x + MLP``): without it, at
initialisation, the 3-layer update MLPs shrink the differences between NeFs about 4x per step
and the logits of two different NeFs differ by 1e-5; the graph's mean is added to the readout
(it costs nothing and helps when the field has a single output neuron).

Recipe: the reference's (``configs/base.yaml``, ``scripts/mnist_cls_pna.sh``): AdamW with AMSGrad,
learning rate 1e-3 constant after a linear warmup, weight decay 5e-4, gradient norm clipped to
10, batch 128, 200 epochs. One deviation: the reference warms up over 1,000 steps, which is 2.3
epochs of Neural MNIST at batch 128; the Arena states it as 2 epochs, because 1,000 steps are
100 epochs of neural_digits (10 steps per epoch) and all of a short run on a subset.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from arena.errors import require
from arena.graph import OUTPUT

torch = require("torch", "eval", "baseline:gnn")
from torch import nn

from arena.baselines._dense_graph import DenseBlocks, use_dense

INPUT = "graph"
HPARAMS = {"epochs": 200, "batch_size": 128, "lr": 1e-3, "weight_decay": 5e-4, "amsgrad": True,
           "warmup_epochs": 2, "clip_grad_norm": 10.0}

HIDDEN = 64
STEPS = 4
NODE_MLP = 256
EDGE_MLP = 256
DROPOUT = 0.2
FOURIER = 128
FOURIER_STD = 3.0


def build_model(spec) -> nn.Module:
    """The GNN for ``spec``'s neural graphs (any architecture :mod:`arena.graph` supports)."""
    return NeuralGraphGNN(spec.graph, spec.num_classes)


class FourierFeatures(nn.Module):
    """``x (..., d) -> [cos 2 pi x B, sin 2 pi x B] (..., 2 size)`` with a fixed ``B ~ N(0, std^2)``."""

    def __init__(self, d: int, size: int, std: float):
        super().__init__()
        self.register_buffer("freq", std * torch.randn(d, size))

    def forward(self, x):
        proj = (2 * math.pi) * (x @ self.freq)
        return torch.cat([torch.cos(proj), torch.sin(proj)], dim=-1)


class GraphEmbedding(nn.Module):
    """Node and edge features -> hidden vectors, plus a learned embedding of each node's position.

    The encoder of neural-graphs' ``GraphConstructor`` (``sin_emb``, ``use_pos_embed``).
    """

    def __init__(self, graph, d_node: int, d_edge: int, std: float):
        super().__init__()
        self.nodes = nn.Sequential(FourierFeatures(graph.node_dim, FOURIER, std), nn.Linear(2 * FOURIER, d_node))
        self.edges = nn.Sequential(FourierFeatures(graph.edge_dim, FOURIER, std), nn.Linear(2 * FOURIER, d_edge))
        self.position = nn.Embedding(graph.num_positions, d_node)
        self.register_buffer("node_pos", torch.tensor(graph.node_pos), persistent=False)

    def forward(self, nodes, edges):
        return self.embed_nodes(nodes), self.edges(edges)

    def embed_nodes(self, nodes):
        """Node features ``(B, N, node_dim)`` -> ``(B, N, d_node)``, position included."""
        return self.nodes(nodes) + self.position(self.node_pos)


def mlp(sizes: list[int], act=nn.SiLU) -> nn.Sequential:
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


class NeuralGraphGNN(nn.Module):
    """PNA-style message passing over a fixed neural-graph topology (see the module docstring).

    Args:
        graph: the dataset's :class:`arena.graph.GraphSpec`.
        num_classes: the number of logits.
        message_passing: ``"dense"`` holds each block of edges between two layers as a
            ``(B, m, n, d)`` view and passes messages with broadcasts and reductions along an
            axis (:mod:`arena.baselines._dense_graph`); ``"edge_list"`` gathers and scatters
            over ``graph.edge_index``; ``"auto"`` is dense when
            :meth:`~arena.graph.GraphSpec.edge_blocks` finds the blocks (SIREN, RFFNet, MFN).
            Both compute the same function of the same parameters.
    """

    def __init__(self, graph, num_classes: int, *, hidden: int = HIDDEN, steps: int = STEPS,
                 dropout: float = DROPOUT, message_passing: str = "auto"):
        super().__init__()
        self.dense = use_dense(graph, message_passing, "baseline:gnn")
        self.blocks = DenseBlocks(graph) if self.dense else None
        src, dst = (torch.tensor(a) for a in graph.edge_index)
        # messages travel both ways: first along the NeF (sender -> receiver), then back
        self.register_buffer("src", torch.cat([src, dst]), persistent=False)
        self.register_buffer("dst", torch.cat([dst, src]), persistent=False)
        self.register_buffer("edge_src", src, persistent=False)
        self.register_buffer("edge_dst", dst, persistent=False)
        degree = torch.bincount(self.dst, minlength=graph.num_nodes).float()
        log_degree = torch.log(degree + 1)
        self.register_buffer("degree", degree[:, None], persistent=False)
        self.register_buffer("amplification", (log_degree / log_degree.mean())[:, None], persistent=False)
        outputs = np.flatnonzero(graph.node_kind == OUTPUT)
        self.register_buffer("outputs", torch.tensor(outputs), persistent=False)

        self.embed = GraphEmbedding(graph, hidden, hidden, FOURIER_STD)
        self.steps = nn.ModuleList(_PNAStep(hidden, graph.num_nodes) for _ in range(steps))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(steps - 1))
        self.edge_updates = nn.ModuleList(_EdgeUpdate(hidden) for _ in range(steps - 1))
        self.dropout = nn.Dropout(dropout)
        self.head = mlp([(len(outputs) + 1) * hidden, hidden, hidden, num_classes], act=nn.ReLU)

    def forward(self, batch):
        nodes, edges = batch
        x = self.embed.embed_nodes(nodes)
        e = self.embed.edges(self.blocks.order_edges(edges) if self.dense else edges)
        for i, step in enumerate(self.steps):
            if self.dense:
                x = x + step.dense(x, e, self.blocks, self.degree, self.amplification)
            else:
                x = x + step(x, e, self.src, self.dst, self.degree, self.amplification)
            if i < len(self.steps) - 1:
                x = self.dropout(nn.functional.silu(self.norms[i](x)))
                if self.dense:
                    e = self.edge_updates[i].dense(x, e, self.blocks)
                else:
                    e = self.edge_updates[i](x, e, self.edge_src, self.edge_dst)
        pooled = torch.cat([x[:, self.outputs].flatten(1), x.mean(dim=1)], dim=1)
        return self.head(pooled)


class _PNAStep(nn.Module):
    """One PNA convolution with edge-modulated messages (neural-graphs' ``PNAConv``, one tower)."""

    def __init__(self, d: int, num_nodes: int):
        super().__init__()
        self.num_nodes = num_nodes
        self.receiver = nn.Linear(d, d)
        self.sender = nn.Linear(d, d, bias=False)
        self.forward_edge = nn.Linear(d, 2 * d)   # scale, shift of messages along the NeF
        self.backward_edge = nn.Linear(d, 2 * d)  # ... and against it
        self.update = mlp([9 * d, NODE_MLP, NODE_MLP, d])

    def forward(self, x, e, src, dst, degree, amplification):
        modulation = torch.cat([self.forward_edge(e), self.backward_edge(e)], dim=1)  # (B, 2E, 2d)
        scale, shift = modulation.chunk(2, dim=-1)
        messages = scale * (self.receiver(x).index_select(1, dst) + self.sender(x).index_select(1, src)) + shift
        b, _, d = messages.shape
        total = x.new_zeros(b, self.num_nodes, d).index_add_(1, dst, messages)
        squares = x.new_zeros(b, self.num_nodes, d).index_add_(1, dst, messages * messages)
        with warnings.catch_warnings():  # index_reduce is "beta"; it is 4x faster than scatter_reduce on CPU
            warnings.filterwarnings("ignore", message="index_reduce")
            high = x.new_zeros(b, self.num_nodes, d).index_reduce(1, dst, messages, "amax", include_self=False)
            low = x.new_zeros(b, self.num_nodes, d).index_reduce(1, dst, messages, "amin", include_self=False)
        return self._update(x, total, squares, high, low, degree, amplification)

    def dense(self, x, e, blocks: DenseBlocks, degree, amplification):
        """:meth:`forward` on block-ordered edge states ``(B, E, d)``, with no gather or scatter.

        Along edge ``i -> j`` node ``j`` hears ``scale * (A x_j + B x_i) + shift`` and node ``i``
        the reverse message; each node sums, squares, maxes and mins what it hears along the
        sender axis of the blocks that reach it (:class:`_BlockStats`).
        """
        weight = torch.cat([self.forward_edge.weight, self.backward_edge.weight])
        bias = torch.cat([self.forward_edge.bias, self.backward_edge.bias])
        scale, shift, back_scale, back_shift = nn.functional.linear(e, weight, bias).chunk(4, dim=-1)
        receiver, sender = self.receiver(x), self.sender(x)
        along = torch.addcmul(shift, scale, blocks.pair_sum(sender, receiver))
        against = torch.addcmul(back_shift, back_scale, blocks.pair_sum(receiver, sender))
        total, squares, high, low = _BlockStats.apply(along, against, blocks)
        return self._update(x, total, squares, high, low, degree, amplification)

    def _update(self, x, total, squares, high, low, degree, amplification):
        """The node update from each node's sum, sum of squares, max and min of its messages."""
        mean = total / degree
        std = torch.sqrt(torch.relu(squares / degree - mean * mean) + 1e-5)
        aggregated = torch.cat([mean, low, high, std], dim=-1)
        return self.update(torch.cat([x, aggregated, aggregated * amplification], dim=-1))


class _BlockStats(torch.autograd.Function):
    """Messages along and against the edges ``(B, E, d)`` -> each node's sum, sum of squares, max
    and min of the messages it hears ``(B, N, d)``.

    Along block ``[:, i, j]`` node ``j`` hears over axis ``i``; against it node ``i`` hears over
    axis ``j``. The backward writes each message's gradient once: ``g_sum + 2 m g_squares`` plus
    the max's (min's) gradient where ``m`` equals the max (min), split evenly among ties as the
    edge-list path's ``index_reduce`` splits it. Its masks are ``sign(m - max) + 1``: float
    arithmetic is several times faster on CPU than a boolean comparison, and ``torch.max`` with
    indices slower still.
    """

    @staticmethod
    def forward(ctx, along, against, blocks: DenseBlocks):
        heard = _heard_by_layer(along, against, blocks)
        stats = [[], [], [], []]
        for parts in heard:
            total = sum(m.sum(dim) for m, dim in parts)
            squares = sum(torch.linalg.vecdot(m, m, dim=dim) for m, dim in parts)
            high = _fold(torch.maximum, [m.amax(dim) for m, dim in parts])
            low = _fold(torch.minimum, [m.amin(dim) for m, dim in parts])
            for out, value in zip(stats, (total, squares, high, low)):
                out.append(value)
        total, squares, high, low = (torch.cat(values, dim=1) for values in stats)
        ctx.save_for_backward(along, against, high, low)
        ctx.blocks = blocks
        return total, squares, high, low

    @staticmethod
    def backward(ctx, g_total, g_squares, g_high, g_low):
        along, against, high, low = ctx.saved_tensors
        blocks = ctx.blocks
        grads = torch.empty_like(along), torch.empty_like(against)
        heard = _heard_by_layer(along, against, blocks)
        into = _heard_by_layer(*grads, blocks)
        for rows, parts, outs in zip(blocks.layers, heard, into):
            at_high = [(m - high[:, rows].unsqueeze(dim)).sign_().add_(1) for m, dim in parts]
            at_low = [(m - low[:, rows].unsqueeze(dim)).sign_().neg_().add_(1) for m, dim in parts]
            per_high = g_high[:, rows] / sum(mask.sum(dim) for mask, (_, dim) in zip(at_high, parts))
            per_low = g_low[:, rows] / sum(mask.sum(dim) for mask, (_, dim) in zip(at_low, parts))
            for (m, dim), (out, _), hi, lo in zip(parts, outs, at_high, at_low):
                torch.addcmul(g_total[:, rows].unsqueeze(dim), m, g_squares[:, rows].unsqueeze(dim), value=2, out=out)
                out.addcmul_(hi, per_high.unsqueeze(dim)).addcmul_(lo, per_low.unsqueeze(dim))
        return *grads, None


def _heard_by_layer(along, against, blocks: DenseBlocks) -> list[list[tuple]]:
    """For each layer, the ``(B, m, n, d)`` block views of what its nodes hear and the axis to reduce."""
    heard = [[] for _ in blocks.layers]
    for b, forward, backward in zip(blocks.blocks, blocks.views(along), blocks.views(against)):
        heard[b.dst].append((forward, 1))
        heard[b.src].append((backward, 2))
    assert all(heard), "every layer of a neural graph has edges"
    return heard


def _fold(op, values: list):
    out = values[0]
    for value in values[1:]:
        out = op(out, value)
    return out


class _EdgeUpdate(nn.Module):
    """``e' = W_2 silu(W_e e + W_s x_sender + W_t x_receiver)`` (neural-graphs' ``EdgeMLP``)."""

    def __init__(self, d: int):
        super().__init__()
        self.edge = nn.Linear(d, EDGE_MLP)
        self.sender = nn.Linear(d, EDGE_MLP, bias=False)
        self.receiver = nn.Linear(d, EDGE_MLP, bias=False)
        self.out = nn.Linear(EDGE_MLP, d)

    def forward(self, x, e, src, dst):
        h = self.edge(e) + self.sender(x).index_select(1, src) + self.receiver(x).index_select(1, dst)
        return self.out(nn.functional.silu(h))

    def dense(self, x, e, blocks: DenseBlocks):
        """:meth:`forward` on block-ordered edge states ``(B, E, d)``: the node terms are a pair sum."""
        h = blocks.pair_sum(self.sender(x) + self.edge.bias, self.receiver(x))  # (B, E, EDGE_MLP)
        h.view(-1, EDGE_MLP).addmm_(e.reshape(-1, e.shape[-1]), self.edge.weight.t())
        return self.out(nn.functional.silu(h))
