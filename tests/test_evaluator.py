"""The OGB-style Evaluator: a scikit-learn model trained outside the harness on a real (small)
neural digits build, scored against the stored labels, and written as an ``external`` result."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _nefdata import make_field, nef_params, write_dataset

import arena
from arena.errors import ConfigError
from arena.eval import Evaluator, result
from arena_builders import build

linear_model = pytest.importorskip("sklearn.linear_model")

TRAINING = "scikit-learn LogisticRegression(C=c) on the flat parameters; C chosen on val per seed"


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return build("digits", out=tmp_path_factory.mktemp("ev") / "neural_digits", limit=150,
                 overrides={"steps": "60"}, progress=False)


@pytest.fixture(scope="module")
def splits(digits):
    return arena.load(digits)


@pytest.fixture(scope="module")
def evaluator(digits):
    return Evaluator(digits)


def _fit(splits, seed: int):
    """A logistic regression, its C selected on val (test never looked at), as a submitter would."""
    best = None
    for c in (0.1, 1.0):
        clf = linear_model.LogisticRegression(C=c, max_iter=300, random_state=seed)
        clf.fit(np.asarray(splits["train"].params), splits["train"].labels)
        val = clf.score(np.asarray(splits["val"].params), splits["val"].labels)
        if best is None or val > best[0]:
            best = (val, clf)
    return best[1]


@pytest.fixture(scope="module")
def runs(splits):
    out = []
    for seed in (0, 1, 2):
        clf = _fit(splits, seed)
        out.append({"seed": seed, "val_pred": clf.predict(np.asarray(splits["val"].params)),
                    "test_pred": clf.predict(np.asarray(splits["test"].params)), "train_seconds": 0.5})
    return out


def test_expected_formats_name_the_dataset_its_classes_and_split_sizes(evaluator, splits):
    text = evaluator.expected_input_format
    assert "Evaluator for neural_digits" in text and "class scores of shape (N, 10)" in text and "in 0..9" in text
    assert f"test: {len(splits['test'])} NeFs" in text
    assert "{'accuracy': accuracy}" in evaluator.expected_output_format
    assert (evaluator.name, evaluator.num_classes, evaluator.manifest_sha256) == (
        "neural_digits", 10, splits["test"].manifest_sha256)


def test_scores_of_a_logistic_regression_trained_outside_are_its_accuracy_on_the_stored_labels(evaluator, splits):
    import torch

    clf = _fit(splits, 0)
    x, y = np.asarray(splits["test"].params), splits["test"].labels
    pred = clf.predict(x)
    want = float(np.mean(pred == y))
    assert evaluator.evaluate({"y_pred": pred}) == {"accuracy": want}
    assert evaluator.eval({"y_true": y[:, None], "y_pred": pred[:, None]}) == {"accuracy": want}  # OGB's shapes
    assert evaluator.evaluate({"y_pred": clf.predict_proba(x)})["accuracy"] == want  # class scores
    assert evaluator.evaluate({"y_pred": torch.from_numpy(pred)})["accuracy"] == want
    assert evaluator.evaluate({"y_pred": pred.tolist()})["accuracy"] == want
    val_pred = clf.predict(np.asarray(splits["val"].params))
    assert evaluator.evaluate({"y_pred": val_pred}, split="val")["accuracy"] == float(
        np.mean(val_pred == splits["val"].labels))
    flipped = (y + 1) % 10  # every prediction wrong
    assert evaluator.evaluate({"y_pred": flipped})["accuracy"] == 0.0


def test_result_is_a_valid_external_document_scoring_each_seed_on_the_stored_labels(evaluator, splits, runs, tmp_path):
    import sklearn

    size = 10 * splits["train"].num_params + 10  # coef_ and intercept_
    path = evaluator.write_result(tmp_path / "lr.json", runs, model="Logistic regression",
                                  num_parameters=size, training=TRAINING,
                                  packages={"scikit-learn": sklearn.__version__}, device="cpu (laptop)")
    document = result.load(path)
    assert document["protocol"] == {"version": "external", "seeds": 3, "selection": "val", "training": TRAINING}
    assert document["model"] == {"name": "Logistic regression", "num_parameters": size, "input": "flat"}
    for run, seed in zip(runs, document["seeds"]):
        assert seed == {"seed": run["seed"], "train_seconds": 0.5,
                        "val_accuracy": float(np.mean(run["val_pred"] == splits["val"].labels)),
                        "test_accuracy": float(np.mean(run["test_pred"] == splits["test"].labels))}
    assert document["summary"] == result.summarize(document["seeds"])
    d = document["dataset"]
    assert (d["name"], d["manifest_sha256"], d["num_examples"]) == (
        "neural_digits", splits["test"].manifest_sha256, {s: len(splits[s]) for s in ("train", "val", "test")})
    assert document["environment"]["packages"]["scikit-learn"] == sklearn.__version__
    assert document["environment"]["device"] == "cpu (laptop)"


def _document(evaluator, runs, **kwargs):
    return evaluator.result(runs, **{"model": "LR", "num_parameters": 100, "training": TRAINING, **kwargs})


@pytest.mark.parametrize("change, says", [
    (lambda d: d["protocol"].update(settings={"epochs": 1}), "at protocol"),
    (lambda d: d["protocol"].pop("selection"), "'selection' is a required property"),
    (lambda d: d["protocol"].update(selection="test"), "at protocol/selection"),
    (lambda d: d["model"].update(sha256="0" * 64), "at model"),
    (lambda d: d["seeds"][1].update(seed=0), "seeds must be distinct"),
    (lambda d: d["seeds"][0].update(test_accuracy=1.0), "summary.test_mean is"),
])
def test_an_external_document_is_refused_when_it_claims_what_the_harness_records_or_lies(evaluator, runs, change, says):
    document = json.loads(json.dumps(_document(evaluator, runs)))
    change(document)
    with pytest.raises(result.ResultError) as caught:
        result.validate(document)
    assert says in str(caught.value)


def test_protocol_v1_documents_still_need_the_harness_fields(evaluator, runs):
    document = json.loads(json.dumps(_document(evaluator, runs)))
    document["protocol"] = {"version": 1, "seeds": 3, "settings": {"epochs": 1, "batch_size": 8, "lr": 0.1,
                                                                 "weight_decay": 0.0, "normalize": True, "augment": []}}
    document["model"]["sha256"] = "0" * 64
    for seed in document["seeds"]:
        seed.update(best_epoch=1, train_seconds=1.0)
    result.validate(document)  # a v1 document
    for change, says in ((lambda d: d["seeds"][0].pop("best_epoch"), "'best_epoch' is a required property"),
                         (lambda d: d["model"].pop("sha256"), "'sha256' is a required property"),
                         (lambda d: d["model"].update(input="other"), "at model/input"),
                         (lambda d: d["protocol"].update(training="mine"), "at protocol")):
        broken = json.loads(json.dumps(document))
        change(broken)
        with pytest.raises(result.ResultError) as caught:
            result.validate(broken)
        assert says in str(caught.value)


N_TEST = 150


@pytest.mark.parametrize("input_dict, split, says", [
    ({"y_pred": np.zeros(N_TEST - 1, np.int64)}, "test", "y_pred has 149 rows, but the test split of neural_digits has 150 NeFs"),
    ({"y_pred": np.full(N_TEST, 10)}, "test", "y_pred[0] is 10, not a class id of neural_digits (0..9)"),
    ({"y_pred": np.full(N_TEST, 0.5)}, "test", "y_pred holds values that are not whole numbers"),
    ({"y_pred": np.zeros((N_TEST, 3))}, "test", "y_pred has shape (150, 3); expected (N,) or (N, 1) class ids, or (N, 10) class scores"),
    ({"y_pred": np.full((N_TEST, 10), np.nan)}, "test", "class scores that are not finite"),
    ({"y_pred": np.zeros(3, np.int64), "y_true": np.zeros(4, np.int64)}, "test", "y_pred has 3 rows but y_true 4"),
    ({"y_true": np.zeros(N_TEST, np.int64)}, "test", "takes a dict with 'y_pred'"),
    ({"y_pred": np.zeros(N_TEST, np.int64), "labels": 1}, "test", "got the key 'labels'"),
    ({"y_pred": np.zeros(N_TEST, np.int64)}, "dev", "split must be one of ['train', 'val', 'test'], not 'dev'"),
    ({"y_pred": np.array(["a"] * N_TEST)}, "test", "y_pred has dtype <U1"),
])
def test_bad_predictions_are_refused_in_one_line_naming_the_value(evaluator, input_dict, split, says):
    with pytest.raises(ConfigError) as caught:
        evaluator.evaluate(input_dict, split=split)
    assert says in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("kwargs, runs_of, says", [
    ({}, lambda r: [], "runs must be a non-empty list"),
    ({}, lambda r: [{**r[0], "val_acc": 1.0}], "runs[0] has the key 'val_acc'"),
    ({}, lambda r: [{"seed": 0, "val_pred": r[0]["val_pred"]}], "runs[0] lacks 'test_pred'"),
    ({}, lambda r: [{**r[0], "test_pred": r[0]["test_pred"][:-1]}], "runs[0]['test_pred']: y_pred has 149 rows"),
    ({}, lambda r: [{**r[0], "seed": -1}], "runs[0]['seed'] must be a non-negative integer"),
    ({"num_parameters": 0}, lambda r: r, "num_parameters must be a positive integer"),
    ({"training": " "}, lambda r: r, "training must be a non-empty string"),
    ({"input": "pixels"}, lambda r: r, "input must be one of ['flat', 'layers', 'graph', 'other']"),
])
def test_bad_runs_and_descriptions_are_refused_before_anything_is_written(evaluator, runs, tmp_path, kwargs, runs_of, says):
    with pytest.raises(ConfigError) as caught:
        evaluator.write_result(tmp_path / "r.json", runs_of(runs), **{"model": "LR", "num_parameters": 1,
                                                                      "training": TRAINING, **kwargs})
    assert says in str(caught.value)
    assert not (tmp_path / "r.json").exists()


def test_a_dataset_without_a_test_split_is_refused(tmp_path):
    rows = nef_params(make_field("siren"), 4)
    root = write_dataset(tmp_path / "d", {"train": [rows], "val": [rows]})
    with pytest.raises(ConfigError, match="has no \\(or an empty\\) test split"):
        Evaluator(root)
