"""Neural ShapeNet: one occupancy SIREN per ShapeNetCore v2 model of the paper's 10 classes."""

from arena_builders._citations import SHAPENET, cite
from arena_builders._recipe import Recipe, published
from arena_builders._splits import seeded
from arena_builders._shapes import SHAPE_EVIDENCE, SHAPE_HPARAMS

RECIPE = Recipe(
    **published("neural_shapenet"),  # name, title, description, sizes: arena/catalog.py
    version="1.0.0",
    source="shapenet",
    license="other",
    evidence=SHAPE_EVIDENCE,
    splits=seeded(0.8, 0.1, seed=0),
    kind="shape",
    hparams=SHAPE_HPARAMS,
    steps=500,
    points_per_step=4_096,
    shard_size=128,
    citation=cite(SHAPENET),
)
