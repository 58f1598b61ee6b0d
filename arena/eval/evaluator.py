"""Scoring predictions of a model trained outside the harness: the ``external`` protocol.

OGB's ``Evaluator``, for neural datasets: whoever trains with their own loop (JAX, scikit-learn,
anything) predicts a class per NeF and the Arena scores it, the same way for everyone.

Example:
    >>> from arena.eval import Evaluator
    >>> evaluator = Evaluator("neural_mnist")
    >>> print(evaluator.expected_input_format)              # what evaluate() takes
    >>> evaluator.evaluate({"y_pred": test_pred})           # against the stored test labels
    {'accuracy': 0.9731}
    >>> evaluator.evaluate({"y_true": y, "y_pred": p})      # OGB's form: labels given
    >>> evaluator.write_result("result.json", [{"seed": 0, "val_pred": v0, "test_pred": t0}, ...],
    ...                        model="My method", num_parameters=7850,
    ...                        training="scikit-learn LogisticRegression on the flat parameters")

Contract:

- ``y_pred`` holds class ids ``(N,)`` / ``(N, 1)``, or class scores ``(N, num_classes)`` (their
  argmax, the first on ties, is the prediction); ``y_true`` class ids ``(N,)`` / ``(N, 1)``.
  numpy arrays, torch tensors, JAX arrays and lists are accepted; anything else, a wrong shape, a
  class id out of range or a non-finite score is refused with one line naming it.
- Without ``y_true``, row ``i`` of ``y_pred`` is NeF ``i`` of the split in its stored order, and
  the split's stored labels score it (``split="test"`` by default). The metric is accuracy, a
  fraction in [0, 1].
- :meth:`Evaluator.result` scores each seed's val and test predictions against the stored labels
  and returns an ``arena-result/1`` document whose protocol is ``external``: the seeds, the
  training description and the declaration that models were selected on val only (test predicted
  once per seed) are the submitter's, not checked by the Arena. Such a result is shown on the
  leaderboard (``arena leaderboard add``) in its own table, never ranked with protocol v1.
"""

from __future__ import annotations

import datetime
import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from arena.errors import ConfigError
from arena.eval import result

SPLITS = ("train", "val", "test")
INPUTS = ("flat", "layers", "graph", "other")
_RUN_KEYS = {"seed", "val_pred", "test_pred", "train_seconds"}


