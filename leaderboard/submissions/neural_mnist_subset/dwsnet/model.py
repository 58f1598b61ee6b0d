"""``baseline:dws``: a DWSNet, Deep Weight Space network (Navon et al., ICML 2023).

DWSNets act on the weights and biases of an MLP with layers that are equivariant to permuting
the hidden neurons, and end in an invariant head. The input is the ``"layers"`` view: weights
``W_l`` of shape ``(B, n_l, n_{l+1})`` and biases ``b_l`` of shape ``(B, n_{l+1})``; each entry
becomes a feature vector (``(B, n_l, n_{l+1}, F)``, ``(B, n_{l+1}, F)``).

**The equivariant layer.** Neuron layers ``1..L-1`` are hidden: each is a set whose order does
not matter. Layers ``0`` (inputs) and ``L`` (outputs) are ordered; as in DWSNets their indices are
folded into the feature dimension (the first weight ``(B, n_0, n_1, F)`` is a set over ``n_1``
with ``n_0 * F`` features). Every map from a tensor ``t`` to a tensor ``s`` is a sum of terms,
one for each subset ``K`` of the hidden sets the two share: pool ``t`` (max, as DWSNets' MNIST
setting) over its other hidden sets, apply a linear map to the features, broadcast over the other
hidden sets of ``s``. These are the weight-to-weight, bias-to-weight, bias-to-bias and
weight-to-bias blocks of DWSNets, e.g. ``W_l -> W_l`` gets four terms (all, rows, columns, both
pooled), ``W_{l-1} -> W_l`` two (keep or pool the shared set ``n_l``), unrelated tensors one
(pool everything). Terms with the same ``K`` and output are summed by one linear layer on the
concatenated pooled inputs.

**The model** (DWSNets' MNIST classifier: ``hidden_dim 32``, ``n_hidden 4``, ``reduction max``,
batch norm): an equivariant layer to 32 features, 4 times ``BatchNorm -> ReLU -> equivariant
layer``, then ``ReLU`` and the invariant head: every tensor pooled over its hidden sets,
concatenated, and one linear layer to the classes.

Deviations from DWSNets: the set layers are DeepSets layers (their ``set_layer="ds"``) rather
than the default self-attention (``"sab"``), which keeps the model the linear equivariant basis
of the paper; the layers that feed a batch norm have no biases (the norm removes them).

Only SIREN datasets are supported: the ``"layers"`` view holds the dense ``layers.*`` stack, and
leaves out RFFNet's Fourier embedding and MFN's filters, which this model would then ignore.
"""

from __future__ import annotations

import itertools

from arena.errors import ConfigError, require

torch = require("torch", "eval", "baseline:dws")
from torch import nn

INPUT = "layers"
# DWSNets' MNIST recipe (experiments/mnist/trainer.py): AdamW lr 5e-3, weight decay 5e-4, batch 512, 100 epochs
HPARAMS = {"epochs": 100, "batch_size": 512, "lr": 5e-3, "weight_decay": 5e-4}

HIDDEN = 32
LAYERS = 5  # the first layer and n_hidden = 4 more
SUPPORTED = ("siren",)


def build_model(spec) -> nn.Module:
    """A DWSNet for ``spec``'s SIREN layers (raises :class:`ConfigError` for other architectures)."""
    if spec.arch not in SUPPORTED:
        raise ConfigError(
            f"baseline:dws supports SIREN datasets only, and '{spec.dataset}' holds '{spec.arch}' fields: "
            f"its 'layers' input leaves out RFFNet's Fourier embedding and MFN's filters. "
            f"Use baseline:gnn or baseline:transformer, which see the whole network."
        )
    return DWSNet(spec.layer_shapes, spec.num_classes)


class _Structure:
    """Which neuron layers each tensor spans: ``W_l`` spans ``(l, l + 1)``, ``b_l`` spans ``(l + 1,)``."""

    def __init__(self, layer_shapes):
        self.sizes = [layer_shapes[0][0]] + [out for _, out in layer_shapes]
        depth = len(layer_shapes)
        self.tensors = [(l, l + 1) for l in range(depth)] + [(l + 1,) for l in range(depth)]
        self.hidden = [tuple(a for a in axes if 0 < a < depth) for axes in self.tensors]
        self.fixed = [tuple(a for a in axes if a in (0, depth)) for axes in self.tensors]

    def channels(self, t: int, features: int) -> int:
        """Feature width of tensor ``t`` once its ordered (input/output) axes are folded in."""
        width = features
        for a in self.fixed[t]:
            width *= self.sizes[a]
        return width

    @staticmethod
    def subsets(sets: tuple[int, ...]):
        return [k for r in range(len(sets) + 1) for k in itertools.combinations(sets, r)]


