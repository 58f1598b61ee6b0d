"""Raw datasets published as Parquet on a Hugging Face Hub: ``hf://datasets/OWNER/NAME[@REV]``.

The Hub's image datasets are Parquet files, one row per example, with an ``image`` column (a
struct of the encoded file's ``bytes`` and its ``path``) and a ``label`` column. Files are named
``<split>-NNNNN-of-NNNNN.parquet`` (optionally under a config folder, as in ``ylecun/mnist``'s
``mnist/train-00000-of-00001.parquet``) or ``<split>/NNNN.parquet`` (the Hub's automatic
``refs/convert/parquet`` branch); a split's rows are its files' rows in path order.

The files are fetched with huggingface_hub into the Arena's Hub cache (``<arena home>/hub/hf``),
pinned to the commit the revision resolves to, which is recorded as the source's revision.
``HF_ENDPOINT`` is respected; under ``ARENA_OFFLINE=1`` / ``HF_HUB_OFFLINE=1`` only the cache is
read. Needs ``pyarrow`` (in the ``build`` extra), imported only here.
"""

from __future__ import annotations

import io
import re
from pathlib import Path, PurePosixPath

import numpy as np

from arena.errors import ConfigError, SourceFormatError

PREFIX = "hf://datasets/"
_URL_RE = re.compile(r"^hf://datasets/([^/@]+/[^/@]+)(?:@([^/]+))?/?$")


def is_hub_url(path) -> bool:
    return isinstance(path, str) and path.startswith("hf://")


def parse_url(url: str) -> tuple[str, str | None]:
    """``(repo_id, revision or None)`` of ``hf://datasets/OWNER/NAME[@REV]``."""
    match = _URL_RE.match(url)
    if match is None:
        raise ConfigError(
            f"'{url}' is not a Hugging Face dataset URL; use hf://datasets/OWNER/NAME[@REVISION], "
            "e.g. hf://datasets/ylecun/mnist."
        )
    return match.group(1), match.group(2)


def fetch(url: str, *, what: str) -> tuple[str, str, Path, list[Path]]:
    """Download the Parquet files of ``url``: ``(repo_id, commit, snapshot root, files)``."""
    from arena import hub

    repo, revision = parse_url(url)
    fix = f"Run once online (unset ARENA_OFFLINE / HF_HUB_OFFLINE) to fetch {url}, or pass the official files' path."
    root = hub.download_snapshot(repo, revision, patterns=["*.parquet"], what=what, fix=fix)
    files = sorted(p for p in root.rglob("*.parquet") if p.is_file())
    if not files:
        raise SourceFormatError(f"{url} holds no .parquet files; it is not a Parquet image dataset.")
    return repo, root.name, root, files


def split_of(relative: str) -> str | None:
    """The split a Parquet file's path names: its name's prefix, or a numbered file's folder (else ``None``)."""
    path = PurePosixPath(relative)
    match = re.match(r"^([A-Za-z]+)[-_.]", path.name)
    if match:
        return match.group(1).lower()
    if len(path.parts) >= 2 and re.fullmatch(r"\d+\.parquet", path.name):
        return path.parts[-2].lower()
    return None


def read_columns(files: list[Path], image: str = "image", label: str = "label"):
    """The encoded images (list of bytes) and int64 labels of ``files``' rows, in order."""
    import pyarrow.parquet as pq

    blobs: list[bytes] = []
    labels = []
    for f in files:
        try:
            table = pq.read_table(f, columns=[image, label])
        except Exception as exc:  # pyarrow raises several types for bad files and missing columns
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SourceFormatError(
                f"'{f}' is not a Parquet image table with columns '{image}' and '{label}': {first}"
            ) from None
        column = table.column(image).to_pylist()
        for row in column:
            data = row.get("bytes") if isinstance(row, dict) else row
            if not isinstance(data, bytes | bytearray):
                raise SourceFormatError(
                    f"'{f}': column '{image}' must hold encoded images (a struct with 'bytes'); "
                    f"got {type(data).__name__}."
                )
            blobs.append(bytes(data))
        labels.append(np.asarray(table.column(label).to_numpy(), np.int64))
    return blobs, (np.concatenate(labels) if labels else np.zeros(0, np.int64))


def decode_gray(blob: bytes, shape: tuple[int, int], *, what: str) -> np.ndarray:
    """One encoded (PNG, ...) grayscale image as uint8 ``shape``."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(blob)) as im:
            array = np.asarray(im.convert("L") if im.mode != "L" else im, np.uint8)
    except Exception as exc:
        raise SourceFormatError(f"{what} is not a readable image: {exc}") from None
    if array.shape != shape:
        raise SourceFormatError(f"{what} is {array.shape[1]}x{array.shape[0]}; expected {shape[1]}x{shape[0]}.")
    return array
