"""What the two shape recipes share."""

import numpy as np

SHAPE_HPARAMS = {"hidden": 32, "layers": 3, "omega0": 9.0}
SHAPE_EVIDENCE = (
    "SIREN with 3 layers and omega0 = 9 (the paper's published SIREN setting), width 32, fit for "
    "500 steps of 4,096 points (2,048 inside, 2,048 outside) drawn from each shape's pool of "
    "200,000 points (100,000 uniform in the normalised cube, 100,000 near the surface, occupancy "
    "from generalised winding numbers, correct on open meshes). IoU is measured on 20,000 "
    "held-out points of the same mixture, off-grid IoU on 20,000 held-out uniform points."
)


def train_val_test(source) -> dict[str, np.ndarray]:
    """Official train split 90/10 into train/val (seeded) and the official test; or, for a source
    with only one split, a seeded 70/10/20 split of it."""
    rng = np.random.default_rng(0)
    official = {k: v for k, v in source.splits.items() if len(v)}
    if "train" in official and "test" in official:
        pool = rng.permutation(official["train"])
        cut = len(pool) - len(pool) // 10
        return {"train": np.sort(pool[:cut]), "val": np.sort(pool[cut:]), "test": official["test"]}
    (pool,) = official.values()
    pool = rng.permutation(pool)
    a, b = int(round(0.7 * len(pool))), int(round(0.8 * len(pool)))
    return {"train": np.sort(pool[:a]), "val": np.sort(pool[a:b]), "test": np.sort(pool[b:])}
