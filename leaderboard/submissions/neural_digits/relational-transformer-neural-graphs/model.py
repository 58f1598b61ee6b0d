"""``baseline:transformer``: the Relational Transformer over neural graphs (Kofinas et al., ICLR 2024).

A transformer whose tokens are the neurons of the NeF's neural graph (:mod:`arena.graph`) and
whose attention is modulated by the edges, after neural-graphs' ``nn/relational_transformer.py``
(config ``inr_classification/model/rtransformer.yaml``, ``scripts/mnist_cls_rt.sh``):

- **embedding**: random Fourier features of the scalar node and edge features (128
  frequencies, ``B ~ N(0, 1)``) and a linear map, plus a learned positional embedding of each
  node (:class:`arena.baselines.gnn.GraphEmbedding`). Edges are held densely, one vector for
  every ordered pair of nodes ``(i, j)``: the embedded weight where the NeF has an edge
  ``i -> j``, a learned "no edge" vector elsewhere;
- **4 layers**, each: relational attention over all nodes, 8 heads,
  ``q_ij = W_q x_i + Q e_ij``, ``k_ij = W_k x_j + K e_ij``, ``v_ij = (W_v x_j) * V' e_ij + V e_ij``
  (``modulate_v``), softmax over ``j``; residual + LayerNorm; a node MLP (128, GELU); then an
  edge update (all but the last layer): ``e_ij += W_2 gelu(W_e [e_ij, e_ji] + W_s x_i + W_t x_j)``
  and an edge MLP (64, GELU), each followed by LayerNorm; dropout 0.2;
- **readout**: the output neurons' vectors concatenated, with the mean over all nodes, then
  ``Linear -> ReLU -> Linear`` (128 hidden).

Widths: nodes 64, edges 32, attention 128. The output is invariant to permutations of hidden
neurons. Time and memory grow with the square of the number of neurons: Neural MNIST's SIRENs
have 67, so 4,489 node pairs, and a training step holds about 100 MB of activations per NeF
(13 GB for a batch of 128): the full protocol is for a GPU.

Two implementations of the same function share the parameters (``message_passing``): **dense**
(chosen for SIREN, RFFNet and MFN, whose edges between two layers are complete blocks) writes
each block of embedded edges into its slice of the pairs and computes the values' edge term as
a matrix product over the pairs (:meth:`_RelationalAttention.dense`); **edge list** (any other
graph, and the reference the dense path is tested against) scatters the edges into the pairs
and forms every per-pair query, key and value as the reference model does.

Deviations from the reference: a learned "no edge" vector (the reference feeds a zero
weight, so it cannot tell a missing edge from a zero weight); the mean over nodes in the
readout.

Recipe: the reference's (``configs/base.yaml``, ``scripts/mnist_cls_rt.sh``): AdamW with AMSGrad,
learning rate 1e-3 constant after a linear warmup, weight decay 5e-4, gradient norm clipped to
10, batch 128, 200 epochs. One deviation: the reference warms up over 1,000 steps, which is 2.3
epochs of Neural MNIST at batch 128; the Arena states it as 2 epochs, because 1,000 steps are
100 epochs of neural_digits (10 steps per epoch) and all of a short run on a subset.
"""

from __future__ import annotations

import numpy as np

from arena.errors import require
from arena.graph import OUTPUT

torch = require("torch", "eval", "baseline:transformer")
from torch import nn

from arena.baselines._dense_graph import DenseBlocks, use_dense
from arena.baselines.gnn import GraphEmbedding

INPUT = "graph"
HPARAMS = {"epochs": 200, "batch_size": 128, "lr": 1e-3, "weight_decay": 5e-4, "amsgrad": True,
           "warmup_epochs": 2, "clip_grad_norm": 10.0}

D_NODE, D_EDGE, D_ATTN = 64, 32, 128
D_NODE_HID, D_EDGE_HID, D_OUT_HID = 128, 64, 128
LAYERS, HEADS = 4, 8
DROPOUT = 0.2
FOURIER_STD = 1.0


def build_model(spec) -> nn.Module:
    """The Relational Transformer for ``spec``'s neural graphs (any architecture with a graph)."""
    return RelationalTransformer(spec.graph, spec.num_classes)


