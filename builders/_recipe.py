"""A recipe: everything that defines one neural dataset, with typed overrides."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from arena import catalog
from arena.errors import ConfigError
from arena.fit import FitConfig
from arena.fit._config import MAX_SEED, MAX_STEPS

# keys of a recipe that `--set key=value` may change (hyperparameters of the field are added)
_FIT_KEYS = ("steps", "lr", "optimizer", "weight_decay", "init", "seed", "shard_size", "points_per_step")
# each architecture's hyperparameters, at arena.fields' defaults: `--set arch=NAME` switches a
# recipe's field to NAME with these, keeping the recipe's values of the keys both share (hidden,
# layers); `--set` then takes NAME's keys
ARCH_HPARAMS: dict[str, dict[str, Any]] = {
    "siren": {"hidden": 32, "layers": 3, "omega0": 30.0},
    "rffnet": {"hidden": 32, "layers": 3, "std": 10.0, "learnable_embedding": False},
    "mfn": {"hidden": 32, "filters": 4, "input_scale": 16.0},
}


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One neural dataset: its source, its NeF, its published fit settings and its fixed splits.

    A published recipe's ``name``, ``title``, ``description`` and ``sizes`` are the dataset's
    facts in :mod:`arena.catalog` (:func:`published`), which the registry and the importer
    read too. ``splits(source)`` returns ``{"train": positions, "val": ..., "test": ...}`` (positions in
    the source), the dataset's fixed split (docs/design.md §4), whose sizes on the full official
    source are ``sizes`` (a build from a subset or stand-in gets another version). ``kind`` is
    ``"image"`` or ``"shape"``; ``evidence`` is the dataset card's paragraph on why these settings.
    """

    name: str
    title: str
    version: str
    source: str
    license: str
    description: str
    evidence: str
    splits: Callable[[Any], dict[str, np.ndarray]]
    kind: str = "image"
    sizes: Mapping[str, int] = dataclasses.field(default_factory=dict)
    arch: str = "siren"
    hparams: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # the fit settings' defaults are arena.fit's (FitConfig), so the two cannot drift
    steps: int = FitConfig.steps
    lr: float = FitConfig.lr
    optimizer: str = FitConfig.optimizer
    weight_decay: float = FitConfig.weight_decay
    init: str = FitConfig.init
    seed: int = FitConfig.seed
    shard_size: int = 10_000
    points_per_step: int = 0
    citation: str = ""

    def settings(self) -> dict[str, Any]:
        """Every overridable setting and its value (``points_per_step`` for shapes only)."""
        keys = [k for k in _FIT_KEYS if self.kind == "shape" or k != "points_per_step"]
        return {"arch": self.arch, **dict(self.hparams), **{k: getattr(self, k) for k in keys}}

    def with_overrides(self, overrides: Mapping[str, str]) -> Recipe:
        """A copy with ``overrides`` (strings from the command line) applied, typed like the originals.

        ``arch`` is applied first (see :data:`ARCH_HPARAMS`), so the other keys are the new
        architecture's.
        """
        base = self._with_arch(overrides["arch"]) if "arch" in overrides else self
        current = base.settings()
        hparams, fit = dict(base.hparams), {}
        for key, raw in overrides.items():
            if key == "arch":
                continue
            if key not in current:
                raise ConfigError(
                    f"Unknown setting '{key}' for {self.name} with arch={base.arch}; "
                    f"settable: {', '.join(sorted(current))}."
                )
            value = _parse(key, raw, current[key])
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"--set {key}={raw}: expected a finite number.")
            (hparams if key in base.hparams else fit)[key] = value
        changed = dataclasses.replace(base, hparams=hparams, **fit)
        check_runnable(changed)
        return changed

    def _with_arch(self, arch: str) -> Recipe:
        if arch not in ARCH_HPARAMS:
            raise ConfigError(f"--set arch={arch}: unknown architecture; choose one of {', '.join(ARCH_HPARAMS)}.")
        if arch == self.arch:
            return self
        hparams = {k: self.hparams.get(k, v) for k, v in ARCH_HPARAMS[arch].items()}
        return dataclasses.replace(self, arch=arch, hparams=hparams)


