"""Neural ModelNet10: one occupancy SIREN per ModelNet10 CAD mesh."""

from arena_builders._citations import MODELNET, cite
from arena_builders._recipe import Recipe, published
from arena_builders._shapes import SHAPE_EVIDENCE, SHAPE_HPARAMS, train_val_test

RECIPE = Recipe(
    **published("neural_modelnet10"),  # name, title, description, sizes: arena/catalog.py
    version="1.0.0",
    source="modelnet10",
    license="other",
    evidence=SHAPE_EVIDENCE,
    splits=train_val_test,
    kind="shape",
    hparams=SHAPE_HPARAMS,
    steps=500,
    points_per_step=4_096,
    shard_size=128,
    citation=cite(MODELNET),
)
