"""Neural ShapeNet: one occupancy SIREN per ShapeNetCore v2 model of the paper's 10 classes."""

from arena_builders._citations import SHAPENET, cite
from arena_builders._recipe import Recipe
from arena_builders._splits import seeded
from arena_builders._shapes import SHAPE_EVIDENCE, SHAPE_HPARAMS

RECIPE = Recipe(
    name="neural_shapenet",
    title="Neural ShapeNet",
    version="1.0.0",
    source="shapenet",
    license="other",
    description=(
        "One occupancy SIREN per ShapeNetCore v2 model of 10 classes (a user-supplied copy: "
        "ShapeNet needs a license), in a seeded 80/10/10 train/val/test split."
    ),
    evidence=SHAPE_EVIDENCE,
    splits=seeded(0.8, 0.1, seed=0),
    kind="shape",
    sizes={"train": 27_840, "val": 3_480, "test": 3_480},
    hparams=SHAPE_HPARAMS,
    steps=500,
    points_per_step=4_096,
    shard_size=128,
    citation=cite(SHAPENET),
)