def _linear(d_in: int, d_out: int, bias: bool = True) -> nn.Linear:
    """Xavier-uniform weights and zero biases, as the reference initialises every layer."""
    layer = nn.Linear(d_in, d_out, bias=bias)
    nn.init.xavier_uniform_(layer.weight)
    if bias:
        nn.init.zeros_(layer.bias)
    return layer


class RelationalTransformer(nn.Module):
    """Attention over the nodes of a fixed neural-graph topology (see the module docstring).

    Args:
        graph: the dataset's :class:`arena.graph.GraphSpec`.
        num_classes: the number of logits.
        message_passing: ``"dense"`` writes each block of edges between two layers into the
            ``(B, N, N, d)`` edge states as a slice and attends with fewer per-pair tensors
            (:meth:`_RelationalAttention.dense`); ``"edge_list"`` scatters the edge list into the pairs and forms
            the per-pair vectors as the reference does; ``"auto"`` is dense when
            :meth:`~arena.graph.GraphSpec.edge_blocks` finds the blocks (SIREN, RFFNet, MFN).
            Both compute the same function of the same parameters.
    """

    def __init__(self, graph, num_classes: int, *, layers: int = LAYERS, dropout: float = DROPOUT,
                 message_passing: str = "auto"):
        super().__init__()
        self.dense = use_dense(graph, message_passing, "baseline:transformer")
        self.blocks = DenseBlocks(graph) if self.dense else None
        n = graph.num_nodes
        src, dst = (torch.tensor(a) for a in graph.edge_index)
        pairs = src * n + dst
        present = torch.zeros(n * n)
        present[pairs] = 1.0
        self.num_nodes = n
        self.register_buffer("pairs", pairs, persistent=False)
        self.register_buffer("absent", (1.0 - present)[:, None], persistent=False)
        outputs = np.flatnonzero(graph.node_kind == OUTPUT)
        self.register_buffer("outputs", torch.tensor(outputs), persistent=False)

        self.embed = GraphEmbedding(graph, D_NODE, D_EDGE, FOURIER_STD)
        self.no_edge = nn.Parameter(torch.randn(D_EDGE))
        self.layers = nn.ModuleList(
            _RTLayer(dropout, edge_update=i < layers - 1) for i in range(layers)
        )
        self.head = nn.Sequential(
            nn.Linear((len(outputs) + 1) * D_NODE, D_OUT_HID), nn.ReLU(), nn.Linear(D_OUT_HID, num_classes)
        )

    def forward(self, batch):
        nodes, edges = batch
        x = self.embed.embed_nodes(nodes)
        e = self._pairs_from_blocks(edges) if self.dense else self._pairs_from_list(edges)
        for layer in self.layers:
            x, e = layer(x, e, dense=self.dense)
        return self.head(torch.cat([x[:, self.outputs].flatten(1), x.mean(dim=1)], dim=1))

    def _pairs_from_list(self, edges):
        """Edge features ``(B, E, c)`` -> states of all node pairs ``(B, N, N, D_EDGE)``, by a scatter."""
        e = self.embed.edges(edges)
        b, n = e.shape[0], self.num_nodes
        dense = e.new_zeros(b, n * n, e.shape[-1]).index_copy(1, self.pairs, e) + self.absent * self.no_edge
        return dense.view(b, n, n, -1)

    def _pairs_from_blocks(self, edges):
        """The same states, each block of edges written into its slice of the pairs."""
        b, n = edges.shape[0], self.num_nodes
        embedded = self.embed.edges(self.blocks.order_edges(edges))
        pairs = self.no_edge.expand(b, n, n, D_EDGE).clone()
        for block, values in zip(self.blocks.blocks, self.blocks.views(embedded)):
            pairs[:, block.senders, block.receivers] = values
        return pairs


class _RTLayer(nn.Module):
    def __init__(self, dropout: float, *, edge_update: bool):
        super().__init__()
        self.attention = _RelationalAttention()
        self.attention_out = _linear(D_NODE, D_NODE)
        self.node_ln0, self.node_ln1 = nn.LayerNorm(D_NODE), nn.LayerNorm(D_NODE)
        self.node_mlp = nn.Sequential(
            _linear(D_NODE, D_NODE_HID, bias=False), nn.GELU(), _linear(D_NODE_HID, D_NODE), nn.Dropout(dropout)
        )
        self.dropout = nn.Dropout(dropout)
        self.edge_update = _EdgeUpdate(dropout) if edge_update else None

    def forward(self, x, e, *, dense: bool = False):
        attended = self.attention.dense(x, e) if dense else self.attention(x, e)
        x = self.node_ln0(x + self.dropout(self.attention_out(attended)))
        x = self.node_ln1(x + self.node_mlp(x))
        if self.edge_update is not None:
            e = self.edge_update(x, e)
        return x, e


