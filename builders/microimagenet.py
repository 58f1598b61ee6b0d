"""Neural MicroImageNet: one SIREN per 64x64 image of 10 ImageNet super-classes."""

import numpy as np

from arena_builders._citations import IMAGENET, cite
from arena_builders._recipe import Recipe, published

PER_CLASS = {"train": 4_500, "val": 500, "test": 1_000}


def splits(source) -> dict[str, np.ndarray]:
    """Per class: 4,500 train, 500 val, 1,000 test images (45k / 5k / 10k).

    From an ImageNet folder the 6,000 images of each class are a seeded draw (seed 0). From a
    source with its own held-out split (the Tiny ImageNet stand-in: 500 train and 50 val images
    per class), test is that held-out split and val is the last 10 % of each class's train images.
    """
    labels = source.labels
    out = {"train": [], "val": [], "test": []}
    if "val" in source.splits:
        for c in range(source.num_classes):
            train = source.splits["train"][labels[source.splits["train"]] == c]
            cut = len(train) - len(train) // 10
            out["train"].append(train[:cut])
            out["val"].append(train[cut:])
            out["test"].append(source.splits["val"][labels[source.splits["val"]] == c])
    else:
        rng = np.random.default_rng(0)
        for c in range(source.num_classes):
            pool = source.splits["train"][labels[source.splits["train"]] == c]
            pick = np.sort(rng.permutation(pool)[: sum(PER_CLASS.values())])
            a, b = PER_CLASS["train"], PER_CLASS["train"] + PER_CLASS["val"]
            out["train"].append(pick[:a])
            out["val"].append(pick[a:b])
            out["test"].append(pick[b:])
    return {k: np.sort(np.concatenate(v)) for k, v in out.items()}


RECIPE = Recipe(
    **published("neural_microimagenet"),  # name, title, description, sizes: arena/catalog.py
    version="1.0.0",
    source="microimagenet",
    license="other",
    evidence=(
        "The paper's second-phase SIREN settings (3 layers, omega0 = 9, Adam lr 1e-3, shared "
        "initialisation), width 32 (1,251 parameters), 500 steps: the CPU-affordable width; the "
        "fit quality is in the table above."
    ),
    splits=splits,
    hparams={"hidden": 32, "layers": 3, "omega0": 9.0},
    steps=500,
    shard_size=1_000,
    citation=cite(IMAGENET),
)
