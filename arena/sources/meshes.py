"""Shape sources: ModelNet10 (OFF meshes) and ShapeNetCore v2 (OBJ meshes).

``load`` returns a list of :class:`~arena.sources.Mesh` in the file's own coordinates; turning a
mesh into labelled points is :mod:`arena.sources.shapes`.

**ModelNet10** is read from the official ``ModelNet10.zip``, a tarball of the same tree (such as
``modelnet10_test_off.tar.gz``), or the extracted folder, without extracting anything: every
``<class>/<train|test>/<name>.off`` (under ``ModelNet10/`` in the official zip). Positions
(= source indices) are ordered by split (train, then test), class (official order, alphabetical),
then the number in the file name; they number the files present, so a partial copy is numbered
densely and the manifest's sha256 pins which copy it was. Official splits: ``"train"`` and
``"test"`` (either may be empty). Some official OFF files glue the header to the counts
(``OFF490 518 0``); that is read.

**ShapeNetCore v2** is read from a user's copy (it needs a licence):
``<root>/<synset>/<model>/models/model_normalized.obj``, for the 10 categories of the paper's
Neural ShapeNet in the label order of its code (fit-a-nef ``dataset/shape_dataset/shapenet.py``):
loudspeaker, bench, watercraft, lamp, rifle, sofa, car, airplane, chair, table. These are the 10
most populous of the 13 classes common in ShapeNet work (cabinet, display and telephone are left
out). Positions (= source indices) run over the categories in label order, then model ids sorted;
models without ``model_normalized.obj`` are skipped. Official split: ``"all"``; the 80/10/10 %
split (27,840 / 3,480 / 3,480 in the paper) is drawn by the builder.
"""

from __future__ import annotations

import os
import re
import tarfile
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from arena.errors import SourceFormatError
from arena.sources._base import Mesh, Source, missing_files, resolve_path, tree_sha256

MODELNET10_URL = "http://3dvision.princeton.edu/projects/2014/3DShapeNets/ModelNet10.zip"
MODELNET10_CLASSES = ("bathtub", "bed", "chair", "desk", "dresser",
                      "monitor", "night_stand", "sofa", "table", "toilet")  # fmt: skip
SHAPENET_URL = "https://shapenet.org/ (ShapeNetCore v2; downloading it needs a licence)"
SHAPENET_CATEGORIES = (
    ("03691459", "loudspeaker"),
    ("02828884", "bench"),
    ("04530566", "watercraft"),
    ("03636649", "lamp"),
    ("04090263", "rifle"),
    ("04256520", "sofa"),
    ("02958343", "car"),
    ("02691156", "airplane"),
    ("03001627", "chair"),
    ("04379243", "table"),
)
SHAPENET_MODEL_FILE = "models/model_normalized.obj"
MAX_MESH_BYTES = 256 << 20  # one mesh file, read whole: ModelNet10's largest is about 4 MiB
_MODELNET_MEMBER = re.compile(r"(?:^|/)([^/]+)/(train|test)/([^/]+)\.off$")
_MODELNET_EXPECTED = "ModelNet10.zip, a tarball of ModelNet10/<class>/<split>/*.off, or that folder"
_SHAPENET_EXPECTED = f"ShapeNetCore v2 folders <synset>/<model>/{SHAPENET_MODEL_FILE}"


def parse_off(data: bytes, *, what: str = "OFF data") -> Mesh:
    """Parse an OFF file: ``OFF``, ``nv nf ne``, ``nv`` vertex lines, ``nf`` polygon lines.

    The counts may follow ``OFF`` on the same line, glued or not (``OFF490 518 0``); ``#``
    comments and blank lines are ignored; polygons are split into triangle fans and any colour
    after a polygon's indices is ignored.
    """
    lines = [line.split("#", 1)[0].strip() for line in data.decode("latin-1").splitlines()]
    lines = [line for line in lines if line]
    if not lines or not lines[0].startswith("OFF"):
        raise SourceFormatError(f"{what} is not an OFF file: it does not start with 'OFF'.")
    counts, body = lines[0][3:].split(), 1
    if not counts and len(lines) > 1:
        counts, body = lines[1].split(), 2
    try:
        nv, nf = int(counts[0]), int(counts[1])
    except (IndexError, ValueError):
        message = f"{what}: the OFF counts line {counts} is not 'nv nf ne'."
        raise SourceFormatError(message) from None
    vertex_lines, face_lines = lines[body : body + nv], lines[body + nv : body + nv + nf]
    if nv < 0 or nf < 0 or len(vertex_lines) != nv or len(face_lines) != nf:
        raise SourceFormatError(
            f"{what} declares {nv} vertices and {nf} faces but holds {len(lines) - body} "
            "data lines."
        )
    vertices = _vertex_rows(vertex_lines, what)
    faces = _off_faces(face_lines, what)
    return Mesh(vertices, _checked(faces, nv, what))