class _RelationalAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv_node = _linear(D_NODE, 3 * D_ATTN, bias=False)
        self.qkv_edge = _linear(D_EDGE, 4 * D_ATTN, bias=False)
        self.out = _linear(D_ATTN, D_NODE)
        self.scale = D_ATTN ** -0.5

    def forward(self, x, e):
        b, n, _ = x.shape
        # heads last, so every product below runs over contiguous (head, dim) blocks
        q_node, k_node, v_node = self.qkv_node(x).view(b, n, 3, HEADS, -1).unbind(2)         # (B, N, h, dh)
        q_edge, k_edge, v_edge, v_mod = self.qkv_edge(e).view(b, n, n, 4, HEADS, -1).unbind(3)  # (B, N, N, h, dh)
        q = q_node[:, :, None] + q_edge                                 # query of i towards j
        k = k_node[:, None, :] + k_edge                                 # key of j as seen from i
        v = v_node[:, None, :] * v_mod + v_edge
        attention = torch.softmax(self.scale * (q * k).sum(-1), dim=2)  # (B, N, N, h), over j
        return self.out((attention[..., None] * v).sum(2).flatten(-2))

    def dense(self, x, e):
        """:meth:`forward` with fewer and contiguous per-pair tensors.

        Queries and keys are formed in place on their edge products (one per-pair tensor each,
        contiguous); of the values, ``sum_j a_ij V e_ij`` is ``V (sum_j a_ij e_ij)``, a matrix
        product over the pairs, and only ``sum_j a_ij (W_v x_j) * V' e_ij`` keeps per-pair values.
        """
        b, n, _ = x.shape
        q_node, k_node, v_node = self.qkv_node(x).view(b, n, 3, D_ATTN).unbind(2)     # (B, N, h dh)
        w_q, w_k, w_v, w_mod = self.qkv_edge.weight.split(D_ATTN)                     # (h dh, D_EDGE)
        q = nn.functional.linear(e, w_q).add_(q_node[:, :, None])                     # q_ij = W_q x_i + Q e_ij
        k = nn.functional.linear(e, w_k).add_(k_node[:, None])                        # k_ij = W_k x_j + K e_ij
        score = (q * k).view(b, n, n, HEADS, -1).sum(-1)                              # (B, N, N, h)
        attention = torch.softmax(self.scale * score, dim=2)                          # over j
        summed = (attention.transpose(2, 3) @ e).flatten(-2)                          # (B, N, h D_EDGE)
        plain = nn.functional.linear(summed, torch.block_diag(*w_v.view(HEADS, -1, D_EDGE)))
        v_mod = nn.functional.linear(e, w_mod).view(b, n, n, HEADS, -1)
        modulated = (attention[..., None] * (v_node.view(b, 1, n, HEADS, -1) * v_mod)).sum(2)
        return self.out(plain + modulated.flatten(-2))


class _EdgeUpdate(nn.Module):
    def __init__(self, dropout: float):
        super().__init__()
        self.edge = _linear(2 * D_EDGE, D_EDGE_HID)
        self.sender = _linear(D_NODE, D_EDGE_HID)
        self.receiver = _linear(D_NODE, D_EDGE_HID)
        self.out = _linear(D_EDGE_HID, D_EDGE)
        self.mlp = nn.Sequential(
            _linear(D_EDGE, D_EDGE_HID, bias=False), nn.GELU(), _linear(D_EDGE_HID, D_EDGE), nn.Dropout(dropout)
        )
        self.ln0, self.ln1 = nn.LayerNorm(D_EDGE), nn.LayerNorm(D_EDGE)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, e):
        h = self.edge(torch.cat([e, e.transpose(1, 2)], dim=-1))
        h = h + self.sender(x)[:, :, None] + self.receiver(x)[:, None, :]
        e = self.ln0(e + self.dropout(self.out(nn.functional.gelu(h))))
        return self.ln1(e + self.mlp(e))
