"""Neural digits: one SIREN per scikit-learn digit (the embedded default: no download)."""

from arena_builders._citations import DIGITS, cite
from arena_builders._recipe import Recipe
from arena_builders._splits import seeded

RECIPE = Recipe(
    name="neural_digits",
    title="Neural digits",
    version="1.0.0",
    source="digits",
    license="CC-BY-4.0",
    description=(
        "1,797 SIRENs, one per 8x8 handwritten digit bundled with scikit-learn, in a seeded "
        "70/10/20 train/val/test split. Small enough to build and evaluate on a laptop in "
        "minutes: the Arena's embedded default for trying models and for tests."
    ),
    evidence=(
        "Published settings of the paper's second study phase for SIREN (3 layers, omega0 = 9, "
        "Adam lr 1e-3, shared initialisation). Width 16 (337 parameters) since the signal has "
        "only 64 pixels; the on-grid PSNR of an 8x8 fit is near-exact by construction, so the "
        "off-grid PSNR is the number that describes these NeFs."
    ),
    splits=seeded(0.7, 0.1, seed=0),
    sizes={"train": 1258, "val": 180, "test": 359},
    hparams={"hidden": 16, "layers": 3, "omega0": 9.0},
    steps=500,
    shard_size=500,
    citation=cite(DIGITS),
)
