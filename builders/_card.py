"""The dataset card: README.md with Hugging Face YAML front matter, and a PNG of reconstructions.

The card's text describes the build it belongs to: its counts, settings and scores come from the
manifest, and a build that overrides the published recipe says so, with the published values,
before the recipe's own description (the recipe's paragraph on why its settings were chosen is
left out when the build changed what is fit). The picture shows the first training examples,
labelled with their class and scores: images as the source, the NeF on the pixel grid and the
NeF at a finer resolution (between the pixels); shapes, a larger grid, as shaded views of the
source mesh and of the NeF's surface.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from arena import format as fmt
from arena.export import card_metadata, how_to_load

GRID_NAME = "reconstructions.png"
_EXAMPLES = {"image": 8, "shape": 16}  # training examples the picture shows
_CELL = 96  # pixels: an image is enlarged by an integer factor to at least this
_VIEW = 128  # pixels: the side of a mesh view
_PER_ROW = 8  # shapes per row of the picture
_MESH_GRID = 64  # a shape NeF's surface is marching cubes on this grid
# overrides that leave what is fit unchanged: the recipe's reasons for its settings still hold
_SAME_FIT = ("limit", "shard_size", "source")


def write(root: Path, manifest: dict, recipe, source, field, task, train_positions, *, revision: str,
          progress: Callable[[int], Callable[[int], None]] | None = None) -> None:
    """Write ``reconstructions.png`` and ``README.md`` into ``root``.

    ``progress(total)``, when given, is called once with the number of examples drawn and
    returns the function to call with 1 as each is done.
    """
    fmt.write_bytes_atomic(root / GRID_NAME, _grid_png(root, manifest, source, train_positions, progress))
    fmt.write_text_atomic(root / "README.md", _card(manifest, recipe, revision))


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
        *_custom(m),
        ("About the published dataset: " if m["builder"].get("overrides") else "") + recipe.description,
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
        *([recipe.evidence, ""] if set(m["builder"].get("overrides") or {}) <= set(_SAME_FIT) else []),
        f"![{_ALT[m.get('signal', {}).get('kind', 'image')]}]({GRID_NAME})",
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


_ALT = {
    "image": "the first training examples: source, NeF on the pixel grid and NeF between the pixels, "
             "with class and PSNR",
    "shape": "the first training examples: source mesh and the NeF's surface, with class and IoU",
}


def _custom(m: dict) -> list[str]:
    """The paragraph that says how a build differs from the published recipe ([] if it does not)."""
    overrides = m["builder"].get("overrides") or {}
    if not overrides:
        return []
    from arena_builders import RECIPES

    name = m["builder"]["name"]
    published = RECIPES.get(name)
    base = published.settings() if published is not None else {}
    parts = []
    for key, value in sorted(overrides.items()):
        if key == "limit":
            parts.append(f"at most {value:,} NeFs per split (published: all)")
        elif key == "source":
            parts.append(f"the source {value.get('revision', value)} (published: the official source)")
        elif key in base:
            parts.append(f"{key} {value} (published: {base[key]})")
        else:
            parts.append(f"{key} {value} (not a setting of the published recipe)")
    release = f"{m['name']} {published.version}" if published is not None else m["name"]
    return [f"**A custom build.** This is not the published {release}: it sets {'; '.join(parts)}. "
            "The counts, settings and scores on this card are this build's; "
            f"`arena-build {name}` builds the published dataset.", ""]


def _yaml_lines(meta: dict) -> list[str]:
    lines = []
    for key, value in meta.items():
        lines += [f"{key}:", *(f"- {v}" for v in value)] if isinstance(value, list) else [f"{key}: {value}"]
    return lines


def _grid_png(root: Path, manifest: dict, source, train_positions, progress=None) -> bytes:
    """The labelled picture of the first training examples (see the module docstring)."""
    from arena import nef
    from arena.data import _picture

    first = fmt.shard_arrays(root / manifest["splits"]["train"]["files"][0]["path"])
    kind = manifest["signal"]["kind"]
    k = min(_EXAMPLES[kind], len(first["index"]))
    advance = progress(k) if progress is not None else (lambda n: None)
    info = nef.FieldInfo.from_manifest(manifest)
    fields = [info.field(first["params"][i]) for i in range(k)]
    signals, _, _ = source.load(train_positions[:k])
    scores = {name.removeprefix(fmt.METRIC_PREFIX): np.asarray(v[:k]) for name, v in first.items()
              if name.startswith(fmt.METRIC_PREFIX)}
    classes = [source.class_names[int(c)] if int(c) < len(source.class_names) else str(int(c))
               for c in first["label"][:k]]
    draw = _image_grid if kind == "image" else _shape_grid
    picture = draw(manifest, signals, fields, classes, scores, advance)
    title = [f"{manifest['name']} {manifest['version']}: the first {k} training examples and their NeFs"]
    return _picture.png(_picture.titled(picture, title))


def _score(scores: dict, key: str, i: int, text: str, spec: str) -> list[str]:
    return [text.format(format(float(scores[key][i]), spec))] if key in scores else []


def _image_grid(manifest, images, fields, classes, scores, advance) -> np.ndarray:
    """One column per example: source, NeF on the pixel grid, NeF ``factor`` times finer."""
    from arena.data import _picture, _render

    signal = manifest["signal"]
    h, w = signal["shape"][:2]
    factor = 4 if max(h, w) <= 32 else 2
    base = -(-_CELL // h)
    base = factor * -(-base // factor)  # a multiple of the factor: all three pictures the same size
    cell = h * base
    columns = []
    for i, field in enumerate(fields):
        grid, fine = (np.round(_render.image(field, signal, scale=s) * 255).clip(0, 255).astype(np.uint8)
                      for s in (1, factor))
        caption = [f"class {classes[i]}", *_score(scores, "psnr", i, "PSNR {} dB", ".1f"),
                   *_score(scores, "psnr_offgrid", i, "off-grid {} dB", ".1f")]
        columns.append(_picture.column([_picture.enlarge(np.asarray(images[i], np.uint8), base),
                                        _picture.enlarge(grid, base), _picture.enlarge(fine, base // factor),
                                        _picture.text(caption)]))
        advance(1)
    labels = _picture.column([_picture.text(["source", f"{h}x{w}"], height=cell),
                              _picture.text(["NeF on the", "pixel grid"], height=cell),
                              _picture.text([f"NeF at {factor}x", f"{factor * h}x{factor * w},", "between",
                                             "the pixels"], height=cell)])
    return _picture.row([labels, *columns])


def _shape_grid(manifest, meshes, fields, classes, scores, advance) -> np.ndarray:
    """Rows of up to 8 examples: the source mesh above the NeF's surface, both shaded."""
    from arena.data import _picture, _render
    from arena.sources import clean_mesh, normalize_vertices

    up = _picture.up_axis(manifest["source"].get("name"))
    blocks = []
    for i, field in enumerate(fields):
        vertices, faces = clean_mesh(meshes[i].vertices, meshes[i].faces)
        surface = _render.shape(field, resolution=_MESH_GRID, mesh=True)
        caption = [f"class {classes[i]}", *_score(scores, "iou", i, "IoU {}", ".3f"),
                   *_score(scores, "iou_offgrid", i, "off-grid {}", ".3f")]
        blocks.append(_picture.column([
            _picture.mesh_view(normalize_vertices(vertices), faces, size=_VIEW, up=up),
            _picture.mesh_view(surface.vertices, surface.faces, size=_VIEW, up=up),
            _picture.text(caption)]))
        advance(1)
    labels = _picture.column([_picture.text(["source", "mesh"], height=_VIEW),
                              _picture.text(["NeF", "surface", f"({_MESH_GRID}^3)"], height=_VIEW)])
    rows = [_picture.row([labels, *blocks[i:i + _PER_ROW]]) for i in range(0, len(blocks), _PER_ROW)]
    return _picture.column(rows, gap=3 * _picture.GAP)
