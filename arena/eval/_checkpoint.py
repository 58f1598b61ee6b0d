"""The state of an unfinished evaluation run, so that the same command continues it.

A run is named by everything that fixes its numbers: the model file's sha256, the dataset's
manifest sha256, the protocol settings, the number of seeds and the device type (not the thread
count, which moves only float rounding). Its folder ``<root>/<dataset>/<model>-<key>/`` holds:

- ``state.pt``: the finished seeds' records, the torch/numpy/package versions and, for the seed
  in progress, the model, optimizer and schedule states, the best checkpoint so far, the history
  and torch's random state at the end of an epoch, written atomically (``torch.save`` to a temporary file, then a rename) and read
  back with ``weights_only=True``, so a state file can carry tensors and plain values only;
- ``lock``: held (``flock``) by the process running it, so a second copy of the same command
  stops with one line instead of writing over the first one's state.

Continuing from a state gives the numbers the uninterrupted run would have given (the shuffles
and augmentations are seeded by ``(seed, epoch)`` and torch's random state is restored), on the
same device and thread count; only the recorded seconds differ. A state made with other package
versions is not continued. The folder is removed, file by file, once the result it led to has
been written, and when a run ends before anything was saved; the harness also forgets the state
of a run that failed by the model's or the data's fault (a rerun would fail again), but not of
one that ran out of memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from arena.errors import ConfigError

FORMAT = "arena-run-state/1"
FILES = ("state.pt", "lock")


def default_root() -> Path:
    """``$ARENA_HOME/runs``: where ``arena-eval`` and the benchmarks keep their runs' states."""
    from arena import hub

    return hub.home() / "runs"


def _plain(name: Any, fallback: str) -> str:
    """``name`` as one safe path component."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)).strip("._") or fallback


def run_dir(root: str | os.PathLike, document: Mapping[str, Any]) -> Path:
    """``root/<dataset>/<model>-<key>``: where the run that ``document`` describes keeps its state.

    ``document`` is the run's ``arena-result/1`` document, or the part of it known before training
    (``model``, ``dataset``, ``protocol`` and ``environment.device``).
    """
    named = {
        "model": document["model"]["sha256"],
        "dataset": document["dataset"]["manifest_sha256"],
        "protocol": document["protocol"],
        "device": str(document["environment"]["device"]).split(" ")[0],  # "cpu" or "cuda"
    }
    key = hashlib.sha256(json.dumps(named, sort_keys=True).encode()).hexdigest()[:16]
    model, dataset = _plain(document["model"]["name"], "model"), _plain(document["dataset"]["name"], "dataset")
    return Path(root) / dataset / f"{model}-{key}"


class RunState:
    """The state folder of one run, locked for as long as the instance is open."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._lock = None

    def __enter__(self) -> RunState:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"Cannot create the run's checkpoint folder {self.folder}: "
                              f"{exc.strerror or exc}; set ARENA_HOME to a writable folder.") from None
        try:
            import fcntl
        except ImportError:  # no flock on this platform: run unlocked
            return self
        path = self.folder / "lock"
        for _ in range(5):  # a lock file another process unlinked after we opened it locks nothing
            lock = open(path, "a+")  # noqa: SIM115 - held until __exit__
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                lock.close()
                raise ConfigError(f"Another arena-eval is running this same run (its checkpoint folder "
                                  f"{self.folder} is locked); wait for it to finish.") from None
            try:
                if os.fstat(lock.fileno()).st_ino == os.stat(path).st_ino:
                    self._lock = lock
                    for stale in self.folder.glob(".state.pt.*.tmp"):  # a killed save's; none is being written now
                        stale.unlink(missing_ok=True)
                    return self
            except FileNotFoundError:
                pass
            lock.close()
            path.parent.mkdir(parents=True, exist_ok=True)
        raise ConfigError(f"Cannot lock the run's checkpoint folder {self.folder}; try again.")

    def __exit__(self, *exc) -> None:
        if not (self.folder / "state.pt").exists():  # nothing to continue: leave nothing behind,
            self.discard()  # the lock file unlinked while it is still held
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None when there is none; a damaged one is one line, not a crash."""
        path = self.folder / "state.pt"
        if not path.exists():
            return None
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - a truncated or foreign file
            raise ConfigError(f"The run's checkpoint {path} cannot be read ({type(exc).__name__}); "
                              "pass --restart to start the run over.") from None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise ConfigError(f"The run's checkpoint {path} is not an {FORMAT} file; "
                              "pass --restart to start the run over.")
        return state

    def check_versions(self, state: dict[str, Any], versions: dict[str, str]) -> None:
        """Refuse to continue a state made with other package versions: the result would mix them."""
        if "versions" not in state:  # written before states recorded them: nothing to compare
            return
        saved = dict(state["versions"])
        differ = [f"{name} {saved.get(name)} (now {version})" for name, version in versions.items()
                  if saved.get(name) != version]
        if differ:
            raise ConfigError(f"The run's checkpoint {self.folder / 'state.pt'} was made with {', '.join(differ)}; "
                              "continue it with those versions, or pass --restart to start over.")

    def save(self, state: dict[str, Any]) -> None:
        """Write ``state`` atomically: a reader sees the previous state or this one, never a mix."""
        path = self.folder / "state.pt"
        tmp = path.with_name(f".state.pt.{os.getpid()}.tmp")
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            torch.save({"format": FORMAT, **state}, tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def discard_state(self) -> None:
        """Forget the saved state (``--restart``); the folder and its lock stay."""
        (self.folder / "state.pt").unlink(missing_ok=True)

    def discard(self) -> None:
        """Remove the files this module writes, then the folder if nothing else is in it."""
        for name in FILES:
            (self.folder / name).unlink(missing_ok=True)
        for folder in (self.folder, self.folder.parent):
            try:
                folder.rmdir()
            except OSError:
                break
