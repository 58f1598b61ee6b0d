"""Readers of the raw datasets that neural datasets are built from, and shape point sampling.

One call opens any of them, and every reader gives the same :class:`Source` interface::

    >>> from arena.sources import open_source
    >>> digits = open_source("digits")
    >>> images, labels, index = digits.load([0, 1, 2])
    >>> images.shape, images.dtype, labels.tolist(), index.tolist()
    ((3, 8, 8, 1), dtype('uint8'), [0, 1, 2], [0, 1, 2])

Sources (name: what it reads -> items; official splits):

- ``mnist``: the four IDX files, gzipped or not, or ``hf://datasets/ylecun/mnist`` (Parquet)
  -> uint8 (28, 28, 1); train, test
- ``cifar10``: ``cifar-10-python.tar.gz``, its extracted folder, or a subset npz
  -> uint8 (32, 32, 3); train, test
- ``microimagenet``: the Tiny ImageNet stand-in npz, or an ImageNet folder plus a super-class
  file -> uint8 (64, 64, 3); train and val, or train
- ``digits``: ``sklearn.datasets.load_digits()`` -> uint8 (8, 8, 1); all
- ``modelnet10``: ``ModelNet10.zip``, a tarball of its tree, or the folder -> :class:`Mesh`;
  train, test
- ``shapenet``: a ShapeNetCore v2 folder, the paper's 10 categories -> :class:`Mesh`; all

Without a ``path``, a source is looked for in ``$ARENA_SOURCE_DIR/<name>``. Each reader's module
documents its source-index convention. The package needs numpy, plus pillow to decode JPEGs and PNGs,
pyarrow for Parquet and scikit-learn for ``digits`` (all in the ``build`` extra, imported only
when used); it never imports JAX or torch.
"""

from __future__ import annotations

import difflib
import inspect
import os
from collections.abc import Callable

from arena.errors import ConfigError, UnknownSourceError
from arena.sources._base import SOURCE_DIR_ENV, Mesh, Source, file_sha256, tree_sha256
from arena.sources._winding import winding_numbers
from arena.sources.cifar10 import open_cifar10
from arena.sources.digits import open_digits
from arena.sources.meshes import open_modelnet10, open_shapenet, parse_obj, parse_off
from arena.sources.microimagenet import open_microimagenet
from arena.sources.mnist import open_mnist, read_idx
from arena.sources.shapes import (
    ShapePoints,
    clean_mesh,
    normalize_vertices,
    occupancy,
    sample_points,
    sample_surface,
    shape_points,
)

_OPENERS: dict[str, Callable[..., Source]] = {
    "mnist": open_mnist,
    "cifar10": open_cifar10,
    "microimagenet": open_microimagenet,
    "digits": open_digits,
    "modelnet10": open_modelnet10,
    "shapenet": open_shapenet,
}
SOURCE_NAMES = tuple(_OPENERS)


def open_source(name: str, path: str | os.PathLike | None = None, **options) -> Source:
    """Open the raw dataset ``name`` from ``path`` (or ``$ARENA_SOURCE_DIR/<name>``).

    Args:
        name: one of :data:`SOURCE_NAMES`.
        path: the file or directory holding the official files (not used by ``digits``).
        **options: reader options; ``microimagenet`` takes ``superclasses`` (a JSON or text
            file, or a mapping, of super-class -> WordNet ids) for an ImageNet folder.

    Raises:
        UnknownSourceError: ``name`` is not a known source (the message suggests the closest).
        SourceNotFoundError: the path does not hold the expected files (the message names them
            and where to get them).
        SourceFormatError: a file is there but is not in the official format.
    """
    opener = _OPENERS.get(name)
    if opener is None:
        close = difflib.get_close_matches(str(name).lower(), SOURCE_NAMES, n=1, cutoff=0.5)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise UnknownSourceError(
            f"Unknown source '{name}'.{hint} Known sources: {', '.join(SOURCE_NAMES)}."
        )
    try:
        inspect.signature(opener).bind(path, **options)
    except TypeError:
        raise ConfigError(
            f"Source '{name}' does not take the options {sorted(options)}; see "
            f"help(arena.sources.{opener.__module__.rsplit('.', 1)[-1]})."
        ) from None
    return opener(path, **options)


__all__ = [
    "SOURCE_DIR_ENV",
    "SOURCE_NAMES",
    "Mesh",
    "ShapePoints",
    "Source",
    "clean_mesh",
    "file_sha256",
    "normalize_vertices",
    "occupancy",
    "open_source",
    "parse_obj",
    "parse_off",
    "read_idx",
    "sample_points",
    "sample_surface",
    "shape_points",
    "tree_sha256",
    "winding_numbers",
]
