"""Neural digits: one SIREN per scikit-learn digit (the embedded default: no download)."""

from arena_builders._citations import DIGITS, cite
from arena_builders._recipe import Recipe, published
from arena_builders._splits import seeded

RECIPE = Recipe(
    **published("neural_digits"),  # name, title, description, sizes: arena/catalog.py
    version="1.0.0",
    source="digits",
    license="CC-BY-4.0",
    evidence=(
        "Published settings of the paper's second study phase for SIREN (3 layers, omega0 = 9, "
        "Adam lr 1e-3, shared initialisation). Width 16 (337 parameters) since the signal has "
        "only 64 pixels; the on-grid PSNR of an 8x8 fit is near-exact by construction, so the "
        "off-grid PSNR is the number that describes these NeFs."
    ),
    splits=seeded(0.7, 0.1, seed=0),
    hparams={"hidden": 16, "layers": 3, "omega0": 9.0},
    steps=500,
    shard_size=500,
    citation=cite(DIGITS),
)
