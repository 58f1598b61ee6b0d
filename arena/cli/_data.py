"""What ``arena show`` and ``arena import-hdf5`` do beyond parsing their arguments."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from arena.errors import ConfigError, SourceNotFoundError, UnknownSourceError, require

_MIN_PANEL = 160  # pixels: small images are scaled up by an integer factor to at least this
_IMAGE_FACTOR = 4  # default --resolution of images: the NeF drawn at 4x the source's resolution
_MAX_SIDE = 4096  # pixels: the longest side of an image NeF's finer rendering
_SHAPE_GRID = 64  # default --resolution of shapes: the side of the occupancy grid
_MAX_GRID = 256
_MESH_VIEW = 256  # pixels: the side of a shaded mesh view


def show(name: str, index: int, *, split: str, out: Path | None, source_path: Path | None,
         resolution: int | None = None, mesh_out: Path | None = None) -> tuple[Path, list[str]]:
    """Render NeF ``index`` of ``split`` next to its source signal; write a labelled PNG.

    Images: the source, the NeF on the source's pixel grid and the NeF ``resolution`` (default 4)
    times finer, between the pixels. Shapes: shaded views of the source mesh and of the NeF's
    level-0 surface (marching cubes on a ``resolution^3`` grid, default 64), and both occupancies
    projected along x, y and z; ``mesh_out`` receives that surface as an OBJ file. Every panel is
    captioned, and the picture is titled with the NeF's dataset, split, index, class and metrics.

    Returns:
        The PNG's path and lines to print (what was shown, notes).
    """
    import arena
    from arena import format as fmt
    from arena.data import _picture, _render

    out = Path(out) if out is not None else None
    if out is not None:
        _check_target(out, "-o", ".png")
    if mesh_out is not None:
        _check_target(Path(mesh_out), "--mesh", ".obj")
    if source_path is not None and not Path(source_path).exists():
        raise SourceNotFoundError(f"--source {source_path} does not exist; pass the file or folder that "
                                  "holds the raw source files, or leave --source out to show the NeF alone.")
    s = arena.load(name, split=split)
    if out is None:
        out = Path(f"{s.dataset}-{split}-{index}.png")
        _check_target(out, "-o", ".png")
    if not 0 <= index < len(s):
        valid = f"0..{len(s) - 1}" if len(s) else "none"
        raise ConfigError(f"INDEX {index} is out of range: split '{split}' of {s.dataset} has "
                          f"{len(s)} NeFs ({valid}).")
    signal = s.info.signal
    kind = signal.get("kind")
    if kind not in ("image", "shape"):
        raise ConfigError(f"Cannot show signal kind {kind!r}; the Arena shows images and shapes.")
    if kind == "image" and not isinstance(signal.get("shape"), (list, tuple)):
        raise ConfigError(
            f"{s.dataset} {s.version} records no image size (its manifest has no signal.shape, as with a "
            "dataset imported from fit-a-nef without a known source), so its NeFs cannot be drawn. "
            "Re-import it with --name neural_mnist, neural_cifar10 or neural_microimagenet if it is one of "
            "those; its NeFs are still usable as parameters (arena.load(...).params).")
    if mesh_out is not None and kind != "shape":
        raise ConfigError(f"--mesh writes the surface of a shape NeF, but {s.dataset} holds {kind}s; "
                          "leave --mesh out.")
    resolution = _show_resolution(kind, resolution, signal)
    source, note = _source_item(s, index, source_path, kind)
    label = s.class_names[int(s.labels[index])] if len(s.class_names) > int(s.labels[index]) else str(s.labels[index])
    metrics = {k: float(v[index]) for k, v in s.metrics.items()}
    lines = [f"{s.dataset} {s.version} {split}[{index}]: class {label}, source index {int(s.index[index])}"
             + "".join(f", {k} {v:.2f}" for k, v in metrics.items())]
    title = [f"{s.dataset} {s.version}, {split}[{index}]: class {label}",
             f"source index {int(s.index[index])}"]
    others = [f"{k} {v:.2f}" for k, v in metrics.items() if k not in _CAPTIONED]
    if others:
        title.append(", ".join(others))
    if kind == "image":
        picture, what = _image_picture(s, index, source, resolution, metrics)
    else:
        up = _picture.up_axis(s.info.source_name)
        picture, what, surface = _shape_picture(s, index, source, resolution, metrics, up)
    lines.append(what)
    if note:
        lines.append(note)
    if mesh_out is not None:
        vertices, faces = surface
        text = _render.obj_text(
            vertices, faces, comment=f"{s.dataset} {s.version} {split}[{index}] (class {label}): the "
            f"NeF's level-0 surface, marching cubes on a {resolution}^3 grid over [-1, 1]^3")
        fmt.write_bytes_atomic(Path(mesh_out), text.encode())
        lines.append(f"wrote {mesh_out} ({len(vertices):,} vertices, {len(faces):,} triangles)")
    _write_png(out, _picture.titled(picture, title))
    return out, lines


_CAPTIONED = ("psnr", "psnr_offgrid", "iou", "iou_offgrid")  # metrics the panels' captions show


def _show_resolution(kind: str, resolution: int | None, signal) -> int:
    """``--resolution`` checked: a factor for images, a grid side for shapes."""
    if kind == "image":
        from arena.data._render import image_coords

        (h, w, _), _ = image_coords(signal)
        factor = _IMAGE_FACTOR if resolution is None else resolution
        top = max(1, _MAX_SIDE // max(h, w))
        if not 1 <= factor <= top:
            raise ConfigError(f"--resolution {factor} is out of range for {h}x{w} images: it is how many "
                              f"times finer than the pixels to draw the NeF, from 1 to {top}.")
        return factor
    side = _SHAPE_GRID if resolution is None else resolution
    if not 2 <= side <= _MAX_GRID:
        raise ConfigError(f"--resolution {side} is out of range for shapes: it is the side of the "
                          f"occupancy grid, from 2 to {_MAX_GRID}.")
    return side


def _metric(metrics: dict[str, float], key: str, text: str, fmt_: str) -> list[str]:
    return [text.format(format(metrics[key], fmt_))] if key in metrics else []


def _image_picture(s, index: int, source, factor: int, metrics: dict[str, float]):
    """Source | NeF on the pixel grid | NeF ``factor`` times finer, captioned, all drawn the same size."""
    from arena.data import _picture, _render

    signal = s.info.signal
    grid = _to_uint8(s.render(index))
    h, w = grid.shape[:2]
    base = -(-_MIN_PANEL // h)
    base = factor * -(-base // factor)  # a multiple of the factor: the finer rendering fills the same size
    panels, names = [], []
    if source is not None:
        panels.append(_picture.captioned(_picture.enlarge(np.asarray(source, np.uint8), base),
                                         ["source", f"{h}x{w} pixels"]))
        names.append("source")
    offgrid = _metric(metrics, "psnr_offgrid", "off-grid PSNR {} dB", ".2f")
    panels.append(_picture.captioned(_picture.enlarge(grid, base), [
        "NeF on the pixel grid", *_metric(metrics, "psnr", "PSNR {} dB", ".2f"), *(offgrid if factor == 1 else [])]))
    names.append("NeF on the pixel grid")
    if factor > 1:
        fine = _to_uint8(_render.image(s.field(index), signal, scale=factor))
        panels.append(_picture.captioned(
            _picture.enlarge(fine, base // factor),
            [f"NeF at {factor}x ({factor * h}x{factor * w})", "between the pixels", *offgrid]))
        names.append(f"NeF at {factor}x ({factor * h}x{factor * w})")
    sides = {1: ("",), 2: ("left: ", "right: "), 3: ("left: ", "middle: ", "right: ")}[len(names)]
    return _picture.row(panels), ", ".join(side + name for side, name in zip(sides, names))


def _shape_picture(s, index: int, source, side: int, metrics: dict[str, float], up: int):
    """Shaded views (source mesh | NeF surface) above the occupancy silhouettes of each."""
    from arena.data import _picture

    rec = s.render(index, resolution=side, mesh=True)
    iou = [*_metric(metrics, "iou", "IoU {}", ".3f"), *_metric(metrics, "iou_offgrid", "off-grid IoU {}", ".3f")]
    views = [_picture.captioned(_picture.mesh_view(rec.vertices, rec.faces, size=_MESH_VIEW, up=up),
                                [f"NeF: level-0 surface on a {side}^3 grid", ", ".join(iou)])]
    silhouettes = [_picture.captioned(_silhouettes(rec.occupancy, up), ["NeF occupancy, along x, y, z"])]
    if source is not None:
        from arena.sources import clean_mesh, normalize_vertices

        vertices, faces = clean_mesh(source.vertices, source.faces)
        vertices = normalize_vertices(vertices)
        views.insert(0, _picture.captioned(_picture.mesh_view(vertices, faces, size=_MESH_VIEW, up=up),
                                           ["source mesh", f"{len(faces):,} triangles"]))
        silhouettes.insert(0, _picture.captioned(_silhouettes(_mesh_occupancy(source, side), up),
                                                 ["source occupancy, along x, y, z"]))
    what = ("shaded views, then occupancy projected along x, y, z: " +
            ("source (left, top), NeF (right, bottom)" if source is not None else "NeF only"))
    return _picture.column([_picture.row(views), *silhouettes]), what, (rec.vertices, rec.faces)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.round(image * 255).clip(0, 255).astype(np.uint8)


def _check_target(path: Path, option: str, suffix: str) -> None:
    """Refuse a file ``show`` must not write: a directory, another kind of file than ``suffix``,
    or a path inside a dataset directory (one holding ``arena.json``), whose files it would damage."""
    from arena import format as fmt

    example = f"nef{suffix}"
    if path.is_dir():
        raise ConfigError(f"Cannot write to {option} {path}: it is an existing directory; give a "
                          f"file path such as {path / example}.")
    if path.suffix.lower() != suffix:
        raise ConfigError(f"{option} {path}: give a file name ending in {suffix} (e.g. {example}); "
                          f"arena show writes {suffix} files only.")
    folder = path.expanduser().absolute().parent
    for parent in (folder, *folder.parents):
        if (parent / fmt.MANIFEST_NAME).is_file():
            raise ConfigError(f"{option} {path} lies inside the dataset directory {parent} (it holds "
                              f"{fmt.MANIFEST_NAME}); write it outside any dataset, e.g. ./{example}.")


def _source_item(s, index: int, source_path: Path | None, kind: str):
    """The source signal behind NeF ``index`` (image uint8 or mesh), or ``None`` and a note."""
    from arena.sources import open_source

    name = s.info.source_name
    try:
        source = open_source(name, None if name == "digits" else source_path)
    except UnknownSourceError:
        if source_path is not None:
            raise
        return None, f"note: the Arena has no reader for the source '{name}'; showing the NeF alone."
    except SourceNotFoundError:
        if source_path is not None:
            raise
        return None, (f"note: the source '{name}' is not available here; pass --source PATH "
                      "(or set ARENA_SOURCE_DIR) to show it next to the reconstruction.")
    unused = name == "digits" and source_path is not None
    note = f"note: --source {source_path} is not used: the digits come with scikit-learn." if unused else None
    wanted = int(s.index[index])
    positions = np.flatnonzero(source.index == wanted)
    if len(positions) == 0:
        return None, f"note: source index {wanted} is not in the source read from {source.path}."
    signals, _, _ = source.load(positions[:1])
    return signals[0], note


def _mesh_occupancy(mesh, resolution: int) -> np.ndarray:
    from arena.sources import clean_mesh, normalize_vertices, occupancy

    g = -1.0 + (2.0 * np.arange(resolution) + 1.0) / resolution
    points = np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(-1, 3)
    vertices, faces = clean_mesh(mesh.vertices, mesh.faces)
    inside = occupancy(normalize_vertices(vertices), faces, points)
    return inside.reshape(resolution, resolution, resolution)


def _silhouettes(occupancy: np.ndarray, up: int) -> np.ndarray:
    """Silhouettes along x, y and z side by side (white inside on grey), axis ``up`` pointing up."""
    from arena.data import _picture

    factor = max(1, -(-_MIN_PANEL // occupancy.shape[0]))
    views = []
    for axis in range(3):
        view = occupancy.any(axis=axis)  # over the two other axes, in order
        rest = [a for a in range(3) if a != axis]
        if up in rest:
            view = (view if rest[0] == up else view.T)[::-1]  # rows: ``up``, largest at the top
        views.append(_picture.enlarge(np.where(view, 255, 96).astype(np.uint8), factor))
    return _picture.row(views)


def _write_png(path: Path, picture: np.ndarray) -> None:
    import io

    from arena import format as fmt

    image_module = require("PIL.Image", "build", "Writing PNG files")
    image = image_module.fromarray(picture[..., 0] if picture.shape[2] == 1 else picture)
    png = io.BytesIO()
    image.save(png, format="PNG")
    fmt.write_bytes_atomic(path, png.getvalue())


def parse_splits(values: list[str]) -> dict[str, tuple[int, int]] | None:
    """``["train=0:55000", ...]`` -> ``{"train": (0, 55000), ...}`` (``None`` when empty)."""
    if not values:
        return None
    out = {}
    for value in values:
        name, _, rng = value.partition("=")
        lo, _, hi = rng.partition(":")
        try:
            out[name.strip()] = (int(lo), int(hi))
        except ValueError:
            raise ConfigError(f"--split takes NAME=START:END (e.g. train=0:55000); got {value!r}.") from None
    return out


def parse_hparams(values: list[str]) -> dict:
    """``["omega_0=30", ...]`` -> ``{"omega_0": 30}``: each value a finite number, or ``true`` /
    ``false`` (as RFFNet's ``learnable_coefficients``): what nef.json's params hold."""
    out = {}
    for value in values or []:
        key, sep, raw = value.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--hparam takes KEY=VALUE (e.g. omega_0=30); got {value!r}.")
        try:
            number = json.loads(raw)
        except ValueError:
            number = None
        if not isinstance(number, (int, float)) or not math.isfinite(number):  # bool is an int
            raise ConfigError(f"--hparam {value}: expected a number (e.g. {key.strip()}=30; not NaN or infinity) "
                              "or true/false.")
        out[key.strip()] = number
    return out
