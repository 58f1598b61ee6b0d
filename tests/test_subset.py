"""``arena subset``: a seeded sample of a dataset's splits, written as a dataset of its own."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from _nefdata import make_field, nef_params, write_dataset
from arena import format as fmt
from arena import hub, subset as subset_module
from arena.cli.main import app
from arena.errors import ConfigError
from arena.subset import subset

SHARDS = {"train": [9, 8], "val": [6], "test": [7]}


@pytest.fixture
def parent(tmp_path, monkeypatch):
    """``neural_test`` 1.0.0 in a fresh local store (train in two shards, distinct rows)."""
    monkeypatch.setenv("ARENA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ARENA_OFFLINE", "1")
    field = make_field("siren")
    params = {s: [nef_params(field, n, seed=10 * i + j) for j, n in enumerate(sizes)]
              for i, (s, sizes) in enumerate(SHARDS.items())}
    root = write_dataset(hub.local_path("neural_test", "1.0.0"), params)
    return root


def test_subset_keeps_the_drawn_rows_bit_for_bit_in_the_parents_order(parent, monkeypatch):
    monkeypatch.setattr(subset_module, "SHARD_ROWS", 4)  # several shards per split
    out = subset("neural_test", {"train": 11, "test": 5}, seed=3)
    assert fmt.verify(out) == []
    m = fmt.open_dataset(out).manifest
    assert (m.name, m.version) == ("neural_test_subset", "1.0.0+train11.val6.test5.seed3")
    assert [m.num_examples(s) for s in ("train", "val", "test")] == [11, 6, 5]
    assert len(m.files("train")) == 3
    for number, split in enumerate(("train", "val", "test")):
        full, part = fmt.read_split(parent, split), fmt.read_split(out, split)
        n = len(full.label)
        rows = np.sort(np.random.default_rng([3, number]).choice(n, m.num_examples(split), replace=False))
        np.testing.assert_array_equal(np.asarray(part.params), np.asarray(full.params[rows]))
        np.testing.assert_array_equal(part.label, full.label[rows])
        np.testing.assert_array_equal(part.index, full.index[rows])
        np.testing.assert_array_equal(part.metrics["psnr"], full.metrics["psnr"][rows])
        assert np.all(np.diff(part.index) > 0)  # the parent's order


def test_subset_records_its_parent_and_recomputes_train_statistics(parent):
    out = subset("neural_test", {"train": 5})
    d = fmt.open_dataset(out).manifest.to_dict()
    assert d["builder"]["of"] == {"name": "neural_test", "version": "1.0.0",
                                  "manifest_sha256": hashlib.sha256((parent / "arena.json").read_bytes()).hexdigest()}
    assert d["builder"]["sizes"] == {"train": 5, "val": 6, "test": 7} and d["builder"]["seed"] == 0
    train = np.asarray(fmt.read_split(out, "train").params, np.float64)
    layout = fmt.open_dataset(out).manifest.layout
    first = layout.slice(layout.names[0])
    assert d["stats"]["params"]["per_layer_mean"][0] == pytest.approx(train[:, first].mean(), abs=1e-6)
    assert d["stats"]["params"]["per_layer_std"][0] == pytest.approx(train[:, first].std(), abs=1e-6)
    assert d["field"] == json.loads((parent / "arena.json").read_text())["field"]


def test_a_subset_in_the_store_never_stands_in_for_its_parent(parent):
    subset("neural_test", {"train": 3})
    assert hub.resolve("neural_test") == parent
    assert fmt.open_dataset(hub.resolve("neural_test_subset")).manifest.num_examples("train") == 3


def test_subset_refuses_bad_sizes_and_an_existing_directory_without_force(parent, tmp_path):
    with pytest.raises(ConfigError, match="--train 40 is out of range: split 'train' of 'neural_test' has 17"):
        subset("neural_test", {"train": 40})
    with pytest.raises(ConfigError, match="--val 0 is out of range"):
        subset("neural_test", {"val": 0})
    with pytest.raises(ConfigError, match="no split 'valid'"):
        subset("neural_test", {"valid": 2})
    out = subset("neural_test", {"train": 4}, out=tmp_path / "mine" / "ds")
    with pytest.raises(ConfigError, match="already holds a dataset"):
        subset("neural_test", {"train": 4}, out=out)
    subset("neural_test", {"train": 6}, out=out, force=True)
    assert fmt.open_dataset(out).manifest.num_examples("train") == 6
    assert [p.name for p in out.parent.iterdir()] == ["ds"]  # no temporary directory left


def test_subset_cli_writes_and_names_the_dataset_and_reports_bad_input_in_one_line(parent):
    runner = CliRunner()
    ok = runner.invoke(app, ["subset", "neural_test", "--train", "4", "--test", "2"])
    assert ok.exit_code == 0, ok.output
    assert "wrote neural_test_subset 1.0.0+train4.val6.test2.seed0 (train 4, val 6, test 2)" in ok.output
    assert "arena-eval MODEL --dataset neural_test_subset" in ok.output
    bad = runner.invoke(app, ["subset", "neural_test", "--test", "99"])
    assert bad.exit_code != 0
    assert bad.output.strip().count("\n") == 0 and "--test 99 is out of range" in bad.output
