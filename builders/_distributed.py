"""A build spread over several processes or hosts under ``jax.distributed`` (one per GPU).

Contract:

- **Launch.** :func:`launch_settings` reads ``--coordinator HOST:PORT``, ``--num-processes N``
  and ``--process-id I`` (else ``$ARENA_COORDINATOR``, ``$ARENA_NUM_PROCESSES``,
  ``$ARENA_PROCESS_ID``) and refuses bad or partial values in one line; :func:`initialize` joins
  the processes (``jax.distributed.initialize``). Only the command calls it, never an import.
  Process 0 runs the coordination service on the coordinator's port.
- **Whole shards.** Process 0 decides what is left to do: whether the dataset is already
  complete, the block size every shard is fit with (its own), and the shards not yet complete
  in ``--out``. Process ``i`` fits and writes the shards at positions ``j`` of that list with
  ``j % N == i``; a shard is never cut between processes, so each file is written by one
  process exactly as a one-process build writes it.
- **The manifest last.** Each process publishes the size and sha256 of every shard it wrote,
  then that it is done. Process 0, once all are done, reads every shard the others wrote back
  from ``--out`` and checks it against what its writer published (a mismatch or a missing file means ``--out`` is
  not one shared directory), then writes the card and ``arena.json``; the others wait for it.
  The output is byte-identical to a one-process build with the same devices per process.
- **Failures.** A process that fails publishes why (under the command, whatever stops it once
  it joined); the others stop after their current shard, or while they wait, with one line
  naming it. A process that dies makes JAX stop the others (its heartbeat timeout). Either way
  the complete shards stay: the same command, rerun on every process (or as one process),
  resumes from them.

The processes talk through the key-value store of JAX's distributed runtime (the one
``jax.experimental.multihost_utils`` uses), so no collective runs on any device.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Callable

from arena import format as fmt
from arena import hub
from arena._progress import Display
from arena.errors import ConfigError

ENV = {"--coordinator": "ARENA_COORDINATOR", "--num-processes": "ARENA_NUM_PROCESSES",
       "--process-id": "ARENA_PROCESS_ID"}
_POLL_MS = 1000  # how often a waiting process looks for another's failure
_FAILED = "arena-build/failed/"  # a failure stops every later build of the session too
_builds = itertools.count()  # one key namespace per build of this process; all processes agree


@dataclasses.dataclass(frozen=True)
class Launch:
    """How this process joins a build of ``num_processes`` processes (``num_processes > 1``)."""

    coordinator: str
    num_processes: int
    process_id: int

    @property
    def leads(self) -> bool:
        return self.process_id == 0


def launch_settings(coordinator: str | None = None, num_processes: str | None = None,
                    process_id: str | None = None, environ=None) -> Launch | None:
    """The validated launch options (each else its ``ENV`` variable), or ``None`` for a build in
    one process (nothing given, or ``--num-processes 1``)."""
    env = os.environ if environ is None else environ
    raw = {}
    for option, value in zip(ENV, (coordinator, num_processes, process_id)):
        where = option
        if value is None or not str(value).strip():
            value, where = env.get(ENV[option]), f"${ENV[option]}"
        raw[option] = None if value is None or not str(value).strip() else (str(value).strip(), where)
    if not any(raw.values()):
        return None
    if raw["--num-processes"] is None:
        given = " and ".join(f"{where} {value}" for value, where in filter(None, raw.values()))
        raise ConfigError(f"Got {given} but no --num-processes N (or ${ENV['--num-processes']}): give how "
                          "many processes build together.")
    count = _integer(*raw["--num-processes"], "the number of processes that build together, 1 or more")
    if count < 1:
        raise ConfigError(f"{raw['--num-processes'][1]} {count} is not 1 or more: give the number of "
                          "processes that build together.")
    index = 0
    if raw["--process-id"] is not None:
        index = _integer(*raw["--process-id"], f"this process's number, 0 to {count - 1}")
        if not 0 <= index < count:
            raise ConfigError(f"{raw['--process-id'][1]} {index} is out of range for {count} processes: give "
                              f"each process its own number from 0 to {count - 1}.")
    if count == 1:
        return None
    missing = [f"{option} (or ${ENV[option]})" for option in ("--coordinator", "--process-id")
               if raw[option] is None]
    if missing:
        raise ConfigError(f"A build on {count} processes also needs {' and '.join(missing)}: process 0's "
                          "HOST:PORT, and this process's number from 0 to "
                          f"{count - 1}, different on each.")
    address, where = raw["--coordinator"]
    host, _, port = address.rpartition(":")
    if not host or re.search(r"\s", host) or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(f"{where} {address!r} is not HOST:PORT (e.g. node001:29500): give the host "
                          "process 0 runs on and a free port, the same on every process.")
    return Launch(address, count, index)


def _integer(value: str, where: str, meaning: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{where} {value!r} is not a whole number: give {meaning}.") from None


def initialize(launch: Launch, *, timeout_s: int = 300) -> None:
    """Join the build's processes (``jax.distributed.initialize``); waits up to ``timeout_s``
    for all of them. Call it before anything uses JAX."""
    import jax

    try:
        jax.distributed.initialize(launch.coordinator, launch.num_processes, launch.process_id,
                                   initialization_timeout=timeout_s)
        # the backends exchange their devices' topology now, while every process is here: a
        # process that stops later (a bad argument) must not leave the others waiting on it
        jax.local_devices()
    except Exception as exc:  # JAX raises RuntimeError, ValueError or its own runtime errors
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"Process {launch.process_id} could not join the build's {launch.num_processes} processes "
            f"at --coordinator {launch.coordinator} ({reason}). Start every process within "
            f"{timeout_s} s, process 0 on that host with a free port, and give each the same "
            "--coordinator and --num-processes."
        ) from None


class PeerStopped(ConfigError):
    """Another process of the build failed; it said why."""


class Group:
    """The processes building one dataset together, as this process sees them.

    A group of one (:func:`group` outside ``jax.distributed``) does everything itself and talks
    to no one; its methods then cost nothing.
    """

    def __init__(self, index: int = 0, count: int = 1, client: Any = None, prefix: str = ""):
        self.index, self.count, self._client, self._prefix = index, count, client, prefix
        self._todo: list[str] = []

    @property
    def leads(self) -> bool:
        """Whether this is process 0: it decides, verifies and writes the manifest."""
        return self.index == 0

    def first(self, key: str, compute: Callable[[], Any]) -> Any:
        """Process 0's ``compute()`` (JSON), on every process."""
        if self.count == 1:
            return compute()
        if self.leads:
            value = compute()
            self._set(key, json.dumps(value))
            return value
        return json.loads(self._wait(key))

    def assign(self, todo: list[tuple]) -> list[tuple]:
        """This process's share of process 0's ``todo`` (``(split, shard name, positions)``; the
        others list every shard): whole shards, every ``count``-th from position ``index``."""
        if self.count == 1:
            return todo
        self._todo = self.first("todo", lambda: [name for _, name, _ in todo])
        by_name = {item[1]: item for item in todo}
        unknown = [name for name in self._todo if name not in by_name]
        if unknown:
            raise ConfigError(f"Process 0 builds shard {unknown[0]}, which process {self.index} does not "
                              "plan: give every process the same arguments.")
        return [by_name[name] for j, name in enumerate(self._todo) if j % self.count == self.index]

    def wrote(self, root: Path, name: str) -> None:
        """Publish the size and sha256 of shard ``name``, just written; stop if a peer failed."""
        if self.count == 1:
            return
        entry = fmt.file_entry(root, name)
        self._set(f"shard/{name}", json.dumps({"bytes": entry["bytes"], "sha256": entry["sha256"]}))
        self._check()

    def gather(self, root: Path) -> bool:
        """Whether this process goes on to write the manifest: process 0 does, once every process
        is done and every shard it did not write itself is in ``root`` as its writer wrote it."""
        if self.count == 1:
            return True
        if not self.leads:
            self._set(f"done/{self.index}", "ok")
            return False
        for other in range(1, self.count):
            self._wait(f"done/{other}")
        for j, name in enumerate(self._todo):
            if j % self.count:
                check_written(root, name, json.loads(self._wait(f"shard/{name}")), j % self.count)
        return True

    def end(self) -> None:
        """Process 0: say the manifest is written; the others: wait until it is."""
        if self.count == 1:
            return
        if self.leads:
            self._set("end", "ok")
        else:
            self._wait("end")

    def fail(self, exc: BaseException) -> None:
        """Tell the others that this process stops, and why (not when a peer stopped it)."""
        if self.count == 1 or isinstance(exc, PeerStopped):
            return
        lines = str(exc).strip().splitlines()
        why = lines[0] if lines and isinstance(exc, ConfigError) else f"{type(exc).__name__}: {' '.join(lines)}"
        try:
            self._client.key_value_set(f"{_FAILED}{self.index}", why, allow_overwrite=True)
        except Exception:  # the coordinator is gone: JAX stops the others itself
            pass

    def _set(self, key: str, value: str) -> None:
        try:
            self._client.key_value_set(self._prefix + key, value, allow_overwrite=True)
        except Exception as exc:
            raise self._lost(exc) from None

    def _check(self) -> None:
        try:
            failed = sorted(self._client.key_value_dir_get(_FAILED))
        except Exception as exc:
            raise self._lost(exc) from None
        if failed:
            key, why = failed[0]
            why = why.rstrip() if why.rstrip().endswith(".") else f"{why.rstrip()}."
            raise PeerStopped(f"Process {key.rsplit('/', 1)[1]} of {self.count} stopped the build: {why} "
                              "A rerun of every process resumes from the complete shards.")

    def _wait(self, key: str) -> str:
        while True:
            try:
                return self._client.blocking_key_value_get(self._prefix + key, _POLL_MS)
            except Exception as exc:
                if "DEADLINE_EXCEEDED" not in str(exc):
                    raise self._lost(exc) from None
            self._check()

    def _lost(self, exc: Exception) -> ConfigError:
        """The one line for a key-value store that no longer answers (process 0 is gone)."""
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return ConfigError(f"Process {self.index} lost the build's coordinator ({first}); rerun every "
                           "process: they resume from the complete shards.")


