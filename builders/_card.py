"""The dataset card: README.md with Hugging Face YAML front matter, and a PNG of reconstructions."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from arena import format as fmt
from arena import metrics
from arena.export import card_metadata, how_to_load

GRID_NAME = "reconstructions.png"
_CELL = 64  # pixels per grid cell, at least


def write(root: Path, manifest: dict, recipe, source, field, task, train_positions, *, revision: str) -> None:
    _atomic(root / GRID_NAME, _grid_png(root, manifest, source, field, task, train_positions))
    _atomic(root / "README.md", _card(manifest, recipe, revision).encode())


def _card(m: dict, recipe, revision: str) -> str:
    n = sum(s["num_examples"] for s in m["splits"].values())
    size = ("n<1K" if n < 1_000 else "1K<n<10K" if n < 10_000 else "10K<n<100K" if n < 100_000 else "100K<n<1M")
    fit, field = m["fit"], m["field"]
    lines = [
        "---",
        *_yaml_lines(card_metadata(m)),  # license (with its name and link if "other"), task categories
        f"pretty_name: {recipe.title}",
        "tags:",
        "- neural-fields",
        "- implicit-neural-representations",
        "- weight-space-learning",
        "- neural-field-arena",
        f"size_categories:\n- {size}",
        f"source_datasets:\n- {m['source']['name']}",
        "---",
        "",
        f"# {recipe.title} ({m['name']} {m['version']})",
        "",
        recipe.description,
        "",
        f"Built by the Neural Field Arena builder `{m['builder']['name']}` "
        f"at {revision}. Format `{m['format']}`: `arena.json` lists every file with "
        "its sha256.",
        "",
        "## Splits",
        "",
        "| split | NeFs | " + " | ".join(f"mean {k}" for k in m["stats"]["metrics"]["train"]) + " |",
        "|---|---|" + "---|" * len(m["stats"]["metrics"]["train"]),
    ]
    for split, spec in m["splits"].items():
        vals = m["stats"]["metrics"][split]
        lines.append(f"| {split} | {spec['num_examples']:,} | " + " | ".join(f"{v:.2f}" for v in vals.values()) + " |")
    lines += [
        "",
        "## How it was made",
        "",
        "| setting | value |",
        "|---|---|",
        f"| source | {m['source']['name']} ({m['source']['origin']}) |",
        f"| field | {field['arch']} {field['hparams']}, {field['num_params']:,} parameters |",
        f"| loss / optimiser | {fit['loss']} / {fit['optimizer']}, lr {fit['lr']}, weight decay {fit['weight_decay']} |",
        f"| steps | {fit['steps']} ({fit['points_per_step']} points per step) |",
        f"| initialisation | {fit['init']['kind']}, seed {fit['init']['seed']} |",
        f"| overrides of the published recipe | {m['builder']['overrides'] or 'none'} |",
        "",
        recipe.evidence,
        "",
        f"![sources (top) and reconstructions (bottom) of the first training examples]({GRID_NAME})",
        "",
        *how_to_load(m["name"]),
        "",
        "## Citation",
        "",
        "```bibtex",
        recipe.citation.strip(),
        "```",
        "",
    ]
    return "\n".join(lines)


def _yaml_lines(meta: dict) -> list[str]:
    lines = []
    for key, value in meta.items():
        lines += [f"{key}:", *(f"- {v}" for v in value)] if isinstance(value, list) else [f"{key}: {value}"]
    return lines


def _grid_png(root: Path, manifest: dict, source, field, task, train_positions) -> bytes:
    import jax
    from PIL import Image

    first = fmt.shard_arrays(root / manifest["splits"]["train"]["files"][0]["path"])
    k = min(8, len(first["index"]))
    params = field.layout().unflatten(np.asarray(first["params"][:k]))
    signals, _, _ = source.load(train_positions[:k])
    if task.kind == "image":
        h, w, c = task.height, task.width, task.channels
        coords = metrics.pixel_centres(h, w)
        pred = np.asarray(jax.vmap(field.apply, in_axes=(0, None))(params, coords)).reshape(k, h, w, c)
        pred = np.clip(pred * np.asarray(task.std) + np.asarray(task.mean), 0, 1)
        top, bottom = signals, np.round(pred * 255).astype(np.uint8)
    else:
        from arena.sources import clean_mesh, normalize_vertices, occupancy

        g = np.linspace(-1, 1, _CELL, dtype=np.float32)
        rows, cols = np.meshgrid(g, g, indexing="ij")  # the z = 0 slice of the cube
        plane = np.stack([rows, cols, np.zeros_like(rows)], -1).reshape(-1, 3)
        meshes = [clean_mesh(m.vertices, m.faces) for m in signals]
        top = np.stack([occupancy(normalize_vertices(v), f, plane) for v, f in meshes])
        top = (top.reshape(k, _CELL, _CELL, 1) * 255).astype(np.uint8)
        logits = np.asarray(jax.vmap(field.apply, in_axes=(0, None))(params, plane))
        bottom = ((logits > 0).reshape(k, _CELL, _CELL, 1) * 255).astype(np.uint8)
    scale = max(1, -(-_CELL // top.shape[1]))
    rows = [np.concatenate(list(r), axis=1) for r in (top, bottom)]
    grid = np.concatenate(rows, axis=0).repeat(scale, 0).repeat(scale, 1)
    image = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".incomplete")
    tmp.write_bytes(data)
    os.replace(tmp, path)