class EquivariantLayer(nn.Module):
    """A linear layer between weight spaces, equivariant to hidden-neuron permutations."""

    def __init__(self, structure: _Structure, d_in: int, d_out: int, *, bias: bool = True):
        super().__init__()
        self.s, self.d_out = structure, d_out
        self.terms = nn.ModuleDict()
        for out, hidden in enumerate(structure.hidden):
            for i, keep in enumerate(structure.subsets(hidden)):
                sources = self.sources(keep)
                width = sum(structure.channels(t, d_in) for t in sources)
                self.terms[f"{out}_{'_'.join(map(str, keep))}"] = nn.Linear(
                    width, structure.channels(out, d_out), bias=bias and i == 0
                )

    def sources(self, keep: tuple[int, ...]) -> list[int]:
        return [t for t, hidden in enumerate(self.s.hidden) if set(keep) <= set(hidden)]

    def forward(self, tensors):
        pools = Pools(self.s, tensors)
        outputs = []
        for out, hidden in enumerate(self.s.hidden):
            total = 0
            for keep in self.s.subsets(hidden):
                inputs = torch.cat([pools(t, keep) for t in self.sources(keep)], dim=-1)
                total = total + self._broadcast(self.terms[f"{out}_{'_'.join(map(str, keep))}"](inputs), out, keep)
            outputs.append(total)
        return outputs

    def _broadcast(self, y, out, keep):
        """``(B, *sizes of keep, channels)`` -> tensor ``out``'s axes, size 1 on the pooled ones."""
        axes, fixed = self.s.tensors[out], self.s.fixed[out]
        y = y.unflatten(-1, (*(self.s.sizes[a] for a in fixed), self.d_out))
        current = list(keep) + list(fixed)
        present = [a for a in axes if a in current]
        y = y.permute(0, *(1 + current.index(a) for a in present), y.ndim - 1)
        for dim, a in enumerate(axes):
            if a not in current:
                y = y.unsqueeze(1 + dim)
        return y


class Pools:
    """Each tensor max-pooled over any subset of its hidden sets, with its ordered axes folded into
    the features: ``pools(t, keep)`` is ``(B, *sizes of keep, channels)``. Each pool is computed
    once, a coarser one from a finer one (a max of maxes), so the full tensors are reduced once."""

    def __init__(self, structure: _Structure, tensors):
        self.s, self.tensors, self.cache = structure, tensors, {}

    def __call__(self, t: int, keep: tuple[int, ...]):
        if (t, keep) not in self.cache:
            extra = [a for a in self.s.hidden[t] if a not in keep]
            if extra:
                finer = tuple(sorted((*keep, extra[0])))
                pooled = self(t, finer).amax(dim=1 + finer.index(extra[0]))
            else:  # nothing to pool: fold the ordered axes into the features
                x, axes = self.tensors[t], self.s.tensors[t]
                order = [axes.index(a) for a in (*self.s.hidden[t], *self.s.fixed[t])]
                pooled = x.permute(0, *(1 + i for i in order), x.ndim - 1).flatten(1 + len(keep))
            self.cache[t, keep] = pooled
        return self.cache[t, keep]


class DWSNet(nn.Module):
    """Equivariant layers with batch norm and ReLU, then an invariant head (see the module docstring)."""

    def __init__(self, layer_shapes, num_classes: int, *, hidden: int = HIDDEN, layers: int = LAYERS):
        super().__init__()
        self.structure = _Structure(layer_shapes)
        n = len(self.structure.tensors)
        self.layers = nn.ModuleList(
            EquivariantLayer(self.structure, 1 if i == 0 else hidden, hidden, bias=i == layers - 1)
            for i in range(layers)
        )
        self.norms = nn.ModuleList(
            nn.ModuleList(nn.BatchNorm1d(hidden) for _ in range(n)) for _ in range(layers - 1)
        )
        width = sum(self.structure.channels(t, hidden) for t in range(n))
        self.head = nn.Linear(width, num_classes)

    def forward(self, batch):
        weights, biases = batch
        x = [t[..., None] for t in (*weights, *biases)]
        for i, layer in enumerate(self.layers):
            if i > 0:
                x = [torch.relu(norm(t.flatten(0, -2)).view_as(t)) for norm, t in zip(self.norms[i - 1], x)]
            x = layer(x)
        pools = Pools(self.structure, [torch.relu(t) for t in x])
        return self.head(torch.cat([pools(t, ()) for t in range(len(x))], dim=-1))
