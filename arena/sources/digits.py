"""scikit-learn's digits: 1,797 8x8 greyscale digits, bundled with scikit-learn (no download).

``load_digits()`` gives integer intensities 0..16; they become uint8 by
``round(v * 255 / 16)`` (0 -> 0, 16 -> 255; v = 8 gives 127.5, which rounds half to even, 128),
so the images share the uint8 convention of the other image sources. Source index = position in
``load_digits()`` (0..1,796). There is no official split: ``"all"``; docs/design.md §4's seeded
70/10/20 % split is drawn by the builder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from arena.errors import ConfigError, SourceFormatError, require
from arena.sources._base import Source

NUM_IMAGES = 1797


def digits_to_uint8(values: np.ndarray) -> np.ndarray:
    """Intensities 0..16 to uint8 0..255 by ``round(v * 255 / 16)`` (ties to even)."""
    return np.rint(np.asarray(values, np.float64) * 255.0 / 16.0).astype(np.uint8)


class DigitsSource(Source):
    """The 1,797 digits of ``sklearn.datasets.load_digits`` as uint8 ``(8, 8, 1)`` images."""

    name = "digits"
    class_names = tuple(str(d) for d in range(10))
    index_convention = "position in sklearn.datasets.load_digits() (0..1796)"

    def __init__(self):
        sklearn = require("sklearn", "build", "Reading the digits source")
        datasets = require("sklearn.datasets", "build", "Reading the digits source")
        bunch = datasets.load_digits()
        values = np.asarray(bunch.images)
        if values.shape != (NUM_IMAGES, 8, 8) or values.min() < 0 or values.max() > 16:
            raise SourceFormatError(
                f"load_digits() returned images {values.shape} in [{values.min()}, "
                f"{values.max()}]; expected ({NUM_IMAGES}, 8, 8) in [0, 16]."
            )
        self._images = digits_to_uint8(values)[..., None]
        self._labels = np.asarray(bunch.target, np.int64)
        self.path = Path(datasets.__file__).parent / "data" / "digits.csv.gz"
        self.origin = (
            "scikit-learn sklearn.datasets.load_digits (UCI Optical Recognition of Handwritten "
            "Digits, test set)"
        )
        self.revision = f"scikit-learn {sklearn.__version__}"

    @property
    def signal(self) -> dict[str, Any]:
        return {
            "kind": "image",
            "shape": [8, 8, 1],
            "dtype": "uint8",
            "range": [0, 255],
            "from": "round(v * 255 / 16) of load_digits() intensities v in 0..16",
        }

    def _catalogue(self):
        n = self._labels.shape[0]
        return self._labels, np.arange(n), {"all": np.arange(n)}

    def _read(self, positions: np.ndarray) -> np.ndarray:
        return self._images[positions]

    def _raw_files(self) -> dict[str, Path]:
        return {"sklearn/datasets/data/digits.csv.gz": self.path}


def open_digits(path: str | os.PathLike | None = None) -> DigitsSource:
    """Open scikit-learn's digits (they ship with scikit-learn, so there is no path to give)."""
    if path is not None:
        raise ConfigError(
            f"Source 'digits' ships with scikit-learn and takes no path; got '{path}'. Leave the "
            "path out."
        )
    return DigitsSource()
