"""Hugging Face datasets: Split.to_hf(), arena.load of a datasets.Dataset, and `arena export`
read by datasets.load_dataset. Nothing here contacts the network: the Hub is offline and every
dataset is a local path."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from _nefdata import write_dataset

import arena
from arena.errors import ConfigError
from arena.export import export
from arena.layout import Layout

datasets = pytest.importorskip("datasets")
import pyarrow.parquet as pq  # noqa: E402  (datasets brings pyarrow)

LAYOUT = Layout([("layers.0.weight", (2, 8)), ("layers.0.bias", (8,)),
                 ("layers.1.weight", (8, 1)), ("layers.1.bias", (1,))])
SHARDS = {"train": [5, 4], "val": [3], "test": [4]}
CLASSES = ["zero", "one", "two"]


@pytest.fixture(autouse=True)
def offline(tmp_path_factory, monkeypatch):
    """No network, and the datasets cache and the Arena's home in a directory of their own."""
    import huggingface_hub.constants

    homes = tmp_path_factory.mktemp("homes")
    for var in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE", "ARENA_OFFLINE"):
        monkeypatch.setenv(var, "1")
    monkeypatch.setenv("HF_HOME", str(homes / "hf"))
    monkeypatch.setenv("ARENA_HOME", str(homes / "arena"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", homes / "hf" / "datasets")


def _params(n: int, seed: int, *, finite: bool) -> np.ndarray:
    """Random rows with floats a lossy path would change: -0.0 and a subnormal, and unless
    ``finite`` (train's statistics go in the manifest, as strict JSON) a NaN payload and inf."""
    p = np.random.default_rng(seed).standard_normal((n, LAYOUT.num_params)).astype(np.float32)
    special = [0x80000000, 0x00000001] + ([] if finite else [0x7FC12345, 0x7F800000])
    p[0, :len(special)] = np.array(special, np.uint32).view(np.float32)
    return p


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Three splits, train in two shards, class names, one metric; rows are distinct."""
    root = tmp_path_factory.mktemp("ds") / "neural_test"
    params = {s: [_params(n, seed=10 * i + j, finite=s == "train") for j, n in enumerate(ns)]
              for i, (s, ns) in enumerate(SHARDS.items())}
    source = {"name": "test", "num_classes": 3, "class_names": CLASSES}
    return write_dataset(root, params, layout=LAYOUT, source=source)


def bits(a) -> np.ndarray:
    return np.asarray(a).view(np.uint32)


def assert_same_split(got, want) -> None:
    assert got.name == want.name and len(got) == len(want)
    assert got.info == want.info and got.manifest_sha256 == want.manifest_sha256
    np.testing.assert_array_equal(bits(got.params), bits(want.params))
    np.testing.assert_array_equal(got.labels, want.labels)
    np.testing.assert_array_equal(got.index, want.index)
    assert got.labels.dtype == got.index.dtype == np.int64
    assert got.metrics.keys() == want.metrics.keys()
    for k in want.metrics:
        np.testing.assert_array_equal(bits(got.metrics[k]), bits(want.metrics[k]))


# --------------------------------------------------------------------------------------------
# to_hf and back


def test_to_hf_gives_fixed_size_float32_params_classlabel_index_and_metrics(dataset):
    train = arena.load(dataset, split="train")
    ds = train.to_hf()
    assert isinstance(ds, datasets.Dataset) and ds.num_rows == 9 and str(ds.split) == "train"
    assert ds.features == datasets.Features({
        "params": datasets.List(datasets.Value("float32"), length=LAYOUT.num_params),
        "label": datasets.ClassLabel(names=CLASSES),
        "index": datasets.Value("int64"),
        "psnr": datasets.Value("float32"),
    })
    rows = ds.with_format("numpy")[:]
    np.testing.assert_array_equal(bits(rows["params"]), bits(train.params))
    assert rows["params"].shape == (9, LAYOUT.num_params)
    assert ds.features["label"].int2str(int(rows["label"][3])) == CLASSES[train.labels[3]]


def test_to_hf_points_at_the_memory_mapped_shards_without_copying(dataset):
    train = arena.load(dataset, split="train")
    chunks = train.to_hf().data.column("params").chunks
    assert len(chunks) == 2  # one Arrow chunk per shard
    for chunk, part in zip(chunks, train.params.parts):
        assert chunk.values.buffers()[1].address == part.ctypes.data


@pytest.mark.parametrize("split", list(SHARDS))
def test_load_of_to_hf_gives_the_same_split_bit_for_bit(dataset, split):
    want = arena.load(dataset, split=split)
    assert_same_split(arena.load(want.to_hf()), want)


def test_round_trip_keeps_the_manifest_sha256_of_a_hand_written_arena_json(dataset, tmp_path):
    import json
    import shutil

    root = tmp_path / "hand"
    shutil.copytree(dataset, root)
    text = json.dumps(json.loads((root / "arena.json").read_text()), indent=4)  # not the canonical form
    (root / "arena.json").write_text(text)
    want = arena.load(root, split="val")
    assert_same_split(arena.load(want.to_hf()), want)


def test_load_of_a_datasetdict_gives_every_split_or_the_one_asked_for(dataset):
    splits = arena.load(dataset)
    dd = datasets.DatasetDict({name: s.to_hf() for name, s in splits.items()})
    back = arena.load(dd)
    assert back.keys() == splits.keys()
    for name in splits:
        assert_same_split(back[name], splits[name])
    assert_same_split(arena.load(dd, split="val"), splits["val"])
    with pytest.raises(ConfigError, match="no split 'valid'; it has: test, train, val"):
        arena.load(dd, split="valid")


def test_split_from_a_dataset_saved_to_disk_and_read_back_is_the_same(dataset, tmp_path):
    want = arena.load(dataset, split="test")
    want.to_hf().save_to_disk(tmp_path / "saved")
    assert_same_split(arena.load(datasets.load_from_disk(tmp_path / "saved")), want)


def test_split_from_a_dataset_batches_and_renders_like_the_original(dataset):
    want = arena.load(dataset, split="train")
    got = arena.load(want.to_hf())
    for (p1, l1), (p2, l2) in zip(got.batches(4, seed=3), want.batches(4, seed=3)):
        np.testing.assert_array_equal(bits(p1), bits(p2))
        np.testing.assert_array_equal(l1, l2)
    np.testing.assert_array_equal(got.render(2), want.render(2))
    assert got.root is None and want.root == dataset


def test_split_from_a_dataset_gives_torch_batches_in_process_and_refuses_workers(dataset):
    pytest.importorskip("torch")
    want = arena.load(dataset, split="train")
    got = arena.load(want.to_hf())
    for (p1, l1), (p2, l2) in zip(got.torch(4, seed=1), want.torch(4, seed=1)):
        np.testing.assert_array_equal(bits(p1.numpy()), bits(p2.numpy()))
        np.testing.assert_array_equal(l1.numpy(), l2.numpy())
    with pytest.raises(ConfigError, match="num_workers=2: .* Use num_workers=0"):
        got.torch(4, num_workers=2)


def test_load_refuses_a_dataset_without_a_manifest_and_says_how_to_give_it_one():
    ds = datasets.Dataset.from_dict({"params": [[0.0]], "label": [0], "index": [0]}, split="train")
    with pytest.raises(ConfigError, match=r"no Arena manifest in info\.description.*arena\.json"):
        arena.load(ds)


def test_load_refuses_a_dataset_whose_rows_were_filtered(dataset):
    ds = arena.load(dataset, split="train").to_hf()
    with pytest.raises(ConfigError, match="holds 2 rows; split 'train' of neural_test 1.0.0 has 9"):
        arena.load(ds.select([0, 1]))


def test_load_refuses_a_split_name_the_dataset_does_not_have_or_is_not(dataset):
    ds = arena.load(dataset, split="train").to_hf()
    with pytest.raises(ConfigError, match="is split 'train', not 'val'"):
        arena.load(ds, split="val")
    with pytest.raises(ConfigError, match="1.0.0, not the requested 2.0.0"):
        arena.load(ds, version="2.0.0")


def test_load_refuses_a_column_that_is_not_a_metric_and_names_it(dataset):
    ds = arena.load(dataset, split="val").to_hf()
    with pytest.raises(ConfigError, match=r"Column 'note' \(string\) is not a per-NeF metric.*remove_columns"):
        arena.load(ds.add_column("note", ["x"] * len(ds)))


def test_load_refuses_params_of_another_width(dataset):
    ds = arena.load(dataset, split="val").to_hf()
    narrow = ds.cast_column("params", datasets.List(datasets.Value("float32")))
    narrow = narrow.map(lambda row: {"params": row["params"][:-1]})
    with pytest.raises(ConfigError, match=f"not the dataset's {LAYOUT.num_params} parameters"):
        arena.load(narrow)


def test_import_arena_data_does_not_import_datasets_or_pyarrow():
    import subprocess
    import sys

    code = "import arena, arena.data, sys; print('datasets' in sys.modules, 'pyarrow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# --------------------------------------------------------------------------------------------
# arena export --format parquet


def load_export(out: Path):
    return datasets.load_dataset(str(out))


def test_export_is_read_by_load_dataset_row_for_row(dataset, tmp_path):
    out = export(dataset, tmp_path / "out")
    loaded = load_export(out)
    assert list(loaded) == ["train", "val", "test"]
    for name, want in arena.load(dataset).items():
        ds = loaded[name]
        assert ds.features["label"].names == CLASSES
        assert ds.features["params"] == datasets.List(datasets.Value("float32"), length=LAYOUT.num_params)
        rows = ds.with_format("numpy")[:]
        np.testing.assert_array_equal(bits(rows["params"]), bits(want.params))
        np.testing.assert_array_equal(rows["label"], want.labels)
        np.testing.assert_array_equal(rows["index"], want.index)
        np.testing.assert_array_equal(bits(rows["psnr"]), bits(want.metrics["psnr"]))


def test_export_writes_named_shards_manifest_and_card(dataset, tmp_path):
    out = export(dataset, tmp_path / "out")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "README.md", "arena.json", "data/test-00000-of-00001.parquet",
        "data/train-00000-of-00001.parquet", "data/val-00000-of-00001.parquet"]
    assert (out / "arena.json").read_bytes() == (dataset / "arena.json").read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary directory left


def test_export_splits_large_splits_into_several_parquet_files_in_order(dataset, tmp_path):
    row_bytes = 4 * LAYOUT.num_params + 16 + 4
    out = export(dataset, tmp_path / "out", max_shard_bytes=3 * row_bytes)
    names = sorted(p.name for p in (out / "data").glob("train-*"))
    assert names == [f"train-{i:05d}-of-00003.parquet" for i in range(3)]
    assert [pq.read_metadata(out / "data" / n).num_rows for n in names] == [3, 3, 3]
    rows = load_export(out)["train"].with_format("numpy")[:]
    np.testing.assert_array_equal(rows["index"], arena.load(dataset, split="train").index)


def test_export_parquet_carries_the_features_for_readers_without_the_card(dataset, tmp_path):
    out = export(dataset, tmp_path / "out")
    ds = datasets.Dataset.from_parquet(str(out / "data" / "val-00000-of-00001.parquet"))
    assert ds.features["label"] == datasets.ClassLabel(names=CLASSES)


def test_export_with_its_manifest_restores_the_split_bit_for_bit(dataset, tmp_path):
    out = export(dataset, tmp_path / "out")
    loaded = load_export(out)
    for name, want in arena.load(dataset).items():
        ds = loaded[name]
        ds.info.description = (out / "arena.json").read_text()
        assert_same_split(arena.load(ds), want)


def test_export_card_has_configs_data_files_and_task_categories(dataset, tmp_path):
    from huggingface_hub import DatasetCard

    out = export(dataset, tmp_path / "out")
    card = DatasetCard((out / "README.md").read_text())
    assert card.data.configs == [{"config_name": "default", "data_files": [
        {"split": s, "path": f"data/{s}-*.parquet"} for s in ("train", "val", "test")]}]
    assert card.data.task_categories == ["tabular-classification"]
    assert [s["num_examples"] for s in card.data.dataset_info["splits"]] == [9, 3, 4]
    assert "## How to load" in card.text and 'arena.load("neural_test", split="train")' in card.text


def test_card_load_dataset_snippet_runs_on_the_export(dataset, tmp_path, monkeypatch):
    out = export(dataset, tmp_path / "neural_test-parquet")
    text = (out / "README.md").read_text()
    snippet = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "load_dataset" in b)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(snippet, scope)
    assert scope["params"].shape == (9, LAYOUT.num_params) and scope["names"] == CLASSES
    np.testing.assert_array_equal(scope["labels"], arena.load(dataset, split="train").labels)


def test_export_keeps_the_datasets_own_card_and_its_picture(dataset, tmp_path):
    import shutil

    root = tmp_path / "with-card"
    shutil.copytree(dataset, root)
    (root / "README.md").write_text("---\nlicense: mit\npretty_name: Test\n---\n\n# Test\n\n![grid](grid.png)\n")
    (root / "grid.png").write_bytes(b"\x89PNG fake")
    out = export(root, tmp_path / "out")
    text = (out / "README.md").read_text()
    assert "pretty_name: Test" in text and "license: mit" in text and "configs:" in text
    assert "# Test" in text and "## How to load" in text
    assert (out / "grid.png").read_bytes() == b"\x89PNG fake"


def test_export_refuses_a_non_empty_out_it_did_not_create_and_leaves_it_alone(dataset, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    for force in (False, True):
        with pytest.raises(ConfigError, match="is not empty and is not an Arena Parquet export"):
            export(dataset, out, force=force)
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_export_fills_an_empty_out_and_replaces_an_earlier_export_only_with_force(dataset, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    export(dataset, out)
    with pytest.raises(ConfigError, match="already holds an export of neural_test 1.0.0; pass --force"):
        export(dataset, out)
    (out / "data" / "train-00000-of-00001.parquet").write_bytes(b"stale")
    export(dataset, out, force=True)
    assert load_export(out)["train"].num_rows == 9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_export_refuses_an_out_inside_the_dataset(dataset):
    with pytest.raises(ConfigError, match="lies inside the dataset being exported"):
        export(dataset, dataset / "parquet")
    assert not (dataset / "parquet").exists()


def test_export_refuses_an_unknown_format(dataset, tmp_path):
    with pytest.raises(ConfigError, match="Unknown export format 'csv'; the Arena exports: parquet"):
        export(dataset, tmp_path / "out", format="csv")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------------
# The builders' dataset card


def _card_manifest(source: str, license_: str) -> dict:
    return {
        "name": "neural_x", "version": "1.0.0", "format": "arena/1", "license": license_,
        "source": {"name": source, "origin": "somewhere"},
        "field": {"arch": "siren", "hparams": {"hidden": 8}, "num_params": 33},
        "fit": {"loss": "mse", "optimizer": "adam", "lr": 0.001, "weight_decay": 0.0, "steps": 10,
                "points_per_step": 0, "init": {"kind": "shared", "seed": 0}},
        "splits": {"train": {"num_examples": 3}, "val": {"num_examples": 1}, "test": {"num_examples": 1}},
        "stats": {"metrics": {s: {"psnr": 30.0} for s in ("train", "val", "test")}},
        "builder": {"name": "x", "overrides": {}},
    }


def _front_matter(card: str) -> dict:
    from huggingface_hub import DatasetCard

    return DatasetCard(card).data.to_dict()


def test_card_of_a_source_with_its_own_terms_names_and_links_the_license():
    from arena_builders import RECIPES
    from arena_builders._card import _card

    meta = _front_matter(_card(_card_manifest("cifar10", "other"), RECIPES["cifar10"], "test"))
    assert meta["license"] == "other" and meta["license_name"] == "cifar-10-terms"
    assert meta["license_link"] == "https://www.cs.toronto.edu/~kriz/cifar.html"
    assert meta["task_categories"] == ["tabular-classification"]


def test_card_of_an_spdx_license_has_no_license_name_and_says_how_to_load():
    from arena_builders import RECIPES
    from arena_builders._card import _card

    card = _card(_card_manifest("digits", "CC-BY-4.0"), RECIPES["digits"], "test")
    meta = _front_matter(card)
    assert meta["license"] == "cc-by-4.0" and "license_name" not in meta and "license_link" not in meta
    section = card[card.index("## How to load"):card.index("## Citation")]
    assert 'arena.load("neural_x", split="train")' in section
    assert 'load_dataset("neural_x-parquet")' in section and "arena export neural_x --format parquet" in section
