"""Model files: the user's side of the evaluation contract.

A model file is a Python file (or a baseline, ``baseline:NAME``, from :mod:`arena.baselines`)
that defines::

    INPUT = "flat"            # optional: "flat" (default), "layers" or "graph"
    HPARAMS = {"epochs": 20}  # optional: overrides of arena.eval.protocol.Settings
    def build_model(spec):    # required: spec is an arena.eval.spec.ModelSpec
        return torch.nn.Module(...)  # forward(batch) -> logits (B, spec.num_classes)

Everything that can go wrong with one is reported as one :class:`ModelFileError` line naming
the file and the problem; its code runs inside :func:`contained`, so that not even
``sys.exit()`` or a ``KeyboardInterrupt`` of its own can end the harness silently.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import importlib.util
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from arena.errors import ArenaError, ModelFileError
from arena.eval.spec import INPUTS

BASELINE_PREFIX = "baseline:"


@dataclasses.dataclass(frozen=True)
class ModelFile:
    """A loaded model file.

    Attributes:
        name: ``baseline:mlp`` or the file's stem.
        path: the file that was executed.
        sha256: sha256 of the file's bytes (recorded in the result).
        input: the batch kind ``forward`` receives.
        hparams: the file's ``HPARAMS`` (not yet checked against the protocol's bounds).
        build_model: the file's factory.
    """

    name: str
    path: Path
    sha256: str
    input: str
    hparams: Mapping[str, Any]
    build_model: Callable


def load(ref: str | Path) -> ModelFile:
    """Load ``baseline:NAME`` or a path to a ``.py`` file and check its top-level contract."""
    ref = check(ref)
    if ref.startswith(BASELINE_PREFIX):
        module = importlib.import_module(f"arena.baselines.{ref[len(BASELINE_PREFIX):]}")
        path = Path(module.__file__)
        label = ref
    else:
        path = Path(ref)
        module = _execute(path)
        label = path.stem
    build = getattr(module, "build_model", None)
    if not callable(build):
        raise ModelFileError(f"{path} defines no build_model(spec) function; add one that returns a torch.nn.Module.")
    kind = getattr(module, "INPUT", "flat")
    if kind not in INPUTS:
        raise ModelFileError(f"{path}: INPUT is {kind!r}; use one of {list(INPUTS)}.")
    hparams = getattr(module, "HPARAMS", {})
    if not isinstance(hparams, Mapping):
        raise ModelFileError(f"{path}: HPARAMS must be a dict, not {type(hparams).__name__}.")
    return ModelFile(label, path, hashlib.sha256(path.read_bytes()).hexdigest(), kind, dict(hparams), build)


def baselines() -> list[str]:
    """Names of the reference baselines shipped in :mod:`arena.baselines`."""
    from arena import baselines as package

    return list(package.NAMES)


def check(ref: str | Path) -> str:
    """Check, without running it, that ``ref`` names a known baseline or an existing ``.py`` file.

    Returns:
        ``ref`` as a string.
    """
    ref = str(ref)
    if ref.startswith(BASELINE_PREFIX):
        name, known = ref[len(BASELINE_PREFIX):], baselines()
        if name not in known:
            raise ModelFileError(f"Unknown baseline {name!r}; choose one of {known}.")
        return ref
    path = Path(ref)
    hint = "pass a .py file defining build_model(spec), or a baseline such as 'baseline:mlp'."
    if path.is_dir():
        raise ModelFileError(f"Model file '{ref}' is a directory; {hint}")
    if not path.is_file():
        raise ModelFileError(f"Model file '{ref}' does not exist; {hint}")
    if path.suffix != ".py":
        raise ModelFileError(f"Model file '{ref}' is not a .py file; {hint}")
    return ref


@contextlib.contextmanager
def contained(path: Path) -> Iterator[None]:
    """Run a model file's code so that it cannot end the harness, silently or otherwise.

    Exceptions pass through: the harness reports them where it knows what was being done. Every
    other ``BaseException`` (``SystemExit`` from ``sys.exit()``, ``GeneratorExit``, a
    ``KeyboardInterrupt`` the code raised itself, ...) becomes a :class:`ModelFileError` naming
    the file and what it raised. A real Ctrl-C, a SIGINT delivered to the process meanwhile,
    still raises ``KeyboardInterrupt`` and stops the run.
    """
    with _sigint_recorder() as interrupted:
        try:
            yield
        except Exception:
            raise
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt) and interrupted():
                raise
            raise ModelFileError(
                f"{path} raised {describe(exc, path)}, which would end the evaluation; a model file "
                "must return or raise an ordinary exception."
            ) from exc


@contextlib.contextmanager
def _sigint_recorder() -> Iterator[Callable[[], bool]]:
    """Yield a function saying whether a SIGINT reached the process inside the block."""
    previous = signal.getsignal(signal.SIGINT)
    in_main = threading.current_thread() is threading.main_thread()
    if not in_main or previous in (signal.SIG_IGN, signal.SIG_DFL):
        # no Ctrl-C can raise KeyboardInterrupt here: it goes to the main thread, is ignored or kills
        yield lambda: False
        return
    if previous is None:  # a handler installed outside Python: it cannot be wrapped, so trust it
        yield lambda: True
        return
    received: list[int] = []

    def record(signum, frame):
        received.append(signum)
        previous(signum, frame)

    signal.signal(signal.SIGINT, record)
    try:
        yield lambda: bool(received)
    finally:
        signal.signal(signal.SIGINT, previous)


def _execute(path: Path) -> ModuleType:
    module_name = f"arena_model_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ModelFileError(f"{path} cannot be imported as a Python module; give a .py file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        with contained(path):
            spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(module_name, None)
        if isinstance(exc, ArenaError) or not isinstance(exc, Exception):
            raise
        raise ModelFileError(f"{path} failed to import: {describe(exc, path)}.") from exc
    return module


def describe(exc: BaseException, path: Path | None = None) -> str:
    """``Type: message (file:line)`` of an exception raised by user code, for one-line errors."""
    where = ""
    frames = traceback.extract_tb(exc.__traceback__)
    if path is not None:
        frames = [f for f in frames if Path(f.filename) == Path(path)] or frames
    if frames and not isinstance(exc, SyntaxError):  # a SyntaxError's message names its file and line
        where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})"
    try:
        text = str(exc).strip()
    except Exception:  # noqa: BLE001 - user code: an exception whose __str__ raises
        text = "(its message could not be printed)"
    message = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {message}{where}" if message else f"{type(exc).__name__}{where}"