def group() -> Group:
    """The processes of the build this process starts now: all of ``jax.distributed``'s when it
    runs several, else this one alone."""
    jax = sys.modules.get("jax")
    if jax is None or not jax.distributed.is_initialized():
        return Group()
    from jax._src import distributed  # the runtime's key-value store has no public handle

    state = distributed.global_state
    if state.num_processes is None or state.num_processes < 2:
        return Group()
    return Group(state.process_id, state.num_processes, state.client, f"arena-build/{next(_builds)}/")


def stop_others(exc: BaseException) -> None:
    """Tell the other processes of a ``jax.distributed`` session that this one stops, and why."""
    group().fail(exc)


def check_written(root: Path, name: str, claimed: dict[str, Any], writer: int) -> None:
    """Refuse shard ``name`` unless ``root`` holds it with the size and sha256 its writer published."""
    fix = ("--out must be one directory that every process shares (a shared filesystem); rerun every "
           "process with such an --out")
    try:
        entry = fmt.file_entry(root, name)
    except OSError:
        raise ConfigError(f"Shard {name}, written by process {writer}, is not in {root} as process 0 sees "
                          f"it: {fix}.") from None
    if (entry["bytes"], entry["sha256"]) != (claimed["bytes"], claimed["sha256"]):
        raise ConfigError(f"Shard {name} in {root} differs from what process {writer} wrote (sha256 "
                          f"{entry['sha256'][:12]}, not {claimed['sha256'][:12]}): {fix}.")


