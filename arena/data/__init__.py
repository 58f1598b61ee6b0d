"""Loading neural datasets: memory-mapped splits, per-NeF views, batches and transforms.

``arena.load`` opens a dataset by name, path or URL and returns its splits; opening reads the
manifest and the shards' headers, not the parameters. numpy is all it needs; torch and JAX
views import their framework when asked for.

Example:
    >>> import arena
    >>> from arena.data import PermuteHidden
    >>> train = arena.load("neural_mnist", split="train")
    >>> train.params.shape, train.labels[:3], train.layout.num_params
    ((55000, 1185), array([5, 0, 4]), 1185)
    >>> w0, b0 = train.layers(0)[0]             # (2, 32), (32,): y = x @ w0 + b0
    >>> image = train.render(0)                  # (28, 28, 1) in [0, 1]
    >>> for params, labels in train.batches(256, transforms=[PermuteHidden(train.info)]):
    ...     ...
    >>> loader = train.torch(batch_size=256)     # a torch DataLoader (train.jax: JAX arrays)
    >>> ds = train.to_hf()                       # a datasets.Dataset; arena.load(ds) is train

Modules: :mod:`arena.data.transforms` (augmentations that respect weight-space symmetries,
normalisation). What a row means (architecture, layout, forward pass) is :mod:`arena.nef`'s
(``split.field_info``).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Union

from arena import format as fmt
from arena import nef
from arena.data import _hf
from arena.data._render import ShapeRender
from arena.data._split import Split
from arena.data.transforms import (
    Compose,
    Dropout,
    GaussianNoise,
    HiddenLayer,
    Normalize,
    PermuteHidden,
    SignFlip,
    hidden_layers,
    permute_hidden,
    sign_flip,
)
from arena.nef import FieldInfo

PathLike = Union[str, os.PathLike]


def load(
    ref: PathLike,
    split: str | None = None,
    *,
    version: str | None = None,
    verify: bool = False,
) -> Split | dict[str, Split]:
    """Open a neural dataset, memory-mapped.

    Args:
        ref: a dataset name (``"neural_mnist"``), a dataset directory, or a URL
            (``hf://datasets/REPO``, an fsspec URL), as :func:`arena.hub.resolve` takes it; or a
            Hugging Face ``datasets.Dataset`` / ``DatasetDict`` made by :meth:`Split.to_hf`
            (its ``info.description`` holds the manifest; a ``Dataset`` gives one split, named
            by ``split`` or by the ``Dataset`` itself; ``verify`` has no files to check there).
        split: one split's name (``"train"``, ``"val"``, ``"test"``); ``None`` for all.
        version: the dataset version to resolve a name to (default: the registry's / newest).
        verify: re-hash every file of the dataset against the manifest first (reads it all
            once); without it, each file's presence and size are checked.

    Returns:
        The :class:`Split`, or ``{split name: Split}`` when ``split`` is ``None``. Its arrays are
        numpy; ``split.torch(...)`` and ``split.jax(...)`` give torch and JAX batches.
    """
    if _hf.is_hf(ref):
        return _hf.load(ref, split, version)
    files = fmt.open_dataset(_resolve(ref, version), verify=verify)
    if version is None:
        _warn_if_custom(ref, files)
    if split is not None:
        return Split(files, split)
    return {name: Split(files, name) for name in files.manifest.splits}


def field_info(target: Split | nef.Target) -> FieldInfo:
    """The :class:`arena.nef.FieldInfo` of a :class:`Split` (``split.field_info``), a manifest,
    a layout or a ``FieldInfo`` (see :func:`arena.nef.field_info`)."""
    return target.field_info if isinstance(target, Split) else nef.field_info(target)


def _resolve(ref: PathLike, version: str | None) -> Path:
    from arena import hub

    return Path(hub.resolve(os.fspath(ref), version=version))


def _warn_if_custom(ref: PathLike, files: fmt.DatasetFiles) -> None:
    """Say when a dataset name resolved to a local build with build metadata (``+custom``,
    ``+import``): not a published release, though it answers to the name."""
    text = os.fspath(ref)
    by_name = "://" not in text and not Path(text).expanduser().is_dir()
    version = files.manifest.version
    if by_name and "+" in version:
        warnings.warn(
            f"arena.load({text!r}) uses {text} {version} at {files.root}: a custom build or import, "
            "not a published release; pass version=... or a directory to choose explicitly.",
            stacklevel=3,
        )


__all__ = [
    "Compose",
    "Dropout",
    "FieldInfo",
    "GaussianNoise",
    "HiddenLayer",
    "Normalize",
    "PermuteHidden",
    "ShapeRender",
    "SignFlip",
    "Split",
    "field_info",
    "hidden_layers",
    "load",
    "permute_hidden",
    "sign_flip",
]
