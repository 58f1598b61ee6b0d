"""Neural CIFAR10: one SIREN per CIFAR-10 image."""

import numpy as np

from arena_builders._citations import CIFAR, cite
from arena_builders._recipe import Recipe, published


def splits(source) -> dict[str, np.ndarray]:
    """By official index: train < 45,000 <= val < 50,000; test = the official test images.

    A subset of CIFAR-10 (such as the lossless 4,000 + 1,000 subset) may hold no image of the
    official val range; its val is then the last 10 % of the train images it holds (the manifest's
    source block records which images the dataset has).
    """
    train_pool = source.splits["train"]
    idx = source.index[train_pool]
    train, val = train_pool[idx < 45_000], train_pool[(idx >= 45_000) & (idx < 50_000)]
    if len(val) == 0:
        cut = len(train) - max(1, len(train) // 10)
        train, val = train[:cut], train[cut:]
    return {"train": train, "val": val, "test": source.splits["test"]}


RECIPE = Recipe(
    **published("neural_cifar10"),  # name, title, description, sizes: arena/catalog.py
    version="1.0.0",
    source="cifar10",
    license="other",
    evidence=(
        "The paper's second-phase SIREN settings (3 layers, omega0 = 9, Adam lr 1e-3, shared "
        "initialisation), width 32 (1,251 parameters), 500 steps, as for Neural MNIST."
    ),
    splits=splits,
    hparams={"hidden": 32, "layers": 3, "omega0": 9.0},
    steps=500,
    shard_size=5_000,
    citation=cite(CIFAR),
)
