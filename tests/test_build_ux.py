"""What `arena-build` tells its user: labelled progress bars per phase, the summary table that
`arena demo` prints too, one line for a dataset that is already built, and a card that describes
the build it belongs to (its overrides, and pictures of its NeFs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _sourcedata import needs_data, require
from typer.testing import CliRunner

import arena
from arena import format as fmt
from arena.cli.build import app
from arena_builders import print_build_summary

pytest.importorskip("sklearn")
pytest.importorskip("jax")

BUILD = ["digits", "--limit", "4", "--set", "steps=5", "--set", "shard_size=3"]


@pytest.fixture(scope="module")
def first_build(tmp_path_factory):
    """A small digits build run through the CLI with its progress bars: (directory, output)."""
    out = tmp_path_factory.mktemp("ux") / "digits"
    result = CliRunner().invoke(app, [*BUILD, "--out", str(out)], terminal_width=200)
    assert result.exit_code == 0, result.output
    return out, result.output


def test_the_built_path_is_one_unwrapped_line_however_long_for_scripts_that_read_it(tmp_path):
    out = tmp_path / ("a-long-folder-name-" * 6) / "digits"
    result = CliRunner().invoke(app, [*BUILD, "--quiet", "--out", str(out)], env={"COLUMNS": "60"})
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == f"built {out}"


def _tree(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_build_shows_a_labelled_bar_per_phase_and_ends_with_the_summary_table(first_build):
    out, output = first_build
    for bar in ("normalisation statistics", "fitting neural_digits", "drawing the dataset card"):
        assert bar in output
    assert "12/12" in output  # 4 NeFs per split, 3 splits
    for row in ("NeFs", "12 (train 4, val 4, test 4)", "5 steps", "build wall time (compile included)",
                "PSNR train (pixels / off-grid)", "PSNR test (pixels / off-grid)"):
        assert row in output
    assert output.rstrip().endswith(f"built {out}")


def test_a_build_of_a_dataset_already_there_says_so_in_one_line_and_touches_nothing(first_build):
    out, _ = first_build
    before = _tree(out)
    result = CliRunner().invoke(app, [*BUILD, "--out", str(out)], terminal_width=80)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    version = fmt.Manifest.load(out).version
    assert f"neural_digits {version} is already built at {out}" in lines[0]
    assert "delete that directory" in lines[0] and "0/0" not in lines[0]
    assert _tree(out) == before


def test_a_directory_holding_another_build_is_refused_in_one_line(first_build):
    out, _ = first_build
    before = _tree(out)
    result = CliRunner().invoke(app, ["digits", "--limit", "4", "--set", "steps=6", "--out", str(out), "--quiet"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    said = " ".join(result.output.split())
    assert f"{out} already holds neural_digits 1.0.0+custom." in said and "other examples or settings" in said
    assert _tree(out) == before


def test_a_complete_directory_of_other_examples_is_refused_not_taken_as_built(first_build):
    import dataclasses

    from arena.errors import ConfigError
    from arena_builders import recipe
    from arena_builders._build import make

    out, _ = first_build
    before = _tree(out)
    published = recipe("digits")
    reversed_ = dataclasses.replace(  # the same name and version, other examples in each split
        published, splits=lambda src: {k: v[::-1] for k, v in published.splits(src).items()})
    with pytest.raises(ConfigError, match="holds NeFs of other examples"):
        make(reversed_, out=out, limit=4, overrides={"steps": "5", "shard_size": "3"}, progress=False)
    assert _tree(out) == before


def test_the_card_states_the_builds_own_settings_beside_the_published_ones(first_build):
    out, _ = first_build
    card = (out / "README.md").read_text()
    assert "**A custom build.**" in card and "steps 5 (published: 500)" in card
    assert "at most 4 NeFs per split (published: all)" in card
    assert "| steps | 5 " in card


def test_the_card_of_a_build_that_changes_the_fit_leaves_out_the_recipes_reasons():
    from arena_builders import RECIPES
    from arena_builders._card import _card

    def manifest(overrides: dict, steps: int) -> dict:
        return {
            "name": "neural_mnist", "version": "1.0.0", "format": "arena/1", "license": "CC-BY-SA-3.0",
            "source": {"name": "mnist", "origin": "somewhere"}, "signal": {"kind": "image"},
            "field": {"arch": "siren", "hparams": {"hidden": 32}, "num_params": 1185},
            "fit": {"loss": "mse", "optimizer": "adam", "lr": 0.001, "weight_decay": 0.0, "steps": steps,
                    "points_per_step": 784, "init": {"kind": "shared", "seed": 0}},
            "splits": {s: {"num_examples": 3} for s in ("train", "val", "test")},
            "stats": {"metrics": {s: {"psnr": 30.0} for s in ("train", "val", "test")}},
            "builder": {"name": "mnist", "overrides": overrides},
        }

    published = _card(manifest({}, 500), RECIPES["mnist"], "test")
    assert "500 steps" in published and "custom build" not in published  # the recipe's evidence
    custom = _card(manifest({"steps": 300}, 300), RECIPES["mnist"], "test")
    assert "500 steps" not in custom
    assert "| steps | 300 " in custom and "steps 300 (published: 500)" in custom
    reshard = _card(manifest({"shard_size": 100}, 500), RECIPES["mnist"], "test")
    assert "500 steps" in reshard  # sharding changes nothing that is fit: the reasons still hold


def test_the_card_picture_shows_each_example_at_the_source_and_a_finer_resolution(first_build):
    from PIL import Image

    from arena.data import _picture, _render
    from arena.sources import open_source

    out, _ = first_build
    picture = np.asarray(Image.open(out / "reconstructions.png").convert("RGB"))
    train = arena.load(out, split="train")
    source = open_source("digits").load([int(train.index[0])])[0][0]
    fine = _render.image(train.field(0), train.info.data["signal"], scale=4)
    # 8x8 pixels drawn 12x: 96 pixels; the 32x32 rendering drawn 3x, the same size
    blocks = [_picture.enlarge(_picture.rgb(source), 12),
              _picture.enlarge(_picture.rgb(np.round(train.render(0) * 255).astype(np.uint8)), 12),
              _picture.enlarge(_picture.rgb(np.round(np.clip(fine, 0, 1) * 255).astype(np.uint8)), 3)]
    where = []
    for block in blocks:
        hits = np.argwhere((picture[:, :, 0] == block[0, 0, 0]))
        found = [(y, x) for y, x in hits if np.array_equal(picture[y:y + 96, x:x + 96], block)]
        assert found, "an example's picture is missing from the card"
        where.append(found[0])
    assert where[0][1] == where[1][1] == where[2][1]  # one column: source above NeF above finer NeF
    assert where[0][0] < where[1][0] < where[2][0]


def test_the_summary_names_iou_for_shapes(first_build):
    from rich.console import Console

    from arena_builders._build import Built

    out, _ = first_build
    data = fmt.Manifest.load(out).to_dict()
    data["stats"]["metrics"] = {s: {"iou": 0.91234, "iou_offgrid": 0.8} for s in ("train", "val", "test")}
    console = Console(record=True, width=200)
    print_build_summary(console, Built(out, fmt.Manifest(data), True, 12.34))
    text = console.export_text()
    assert "IoU val (held-out points / off-grid)" in text and "0.912 / 0.800" in text
    assert "12.3 s" in text and "PSNR" not in text


@needs_data("modelnet10/modelnet10_test_off.tar.gz")
def test_a_shape_build_draws_its_occupancy_points_under_their_own_bar(tmp_path):
    from PIL import Image

    pytest.importorskip("mcubes")
    tarball = require("modelnet10/modelnet10_test_off.tar.gz")
    result = CliRunner().invoke(app, ["modelnet10", "--source", str(tarball), "--out", str(tmp_path / "mn"),
                                      "--limit", "1", "--set", "steps=5", "--set", "points_per_step=256"],
                                terminal_width=200)
    assert result.exit_code == 0, result.output
    points = [line for line in result.output.splitlines() if "drawing occupancy points" in line]
    assert points and "3/3" in points[-1] and "meshes/s" in points[-1]
    assert "IoU test (held-out" in result.output
    card = np.asarray(Image.open(tmp_path / "mn" / "reconstructions.png").convert("RGB")).astype(int)
    assert (card[..., 2] - card[..., 0] > 40).sum() > 200  # the shaded source mesh
