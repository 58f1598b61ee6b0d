"""What each published neural dataset is: its title, description, split sizes and class names.

The one place these facts are written. The recipes (``builders/``) take their title,
description and sizes from here; the registry (``arena list``, ``arena info``) shows them for
every release, built here or not; the fit-a-nef importer (:data:`arena.interop.PRESETS`) reads
the split sizes and class names. The registry file (``arena/registry.json``) holds only the
release pins. This module sits below ``hub`` and ``interop`` and imports nothing from the Arena,
so every layer may read it (``builders/`` sits above the library and may not be imported by it).

Sizes are those of a build from the full official source (``train``, ``val``, ``test``, in
that order). A subset made by ``arena subset`` (``<name>_subset``) has its facts derived from
its parent's and its version, which records the sizes (:func:`facts`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

SUBSET_SUFFIX = "_subset"  # what arena.subset appends to the parent's name
_SUBSET_PART = re.compile(r"^([a-z][a-z_-]*?)(\d+)$")
_DIGITS = tuple(str(d) for d in range(10))


@dataclasses.dataclass(frozen=True)
class DatasetFacts:
    """One neural dataset as published.

    Attributes:
        name: the dataset name, e.g. ``"neural_mnist"``.
        title: its display name, e.g. ``"Neural MNIST"``.
        description: what it is (the first paragraph of its dataset card).
        sizes: NeFs per split, ``{"train": .., "val": .., "test": ..}``.
        classes: the label names (label ``k`` is ``classes[k]``), or ``None`` where the source
            files decide them (MicroImageNet's super-classes, the shape categories).
    """

    name: str
    title: str
    description: str
    sizes: Mapping[str, int]
    classes: tuple[str, ...] | None = None

    @property
    def summary(self) -> str:
        """``"<title>: <description>"``, what ``arena info`` prints."""
        return f"{self.title}: {self.description}"


DATASETS: dict[str, DatasetFacts] = {f.name: f for f in (
    DatasetFacts(
        name="neural_digits",
        title="Neural digits",
        description=(
            "1,797 SIRENs, one per 8x8 handwritten digit bundled with scikit-learn, in a seeded "
            "70/10/20 train/val/test split. Small enough to build and evaluate on a laptop in "
            "minutes: the Arena's embedded default for trying models and for tests."
        ),
        sizes={"train": 1258, "val": 180, "test": 359},
        classes=_DIGITS,
    ),
    DatasetFacts(
        name="neural_mnist",
        title="Neural MNIST",
        description=(
            "70,000 SIRENs, one per MNIST digit (28x28): train = the first 55,000 official training "
            "images, val = the last 5,000, test = the official 10,000 test images."
        ),
        sizes={"train": 55_000, "val": 5_000, "test": 10_000},
        classes=_DIGITS,
    ),
    DatasetFacts(
        name="neural_cifar10",
        title="Neural CIFAR10",
        description=(
            "One SIREN per CIFAR-10 image (32x32x3): train = the first 45,000 official training "
            "images, val = the last 5,000, test = the official 10,000 test images."
        ),
        sizes={"train": 45_000, "val": 5_000, "test": 10_000},
        classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    ),
    DatasetFacts(
        name="neural_microimagenet",
        title="Neural MicroImageNet",
        description=(
            "One SIREN per 64x64x3 image of 10 ImageNet super-classes (amphibian, electronic "
            "equipment, birds, primates, dogs, cats, houses, fungus, trucks, cars)."
        ),
        sizes={"train": 45_000, "val": 5_000, "test": 10_000},
    ),
    DatasetFacts(
        name="neural_shapenet",
        title="Neural ShapeNet",
        description=(
            "One occupancy SIREN per ShapeNetCore v2 model of 10 classes (a user-supplied copy: "
            "ShapeNet needs a license), in a seeded 80/10/10 train/val/test split."
        ),
        sizes={"train": 27_840, "val": 3_480, "test": 3_480},
    ),
    DatasetFacts(
        name="neural_modelnet10",
        title="Neural ModelNet10",
        description=(
            "One occupancy SIREN per ModelNet10 mesh (10 classes of raw CAD models, most of them not "
            "watertight). With the official train and test splits, val is a seeded 10 % of train; "
            "from the test split alone, a seeded 70/10/20 split of it."
        ),
        sizes={"train": 3_592, "val": 399, "test": 908},
    ),
)}


def facts(name: str, version: str | None = None) -> DatasetFacts | None:
    """The facts of dataset ``name`` at ``version``, or ``None`` where none are known.

    A published dataset's facts hold for its releases without build metadata (a ``+custom``
    build or an ``+import`` may have other sizes). A subset ``<parent>_subset`` at a version
    whose build metadata lists its sizes (``1.0.0+train2000.val500.test1000.seed0``, as
    ``arena subset`` writes it) gets those sizes and a description naming its parent.
    """
    if name in DATASETS:
        return DATASETS[name] if version is None or "+" not in version else None
    if not name.endswith(SUBSET_SUFFIX) or version is None or "+" not in version:
        return None
    sizes = {}
    for part in version.split("+", 1)[1].split("."):
        match = _SUBSET_PART.match(part)
        if match and match.group(1) != "seed":
            sizes[match.group(1)] = int(match.group(2))
    if not sizes:
        return None
    parent = DATASETS.get(name.removesuffix(SUBSET_SUFFIX))
    of = parent.title if parent is not None else name.removesuffix(SUBSET_SUFFIX)
    counts = " / ".join(f"{n:,}" for n in sizes.values())
    return DatasetFacts(
        name=name,
        title=f"{of} subset",
        description=(
            f"A seeded sample of {of} for quick experiments: {counts} NeFs of its "
            f"{' / '.join(sizes)} splits, copied bit for bit. Never a stand-in for the full "
            "dataset: the leaderboard ranks it in its own table."
        ),
        sizes=sizes,
        classes=parent.classes if parent is not None else None,
    )
