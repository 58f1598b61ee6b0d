"""Model files: the user's side of the evaluation contract.

A model file is a Python file (or a baseline, ``baseline:NAME``, from :mod:`arena.baselines`)
that defines::

    INPUT = "flat"            # optional: "flat" (default), "layers" or "graph"
    HPARAMS = {"epochs": 20}  # optional: overrides of arena.eval.protocol.Settings
    def build_model(spec):    # required: spec is an arena.eval.spec.ModelSpec
        return torch.nn.Module(...)  # forward(batch) -> logits (B, spec.num_classes)

Everything that can go wrong with one is reported as one :class:`ModelFileError` line naming
the file and the problem.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import sys
import traceback
from collections.abc import Callable, Mapping
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
    ref = str(ref)
    if ref.startswith(BASELINE_PREFIX):
        name = ref[len(BASELINE_PREFIX):]
        module, path = _baseline(name), None
        path = Path(module.__file__)
        label = ref
    else:
        path = Path(ref)
        if not path.is_file():
            raise ModelFileError(
                f"Model file '{ref}' does not exist; pass a .py file defining build_model(spec), "
                f"or a baseline such as 'baseline:mlp'."
            )
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


def _baseline(name: str) -> ModuleType:
    known = baselines()
    if name not in known:
        raise ModelFileError(f"Unknown baseline {name!r}; choose one of {known}.")
    return importlib.import_module(f"arena.baselines.{name}")


def _execute(path: Path) -> ModuleType:
    module_name = f"arena_model_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ModelFileError(f"{path} cannot be imported as a Python module; give a .py file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except ArenaError:
        raise
    except BaseException as exc:  # noqa: BLE001 - any failure of user code is reported, not raised
        sys.modules.pop(module_name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise ModelFileError(f"{path} failed to import: {describe(exc, path)}.") from exc
    return module


def describe(exc: BaseException, path: Path | None = None) -> str:
    """``Type: message (file:line)`` of an exception raised by user code, for one-line errors."""
    where = ""
    frames = traceback.extract_tb(exc.__traceback__)
    if path is not None:
        frames = [f for f in frames if Path(f.filename) == Path(path)] or frames
    if frames:
        where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})"
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}{where}" if message else f"{type(exc).__name__}{where}"
