"""Neural MNIST: 70,000 SIRENs, one per MNIST digit."""

from arena_builders._citations import MNIST, cite
from arena_builders._recipe import Recipe, published
from arena_builders._splits import official

RECIPE = Recipe(
    **published("neural_mnist"),  # name, title, description, sizes: arena/catalog.py
    version="1.0.0",
    source="mnist",
    license="CC-BY-SA-3.0",
    evidence=(
        "The paper's second-phase SIREN settings (3 layers, omega0 = 9, Adam lr 1e-3, no weight "
        "decay, shared initialisation) with width 32 (1,185 parameters) and 500 steps. On MNIST, "
        "omega0 = 9 reaches ~29.5 dB on-grid and ~26.4 dB off-grid after 500 steps, where "
        "omega0 = 30 overfits the pixels (62 dB on-grid, 21.7 dB off-grid): the smoother NeF is "
        "the better representation."
    ),
    splits=official(train=slice(0, 55_000), val=slice(55_000, 60_000)),
    hparams={"hidden": 32, "layers": 3, "omega0": 9.0},
    steps=500,
    shard_size=5_000,
    citation=cite(MNIST),
)
