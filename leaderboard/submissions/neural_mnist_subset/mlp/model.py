"""``baseline:mlp``: an MLP on the flat, per-layer normalised parameter vector.

Two hidden layers of 512 with GELU, LayerNorm and dropout. It sees the weights as an ordered
vector, so it is not invariant to hidden-neuron permutations. On the Arena's datasets that
costs little: every NeF starts from one shared initialisation, and fitting keeps the hidden
neurons of all NeFs aligned. Augmenting with random hidden-neuron permutations destroys that
alignment and with it most of the accuracy (``benchmarks/mlp_augmentation.py`` measures it), so
it is off here; set ``"augment": ["permute"]`` in a copy of this file for randomly initialised
datasets.
"""

from __future__ import annotations

INPUT = "flat"
HPARAMS = {"epochs": 40, "batch_size": 256, "lr": 1e-3, "weight_decay": 1e-2, "augment": []}
WIDTH = 512
DROPOUT = 0.1


def build_model(spec):
    from torch import nn

    return nn.Sequential(
        nn.Linear(spec.num_params, WIDTH), nn.LayerNorm(WIDTH), nn.GELU(), nn.Dropout(DROPOUT),
        nn.Linear(WIDTH, WIDTH), nn.LayerNorm(WIDTH), nn.GELU(), nn.Dropout(DROPOUT),
        nn.Linear(WIDTH, spec.num_classes),
    )