def make(p, source, revision: str, progress: bool, members: Group, t0: float):
    """:func:`arena_builders._build.make` for a group of processes (the module docstring)."""
    from arena_builders._build import Built, _complete, _fit_and_write

    def built(fresh: bool):
        return Built(p.out, fmt.Manifest.load(p.out), fresh, time.perf_counter() - t0)

    dataset = f"{p.recipe.name} {p.version}"
    try:
        if not members.leads:
            start = members.first("start", lambda: None)
            if start["dataset"] != dataset:
                raise ConfigError(f"Process 0 builds {start['dataset']}, process {members.index} {dataset}: "
                                  "give every process the same arguments.")
            if start["complete"]:
                return built(False)
            with Display(progress) as bars:
                _fit_and_write(p, source, revision, bars, members)
            members.end()
            return built(True)
        if _complete(p, source) is None:
            busy = (f"Another arena-build is writing {p.out} now; wait for it to finish (a rerun then resumes "
                    "from its shards), or build into another --out.")
            with hub.lock(f"build {p.out.resolve()}", busy=busy):
                if _complete(p, source) is None:
                    members.first("start", lambda: {"dataset": dataset, "complete": False})
                    with Display(progress) as bars:
                        _fit_and_write(p, source, revision, bars, members)
                    members.end()
                    return built(True)
        members.first("start", lambda: {"dataset": dataset, "complete": True})
        return built(False)
    except BaseException as exc:
        members.fail(exc)
        raise
