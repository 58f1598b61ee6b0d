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

OUT is a new or empty folder, or one holding ``search.json`` (or the default ``study.db``): a
search never writes into a folder of other files, nor into a SQLite file that is not an Optuna
database. A study keeps its configuration's identity (:meth:`SweepConfig.search_identity`) as
its user attribute ``arena``; a search of another configuration is refused. A trial left
RUNNING by a killed worker of this machine is marked failed when the study is next opened, its
parameters are enqueued again and its partial folder is removed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from arena import format as fmt
from arena.errors import ArenaError, ConfigError, require
from arena.study import _cell
from arena.study.config import Param, SweepConfig, check_cells, check_space, setting_text

DEFAULT_DB = "study.db"
MARK = "search.json"
IDENTITY_ATTR = "arena"


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
    """``sqlite:///<absolute OUT>/study.db`` (characters a URL reserves, such as ``?``, quoted)."""
    from sqlalchemy.engine import URL

    database = str((Path(out) / DEFAULT_DB).resolve())
    return URL.create("sqlite", database=database).render_as_string(hide_password=False)


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
        ConfigError: no space, several datasets, fewer than one trial, a searched setting or a
            fixed one the recipe cannot take (checked before the study is opened), ``out`` a file
            or a folder of other files, a storage URL Optuna cannot open, a SQLite file that is
            not an Optuna database, a study of another configuration.
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
    check_space(config)
    check_cells([config.cell(config.datasets[0], {})], [objective])
    options = options or _cell.CellOptions(nmi_seed=config.nmi_seed, nmi_n_init=config.nmi_n_init)
    root = Path(out)
    url = storage or default_storage(root)
    _check_out(root, url)
    root.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = _open_study(optuna, url, study_name, config.search_seed)
    _claim(study, config.search_identity(), f"study '{study_name}' in {url}")
    if not (root / MARK).is_file():
        fmt.write_json_atomic(root / MARK, {"search": "arena study search: trials in <study name>/trial-NNNN/"},
                              unique=True)
    _fail_stale(optuna, study, root / study_name)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    done = failed = 0
    for _ in range(trials):
        trial = study.ask()
        number = trial.number
        report("start", number, {})
        trial.set_user_attr("worker", worker)
        trial.set_user_attr("pid_namespace", _pid_namespace())
        try:
            values = {p.name: _suggest(trial, p) for p in config.space}
            cell = dataclasses.replace(config.cell(config.datasets[0], {k: setting_text(v) for k, v in values.items()}),
                                       id=f"trial-{number:04d}")
            check_cells([cell], [objective])
            if (root / study_name / cell.id).exists():
                raise ConfigError(f"{root / study_name / cell.id} is left from another study of this name (its "
                                  "database was replaced?); give another --out or --study-name.")
            trial.set_user_attr("directory", str(root / study_name / cell.id))  # the search creates it
            record = _cell.run(cell, [objective], root / study_name / cell.id, options,
                               phase=lambda p, n=number: report("phase", n, {"phase": p}))
        except ArenaError as exc:
            record = {"status": "failed", "reason": " ".join(str(exc).split())}
        except BaseException:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
        _attributes(trial, record, objective.name)
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
    from sqlalchemy.engine import make_url

    from arena.study._sampler import TrialSeededTPE

    sampler = TrialSeededTPE(seed)
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            import filelock

            path = Path(parsed.database)
            if not path.parent.is_dir():
                raise ConfigError(f"--storage {url}: the folder {path.parent} does not exist.")
            lock = Path(f"{path}.lock")
            if not lock.exists():  # no search has opened it: check before writing the lock beside it
                _check_optuna_file(path)
            with filelock.FileLock(str(lock)):
                _check_optuna_file(path)
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


