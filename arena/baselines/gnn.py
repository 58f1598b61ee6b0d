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
sets up its GNN (neural-graphs' PNA config has width 32 and one-layer updates). Everything runs on
the shared topology with index operations (``index_select``, ``index_add_``, ``index_reduce``)
over ``edge_index``, buffers built once: no per-sample Python and no graph rebuilt per batch.
The output is invariant to permutations of hidden neurons. The edge MLP runs at width 256 on
every edge (1,120 for Neural MNIST's SIRENs), so a training step costs about 1.5 GFLOP per NeF:
the full protocol is for a GPU.

Deviations from the reference: the node update is residual (``x + MLP``): without it, at
initialisation, the 3-layer update MLPs shrink the differences between NeFs about 4x per step
and the logits of two different NeFs differ by 1e-5; the graph's mean is added to the readout
(it costs nothing and helps when the field has a single output neuron); the training recipe is
the Arena protocol's (constant learning rate, no warm-up or gradient clipping).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from arena.errors import require
from arena.graph import OUTPUT

torch = require("torch", "eval", "baseline:gnn")
from torch import nn

INPUT = "graph"
# neural-graphs' INR classification recipe: AdamW lr 1e-3, weight decay 5e-4, batch 128, 200 epochs
HPARAMS = {"epochs": 200, "batch_size": 128, "lr": 1e-3, "weight_decay": 5e-4}

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
        return self.nodes(nodes) + self.position(self.node_pos), self.edges(edges)


def mlp(sizes: list[int], act=nn.SiLU) -> nn.Sequential:
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


class NeuralGraphGNN(nn.Module):
    """PNA-style message passing over a fixed neural-graph topology (see the module docstring)."""

    def __init__(self, graph, num_classes: int, *, hidden: int = HIDDEN, steps: int = STEPS,
                 dropout: float = DROPOUT):
        super().__init__()
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
        x, e = self.embed(nodes, edges)
        for i, step in enumerate(self.steps):
            x = x + step(x, e, self.src, self.dst, self.degree, self.amplification)
            if i < len(self.steps) - 1:
                x = self.dropout(nn.functional.silu(self.norms[i](x)))
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
        mean = total / degree
        std = torch.sqrt(torch.relu(squares / degree - mean * mean) + 1e-5)
        with warnings.catch_warnings():  # index_reduce is "beta"; it is 4x faster than scatter_reduce on CPU
            warnings.filterwarnings("ignore", message="index_reduce")
            high = x.new_zeros(b, self.num_nodes, d).index_reduce(1, dst, messages, "amax", include_self=False)
            low = x.new_zeros(b, self.num_nodes, d).index_reduce(1, dst, messages, "amin", include_self=False)
        aggregated = torch.cat([mean, low, high, std], dim=-1)
        return self.update(torch.cat([x, aggregated, aggregated * amplification], dim=-1))


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
