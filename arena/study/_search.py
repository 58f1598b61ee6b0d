"""``arena study search``: Optuna's TPE over fit settings, maximising a model's val accuracy.

Each trial is a cell (see :mod:`arena.study._cell`): the dataset built with the fixed settings
and the trial's draw of ``[search.space]``, measured, and evaluated with the objective model
(protocol v1); its value is the model's mean val accuracy over its seeds (test accuracy is kept
as a user attribute, never optimised). Trials live in ``OUT/<study name>/trial-<number>/``.

The study is stored in Optuna's RDB storage: ``sqlite:///OUT/study.db`` by default, or any
database URL Optuna accepts. Several processes (on one machine, or on several that share the
database and OUT) can run the same command at once: each runs its own ``trials`` and all of them
land in the one study. The TPE sampler is seeded per trial (trial ``n`` draws with the seed
``(seed, n)``), so workers started with the same seed never propose the same startup points.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from arena.errors import ArenaError, ConfigError, require
from arena.study import _cell
from arena.study.config import Param, SweepConfig, check_cells, setting_text

DEFAULT_DB = "study.db"


@dataclasses.dataclass(frozen=True)
class SearchSummary:
    """A worker's run: its trials (done, failed) and the study's best trial so far."""

    storage: str
    study_name: str
    done: int
    failed: int
    best_value: float | None
    best_params: dict[str, Any] | None
    best_trial: int | None
    trials_in_study: int


Report = Callable[[str, int, dict], None]  # (event, trial number, details); start, phase, done, failed


def default_storage(out: str | Path) -> str:
    """``sqlite:///<absolute OUT>/study.db``."""
    return f"sqlite:///{(Path(out) / DEFAULT_DB).resolve()}"


def search(config: SweepConfig, out: str | Path, *, trials: int, storage: str | None = None,
           study_name: str = "study", options: _cell.CellOptions | None = None,
           report: Report = lambda *_: None) -> SearchSummary:
    """Run ``trials`` trials of the study ``study_name`` (created if new) and return a summary.

    Args:
        config: the dataset (exactly one), fixed settings, ``[search.space]``, the models and
            ``[search]`` (objective model, sampler seed).
        out: the search directory (trials' datasets and results, the default SQLite file).
        trials: how many trials this process runs.
        storage: an Optuna storage URL (default :func:`default_storage`).
        study_name: the study to create or join.
        options: NMI settings, eval device and threads (default: the config's NMI settings, CPU).
        report: called as trials start, change phase and finish.

    Raises:
        ConfigError: no space, several datasets, fewer than one trial, a storage URL Optuna
            cannot open.
    """
    optuna = require("optuna", "study", "arena study search")
    if not config.space:
        raise ConfigError("Nothing to search: give [search.space] (or --param NAME=LOW:HIGH[:log] / NAME=A,B,C).")
    if len(config.datasets) != 1:
        raise ConfigError(f"A search runs on one dataset; the configuration has {len(config.datasets)}.")
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ConfigError(f"--trials must be a positive integer, not {trials!r}.")
    if not study_name or "/" in study_name:
        raise ConfigError(f"--study-name {study_name!r}: give a plain name such as 'lr-search'.")
    objective = config.model(config.objective or config.models[0].name)
    options = options or _cell.CellOptions(nmi_seed=config.nmi_seed, nmi_n_init=config.nmi_n_init)
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    url = storage or default_storage(root)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = _open_study(optuna, url, study_name, config.search_seed)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    done = failed = 0
    for _ in range(trials):
        trial = study.ask()
        number = trial.number
        report("start", number, {})
        trial.set_user_attr("worker", worker)
        try:
            values = {p.name: _suggest(trial, p) for p in config.space}
            cell = dataclasses.replace(config.cell(config.datasets[0], {k: setting_text(v) for k, v in values.items()}),
                                       id=f"trial-{number:04d}")
            check_cells([cell], [objective])
            if (root / study_name / cell.id).exists():
                raise ConfigError(f"{root / study_name / cell.id} is left from another study of this name (its "
                                  "database was replaced?); give another --out or --study-name.")
            record = _cell.run(cell, [objective], root / study_name / cell.id, options,
                               phase=lambda p, n=number: report("phase", n, {"phase": p}))
        except ArenaError as exc:
            record = {"status": "failed", "reason": " ".join(str(exc).split())}
        except BaseException:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
        _attributes(trial, record, objective.name, root / study_name)
        if record["status"] == "done":
            value = record["models"][objective.name]["val_mean"]
            study.tell(trial, value)
            done += 1
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            failed += 1
        report(record["status"], number, {"record": record, "params": trial.params})
    best = _best(study)
    return SearchSummary(storage=url, study_name=study_name, done=done, failed=failed,
                         best_value=None if best is None else best.value,
                         best_params=None if best is None else best.params,
                         best_trial=None if best is None else best.number,
                         trials_in_study=len(study.trials))


def _open_study(optuna, url: str, name: str, seed: int):
    """Create or load the study; SQLite files are created under a file lock (workers race there)."""
    from arena.study._sampler import TrialSeededTPE

    sampler = TrialSeededTPE(seed)
    try:
        if url.startswith("sqlite:///"):
            import filelock

            path = Path(url.removeprefix("sqlite:///"))
            if not path.parent.is_dir():
                raise ConfigError(f"--storage {url}: the folder {path.parent} does not exist.")
            with filelock.FileLock(str(path) + ".lock"):
                storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 120}})
                return optuna.create_study(storage=storage, study_name=name, sampler=sampler,
                                           direction="maximize", load_if_exists=True)
        return optuna.create_study(storage=url, study_name=name, sampler=sampler, direction="maximize",
                                   load_if_exists=True)
    except ArenaError:
        raise
    except Exception as exc:  # noqa: BLE001 - Optuna and SQLAlchemy raise many kinds for a bad URL
        raise ConfigError(f"--storage {url}: Optuna cannot open it ({' '.join(str(exc).split())[:300]}); give a "
                          "database URL such as sqlite:///path/study.db or postgresql://user@host/db.") from None


def _suggest(trial, param: Param) -> Any:
    if param.choices is not None:
        return trial.suggest_categorical(param.name, list(param.choices))
    if param.integer:
        return trial.suggest_int(param.name, int(param.low), int(param.high), log=param.log)
    return trial.suggest_float(param.name, float(param.low), float(param.high), log=param.log)


def _attributes(trial, record: dict[str, Any], objective: str, root: Path) -> None:
    """What a trial measured, as user attributes: reason, test accuracy, PSNR, NMI, its directory."""
    if record["status"] != "done":
        trial.set_user_attr("reason", record.get("reason"))
        return
    model = record["models"][objective]
    trial.set_user_attr("test_accuracy", model["test_mean"])
    trial.set_user_attr("nmi", record["nmi"]["train"])
    for key, value in record["fit"]["metrics"]["train"].items():
        trial.set_user_attr(key, value)
    trial.set_user_attr("directory", str(root / f"trial-{trial.number:04d}"))


def _best(study):
    """The best complete trial, or ``None`` when no trial has completed."""
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return max(complete, key=lambda t: t.value) if complete else None