def _check_out(root: Path, url: str) -> None:
    """Refuse an ``out`` that is a file, or a folder of other files. A search's folder holds
    ``search.json``, or (made before the mark, or by a worker that has not written it yet) only
    what searches write: the SQLite database of ``url`` when it lies there (and its journal and
    lock), ``study.db``, and study folders of ``trial-NNNN`` folders."""
    from sqlalchemy.engine import make_url

    if root.exists() and not root.is_dir():
        raise ConfigError(f"--out {root} is a file; give a folder for the search (a new one, or a search's to "
                          "add trials to it).")
    if not root.is_dir() or (root / MARK).is_file():
        return
    database = make_url(url).database if url.startswith("sqlite") else None
    ours = tuple(n for n in (MARK, DEFAULT_DB, database and Path(database).name) if n)

    def searchs(p: Path) -> bool:
        if p.name.startswith(ours) and p.is_file():
            return True
        return p.is_dir() and not p.is_symlink() and all(c.name.startswith("trial-") for c in p.iterdir())

    stray = sorted(p.name for p in root.iterdir() if not searchs(p))
    if stray:
        raise ConfigError(f"--out {root} holds {stray[0]!r} and no {MARK}: it is not a search; give a new or "
                          "empty folder, or a search's.")


def _check_optuna_file(path: Path) -> None:
    """Refuse an existing, non-empty SQLite ``path`` that holds no Optuna study tables."""
    import sqlite3

    if not path.is_file() or path.stat().st_size == 0:
        return
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error:
        tables = set()
    if not {"studies", "version_info"} <= tables:
        raise ConfigError(f"{path} exists and is not an Optuna study database; it is left alone: give another "
                          "--out (or --storage).")


def _claim(study, identity: dict[str, Any], where: str) -> None:
    """Record ``identity`` on ``study`` (a new one, or one made before studies kept it), or refuse
    a study of another configuration, naming what differs. Read back after writing, so that of
    two workers that create a study at once with different configurations, one is refused."""
    identity = json.loads(json.dumps(identity))
    if IDENTITY_ATTR not in study.user_attrs:
        study.set_user_attr(IDENTITY_ATTR, identity)
    existing = study.user_attrs[IDENTITY_ATTR]
    if existing != identity:
        keys = sorted(k for k in identity if not isinstance(existing, dict) or existing.get(k) != identity[k])
        raise ConfigError(f"{where} is a search of another configuration (it differs in: {', '.join(keys)}); rerun "
                          "with the same configuration, or give another --study-name or --out.")


def _fail_stale(optuna, study, folder: Path) -> None:
    """Mark failed each RUNNING trial whose worker (``host:pid``) was a process of this machine that
    has ended (a killed search), enqueue its parameters again, so that the next trial runs them,
    and remove its partial folder when the search had created it (its ``directory`` attribute).

    Workers of other machines cannot be checked: their trials are left as they are.
    """
    host, namespace = socket.gethostname(), _pid_namespace()
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        name, _, pid = str(trial.user_attrs.get("worker", "")).rpartition(":")
        same = name == host and namespace is not None and trial.user_attrs.get("pid_namespace") == namespace
        if not same or not pid.isdigit() or _alive(int(pid)):  # containers may share a host name, not pids
            continue
        try:
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        except (ValueError, RuntimeError):  # another worker failed it first
            continue
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
        directory = folder / f"trial-{trial.number:04d}"
        if trial.user_attrs.get("directory") == str(directory) and directory.is_dir():
            shutil.rmtree(directory)


def _pid_namespace() -> str | None:
    """This process's pid namespace (with the boot it belongs to), so that a pid is compared only
    with pids of the same namespace; ``None`` where Linux's /proc does not say."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{boot}:{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _attributes(trial, record: dict[str, Any], objective: str) -> None:
    """What a trial measured, as user attributes: reason, test accuracy, PSNR, NMI."""
    if record["status"] != "done":
        trial.set_user_attr("reason", record.get("reason"))
        return
    model = record["models"][objective]
    trial.set_user_attr("test_accuracy", model["test_mean"])
    trial.set_user_attr("nmi", record["nmi"]["train"])
    for key, value in record["fit"]["metrics"]["train"].items():
        trial.set_user_attr(key, value)


def _best(study):
    """The best complete trial, or ``None`` when no trial has completed."""
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return max(complete, key=lambda t: t.value) if complete else None
