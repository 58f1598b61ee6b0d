"""Neural ModelNet10: one occupancy SIREN per ModelNet10 CAD mesh."""

from arena_builders._citations import MODELNET, cite
from arena_builders._recipe import Recipe
from arena_builders._shapes import SHAPE_EVIDENCE, SHAPE_HPARAMS, train_val_test

RECIPE = Recipe(
    name="neural_modelnet10",
    title="Neural ModelNet10",
    version="1.0.0",
    source="modelnet10",
    license="other",
    description=(
        "One occupancy SIREN per ModelNet10 mesh (10 classes of raw CAD models, most of them not "
        "watertight). With the official train and test splits, val is a seeded 10 % of train; "
        "from the test split alone, a seeded 70/10/20 split of it."
    ),
    evidence=SHAPE_EVIDENCE,
    splits=train_val_test,
    kind="shape",
    sizes={"train": 3_592, "val": 399, "test": 908},
    hparams=SHAPE_HPARAMS,
    steps=500,
    points_per_step=4_096,
    shard_size=128,
    citation=cite(MODELNET),
)
