"""What ``arena show`` and ``arena import-hdf5`` do beyond parsing their arguments."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from arena.errors import ConfigError, SourceNotFoundError, UnknownSourceError, require

_MIN_PANEL = 160  # pixels: small images are scaled up by an integer factor to at least this
_GAP = 4


def show(name: str, index: int, *, split: str, out: Path | None, source_path: Path | None,
         resolution: int) -> tuple[Path, list[str]]:
    """Render NeF ``index`` of ``split`` next to its source signal; write a PNG.

    Returns:
        The PNG's path and lines to print (what was shown, notes).
    """
    import arena

    if out is not None:
        _check_png_target(Path(out))
    s = arena.load(name, split=split)
    if not 0 <= index < len(s):
        valid = f"0..{len(s) - 1}" if len(s) else "none"
        raise ConfigError(f"INDEX {index} is out of range: split '{split}' of {s.dataset} has "
                          f"{len(s)} NeFs ({valid}).")
    kind = s.info.data["signal"].get("kind")
    source, note = _source_item(s, index, source_path, kind)
    label = s.class_names[int(s.labels[index])] if len(s.class_names) > int(s.labels[index]) else str(s.labels[index])
    lines = [f"{s.dataset} {s.version} {split}[{index}]: class {label}, source index {int(s.index[index])}"
             + "".join(f", {k} {float(v[index]):.2f}" for k, v in s.metrics.items())]
    if kind == "image":
        recon = np.round(s.render(index) * 255).clip(0, 255).astype(np.uint8)
        panels = [recon] if source is None else [np.asarray(source, np.uint8), recon]
        picture = _row(panels)
        lines.append("left: source, right: NeF" if source is not None else "NeF reconstruction")
    elif kind == "shape":
        rec = s.render(index, resolution=resolution, mesh=False)
        rows = [_projections(rec.occupancy)]
        if source is not None:
            rows.insert(0, _projections(_mesh_occupancy(source, resolution)))
        picture = _column(rows)
        lines.append("occupancy projected along x, y, z; " +
                     ("top: source mesh, bottom: NeF" if source is not None else "NeF only"))
    else:
        raise ConfigError(f"Cannot show signal kind {kind!r}; the Arena shows images and shapes.")
    if note:
        lines.append(note)
    out = Path(out) if out is not None else Path(f"{s.dataset}-{split}-{index}.png")
    _write_png(out, picture)
    return out, lines


def _check_png_target(path: Path) -> None:
    if path.is_dir():
        raise ConfigError(f"Cannot write the picture to {path}: it is an existing directory; give a "
                          f"file path such as {path / 'nef.png'}.")


def _source_item(s, index: int, source_path: Path | None, kind: str):
    """The source signal behind NeF ``index`` (image uint8 or mesh), or ``None`` and a note."""
    from arena.sources import open_source

    name = s.info.data["source"].get("name")
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
    wanted = int(s.index[index])
    positions = np.flatnonzero(source.index == wanted)
    if len(positions) == 0:
        return None, f"note: source index {wanted} is not in the source read from {source.path}."
    signals, _, _ = source.load(positions[:1])
    return signals[0], None


def _mesh_occupancy(mesh, resolution: int) -> np.ndarray:
    from arena.sources import clean_mesh, normalize_vertices, occupancy

    g = -1.0 + (2.0 * np.arange(resolution) + 1.0) / resolution
    points = np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(-1, 3)
    vertices, faces = clean_mesh(mesh.vertices, mesh.faces)
    inside = occupancy(normalize_vertices(vertices), faces, points)
    return inside.reshape(resolution, resolution, resolution)


def _projections(occupancy: np.ndarray) -> np.ndarray:
    """Silhouettes along x, y and z side by side, uint8 (res, 3 res + gaps, 1)."""
    views = [occupancy.any(axis=a).astype(np.uint8)[..., None] * 255 for a in range(3)]
    return _row(views)


def _scale(image: np.ndarray) -> np.ndarray:
    factor = max(1, -(-_MIN_PANEL // image.shape[0]))
    return image.repeat(factor, 0).repeat(factor, 1)


def _row(panels: list[np.ndarray]) -> np.ndarray:
    panels = [_scale(p) for p in panels]
    h, c = max(p.shape[0] for p in panels), panels[0].shape[2]
    gap = np.full((h, _GAP, c), 128, np.uint8)
    parts = []
    for p in panels:
        parts += [p, gap]
    return np.concatenate(parts[:-1], axis=1)


def _column(rows: list[np.ndarray]) -> np.ndarray:
    w, c = max(r.shape[1] for r in rows), rows[0].shape[2]
    gap = np.full((_GAP, w, c), 128, np.uint8)
    parts = []
    for r in rows:
        parts += [r, gap]
    return np.concatenate(parts[:-1], axis=0)


def _write_png(path: Path, picture: np.ndarray) -> None:
    image_module = require("PIL.Image", "build", "Writing PNG files")
    image = image_module.fromarray(picture[..., 0] if picture.shape[2] == 1 else picture)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".incomplete")
    try:
        image.save(tmp, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
    """``["omega_0=30", ...]`` -> ``{"omega_0": 30}`` (values read as JSON when they parse)."""
    out = {}
    for value in values or []:
        key, sep, raw = value.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--hparam takes KEY=VALUE (e.g. omega_0=30); got {value!r}.")
        try:
            out[key.strip()] = json.loads(raw)
        except ValueError:
            out[key.strip()] = raw
    return out
