"""Evaluation protocol v1 and the model-file contract, on a real (small) neural digits build."""

from __future__ import annotations

import copy
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")

from arena.cli.eval import app  # noqa: E402
from arena.errors import ConfigError, ModelFileError  # noqa: E402
from arena.eval import evaluate, result  # noqa: E402
from arena_builders import build  # noqa: E402

FAST = {"seeds": 2, "epochs": 3, "progress": False}


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """A real neural digits build: 150 NeFs per split, 60 fitting steps (seconds, not minutes)."""
    out = tmp_path_factory.mktemp("eval") / "neural_digits"
    return build("digits", out=out, limit=150, overrides={"steps": "60"}, progress=False)


def _model_file(tmp_path, body: str, name: str = "model.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


TINY_MLP = """
    import torch
    INPUT = "flat"
    HPARAMS = {"epochs": 3, "batch_size": 32, "lr": 3e-3}
    def build_model(spec):
        return torch.nn.Sequential(torch.nn.Linear(spec.num_params, 64), torch.nn.ReLU(),
                                   torch.nn.Linear(64, spec.num_classes))
"""


def test_mlp_baseline_learns_digits_and_reports_mean_and_sample_std(digits):
    doc = evaluate("baseline:mlp", digits, seeds=3, epochs=8, progress=False)
    result.validate(doc)
    tests = [s["test_accuracy"] for s in doc["seeds"]]
    assert doc["summary"]["test_mean"] == pytest.approx(np.mean(tests))
    assert doc["summary"]["test_std"] == pytest.approx(np.std(tests, ddof=1))
    assert doc["summary"]["test_mean"] > 0.5  # 10 classes: chance is 0.1
    assert [s["seed"] for s in doc["seeds"]] == [0, 1, 2]
    assert all(1 <= s["best_epoch"] <= 8 for s in doc["seeds"])
    assert doc["dataset"]["name"] == "neural_digits"
    assert doc["dataset"]["num_examples"] == {"train": 150, "val": 150, "test": 150}
    assert doc["protocol"]["settings"]["augment"] == []


def test_same_seed_gives_the_same_numbers_on_cpu(digits, tmp_path):
    model = _model_file(tmp_path, TINY_MLP)
    first = evaluate(model, digits, **FAST)
    second = evaluate(model, digits, **FAST)
    keys = ("val_accuracy", "test_accuracy", "best_epoch")
    assert [[s[k] for k in keys] for s in first["seeds"]] == [[s[k] for k in keys] for s in second["seeds"]]


def test_seeds_differ_from_each_other(digits, tmp_path):
    model = _model_file(tmp_path, TINY_MLP)
    events = []
    evaluate(model, digits, **{**FAST, "progress": events.append})
    per_seed = [tuple(e["val_accuracy"] for e in events if e["seed"] == s) for s in (0, 1)]
    assert per_seed[0] != per_seed[1]


def _copy_dataset(digits, dest, *, edit=None, test_labels=None):
    """A copy of ``digits`` with its manifest edited and/or its test shards' labels replaced."""
    import shutil

    from arena import format as fmt

    root = Path(shutil.copytree(digits, dest))
    data = json.loads((root / fmt.MANIFEST_NAME).read_text())
    if test_labels is not None:
        paths = [e["path"] for e in data["splits"]["test"]["files"]]
        for rel in paths:
            arrays = {k: np.array(v) for k, v in fmt.shard_arrays(root / rel, mmap=False).items()}
            (root / rel).unlink()
            metrics = {k.removeprefix("metric."): v for k, v in arrays.items() if k.startswith("metric.")}
            fmt.write_shard(root / rel, arrays["params"], test_labels(arrays["label"]), arrays["index"], metrics)
        data["splits"]["test"] = fmt.split_entry(root, paths)
    if edit is not None:
        edit(data)
    fmt.Manifest(data).write(root)
    return root


def test_shuffled_test_labels_leave_training_and_selection_unchanged(digits, tmp_path):
    """Test labels never reach training or selection: scrambling them in the dataset's own
    files (whatever path the harness reads them by) changes only the reported test score."""
    model = _model_file(tmp_path, TINY_MLP)
    scrambled = _copy_dataset(digits, tmp_path / "scrambled",
                              test_labels=lambda y: np.random.default_rng(0).permutation(y))
    events_clean, events_shuffled = [], []
    clean = evaluate(model, digits, **{**FAST, "progress": events_clean.append})
    shuffled = evaluate(model, scrambled, **{**FAST, "progress": events_shuffled.append})
    assert shuffled["dataset"]["manifest_sha256"] != clean["dataset"]["manifest_sha256"]
    assert events_clean == [{**e, "samples_per_second": c["samples_per_second"]}
                            for e, c in zip(events_shuffled, events_clean)]
    for a, b in zip(clean["seeds"], shuffled["seeds"]):
        assert (a["val_accuracy"], a["best_epoch"]) == (b["val_accuracy"], b["best_epoch"])
    assert [s["test_accuracy"] for s in clean["seeds"]] != [s["test_accuracy"] for s in shuffled["seeds"]]


def test_cli_writes_a_valid_result_and_prints_the_summary(digits, tmp_path):
    model = _model_file(tmp_path, TINY_MLP)
    out = tmp_path / "r" / "result.json"
    res = CliRunner().invoke(app, [str(model), "--dataset", str(digits), "--seeds", "2", "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    doc = result.load(out)
    assert doc["model"]["name"] == "model"
    assert "test accuracy" in res.output and "±" in res.output
    assert doc["model"]["num_parameters"] == (doc["dataset"]["num_params"] + 1) * 64 + 65 * 10


@pytest.mark.parametrize("body, message", [
    ("import torch\n", "defines no build_model"),
    ("import not_a_module_anywhere\n", "failed to import: ModuleNotFoundError"),
    ("def build_model(spec):\n    return 3\n", "must return a torch.nn.Module"),
    ("import torch\ndef build_model(spec):\n    return torch.nn.Linear(spec.num_params, 3)\n",
     "returned shape (2, 3)"),
    ("import torch\nINPUT = 'pixels'\ndef build_model(spec):\n    return torch.nn.Linear(1, 1)\n",
     "INPUT is 'pixels'"),
    ("import torch\nHPARAMS = {'epochs': 0}\ndef build_model(spec):\n    return torch.nn.Linear(1, 1)\n",
     "epochs must be an integer from 1 to 1000"),
    ("import torch\nHPARAMS = {'optimizer': 'sgd'}\ndef build_model(spec):\n    return torch.nn.Linear(1, 1)\n",
     "Unknown key 'optimizer'"),
    ("import torch\nclass M(torch.nn.Module):\n    def __init__(self, c):\n        super().__init__()\n"
     "        self.w = torch.nn.Parameter(torch.zeros(c))\n    def forward(self, x):\n"
     "        return self.w * x.sum(1, keepdim=True) * float('nan')\n"
     "def build_model(spec):\n    return M(spec.num_classes)\n", "training loss became nan"),
    ("import torch\nclass M(torch.nn.Linear):\n    def forward(self, x):\n"
     "        return super().forward(x).detach()\n"
     "def build_model(spec):\n    return M(spec.num_params, spec.num_classes)\n",
     "backpropagating through the model failed: RuntimeError"),
])
def test_a_broken_model_file_ends_in_one_clear_line_and_writes_nothing(digits, tmp_path, body, message):
    model = _model_file(tmp_path, body)
    out = tmp_path / "result.json"
    res = CliRunner().invoke(app, [str(model), "--dataset", str(digits), "--seeds", "1", "--epochs", "1",
                                   "--out", str(out), "--quiet"])
    assert res.exit_code == 1
    assert message in " ".join(res.output.split()), res.output
    assert "Traceback" not in res.output
    assert not out.exists() and list(tmp_path.glob("*.json")) == []


def test_unknown_baseline_and_missing_file_are_named(digits):
    with pytest.raises(ModelFileError, match="Unknown baseline 'nope'.*mlp"):
        evaluate("baseline:nope", digits, **FAST)
    with pytest.raises(ModelFileError, match="'missing.py' does not exist"):
        evaluate("missing.py", digits, **FAST)
    with pytest.raises(ConfigError, match="device must be 'cpu' or 'cuda'"):
        evaluate("baseline:mlp", digits, device="tpu", **FAST)
    with pytest.raises(ConfigError, match="threads must be a positive integer, not 0"):
        evaluate("baseline:mlp", digits, threads=0, **FAST)


def test_a_missing_result_validator_fails_before_any_training(digits, monkeypatch):
    # jsonschema is a core dependency; a broken install once lost a GPU run's training to it
    import sys

    from arena.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "jsonschema", None)  # makes `import jsonschema` fail
    epochs = []
    with pytest.raises(MissingExtraError, match="'jsonschema' package"):
        evaluate("baseline:mlp", digits, seeds=1, epochs=1, progress=epochs.append)
    assert epochs == []


def test_layers_input_gives_per_layer_weights_in_out_and_biases(digits, tmp_path):
    model = _model_file(tmp_path, """
        import torch
        INPUT = "layers"
        HPARAMS = {"epochs": 1, "normalize": False}
        class M(torch.nn.Module):
            def __init__(self, spec):
                super().__init__()
                self.shapes = spec.layer_shapes
                self.head = torch.nn.Linear(sum(i * o + o for i, o in spec.layer_shapes), spec.num_classes)
            def forward(self, batch):
                weights, biases = batch
                assert [tuple(w.shape[1:]) for w in weights] == list(self.shapes)
                assert [b.shape[1] for b in biases] == [o for _, o in self.shapes]
                flat = torch.cat([t.flatten(1) for pair in zip(weights, biases) for t in pair], 1)
                return self.head(flat)
        def build_model(spec):
            return M(spec)
    """)
    doc = evaluate(model, digits, seeds=1, progress=False)
    assert doc["model"]["input"] == "layers"
    assert doc["dataset"]["num_params"] == sum(i * o + o for i, o in ((2, 16), (16, 16), (16, 1)))


def _valid_document(digits, tmp_path):
    return evaluate(_model_file(tmp_path, TINY_MLP), digits, **FAST)


def test_schema_rejects_malformed_results(digits, tmp_path):
    good = _valid_document(digits, tmp_path)
    result.validate(good)
    bad = copy.deepcopy(good)
    del bad["dataset"]["manifest_sha256"]
    with pytest.raises(result.ResultError, match="manifest_sha256"):
        result.validate(bad)
    bad = copy.deepcopy(good)
    bad["summary"]["test_mean"] += 0.01
    with pytest.raises(result.ResultError, match="summary.test_mean"):
        result.validate(bad)
    bad = copy.deepcopy(good)
    bad["seeds"][1]["seed"] = 5
    with pytest.raises(result.ResultError, match="seeds must be 0..S-1"):
        result.validate(bad)
    bad = copy.deepcopy(good)
    bad["seeds"][0]["test_accuracy"] = 97.5  # percent instead of a fraction
    with pytest.raises(result.ResultError, match="seeds/0/test_accuracy"):
        result.validate(bad)
    with pytest.raises(result.ResultError, match="not a valid arena-result/1"):
        result.write({**good, "schema": "arena-result/0"}, tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def test_result_records_the_dataset_manifest_hash_and_model_file_hash(digits, tmp_path):
    import hashlib

    model = _model_file(tmp_path, TINY_MLP)
    doc = evaluate(model, digits, seeds=1, epochs=1, progress=False)
    assert doc["dataset"]["manifest_sha256"] == hashlib.sha256((digits / "arena.json").read_bytes()).hexdigest()
    assert doc["model"]["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert doc["summary"]["test_std"] is None  # one seed: no sample std
    assert json.loads(json.dumps(doc)) == doc


def test_a_bad_command_line_override_is_not_blamed_on_the_model_file(digits, tmp_path):
    model = _model_file(tmp_path, TINY_MLP)
    res = CliRunner().invoke(app, [str(model), "--dataset", str(digits), "--epochs", "0", "--quiet",
                                   "--out", str(tmp_path / "r.json")])
    assert res.exit_code == 1 and "epochs must be an integer from 1 to 1000, not 0" in res.output
    assert "model.py" not in res.output and "Traceback" not in res.output
    with pytest.raises(ConfigError, match="lr must be") as err:
        evaluate(model, digits, lr=5.0, **FAST)
    assert not isinstance(err.value, ModelFileError)


def test_labels_outside_the_manifests_classes_are_one_clear_error(digits, tmp_path):
    def five_classes(data):
        data["source"]["num_classes"] = 5
        data["source"]["class_names"] = data["source"]["class_names"][:5]

    root = _copy_dataset(digits, tmp_path / "five", edit=five_classes)
    res = CliRunner().invoke(app, ["baseline:mlp", "--dataset", str(root), "--seeds", "1", "--epochs", "1",
                                   "--quiet", "--out", str(tmp_path / "r.json")])
    assert res.exit_code == 1 and "Traceback" not in res.output
    line = " ".join(res.output.split())
    assert "split 'train' has" in line and "label(s) outside the valid range (0 to 4, 5 classes)" in line
    assert not (tmp_path / "r.json").exists()


def test_spec_reads_optional_manifest_keys_the_way_loaders_do(digits, tmp_path):
    from arena.eval import ModelSpec

    data = json.loads((digits / "arena.json").read_text())
    del data["field"]["hparams"], data["source"]["num_classes"]
    spec = ModelSpec.from_manifest(data)
    assert spec.hparams == {} and spec.num_classes == len(data["source"]["class_names"]) == 10
    del data["source"]["class_names"]
    with pytest.raises(ConfigError, match="neither source.num_classes nor source.class_names"):
        ModelSpec.from_manifest(data)
