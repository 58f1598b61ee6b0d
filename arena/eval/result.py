"""The ``arena-result/1`` document: its JSON Schema, its summary and its validation.

Numpy-free on purpose: the leaderboard checks submissions with this module and never needs
torch. The schema ships in the package (``arena/eval/result.schema.json``).
"""

from __future__ import annotations

import functools
import json
import math
import os
import statistics
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from arena.errors import ArenaError, ConfigError

SCHEMA_ID = "arena-result/1"
EXTERNAL = "external"  # protocol.version of a result scored by arena.eval.Evaluator, trained elsewhere


class ResultError(ArenaError, ValueError):
    """A result document does not follow ``arena-result/1``."""


@functools.cache
def schema() -> dict[str, Any]:
    """The JSON Schema of ``arena-result/1``."""
    return json.loads(resources.files("arena.eval").joinpath("result.schema.json").read_text())


def summarize(seeds: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Mean and sample std (ddof = 1; ``None`` for one seed) of test accuracy, mean val accuracy."""
    test = [float(s["test_accuracy"]) for s in seeds]
    val = [float(s["val_accuracy"]) for s in seeds]
    return {
        "test_mean": statistics.fmean(test),
        "test_std": statistics.stdev(test) if len(test) > 1 else None,
        "val_mean": statistics.fmean(val),
        "num_seeds": len(test),
    }


def validate(document: Any, *, source: str = "result") -> None:
    """Raise :class:`ResultError` naming the first problem if ``document`` is not a valid result.

    Besides the schema, the summary must be the one recomputed from the per-seed numbers, and
    the seeds must be ``0 .. S-1`` as protocol v1 says (an ``external`` result's seeds are the
    submitter's: distinct, ``protocol.seeds`` of them).
    """
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ResultError(f"{source} is not a valid {SCHEMA_ID} document: at {where}: {error.message}.")
    seeds = [s["seed"] for s in document["seeds"]]
    if document["protocol"]["version"] == EXTERNAL:
        if len(set(seeds)) != len(seeds) or document["protocol"]["seeds"] != len(seeds):
            raise ResultError(f"{source}: seeds must be distinct, S = protocol.seeds of them; got {seeds}.")
    elif seeds != list(range(len(seeds))) or document["protocol"]["seeds"] != len(seeds):
        raise ResultError(f"{source}: seeds must be 0..S-1 with S = protocol.seeds; got {seeds}.")
    expected = summarize(document["seeds"])
    for key, value in expected.items():
        got = document["summary"][key]
        if (value is None) != (got is None) or (
            value is not None and not math.isclose(got, value, rel_tol=1e-9, abs_tol=1e-12)
        ):
            raise ResultError(
                f"{source}: summary.{key} is {got!r} but the per-seed numbers give {value!r}."
            )


def check_target(path: str | os.PathLike) -> Path:
    """``path`` as a :class:`Path`, refused when it cannot become a file (call it before any work).

    Raises:
        ConfigError: ``path`` is an existing directory, or lies under a file.
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"Cannot write the result to {path}: it is an existing directory; give a "
                          f"file path such as {path / 'result.json'}.")
    parent = next((p for p in path.parents if p.exists()), Path("."))
    if not parent.is_dir():
        raise ConfigError(f"Cannot write the result to {path}: {parent} is a file, not a directory; "
                          "choose another path.")
    return path


def default_path(root: str | os.PathLike, document: Mapping[str, Any]) -> Path:
    """``root/<dataset name>/<model name>.json``, checked to stay inside ``root``.

    Raises:
        ConfigError: the dataset's name (read from its manifest) would lead outside ``root``.
    """
    root = Path(root)
    name = document["dataset"]["name"]
    model = document["model"]["name"].replace("baseline:", "baseline-")
    path = root / name / f"{model}.json"
    if not path.resolve().is_relative_to(root.resolve()):
        raise ConfigError(
            f"The dataset name {name!r} would put the result at {path}, outside {root}; a dataset "
            "name is a plain name such as 'neural_mnist': check the dataset's manifest, or give "
            "the result's path explicitly."
        )
    return check_target(path)


def write(document: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Validate ``document`` and write it to ``path`` atomically (temporary file, then rename)."""
    validate(document)
    from arena import format as fmt

    return fmt.write_json_atomic(path, document, sort_keys=False)


def print_summary(document: Mapping[str, Any], path: str | os.PathLike | None = None) -> None:
    """Print a result as people quote it: the model and dataset, one line per seed, the summary
    (test accuracy mean ± sample std), and where the result was written when ``path`` is given."""
    from rich.console import Console

    console = Console()
    d, s = document["dataset"], document["summary"]
    console.print(f"[bold]{document['model']['name']}[/] on {d['name']} {d['version']} "
                  f"({document['model']['num_parameters']:,} parameters, protocol v{document['protocol']['version']})")
    for run in document["seeds"]:
        console.print(f"  seed {run['seed']}: test {100 * run['test_accuracy']:.2f}%  "
                      f"val {100 * run['val_accuracy']:.2f}%  best epoch {run['best_epoch']}  "
                      f"{run['train_seconds']:.1f} s ({run['epoch_seconds']:.2f} s/epoch)")
    std = "n/a" if s["test_std"] is None else f"{100 * s['test_std']:.2f}"
    console.print(f"[bold green]test accuracy {100 * s['test_mean']:.2f} ± {std} %[/] "
                  f"(mean ± sample std over {s['num_seeds']} seed{'s' if s['num_seeds'] != 1 else ''}; "
                  f"val {100 * s['val_mean']:.2f}%)")
    if path is not None:
        console.print(f"result: {path}", soft_wrap=True)  # a path stays on one line, to copy


MAX_DOCUMENT_BYTES = 64 * 2**20  # a result with 1,000 epochs x 10 seeds of history is ~2 MB


def read_json(path: str | os.PathLike, *, error: type[ArenaError] = ResultError, name: str | None = None) -> Any:
    """Parse a result or submission document as strict JSON, or raise ``error`` naming it.

    Refused: a missing or unreadable file, more than ``MAX_DOCUMENT_BYTES``, text that is not
    UTF-8, ``NaN`` and ``Infinity`` (which Python's json would accept but a score never holds),
    integers past Python's digit limit and nesting too deep to parse.
    """
    path = Path(path)
    name = name or str(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as exc:
        raise error(f"Could not read {name}: {exc.strerror or exc}.") from None
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise error(f"{name} has more than {MAX_DOCUMENT_BYTES:,} bytes; a result document is far "
                    "smaller, so this file is not one.")
    try:
        return json.loads(raw.decode("utf-8-sig"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, digit limit
        reason = "it nests too deeply to read" if isinstance(exc, RecursionError) else str(exc)
        raise error(f"{name} is not valid JSON ({reason}).") from None


def _refuse_constant(constant: str) -> Any:
    raise ValueError(f"it holds {constant}, which strict JSON does not allow and no score is")


def load(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate a result document."""
    document = read_json(path)
    validate(document, source=str(path))
    return document
