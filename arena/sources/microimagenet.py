"""MicroImageNet: 10 ImageNet super-classes at 64x64, from an ImageNet folder or the stand-in npz.

Two readers:

- **ImageNet folder** (``<root>/<wnid>/*.JPEG``, the ILSVRC training layout) plus a file that
  maps each of the 10 super-classes to its WordNet ids, in label order, either JSON
  (``{"amphibian": ["n01629819", ...], ...}``) or text (one line per super-class:
  ``amphibian: n01629819 n01630670 ...``, commas optional). A wnid without a folder is skipped
  (WordNet subtrees list many ids that ImageNet-1k lacks); a super-class without any image is an
  error. Every image is converted to RGB and resized as "shorter side to 64, then the central
  64x64": PIL resamples the central square of side ``min(width, height)`` (a float box, so odd
  margins stay centred) to 64x64 with its bilinear filter, whose support widens with the
  downscaling factor (antialiased), in one step. Positions (= source indices) run over the
  super-classes in label order, within one over its wnids sorted, within one over file names
  sorted. Official split: ``"train"`` (all).
- **Stand-in npz** (``tinyimagenet10_jpeg.npz``): Tiny ImageNet restricted to one class per
  super-class; image ``i`` is the JPEG ``jpeg[offsets[i]:offsets[i + 1]]`` (already 64x64;
  greyscale ones are converted to RGB). Source index = position in the npz. Official splits:
  Tiny ImageNet's ``"train"`` (500 per class) and ``"val"`` (50 per class).

The paper draws 6,000 images per super-class with a seed from ImageNet's train and val folders;
drawing such a subset is the builder's job.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from arena import format as fmt
from arena.errors import ConfigError, SourceFormatError, require
from arena.sources._base import (
    RELABEL,
    Source,
    check_vector,
    file_sha256,
    missing_files,
    npz_array,
    npz_header,
    open_npz,
    resolve_path,
    tree_sha256,
)

URL = "https://image-net.org/ (ILSVRC2012; also Kaggle's imagenet-object-localization-challenge)"
SIZE = 64
_IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png"}
_EXPECTED = (
    "tinyimagenet10_jpeg.npz, or an ImageNet train folder <root>/<wnid>/*.JPEG with a "
    "super-class file (superclasses=FILE, or superclasses.json in the folder)"
)
_SIGNAL = {
    "kind": "image",
    "shape": [SIZE, SIZE, 3],
    "dtype": "uint8",
    "range": [0, 255],
    "resize": "central square of side min(w, h), PIL bilinear (antialiased) to 64x64",
}
_WNID = re.compile(r"^n\d{8}$")


def _pil_image():
    return require("PIL.Image", "build", "Decoding JPEG images")


def to_rgb_square(image, size: int = SIZE) -> np.ndarray:
    """A PIL image as uint8 ``(size, size, 3)``: RGB, shorter side to ``size``, centre crop.

    Images already ``size x size`` are only converted to RGB, so their pixels are untouched.
    """
    image = image.convert("RGB")
    width, height = image.size
    if (width, height) != (size, size):
        side = min(width, height)
        box = ((width - side) / 2, (height - side) / 2, (width + side) / 2, (height + side) / 2)
        image = image.resize((size, size), _pil_image().Resampling.BILINEAR, box=box)
    return np.asarray(image, np.uint8)


def decode_image(data: bytes, *, what: str, size: int = SIZE) -> np.ndarray:
    """Decode JPEG/PNG bytes with :func:`to_rgb_square`."""
    try:
        with _pil_image().open(io.BytesIO(data)) as image:
            return to_rgb_square(image, size)
    except (OSError, ValueError) as exc:
        raise SourceFormatError(f"{what} is not a readable image: {exc}") from exc


def read_superclasses(
    source: str | os.PathLike | Mapping[str, Sequence[str]],
) -> dict[str, list[str]]:
    """Super-class -> wnids, in label order, from a mapping, a JSON file or a text file.

    The text format is one line per super-class, ``name: wnid wnid ...`` (colon and commas
    optional, ``#`` starts a comment).
    """
    if isinstance(source, Mapping):
        loaded, where = source, "the super-class mapping"
    else:
        where = f"'{source}'"
        text = Path(source).read_text()
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError:
            loaded = _parse_superclass_text(text)
    if not isinstance(loaded, Mapping) or any(
        isinstance(v, str) or not isinstance(v, Sequence) for v in loaded.values()
    ):
        raise SourceFormatError(f"{where} must map super-class names to lists of wnids.")
    mapping = {str(k): [str(w) for w in v] for k, v in loaded.items()}
    _check_superclasses(mapping, where)
    return mapping


def _parse_superclass_text(text: str) -> dict[str, list[str]]:
    mapping: dict[str, list[str]] = {}
    for line in text.splitlines():
        tokens = line.split("#", 1)[0].replace(",", " ").replace(":", " ").split()
        if tokens:
            mapping[tokens[0]] = tokens[1:]
    return mapping


def _check_superclasses(mapping: dict[str, list[str]], where: str) -> None:
    owner: dict[str, str] = {}
    for name, wnids in mapping.items():
        bad = [w for w in wnids if not _WNID.match(w)]
        if not wnids or bad:
            raise SourceFormatError(
                f"{where}: super-class '{name}' needs WordNet ids like 'n01641577'; got "
                f"{bad[:3] if bad else 'none'}."
            )
        for w in wnids:
            if owner.setdefault(w, name) != name:
                raise SourceFormatError(
                    f"{where}: wnid {w} is listed under both '{owner[w]}' and '{name}'."
                )


class ImageNetFolderSource(Source):
    """Super-classes of an ImageNet training folder, resized to 64x64 RGB."""

    name = "microimagenet"
    origin = URL
    index_convention = (
        "position in the listing: super-classes in label order, then wnids sorted, then file "
        "names sorted"
    )

    def __init__(
        self, root: Path, superclasses: Mapping[str, Sequence[str]], mapping_file: Path | None
    ):
        self.path = root
        self.class_names = tuple(superclasses)
        self._mapping_file = mapping_file
        files: list[Path] = []
        labels: list[int] = []
        for label, (name, wnids) in enumerate(superclasses.items()):
            found = [f for w in sorted(wnids) for f in _images_in(root / w)]
            if not found:
                folders = ", ".join(f"{w}/" for w in sorted(wnids)[:3])
                raise missing_files(
                    self.name, root, f"any image of super-class '{name}' (in {folders} ...)", URL
                )
            files += found
            labels += [label] * len(found)
        self.files = files
        self._labels = np.asarray(labels, np.int64)
        self.revision = (
            f"ImageNet train folder: {len(self.class_names)} super-classes, {len(files)} images"
        )

    @property
    def signal(self) -> dict[str, Any]:
        return dict(_SIGNAL)

    @property
    def names(self) -> list[str]:
        """Each position's file, relative to the root (``<wnid>/<file>``)."""
        return [f.relative_to(self.path).as_posix() for f in self.files]

    def _catalogue(self):
        n = len(self.files)
        return self._labels, np.arange(n), {"train": np.arange(n)}

    def _read(self, positions: np.ndarray) -> np.ndarray:
        out = np.empty((positions.shape[0], SIZE, SIZE, 3), np.uint8)
        for k, p in enumerate(positions):
            out[k] = decode_image(self.files[p].read_bytes(), what=f"'{self.files[p]}'")
        return out

    def _digests(self) -> dict[str, str]:
        """The super-class file's sha256 and the image tree's (see :func:`tree_sha256`)."""
        digests = {"images/": tree_sha256(self.path, self.files)}
        if self._mapping_file is not None:
            digests = {self._mapping_file.name: file_sha256(self._mapping_file), **digests}
        return digests


def _images_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(f for f in folder.iterdir() if f.suffix.lower() in _IMAGE_SUFFIXES)


class TinyImageNetNpzSource(Source):
    """The 10-class Tiny ImageNet stand-in, JPEG bytes in one npz."""

    name = "microimagenet"
    origin = "http://cs231n.stanford.edu/tiny-imagenet-200.zip (one class per super-class)"
    index_convention = "position in the npz (its 'split' array says train or val)"

    _KEYS = ("jpeg", "offsets", "y", "split", "class_names")

    def __init__(self, path: Path):
        """Open the npz and check everything but the JPEG bytes themselves: its keys, that ``y``,
        ``split`` and ``offsets`` are 1-D and agree in length, labels lie within the classes,
        splits are ``train`` (present) and ``val``, and ``offsets`` rise from 0 to the length of
        ``jpeg`` (read from its header); a file that fails raises :class:`SourceFormatError`
        naming the array and the value."""
        self.path = path
        with open_npz(path, "the MicroImageNet stand-in npz") as npz:
            missing = set(self._KEYS) - set(npz.files)
            if missing:
                raise SourceFormatError(
                    f"'{path}' is not the MicroImageNet stand-in npz: it lacks "
                    f"{', '.join(sorted(missing))}."
                )
            classes = check_vector(npz_array(npz, "class_names", path), path, "class_names", None, "string")
            self._y = check_vector(npz_array(npz, "y", path), path, "y", None, "integer")
            n = self._y.shape[0]
            self._offsets = check_vector(npz_array(npz, "offsets", path), path, "offsets", n + 1, "integer")
            self._split = check_vector(npz_array(npz, "split", path), path, "split", n, "string")
            self._filenames = (check_vector(npz_array(npz, "filename", path), path, "filename", n, "string")
                               if "filename" in npz.files else None)
            jpeg_shape, jpeg_dtype = npz_header(npz, "jpeg", path)
        self.class_names = tuple(str(c) for c in classes)
        if not self.class_names:
            raise SourceFormatError(f"'{path}': 'class_names' is empty; the stand-in has 10 classes.")
        fmt.check_labels(self._y, len(self.class_names), where=f"'{path}': 'y'", fix=RELABEL,
                         error=SourceFormatError)
        unknown = sorted(set(self._split.tolist()) - {"train", "val"})
        if unknown or "train" not in self._split:
            raise SourceFormatError(f"'{path}': 'split' must name 'train' (at least once) or 'val' for each "
                                    f"image; got {unknown[:3] if unknown else 'no train image'}.")
        if jpeg_dtype != np.uint8 or len(jpeg_shape) != 1:
            raise SourceFormatError(f"'{path}': 'jpeg' must be the images' bytes, uint8 (nbytes,); got "
                                    f"{jpeg_dtype} {jpeg_shape}.")
        steps = np.diff(self._offsets)
        if self._offsets[0] != 0 or self._offsets[-1] != jpeg_shape[0] or (steps <= 0).any():
            raise SourceFormatError(
                f"'{path}': 'offsets' must rise from 0 to the {jpeg_shape[0]} bytes of 'jpeg', one image "
                f"after another; got {self._offsets[0]} .. {self._offsets[-1]}"
                f"{', not rising' if (steps <= 0).any() else ''}. Get the file again.")
        self.revision = f"Tiny ImageNet 10-class stand-in, {self._y.shape[0]} images"
        self._jpeg: np.ndarray | None = None

    @property
    def signal(self) -> dict[str, Any]:
        return dict(_SIGNAL)

    @property
    def names(self) -> list[str] | None:
        """Each position's Tiny ImageNet file name."""
        return None if self._filenames is None else list(self._filenames)

    def _catalogue(self):
        splits = {str(s): np.flatnonzero(self._split == s) for s in dict.fromkeys(self._split)}
        return self._y, np.arange(self._y.shape[0]), splits

    def _read(self, positions: np.ndarray) -> np.ndarray:
        if self._jpeg is None:
            with open_npz(self.path, "the MicroImageNet stand-in npz") as npz:
                self._jpeg = npz_array(npz, "jpeg", self.path)
        out = np.empty((positions.shape[0], SIZE, SIZE, 3), np.uint8)
        for k, p in enumerate(positions):
            data = self._jpeg[self._offsets[p] : self._offsets[p + 1]].tobytes()
            out[k] = decode_image(data, what=f"image {p} of '{self.path}'")
        return out

    def _raw_files(self) -> dict[str, Path]:
        return {self.path.name: self.path}


def open_microimagenet(
    path: str | os.PathLike | None = None,
    *,
    superclasses: str | os.PathLike | Mapping[str, Sequence[str]] | None = None,
) -> Source:
    """Open MicroImageNet from the stand-in npz, or from an ImageNet folder and its super-classes.

    Args:
        path: the npz, a directory holding one npz, or an ImageNet train folder.
        superclasses: for a folder, the super-class file (or an ordered mapping); defaults to
            ``superclasses.json`` or ``superclasses.txt`` inside the folder.
    """
    path = resolve_path("microimagenet", path, _EXPECTED, URL)
    if path.is_file():
        if path.suffix != ".npz":
            raise SourceFormatError(f"'{path}' is not an npz; expected {_EXPECTED}.")
        return TinyImageNetNpzSource(path)
    if superclasses is None:
        npz = sorted(path.glob("*.npz"))
        if npz:
            return TinyImageNetNpzSource(npz[0])
        defaults = [path / "superclasses.json", path / "superclasses.txt"]
        superclasses = next((f for f in defaults if f.is_file()), None)
        if superclasses is None:
            raise missing_files("microimagenet", path, _EXPECTED, URL)
    mapping = read_superclasses(superclasses)
    if len(mapping) < 2:
        raise ConfigError(f"MicroImageNet needs at least 2 super-classes; got {len(mapping)}.")
    mapping_file = None if isinstance(superclasses, Mapping) else Path(superclasses)
    return ImageNetFolderSource(path, mapping, mapping_file)