class Evaluator:
    """Scores class predictions on one neural dataset, and writes ``external`` result documents.

    Args:
        dataset: a dataset name (``"neural_mnist"``), directory or URL, as :func:`arena.load`
            takes it; it must have non-empty ``train``, ``val`` and ``test`` splits.
        version: the version to resolve a name to (default: the registry's / newest).

    Attributes:
        name, version, manifest_sha256: the dataset, as a result document cites it.
        num_classes: labels are ``0 .. num_classes - 1``.
        num_examples: NeFs per split.
    """

    metric = "accuracy"

    def __init__(self, dataset: str | os.PathLike, *, version: str | None = None):
        from arena.data import load

        splits = load(dataset, version=version)
        missing = [s for s in SPLITS if s not in splits or len(splits[s]) == 0]
        if missing:
            raise ConfigError(
                f"The dataset {os.fspath(dataset)!r} has no (or an empty) {', '.join(missing)} split; "
                "the Evaluator scores datasets with train, val and test NeFs."
            )
        self._splits = splits
        test = splits["test"]
        self.name, self.version, self.manifest_sha256 = test.dataset, test.version, test.manifest_sha256
        self.num_classes = test.num_classes
        self.num_params = test.num_params
        self.num_examples = {s: len(splits[s]) for s in SPLITS}

    def __repr__(self) -> str:
        return f"<Evaluator {self.name} {self.version}: {self.metric}, {self.num_classes} classes>"

    @property
    def expected_input_format(self) -> str:
        """What :meth:`evaluate` takes, for this dataset."""
        c, n = self.num_classes, self.num_examples
        return (
            f"==== Expected input format of Evaluator for {self.name}\n"
            "{'y_pred': y_pred} or {'y_true': y_true, 'y_pred': y_pred}, and split='test' (or 'val')\n"
            f"- y_pred: numpy ndarray, torch tensor or JAX array: class ids of shape (N,) or (N, 1) "
            f"in 0..{c - 1}, or class scores of shape (N, {c}) (argmax taken)\n"
            "- y_true: class ids of shape (N,) or (N, 1); when left out, the split's stored labels "
            f"are used and row i of y_pred is NeF i of the split in its stored order "
            f"(test: {n['test']} NeFs, val: {n['val']} NeFs)"
        )

    @property
    def expected_output_format(self) -> str:
        """What :meth:`evaluate` returns."""
        return (
            f"==== Expected output format of Evaluator for {self.name}\n"
            "{'accuracy': accuracy}\n"
            "- accuracy (float): the fraction of NeFs whose predicted class is their label, in [0, 1]"
        )

    def evaluate(self, input_dict: Mapping[str, Any], *, split: str = "test") -> dict[str, float]:
        """``{"accuracy": ...}`` of ``input_dict["y_pred"]`` (see :attr:`expected_input_format`).

        Args:
            input_dict: ``{"y_pred": ...}`` to score against the stored labels of ``split``, or
                ``{"y_true": ..., "y_pred": ...}``.
            split: the split whose labels score ``y_pred`` when ``y_true`` is left out.
        """
        if not isinstance(input_dict, Mapping) or "y_pred" not in input_dict:
            raise ConfigError(f"evaluate() takes a dict with 'y_pred' (and optionally 'y_true'); got "
                              f"{_describe(input_dict)}. print(evaluator.expected_input_format) shows it.")
        unknown = sorted(set(input_dict) - {"y_pred", "y_true"}, key=str)
        if unknown:
            raise ConfigError(f"evaluate() got the key {unknown[0]!r}; it takes 'y_pred' and 'y_true' only.")
        y_pred = self._class_ids(input_dict["y_pred"], "y_pred", scores=True)
        if "y_true" in input_dict:
            y_true = self._class_ids(input_dict["y_true"], "y_true", scores=False)
            if len(y_true) != len(y_pred):
                raise ConfigError(f"y_pred has {len(y_pred)} rows but y_true {len(y_true)}; give one "
                                  "prediction per label.")
        else:
            y_true = self._labels(split)
            if len(y_pred) != len(y_true):
                raise ConfigError(
                    f"y_pred has {len(y_pred)} rows, but the {split} split of {self.name} has "
                    f"{len(y_true)} NeFs; predict every NeF of the split, in its stored order."
                )
        return {self.metric: float(np.mean(y_pred == y_true))}

    eval = evaluate  # OGB's name

    def result(self, runs: Sequence[Mapping[str, Any]], *, model: str, num_parameters: int,
               training: str, input: str = "flat", device: str = "not reported",
               packages: Mapping[str, str] | None = None) -> dict[str, Any]:
        """An ``arena-result/1`` document of protocol ``external``, validated.

        Args:
            runs: one per seed, ``{"seed": int, "val_pred": ..., "test_pred": ...}`` (predictions
                as :meth:`evaluate` takes ``y_pred``, every NeF of the split in stored order),
                optionally ``"train_seconds"``. Each is scored against the stored val and test
                labels.
            model: the method's name.
            num_parameters: the trained model's parameter count.
            training: how it was trained, one line (the loop, the selection on val, the tuning).
            input: what the model reads: ``"flat"``, ``"layers"``, ``"graph"`` or ``"other"``.
            device: the hardware it trained on, as the leaderboard shows it.
            packages: versions to record besides neural-field-arena and numpy
                (``{"scikit-learn": sklearn.__version__}``).
        """
        if isinstance(runs, Mapping) or not isinstance(runs, Sequence) or not runs:
            raise ConfigError(f"runs must be a non-empty list of per-seed dicts; got {_describe(runs)}.")
        if input not in INPUTS:
            raise ConfigError(f"input must be one of {list(INPUTS)}, not {input!r}.")
        if isinstance(num_parameters, bool) or not isinstance(num_parameters, (int, np.integer)) or num_parameters < 1:
            raise ConfigError(f"num_parameters must be a positive integer, not {num_parameters!r}.")
        for what, text in (("model", model), ("training", training), ("device", device)):
            if not isinstance(text, str) or not text.strip():
                raise ConfigError(f"{what} must be a non-empty string, not {text!r}.")
        seeds = [self._score_run(i, run) for i, run in enumerate(runs)]
        document = {
            "schema": result.SCHEMA_ID,
            "dataset": {"name": self.name, "version": self.version, "manifest_sha256": self.manifest_sha256,
                        "num_params": self.num_params, "num_classes": self.num_classes,
                        "num_examples": dict(self.num_examples)},
            "model": {"name": model, "num_parameters": int(num_parameters), "input": input},
            "protocol": {"version": result.EXTERNAL, "seeds": len(seeds), "selection": "val",
                         "training": training.strip()},
            "seeds": seeds,
            "summary": result.summarize(seeds),
            "environment": {"packages": _packages(packages), "device": device,
                            "python": platform.python_version(), "platform": platform.platform()},
            "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        result.validate(document, source="The external result")
        return document

    def write_result(self, path: str | os.PathLike, runs: Sequence[Mapping[str, Any]], **kwargs) -> Path:
        """Write :meth:`result` (same arguments) to ``path`` atomically; return the path.

        File it on a leaderboard with ``arena leaderboard add PATH --name NAME --code-url URL``.
        """
        target = result.check_target(path)
        return result.write(self.result(runs, **kwargs), target)

    # ------------------------------------------------------------------ helpers

    def _labels(self, split: str) -> np.ndarray:
        if split not in SPLITS:
            raise ConfigError(f"split must be one of {list(SPLITS)}, not {split!r}.")
        return np.asarray(self._splits[split].labels)

    def _class_ids(self, value: Any, what: str, *, scores: bool) -> np.ndarray:
        arr = _to_numpy(value, what)
        c = self.num_classes
        shapes = "(N,) or (N, 1) class ids" + (f", or (N, {c}) class scores" if scores else "")
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        elif arr.ndim == 2 and scores and arr.shape[1] == c:
            if not np.issubdtype(arr.dtype, np.number) or not np.isfinite(arr).all():
                raise ConfigError(f"{what} holds class scores that are not finite numbers; give finite scores.")
            return np.argmax(arr, axis=1)
        if arr.ndim != 1 or len(arr) == 0:
            raise ConfigError(f"{what} has shape {arr.shape}; expected {shapes} for the {c} classes of {self.name}.")
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
            raise ConfigError(f"{what} has dtype {arr.dtype}; expected integer class ids in 0..{c - 1}.")
        if not np.issubdtype(arr.dtype, np.integer):
            if not np.isfinite(arr).all() or (arr != np.round(arr)).any():
                raise ConfigError(f"{what} holds values that are not whole numbers; give class ids in 0..{c - 1} "
                                  f"or (N, {c}) class scores.")
        bad = np.flatnonzero((arr < 0) | (arr >= c))
        if len(bad):
            raise ConfigError(f"{what}[{int(bad[0])}] is {arr[bad[0]].item()!r}, not a class id of {self.name} (0..{c - 1}).")
        return arr.astype(np.int64)

    def _score_run(self, i: int, run: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(run, Mapping):
            raise ConfigError(f"runs[{i}] must be a dict with seed, val_pred and test_pred; got {_describe(run)}.")
        missing = sorted({"seed", "val_pred", "test_pred"} - set(run))
        unknown = sorted(set(run) - _RUN_KEYS, key=str)
        if missing or unknown:
            problem = f"lacks {missing[0]!r}" if missing else f"has the key {unknown[0]!r}"
            raise ConfigError(f"runs[{i}] {problem}; a run is {{'seed', 'val_pred', 'test_pred'"
                              "[, 'train_seconds']}.")
        seed = run["seed"]
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ConfigError(f"runs[{i}]['seed'] must be a non-negative integer, not {seed!r}.")
        out: dict[str, Any] = {"seed": int(seed)}
        for split in ("val", "test"):
            try:
                out[f"{split}_accuracy"] = self.evaluate({"y_pred": run[f"{split}_pred"]}, split=split)[self.metric]
            except ConfigError as exc:
                raise ConfigError(f"runs[{i}]['{split}_pred']: {exc}") from None
        if "train_seconds" in run:
            seconds = run["train_seconds"]
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds < float("inf"):
                raise ConfigError(f"runs[{i}]['train_seconds'] must be a number >= 0, not {seconds!r}.")
            out["train_seconds"] = float(seconds)
        return out


def _to_numpy(value: Any, what: str) -> np.ndarray:
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor, maybe on a GPU
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what} is not an array ({exc}); give a numpy array, tensor or list.") from None


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return f"a dict with keys {sorted(map(str, value))}"
    return f"a {type(value).__name__}"


def _packages(extra: Mapping[str, str] | None) -> dict[str, str]:
    import importlib.metadata as md

    packages = {"numpy": np.__version__}
    try:
        packages["neural-field-arena"] = md.version("neural-field-arena")
    except md.PackageNotFoundError:
        from arena import __version__

        packages["neural-field-arena"] = __version__
    for name, version in dict(extra or {}).items():
        if not isinstance(name, str) or not isinstance(version, str):
            raise ConfigError(f"packages maps names to version strings; got {name!r}: {version!r}.")
        packages[name] = version
    return dict(sorted(packages.items()))


__all__ = ["Evaluator"]
