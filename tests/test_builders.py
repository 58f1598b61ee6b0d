"""Builders: complete datasets, recorded overrides, byte-identical resumption after a kill."""

import dataclasses
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _sourcedata import require
from typer.testing import CliRunner

from arena import format as fmt
from arena.cli.build import app
from arena.errors import ConfigError
from arena_builders import RECIPES, build, recipe
from arena_builders._build import build as run_build
from arena_builders._build import CODE_PATHS, plan
from arena.sources import open_source

SMALL = dict(limit=30, overrides={"shard_size": "20", "steps": "50"}, progress=False)


@pytest.fixture(scope="module")
def small_digits(tmp_path_factory):
    return build("digits", out=tmp_path_factory.mktemp("ds") / "neural_digits", **SMALL)


def test_build_writes_a_complete_dataset_that_verifies(small_digits):
    root = small_digits
    files = fmt.open_dataset(root, verify=True)
    m = files.manifest.to_dict()
    assert fmt.verify(root) == []
    assert {k: v["num_examples"] for k, v in m["splits"].items()} == {"train": 30, "val": 30, "test": 30}
    assert [f["path"] for f in m["splits"]["train"]["files"]] == [
        "data/train-00000-of-00002.safetensors", "data/train-00001-of-00002.safetensors"]
    train = fmt.read_split(root, "train")
    assert train.params.shape == (30, m["field"]["num_params"])
    assert set(train.metrics) == {"psnr", "psnr_offgrid"}
    np.testing.assert_allclose(m["stats"]["metrics"]["train"]["psnr_offgrid"], train.metrics["psnr_offgrid"].mean(), atol=1e-3)
    np.testing.assert_array_equal(fmt.read_init(root), __import__("arena.fit", fromlist=["x"]).shared_init(
        __import__("arena.fields", fromlist=["x"]).make("siren", **m["field"]["hparams"]), 0))
    card = (root / "README.md").read_text()
    assert card.startswith("---\nlicense: cc-by-4.0\n") and "pretty_name: Neural digits" in card
    assert (root / "reconstructions.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_splits_hold_the_recipe_positions_and_labels(small_digits):
    src = open_source("digits")
    positions = RECIPES["digits"].splits(src)
    assert sum(len(v) for v in positions.values()) == 1797
    assert len(set(np.concatenate(list(positions.values())).tolist())) == 1797
    test = fmt.read_split(small_digits, "test")
    np.testing.assert_array_equal(test.index, src.index[positions["test"][:30]])
    np.testing.assert_array_equal(test.label, src.labels[positions["test"][:30]])


def test_overrides_are_recorded_and_change_the_version(small_digits):
    m = json.loads((small_digits / "arena.json").read_text())
    assert m["version"].startswith("1.0.0+custom.")
    assert m["builder"]["overrides"] == {"shard_size": 20, "steps": 50, "limit": 30}
    assert m["fit"]["steps"] == 50
    assert m["fit"]["matmul_precision"] == "float32"  # the precision the builder fit with
    published = plan(recipe("digits"), open_source("digits"))
    assert published.version == "1.0.0" and published.changes == {}


def test_unknown_setting_and_dataset_are_refused_with_the_options(tmp_path):
    with pytest.raises(ConfigError, match="Unknown setting 'width'.*hidden"):
        recipe("digits").with_overrides({"width": "3"})
    with pytest.raises(ConfigError, match="expected an integer"):
        recipe("digits").with_overrides({"steps": "many"})
    with pytest.raises(ConfigError, match="Unknown init 'zeros'"):
        build("digits", out=tmp_path / "bad", overrides={"init": "zeros"}, progress=False)
    assert not (tmp_path / "bad").exists()  # refused before anything was written
    result = CliRunner().invoke(app, ["mnsit"])
    assert result.exit_code == 1 and "Did you mean 'mnist'?" in result.output and "Traceback" not in result.output


def _build_cmd(out: str) -> list[str]:
    code = "from arena.cli.build import main; main()"
    return [sys.executable, "-c", code, "digits", "--out", out, "--limit", "40", "--quiet",
            "--set", "shard_size=10", "--set", "steps=300"]


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_killed_build_resumes_to_byte_identical_files(tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    whole.mkdir(), killed.mkdir()
    subprocess.run(_build_cmd("ds"), cwd=whole, check=True, capture_output=True)

    proc = subprocess.Popen(_build_cmd("ds"), cwd=killed, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list((killed / "ds" / "data").glob("train-00001-*.safetensors")) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = _tree(killed / "ds")
    assert "arena.json" not in partial, "the build was not interrupted before the end"
    assert any(k.startswith("data/train-") for k in partial)
    subprocess.run(_build_cmd("ds"), cwd=killed, check=True, capture_output=True)

    assert _tree(killed / "ds") == _tree(whole / "ds")
    assert not any(n.endswith(fmt.INCOMPLETE_SUFFIX) for n in _tree(killed / "ds"))


def test_resuming_into_a_directory_of_another_build_is_refused(tmp_path):
    out = tmp_path / "ds"
    build("digits", out=out, limit=5, overrides={"steps": "5"}, progress=False)
    published = recipe("digits")
    shifted = dataclasses.replace(
        published, splits=lambda src: {k: v[1:] for k, v in published.splits(src).items()})
    with pytest.raises(ConfigError, match="other examples"):
        run_build(shifted, out=out, limit=5, overrides={"steps": "5"}, progress=False)


def test_a_resumed_build_refuses_shards_made_by_other_code_paths_and_forgets_its_note(tmp_path):
    out = tmp_path / "ds"
    kw = dict(out=out, limit=5, overrides={"steps": "5", "shard_size": "4"}, progress=False)
    build("digits", **kw)
    assert not (out / CODE_PATHS).exists()  # the note of an unfinished build is gone once it is done
    (out / fmt.MANIFEST_NAME).unlink()  # as if killed before the manifest: every shard is kept
    kept = _tree(out)
    (out / CODE_PATHS).write_text(json.dumps({"fit.dense": "some-other-path", "signal.labeller": None}))
    with pytest.raises(ConfigError, match=r"made with fit.dense = 'some-other-path', and this run would use "
                                          r"'(kernel|xla)' \(ARENA_CPU_KERNELS"):
        build("digits", **kw)
    assert {k: v for k, v in _tree(out).items() if k != CODE_PATHS} == kept  # nothing written
    (out / CODE_PATHS).unlink()  # a build from before the note, or a note-less resume: no claim
    build("digits", **kw)
    assert (out / fmt.MANIFEST_NAME).is_file() and not (out / CODE_PATHS).exists()


def test_a_resumed_build_refuses_shards_made_with_other_settings(tmp_path):
    out = tmp_path / "ds"
    kw = dict(out=out, limit=5, progress=False)
    first = fmt.Manifest.load(build("digits", overrides={"steps": "5", "shard_size": "4"}, **kw))
    (out / fmt.MANIFEST_NAME).unlink()  # as if killed before the manifest: its shards are kept
    (out / CODE_PATHS).write_text(json.dumps({"dataset": f"{first.name} {first.version}"}))
    kept = _tree(out)
    with pytest.raises(ConfigError, match=rf"made with dataset = 'neural_digits {re.escape(first.version)}'"
                                          r", and this run would use 'neural_digits 1\.0\.0\+custom\.\w+' "
                                          r"\(the recipe, --set and --limit"):
        build("digits", overrides={"seed": "1", "shard_size": "4"}, **kw)  # same examples, other NeFs
    assert _tree(out) == kept  # nothing written, not even the other seed's shared init


def test_points_per_step_is_a_shape_setting_only():
    with pytest.raises(ConfigError, match="Unknown setting 'points_per_step'"):
        recipe("digits").with_overrides({"points_per_step": "100"})
    assert recipe("modelnet10").with_overrides({"points_per_step": "512"}).points_per_step == 512
    with pytest.raises(ConfigError, match="finite"):
        recipe("digits").with_overrides({"lr": "nan"})


def test_shape_build_writes_iou_metrics_and_a_slice_grid(tmp_path):
    tarball = require("modelnet10/modelnet10_test_off.tar.gz")
    root = build("modelnet10", source_path=tarball, out=tmp_path / "mn", limit=1,
                 overrides={"steps": "20", "points_per_step": "256"}, progress=False)
    m = fmt.open_dataset(root, verify=True).manifest.to_dict()
    assert set(m["stats"]["metrics"]["test"]) == {"iou", "iou_offgrid"}
    assert m["signal"]["sampling"]["pool"] == {"uniform": 100_000, "near_surface": 100_000}
    assert m["fit"]["loss"] == "bce" and m["field"]["in_dim"] == 3
    assert (root / "reconstructions.png").read_bytes()[:4] == b"\x89PNG"


def test_recipe_facts_are_the_catalogs_and_its_fit_defaults_are_fitconfigs():
    from arena import catalog
    from arena.fit import FitConfig

    assert {r.name for r in RECIPES.values()} == set(catalog.DATASETS)
    for r in RECIPES.values():
        facts = catalog.DATASETS[r.name]
        assert (r.title, r.description, dict(r.sizes)) == (facts.title, facts.description, dict(facts.sizes))
        assert list(r.sizes) == ["train", "val", "test"]
    fields = {f.name: f.default for f in dataclasses.fields(type(recipe("digits")))}
    shared = {"steps", "lr", "optimizer", "weight_decay", "init", "seed"}
    assert {k: fields[k] for k in shared} == {k: getattr(FitConfig, k) for k in shared}