def parse_obj(data: bytes, *, what: str = "OBJ data") -> Mesh:
    """Parse the geometry of a Wavefront OBJ file: ``v x y z`` and ``f i[/t][/n] ...`` lines.

    Indices are 1-based, or negative (relative to the vertices read so far); polygons are split
    into triangle fans; everything else (normals, texture coordinates, materials) is ignored.
    """
    vertex_lines: list[str] = []
    polygons: list[list[int]] = []
    for line in data.decode("latin-1").splitlines():
        tokens = line.split()
        if not tokens:
            continue
        if tokens[0] == "v":
            vertex_lines.append(line[1:])
        elif tokens[0] == "f":
            try:
                ids = [int(t.split("/", 1)[0]) for t in tokens[1:]]
            except ValueError:
                raise SourceFormatError(f"{what}: bad face line '{line.strip()}'.") from None
            n = len(vertex_lines)
            polygons.append([i - 1 if i > 0 else n + i for i in ids])
    vertices = _vertex_rows(vertex_lines, what)
    return Mesh(vertices, _checked(_fans(polygons), vertices.shape[0], what))


def _vertex_rows(lines: Sequence[str], what: str) -> np.ndarray:
    tokens = " ".join(lines).split()
    try:
        if len(tokens) == 3 * len(lines):
            return np.array(tokens, np.float64).reshape(-1, 3)
        rows = [line.split()[:3] for line in lines]
        if any(len(r) != 3 for r in rows):
            raise ValueError
        return np.array(rows, np.float64).reshape(-1, 3)
    except ValueError:
        raise SourceFormatError(f"{what}: vertex lines must start with 3 numbers.") from None


def _off_faces(lines: Sequence[str], what: str) -> np.ndarray:
    tokens = " ".join(lines).split()
    try:
        if len(tokens) == 4 * len(lines):
            table = np.array(tokens, np.int64).reshape(-1, 4)
            if (table[:, 0] == 3).all():
                return table[:, 1:]
        polygons = []
        for line in lines:
            row = [int(t) for t in line.split()]
            if len(row) < row[0] + 1:
                raise ValueError
            polygons.append(row[1 : 1 + row[0]])
    except (ValueError, IndexError):
        raise SourceFormatError(f"{what}: face lines must be 'k i1 ... ik'.") from None
    return _fans(polygons)


def _fans(polygons: Sequence[Sequence[int]]) -> np.ndarray:
    triangles = [(p[0], p[k], p[k + 1]) for p in polygons for k in range(1, len(p) - 1)]
    return np.array(triangles, np.int64).reshape(-1, 3)


def usable_mesh(mesh: Mesh, what: str) -> Mesh:
    """``mesh`` when occupancy points can be drawn from it, else :class:`SourceFormatError`
    naming ``what``: its coordinates must be finite with a finite extent, and at least one face
    must have positive area (a mesh without one has no surface and no inside)."""
    vertices, faces = mesh
    if vertices.size and not np.isfinite(vertices).all():
        row = int(np.flatnonzero(~np.isfinite(vertices).all(axis=1))[0])
        raise SourceFormatError(f"{what}: vertex {row} is {vertices[row].tolist()}, not finite; fix or "
                                "remove that file.")
    with np.errstate(over="ignore", invalid="ignore"):
        extent = np.ptp(vertices, axis=0) if vertices.size else np.zeros(3)
        a, b, c = (vertices[faces[:, k]] for k in range(3))
        area = np.linalg.norm(np.cross(b - a, c - a), axis=1)
    if not np.isfinite(extent).all() or not np.isfinite(area).all():
        raise SourceFormatError(f"{what}: its coordinates span {extent.max()}, too large to compute with; "
                                "fix or remove that file.")
    if not (area > 0).any():
        raise SourceFormatError(f"{what}: none of its {faces.shape[0]} faces has positive area (over "
                                f"{vertices.shape[0]} vertices), so it has no surface to sample; fix or "
                                "remove that file.")
    return mesh


def _checked(faces: np.ndarray, num_vertices: int, what: str) -> np.ndarray:
    if faces.size and (faces.min() < 0 or faces.max() >= num_vertices):
        raise SourceFormatError(
            f"{what}: face indices span [{faces.min()}, {faces.max()}] but there are "
            f"{num_vertices} vertices."
        )
    return faces