# The largest values --set may give (past them a build overflows, or allocates without bound);
# steps and seed have the library's limits (MAX_STEPS, MAX_SEED of arena.fit._config):
MAX_DEPTH = 1024  # layers or filters of one NeF
MAX_PARAMS = 2**24  # parameters of one NeF (64 MiB as float32; the published ones have thousands)


def check_runnable(recipe: Recipe) -> None:
    """Refuse a recipe whose settings no build can run, in one line naming the setting and the
    valid range: ``steps`` outside 1 .. :data:`MAX_STEPS`, a ``seed`` outside 0 .. :data:`MAX_SEED`,
    a non-positive ``omega0``, or a NeF of more than :data:`MAX_DEPTH` layers or filters or
    :data:`MAX_PARAMS` parameters."""
    from arena import nef

    if not 1 <= recipe.steps <= MAX_STEPS:
        raise ConfigError(f"--set steps={recipe.steps}: steps must be 1 to {MAX_STEPS}.")
    if not 0 <= recipe.seed <= MAX_SEED:
        raise ConfigError(f"--set seed={recipe.seed}: a seed is 0 to {MAX_SEED} (JAX keeps 32 bits of it, so "
                          "others would repeat one of these).")
    if "omega0" in recipe.hparams and not recipe.hparams["omega0"] > 0:
        raise ConfigError(f"--set omega0={recipe.hparams['omega0']}: a SIREN's frequency omega0 must be > 0.")
    for key in ("layers", "filters"):
        if recipe.hparams.get(key, 0) > MAX_DEPTH:
            raise ConfigError(f"--set {key}={recipe.hparams[key]}: at most {MAX_DEPTH}.")
    in_dim, out_dim = (2, 3) if recipe.kind == "image" else (3, 1)  # the most an image or a shape has
    try:
        count = nef.get(recipe.arch).layout(dict(recipe.hparams), in_dim, out_dim).num_params
    except ConfigError as exc:  # the dims are this check's stand-ins, not the source's: not shown
        raise ConfigError(re.sub(r",? (in|out)_dim=\d+", "", str(exc))) from None
    if count > MAX_PARAMS:
        shown = ", ".join(f"{k}={v}" for k, v in recipe.hparams.items())
        raise ConfigError(f"A NeF with {shown} has {count} parameters; --set allows at most {MAX_PARAMS}. "
                          "Lower hidden or layers.")


def published(name: str) -> dict[str, Any]:
    """The catalog's facts of dataset ``name`` as :class:`Recipe` fields: name, title,
    description, sizes (:mod:`arena.catalog`, the one place they are written)."""
    facts = catalog.DATASETS[name]
    return {"name": facts.name, "title": facts.title, "description": facts.description, "sizes": facts.sizes}


def parse_assignments(items: list[str]) -> dict[str, str]:
    """``["hidden=16", "steps=200"]`` -> ``{"hidden": "16", "steps": "200"}``."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set takes key=value; got '{item}'.")
        out[key.strip()] = value.strip()
    return out


def version_with(version: str, changes: Mapping[str, Any]) -> str:
    """The version string of a build with ``changes`` (overrides, limit): semver build metadata."""
    if not changes:
        return version
    digest = hashlib.sha256(json.dumps(dict(sorted(changes.items())), sort_keys=True).encode()).hexdigest()
    return f"{version}+custom.{digest[:10]}"


def _parse(key: str, raw: str, like: Any):
    try:
        if isinstance(like, bool):
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return raw.lower() in ("true", "1")
        if isinstance(like, int):
            return int(raw)
        if isinstance(like, float):
            return float(raw)
    except ValueError:
        kind = {bool: "true or false", int: "an integer", float: "a number"}[type(like)]
        raise ConfigError(f"--set {key}={raw}: expected {kind}.") from None
    return raw
