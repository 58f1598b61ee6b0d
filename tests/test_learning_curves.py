"""``benchmarks/learning_curves.py``: subsets that share val/test, a table read from the result
documents, and a plot redrawn from them alone (on a tiny real neural digits build)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from arena_builders import build  # noqa: E402

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "learning_curves.py"
SIZES = (20, 40)


@pytest.fixture(scope="module")
def lc():
    spec = importlib.util.spec_from_file_location("learning_curves", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """A real neural digits build: 60 NeFs per split, 20 fitting steps."""
    out = tmp_path_factory.mktemp("digits") / "neural_digits"
    return build("digits", out=out, limit=60, overrides={"steps": "20"}, progress=False)


@pytest.fixture
def subsets(lc, digits, tmp_path, monkeypatch):
    """Two subsets of ``digits`` (train 20 and 40, val and test 30) in a fresh local store."""
    monkeypatch.setenv("ARENA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ARENA_OFFLINE", "1")
    return lc.make_subsets(digits, SIZES, val=30, test=30, seed=0)


def test_every_size_holds_the_same_val_and_test_nefs(lc, subsets):
    assert sorted(subsets) == list(SIZES)
    prints = [lc.eval_split_fingerprint(root) for root in subsets.values()]
    assert prints[0] == prints[1]
    assert len(prints[0]["val"][0]) == 30 and len(prints[0]["test"][0]) == 30


def test_a_subset_with_other_val_nefs_is_refused(lc, digits, subsets):
    from arena.subset import subset

    other = subset(digits, {"train": 20, "val": 30, "test": 30}, seed=1)
    with pytest.raises(lc.CurveError, match="val split"):
        lc.check_same_eval_splits([subsets[20], other])


def test_existing_subsets_are_reused_not_redrawn(lc, digits, subsets):
    again = lc.make_subsets(digits, SIZES, val=30, test=30, seed=0)
    assert again == subsets


def test_per_model_overrides_win_over_the_value_for_all(lc):
    assert lc.parse_overrides(["gnn=5", "20"], "epochs", ["mlp", "gnn"]) == {"mlp": 20, "gnn": 5}
    assert lc.parse_overrides(None, "seeds", ["mlp"]) == {"mlp": None}
    with pytest.raises(lc.CurveError, match="dws"):
        lc.parse_overrides(["dws=3"], "epochs", ["mlp"])


def test_table_and_plot_come_from_the_documents_and_runs_resume(lc, subsets, tmp_path, capsys):
    out = tmp_path / "curves"
    written = lc.run(subsets, ["mlp"], out, epochs={"mlp": 1}, seeds={"mlp": 2}, threads=1, log=lambda m: None)
    assert written == [lc.result_path(out, s, "mlp") for s in SIZES]
    assert lc.run(subsets, ["mlp"], out, epochs={"mlp": 1}, seeds={"mlp": 2}, log=lambda m: None) == []

    docs = {s: json.loads(lc.result_path(out, s, "mlp").read_text()) for s in SIZES}
    text = lc.table(lc.load_results(out))
    row = next(line for line in text.splitlines() if line.startswith("| MLP"))
    for doc in docs.values():
        s = doc["summary"]
        assert f"{100 * s['test_mean']:.2f} ± {100 * s['test_std']:.2f}" in row
        assert doc["protocol"]["settings"]["epochs"] == 1 and len(doc["seeds"]) == 2
    assert "| 1 × 2 |" in row  # epochs × seeds, as the documents record them
    assert "| 20 | 40 |" in text  # the sizes as columns

    assert lc.main(["--plot-only", "--out", str(out)]) == 0
    png = out / "learning_curves.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "table.md").read_text() == text
    first = png.read_bytes()
    assert lc.main(["--plot-only", "--out", str(out)]) == 0
    assert png.read_bytes() == first  # no date or version in the file
    assert row in capsys.readouterr().out


def test_documents_that_do_not_belong_to_the_curve_are_refused(lc, subsets, tmp_path, capsys):
    out = tmp_path / "curves"
    lc.run({20: subsets[20]}, ["mlp"], out, epochs={"mlp": 1}, seeds={"mlp": 1}, log=lambda m: None)
    doc = json.loads(lc.result_path(out, 20, "mlp").read_text())

    wrong = lc.result_path(out, 40, "mlp")
    wrong.parent.mkdir(parents=True)
    wrong.write_text(json.dumps(doc))
    assert lc.main(["--plot-only", "--out", str(out)]) == 1
    assert "trained on 20 NeFs, not 40" in capsys.readouterr().err

    other_seed = json.loads(json.dumps(doc))  # the same val/test sizes, drawn with another seed
    other_seed["dataset"]["num_examples"]["train"] = 40
    other_seed["dataset"]["version"] = other_seed["dataset"]["version"].replace("train20", "train40") \
        .replace("seed0", "seed1")
    wrong.write_text(json.dumps(other_seed))
    assert lc.main(["--plot-only", "--out", str(out)]) == 1
    assert "mix datasets, val/test sizes or seeds" in capsys.readouterr().err

    other_seed["dataset"]["version"] = other_seed["dataset"]["version"].replace("seed1", "seed0")
    wrong.write_text(json.dumps(other_seed))
    assert lc.main(["--plot-only", "--out", str(out)]) == 0


def test_a_size_whose_documents_name_two_builds_is_flagged_in_the_table(lc, subsets, tmp_path):
    out = tmp_path / "curves"
    lc.run({20: subsets[20]}, ["mlp"], out, epochs={"mlp": 1}, seeds={"mlp": 1}, log=lambda m: None)
    assert "Not one build" not in lc.table(lc.load_results(out))
    doc = json.loads(lc.result_path(out, 20, "mlp").read_text())
    doc["model"]["name"] = "baseline:dws"
    doc["dataset"]["manifest_sha256"] = "ab" * 32  # the same subset cut from another build of the parent
    other = lc.result_path(out, 20, "dws")
    other.write_text(json.dumps(doc))
    text = lc.table(lc.load_results(out))
    assert f"at 20, MLP on {json.loads(lc.result_path(out, 20, 'mlp').read_text())['dataset']['manifest_sha256'][:8]}; " \
           "DWS on abababab" in text


def test_plot_only_without_documents_says_so_in_one_line(lc, tmp_path, capsys):
    assert lc.main(["--plot-only", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run without --plot-only" in err


def test_micro_batches_are_recorded_and_no_checkpoint_outlives_its_document(lc, subsets, tmp_path):
    out = tmp_path / "curves"
    lc.run({20: subsets[20]}, ["mlp"], out, epochs={"mlp": 2}, seeds={"mlp": 1}, micro_batch_size={"mlp": 8},
           threads=1, log=lambda m: None)
    doc = json.loads(lc.result_path(out, 20, "mlp").read_text())
    assert doc["protocol"]["settings"]["micro_batch_size"] == 8
    assert not list((tmp_path / "home" / "runs").rglob("state.pt"))


def test_the_committed_table_is_the_render_of_the_committed_documents(lc):
    committed = Path(__file__).resolve().parent.parent / "docs" / "curves"
    assert (committed / "table.md").read_text() == lc.table(lc.load_results(committed))