class _Archive:
    """The member files of a tarball, a zip file or a folder, read by name."""

    def __init__(self, path: Path):
        self.path = path
        if path.is_dir():
            self.kind = "folder"
            self.names = sorted(f.relative_to(path).as_posix() for f in path.rglob("*.off"))
            return
        try:
            if zipfile.is_zipfile(path):
                self.kind = "zip"
                with zipfile.ZipFile(path) as archive:
                    self.names = [n for n in archive.namelist() if not n.endswith("/")]
            elif tarfile.is_tarfile(path):
                self.kind = "tar"
                with tarfile.open(path, "r:*") as archive:
                    self.names = [m.name for m in archive.getmembers() if m.isfile()]
            else:
                raise SourceFormatError(f"'{path}' is neither a folder, a zip file nor a tarball.")
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as exc:
            raise SourceFormatError(f"'{path}' is a damaged archive: listing it failed ({type(exc).__name__}: "
                                    f"{exc}); get it again.") from None

    def read(self, names: Sequence[str]) -> dict[str, bytes]:
        """The bytes of each member in ``names``; :class:`SourceFormatError` naming the archive
        (and the member) when one is damaged, missing or larger than :data:`MAX_MESH_BYTES`."""
        try:
            found = self._read(names)
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, OSError, KeyError) as exc:
            if isinstance(exc, SourceFormatError):
                raise
            raise SourceFormatError(f"'{self.path}' is damaged: reading it failed ({type(exc).__name__}: {exc}); "
                                    "get it again.") from None
        missing = [n for n in names if n not in found]
        if missing:
            raise SourceFormatError(f"'{self.path}' no longer holds '{missing[0]}', which it listed when "
                                    "opened; open the source again.")
        return found

    def _read(self, names: Sequence[str]) -> dict[str, bytes]:
        if self.kind == "folder":
            for n in names:
                self._check_size(n, (self.path / n).stat().st_size)
            return {n: (self.path / n).read_bytes() for n in names}
        if self.kind == "zip":
            with zipfile.ZipFile(self.path) as archive:
                for n in names:
                    self._check_size(n, archive.getinfo(n).file_size)
                return {n: archive.read(n) for n in names}
        wanted, found = set(names), {}
        with tarfile.open(self.path, "r|*") as archive:  # one forward pass over the stream
            for member in archive:
                if member.name in wanted:
                    self._check_size(member.name, member.size)
                    found[member.name] = archive.extractfile(member).read()
                    if len(found) == len(wanted):
                        break
        return found

    def _check_size(self, name: str, size: int) -> None:
        if size > MAX_MESH_BYTES:
            raise SourceFormatError(f"'{name}' in '{self.path}' claims {size} bytes, more than a mesh file "
                                    f"may have here ({MAX_MESH_BYTES >> 20} MiB); remove it or get the "
                                    "archive again.")


def _file_number(name: str) -> int:
    digits = re.search(r"(\d+)$", Path(name).stem)
    return int(digits.group(1)) if digits else -1


class ModelNet10Source(Source):
    """ModelNet10's OFF meshes, read from a zip, a tarball or a folder."""

    name = "modelnet10"
    class_names = MODELNET10_CLASSES
    origin = MODELNET10_URL
    index_convention = (
        "position in the listing of the files present: train then test, classes in official "
        "order, then the number in the file name"
    )

    def __init__(self, path: Path):
        self.path = path
        self._archive = _Archive(path)
        entries = []
        for member in self._archive.names:
            match = _MODELNET_MEMBER.search(member)
            if match is None or "__MACOSX" in member or Path(member).name.startswith("._"):
                continue
            cls, split, stem = match.groups()
            if cls in MODELNET10_CLASSES:
                label = MODELNET10_CLASSES.index(cls)
                entries.append((split != "train", label, _file_number(stem), member, split))
        if not entries:
            raise missing_files(self.name, path, _MODELNET_EXPECTED, MODELNET10_URL)
        entries.sort()
        self._members = [e[3] for e in entries]
        self._labels = np.array([e[1] for e in entries], np.int64)
        self._split = np.array([e[4] for e in entries])
        counts = {s: int((self._split == s).sum()) for s in ("train", "test")}
        self.revision = (
            f"{len(entries)} OFF meshes ({counts['train']} train, {counts['test']} test) "
            f"from {path.name}"
        )

    @property
    def signal(self) -> dict[str, Any]:
        return {"kind": "mesh", "format": "OFF", "coordinates": "as in the file"}

    @property
    def names(self) -> list[str]:
        return list(self._members)

    def _catalogue(self):
        splits = {s: np.flatnonzero(self._split == s) for s in ("train", "test")}
        return self._labels, np.arange(self._labels.shape[0]), splits

    def _read(self, positions: np.ndarray) -> list[Mesh]:
        wanted = [self._members[p] for p in positions]
        data = self._archive.read(wanted)
        return [usable_mesh(parse_off(data[m], what=f"'{m}' in '{self.path}'"), f"'{m}' in '{self.path}'")
                for m in wanted]

    def _raw_files(self) -> dict[str, Path]:
        return {self.path.name: self.path}

    def _digests(self) -> dict[str, str]:
        if self._archive.kind != "folder":
            return super()._digests()
        files = [self.path / m for m in self._members]
        return {f"{self.path.name}/": tree_sha256(self.path, files)}


class ShapeNetSource(Source):
    """The paper's 10 ShapeNetCore v2 categories, read from a user's copy."""

    name = "shapenet"
    class_names = tuple(name for _, name in SHAPENET_CATEGORIES)
    origin = SHAPENET_URL
    index_convention = (
        "position in the listing: categories in label order, then model ids sorted (models "
        f"without {SHAPENET_MODEL_FILE} skipped)"
    )

    def __init__(self, root: Path):
        self.path = root
        missing = [s for s, _ in SHAPENET_CATEGORIES if not (root / s).is_dir()]
        if missing:
            raise missing_files(
                self.name, root, f"{_SHAPENET_EXPECTED} for synsets {', '.join(missing)}",
                SHAPENET_URL)
        files, labels = [], []
        for label, (synset, _) in enumerate(SHAPENET_CATEGORIES):
            models = sorted(m for m in (root / synset).iterdir() if m.is_dir())
            found = [m / SHAPENET_MODEL_FILE for m in models if (m / SHAPENET_MODEL_FILE).is_file()]
            files += found
            labels += [label] * len(found)
        self.files = files
        self._labels = np.asarray(labels, np.int64)
        self.synsets = tuple(s for s, _ in SHAPENET_CATEGORIES)
        self.revision = f"ShapeNetCore v2, 10 categories, {len(files)} models"

    @property
    def signal(self) -> dict[str, Any]:
        return {"kind": "mesh", "format": "OBJ", "coordinates": "as in the file"}

    @property
    def names(self) -> list[str]:
        return [f.relative_to(self.path).as_posix() for f in self.files]

    def _catalogue(self):
        n = len(self.files)
        return self._labels, np.arange(n), {"all": np.arange(n)}

    def _read(self, positions: np.ndarray) -> list[Mesh]:
        meshes = []
        for p in positions:
            what = f"'{self.files[p]}'"
            size = self.files[p].stat().st_size
            if size > MAX_MESH_BYTES:
                raise SourceFormatError(f"{what} has {size} bytes, more than a mesh file may have here "
                                        f"({MAX_MESH_BYTES >> 20} MiB); remove that model.")
            meshes.append(usable_mesh(parse_obj(self.files[p].read_bytes(), what=what), what))
        return meshes

    def _digests(self) -> dict[str, str]:
        """The tree digest of every model file (reads all of them: minutes for the full set)."""
        return {"models/": tree_sha256(self.path, self.files)}


def open_modelnet10(path: str | os.PathLike | None = None) -> ModelNet10Source:
    """Open ModelNet10 from ``ModelNet10.zip``, a tarball of its tree, or the folder.

    A directory holding exactly one ``*.zip`` / ``*.tar.gz`` / ``*.tgz`` / ``*.tar`` is opened
    through that archive; otherwise the directory itself is searched for ``ModelNet10/``.
    """
    path = resolve_path("modelnet10", path, _MODELNET_EXPECTED, MODELNET10_URL)
    if path.is_dir():
        patterns = ("*.zip", "*.tar.gz", "*.tgz", "*.tar")
        archives = [f for pattern in patterns for f in sorted(path.glob(pattern))]
        if len(archives) == 1:
            path = archives[0]
        elif (path / "ModelNet10").is_dir():
            path = path / "ModelNet10"
    return ModelNet10Source(path)


def open_shapenet(path: str | os.PathLike | None = None) -> ShapeNetSource:
    """Open ShapeNetCore v2 from its root folder (the one holding the synset folders)."""
    root = resolve_path("shapenet", path, _SHAPENET_EXPECTED, SHAPENET_URL)
    if not (root / SHAPENET_CATEGORIES[0][0]).is_dir() and (root / "ShapeNetCore.v2").is_dir():
        root = root / "ShapeNetCore.v2"
    return ShapeNetSource(root)
