"""What a sweep or a search runs, read from a TOML file or built from flags, checked before any fit.

A sweep's configuration (every key optional unless marked)::

    [dataset]                   # or [[dataset]] tables, one per dataset
    recipe = "digits"           # required: a builder recipe (digits, mnist, cifar10, ...)
    name = "digits"             # the cells' prefix (default: the recipe)
    source = "${ARENA_DATA}/x"  # the raw files ($VARIABLES expanded; default: the builder's)
    train = 2000                # NeFs per split: all three, or none for the whole splits
    val = 500
    test = 1000

    [grid]                      # every combination of the values is a cell
    arch = ["siren", "mfn"]     # any setting `arena-build --set` takes
    init = ["shared", "random"]
    hidden = [16, 32]
    steps = [100, 500]
                                # or [[grid]] tables varying the same settings: the cells are
                                # the union of their products (a cell in two is run once), e.g.
                                # widths at one step count, then step counts at one width

    [settings]                  # fixed settings of every cell
    shard_size = 1000

    [arch_settings.mfn]         # settings of the cells of one architecture (the paper's)
    lr = 5e-3

    [[models]]                  # required: downstream models, evaluated on every cell
    ref = "baseline:mlp"        # required: baseline:NAME or a model file
    name = "mlp"                # its key in the results (default: from ref)
    seeds = 3                   # protocol v1 seeds 0..seeds-1 (default 3)
    epochs = 40                 # HPARAMS overrides (default: the model file's)
    batch_size = 256
    lr = 1e-3
    weight_decay = 1e-2
    only = { arch = ["siren"], hidden = [16, 32] }   # evaluate only on the cells with these settings

    [nmi]
    seed = 0                    # k-means' random state
    n_init = 10                 # k-means restarts

    [search]                    # `arena study search` only
    objective = "mlp"           # the model whose mean val accuracy is maximised (default: the first)
    seed = 0                    # the TPE sampler's seed
    [search.space]              # the fit settings searched
    lr = { low = 1e-5, high = 1e-2, log = true }
    steps = { low = 50, high = 500 }           # integers when both bounds are
    hidden = { choices = [16, 32, 64] }

A cell's settings are ``[settings]``, then its architecture's ``[arch_settings]``, then its grid
values (with no ``arch`` in either, the recipe's architecture's ``[arch_settings]``). Relative
paths (source, model files) are relative to the configuration file; model files are kept as
absolute paths. Every cell's settings, each model's ``only`` values and the datasets' sizes are
checked against the recipes by :func:`check_cells` before anything is fitted, so a typo in the
last cell fails before the first one runs; :func:`check_space` does the same for
``[search.space]``.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import math
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from arena.errors import ArenaError, ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SPLITS = ("train", "val", "test")
_TOP = ("dataset", "grid", "settings", "arch_settings", "models", "nmi", "search")
_DATASET = ("recipe", "name", "source", *SPLITS)
_MODEL = ("ref", "name", "seeds", "epochs", "batch_size", "lr", "weight_decay", "only")
_NMI = ("seed", "n_init")
_SEARCH = ("objective", "seed", "space")
_RANGE = ("low", "high", "log", "choices")
_VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)")


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """One dataset of the grid: a builder recipe, where its raw files are, and NeFs per split.

    ``sizes`` holds ``(split, count)`` for train, val and test (the first ``count`` examples of
    each of the recipe's splits), or nothing for the whole splits.
    """

    recipe: str
    name: str
    source: str | None = None
    sizes: tuple[tuple[str, int], ...] = ()

    def identity(self) -> dict[str, Any]:
        """What makes this dataset's cells what they are (the source's path is not: files move)."""
        return {"recipe": self.recipe, "name": self.name, "sizes": dict(self.sizes)}


@dataclasses.dataclass(frozen=True)
class ModelRun:
    """A downstream model evaluated with protocol v1 (seeds ``0 .. seeds-1``) on every cell, or on
    the cells whose settings take the values in ``only`` (``((setting, (value, ...)), ...)``,
    values as ``arena-build --set`` texts)."""

    ref: str
    name: str
    seeds: int = 3
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    only: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def applies_to(self, settings: Mapping[str, Any]) -> bool:
        """Whether a cell with these (resolved) settings is one this model is evaluated on."""
        return all(k in settings and setting_text(settings[k]) in values for k, values in self.only)

    def identity(self) -> dict[str, Any]:
        """The model as a sweep's or search's identity records it: a model file by its name, not
        its path, so that workers that mount the project elsewhere agree (a file fixed after its
        cells failed is still the sweep's model: ``--retry-failed`` reruns them)."""
        out = dataclasses.asdict(self)
        out["only"] = {k: list(v) for k, v in self.only}
        if not self.ref.startswith("baseline:"):
            out["ref"] = Path(self.ref).name
        return out


@dataclasses.dataclass(frozen=True)
class Param:
    """One searched setting: a float or int range (``log`` for a log-uniform draw) or choices.

    ``where`` names it in messages: ``c.toml: search.space.lr`` or ``--param lr=1e-4:1e-2``.
    """

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple[Any, ...] | None = None
    where: str = dataclasses.field(default="", compare=False)

    def identity(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "where"}
        out["choices"] = None if self.choices is None else list(self.choices)
        return out


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """A whole sweep: datasets x grid, the fixed settings, the models and the NMI settings.

    ``grid`` is ``((setting, (value, ...)), ...)`` in the file's order; values are kept as
    strings, the form ``arena-build --set`` takes. ``grids`` holds every ``[[grid]]`` table when
    the file gives several (``grid`` is then the first); the cells are the union of their products.
    """

    datasets: tuple[DatasetSpec, ...]
    grid: tuple[tuple[str, tuple[str, ...]], ...]
    models: tuple[ModelRun, ...]
    settings: tuple[tuple[str, str], ...] = ()
    arch_settings: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    nmi_seed: int = 0
    nmi_n_init: int = 10
    objective: str | None = None
    search_seed: int = 0
    space: tuple[Param, ...] = ()
    grids: tuple[tuple[tuple[str, tuple[str, ...]], ...], ...] = ()

    def identity(self) -> dict[str, Any]:
        """The parts that define a sweep's cells and results; a sweep directory keeps this."""
        return {
            "datasets": [d.identity() for d in self.datasets],
            "grid": ({k: list(v) for k, v in self.grid} if not self.grids
                     else [{k: list(v) for k, v in g} for g in self.grids]),
            "settings": dict(self.settings),
            "arch_settings": {a: dict(s) for a, s in self.arch_settings},
            "models": [m.identity() for m in self.models],
            "nmi": {"seed": self.nmi_seed, "n_init": self.nmi_n_init},
        }

    def search_identity(self) -> dict[str, Any]:
        """The parts that define a search's trials and their values; a study keeps this.

        The datasets, fixed and per-architecture settings, the objective model, the NMI settings and
        the space; not the sampler's seed (workers may differ in it) nor the other models.
        """
        identity = {k: v for k, v in self.identity().items() if k not in ("grid", "models")}
        return {**identity, "objective": self.model(self.objective or self.models[0].name).identity(),
                "space": [p.identity() for p in self.space]}

    def cells(self) -> list[Cell]:
        """Every cell, datasets outermost, then the grid's axes in order (the last varies fastest).

        Raises :class:`ConfigError` for an empty grid (a search needs none; a sweep does).
        """
        if not self.grid:
            raise ConfigError("The grid is empty: give [grid] (or --grid) at least one setting with a list "
                              "of values, e.g. init = [\"shared\", \"random\"].")
        out, seen = [], set()
        for dataset in self.datasets:
            for grid in self.grids or (self.grid,):
                keys = [k for k, _ in grid]
                for values in itertools.product(*(v for _, v in grid)):
                    cell = self.cell(dataset, dict(zip(keys, values)))
                    if cell.id not in seen:
                        seen.add(cell.id)
                        out.append(cell)
        return out

    def cell(self, dataset: DatasetSpec, values: Mapping[str, str]) -> Cell:
        """The cell of ``dataset`` with the settings ``values`` on top of the fixed ones."""
        import arena_builders

        fixed = dict(self.settings)
        arch = values.get("arch", fixed.get("arch")) or arena_builders.recipe(dataset.recipe).arch
        overrides = {**fixed, **dict(dict(self.arch_settings).get(arch, ())), **values}
        parts = [dataset.name, *(f"{k}={v}" for k, v in values.items())]
        return Cell(id=",".join(parts), dataset=dataset, overrides=tuple(overrides.items()),
                    values=tuple(values.items()))

    def model(self, name: str) -> ModelRun:
        for m in self.models:
            if m.name == name:
                return m
        raise ConfigError(f"No model named '{name}' in [[models]]; the models are: "
                          f"{', '.join(m.name for m in self.models)}.")


@dataclasses.dataclass(frozen=True)
class Cell:
    """One point of the grid: a dataset and the ``arena-build --set`` overrides that make it.

    ``id`` names the cell (and its directory): the dataset's name, then ``key=value`` for each
    grid axis, joined by commas.
    """

    id: str
    dataset: DatasetSpec
    overrides: tuple[tuple[str, str], ...]
    values: tuple[tuple[str, str], ...]

    def identity(self) -> dict[str, Any]:
        return {"dataset": self.dataset.identity(), "overrides": dict(self.overrides)}


def load(path: str | os.PathLike, *, source: str | None = None) -> SweepConfig:
    """Read a sweep configuration from a TOML file (see the module docstring).

    ``source`` replaces every dataset's ``source``. Raises :class:`ConfigError` naming the first
    problem: unreadable TOML, an unknown key, a wrong type, an empty grid, no models.
    """
    path = Path(path)
    return parse(load_toml(path), base=path.parent, where=str(path), source=source)


def load_toml(path: str | os.PathLike) -> dict[str, Any]:
    """The TOML file at ``path`` as a dict (:class:`ConfigError` when missing or malformed)."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, IsADirectoryError):
        raise ConfigError(f"No configuration file at {path}; give a TOML file.") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not a UTF-8 text file; give a TOML configuration.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}.") from None


def parse(data: Mapping[str, Any], *, base: Path = Path("."), where: str = "the configuration",
          source: str | None = None, space: Sequence[Param] | None = None) -> SweepConfig:
    """Build a :class:`SweepConfig` from parsed TOML (or an equivalent dict built from flags).

    ``space`` (from :func:`param`, e.g. ``--param`` flags) replaces ``[search.space]``.
    """
    _known(data, _TOP, where)
    raw_sets = data.get("dataset")
    if raw_sets is None:
        raise ConfigError(f"{where} has no [dataset]; give at least its recipe, e.g. recipe = \"digits\".")
    raw_sets = [raw_sets] if isinstance(raw_sets, Mapping) else raw_sets
    datasets = tuple(_dataset(d, base, f"{where} [dataset]", source) for d in _list(raw_sets, "dataset", where))
    if len({d.name for d in datasets}) != len(datasets):
        raise ConfigError(f"{where}: two datasets share a name; give each [[dataset]] its own name.")
    raw_grid = data.get("grid", {})
    if isinstance(raw_grid, list):
        grids = tuple(_grid(_table(g, "grid", where), where) for g in raw_grid)
        if any([k for k, _ in g] != [k for k, _ in grids[0]] for g in grids):
            raise ConfigError(f"{where}: every [[grid]] table must vary the same settings in the same order "
                              f"(found {' / '.join(', '.join(k for k, _ in g) for g in grids)}); give a "
                              "setting that one table keeps fixed as a one-value list there.")
        grid = grids[0] if grids else ()
    else:
        grids = ()
        grid = _grid(_table(raw_grid, "grid", where), where)
    settings = _settings(_table(data.get("settings", {}), "settings", where), "settings", where)
    arch_raw = _table(data.get("arch_settings", {}), "arch_settings", where)
    arch_settings = tuple((a, tuple(_settings(_table(s, f"arch_settings.{a}", where), f"arch_settings.{a}",
                                              where).items())) for a, s in arch_raw.items())
    for arch in arch_raw:
        _known_arch(arch, f"{where}: [arch_settings.{arch}]")
    models = tuple(_model(m, base, where) for m in _list(data.get("models", []), "models", where))
    if not models:
        raise ConfigError(f"{where} has no [[models]]; add one, e.g. ref = \"baseline:mlp\".")
    if len({m.name for m in models}) != len(models):
        raise ConfigError(f"{where}: two [[models]] share the name; give each its own name = \"...\".")
    nmi = _table(data.get("nmi", {}), "nmi", where)
    _known(nmi, _NMI, f"{where} [nmi]")
    search = _table(data.get("search", {}), "search", where)
    _known(search, _SEARCH, f"{where} [search]")
    if space is None:
        raw_space = _table(search.get("space", {}), "search.space", where)
        space = tuple(param(k, v, f"{where}: search.space.{k}") for k, v in raw_space.items())
    config = SweepConfig(
        datasets=datasets, grid=grid, models=models, settings=tuple(settings.items()),
        arch_settings=arch_settings, nmi_seed=_int(nmi.get("seed", 0), "nmi.seed", where, low=0),
        nmi_n_init=_int(nmi.get("n_init", 10), "nmi.n_init", where, low=1),
        objective=search.get("objective"), search_seed=_int(search.get("seed", 0), "search.seed", where, low=0),
        space=tuple(space), grids=grids if len(grids) > 1 else (),
    )
    if config.objective is not None:
        config.model(config.objective)
    return config


def check_cells(cells: Sequence[Cell], models: Sequence[ModelRun] = ()) -> None:
    """Refuse, before anything is fitted, a cell whose settings its recipe or field cannot take.

    Checks each cell's overrides against its recipe (known key, right type), its field's
    hyperparameters (``arena.fields.make``) and its fit settings (``arena.fit.make_config``);
    each dataset's sizes against its recipe's splits (at most a split's size on the full source,
    train at least one NeF per class); and that each model is a known baseline or an existing
    ``.py`` file whose ``only`` keys are settings of the cells and whose ``only`` values are ones
    some cell could take (a value no cell takes is fine: a narrower grid). Imports JAX.
    """
    from arena.eval import modelfile

    known: set[str] = set()
    for cell in cells:
        try:
            recipe = _checked(cell.dataset.recipe, dict(cell.overrides))
        except ConfigError as exc:
            raise ConfigError(f"cell {cell.id}: {exc}") from None
        known |= set(recipe.settings())
    for dataset in dict.fromkeys(cell.dataset for cell in cells):
        _check_sizes(dataset)
    for model in models:
        try:
            modelfile.check(model.ref)
        except ArenaError as exc:
            raise ConfigError(f"model {model.name}: {exc}") from None
        for key, values in model.only:
            if key not in known:
                raise ConfigError(f"model {model.name}: only.{key} is not a setting of any cell; the settings are "
                                  f"{', '.join(sorted(known))}.")
            for value in values:
                _check_only(model, key, value, cells)


def check_space(config: SweepConfig) -> None:
    """Refuse, before any trial, a searched setting the recipe cannot take: an unknown name, or a
    bound or choice of the wrong type or out of its field's range.

    Each bound (as the sampler draws it: a float unless the range is of integers) and each choice
    is checked alone, on the fixed settings of the first dataset, as :func:`check_cells` checks a
    cell. Imports JAX.
    """
    for p in config.space:
        kind = int if p.integer else float
        for value in p.choices if p.choices is not None else (kind(p.low), kind(p.high)):
            try:
                text = setting_text(value, p.where)
                cell = config.cell(config.datasets[0], {p.name: text})
                _checked(cell.dataset.recipe, dict(cell.overrides))
            except ConfigError as exc:
                raise ConfigError(f"{p.where}: {value!r} cannot be searched: {exc}") from None


def _checked(recipe_name: str, overrides: Mapping[str, str]):
    """The recipe with ``overrides``, its field and fit settings checked (:class:`ConfigError`)."""
    import arena_builders
    from arena import fields, fit

    recipe = arena_builders.recipe(recipe_name).with_overrides(overrides)
    fields.make(recipe.arch, **recipe.hparams)
    fit.make_config(steps=recipe.steps, lr=recipe.lr, optimizer=recipe.optimizer,
                    weight_decay=recipe.weight_decay, init=recipe.init, seed=recipe.seed)
    if recipe.steps < 1 or recipe.shard_size < 1:
        raise ConfigError(f"steps and shard_size must be >= 1; got {recipe.steps}, {recipe.shard_size}.")
    return recipe


def _check_only(model: ModelRun, key: str, value: str, cells: Sequence[Cell]) -> None:
    """Refuse an ``only`` value that no cell could take (a typo such as ``arch = ["sirn"]``)."""
    first = None
    for cell in cells:
        try:
            _checked(cell.dataset.recipe, {**dict(cell.overrides), key: value})
            return
        except ConfigError as exc:
            first = first or exc
    raise ConfigError(f"model {model.name}: only.{key} = {value!r} is a value no cell can take ({first}); "
                      "fix it or remove it.")


def _check_sizes(dataset: DatasetSpec) -> None:
    """Refuse sizes no build can have: more than a split holds (on the full source; a smaller
    source is checked by the build), or a train split with fewer NeFs than classes (NMI's k-means
    needs one per cluster)."""
    import arena_builders
    from arena import catalog

    recipe = arena_builders.recipe(dataset.recipe)
    sizes = dict(dataset.sizes)
    for split, n in sizes.items():
        whole = recipe.sizes.get(split)
        if whole is not None and n > whole:
            raise ConfigError(f"dataset {dataset.name}: {split} = {n}, but the {split} split of {recipe.name} "
                              f"holds {whole} examples; give at most {whole}.")
    facts = catalog.DATASETS.get(recipe.name)
    classes = len(facts.classes) if facts is not None and facts.classes else 0
    if sizes and sizes["train"] < classes:
        raise ConfigError(f"dataset {dataset.name}: train = {sizes['train']} is fewer than the {classes} classes "
                          f"of {recipe.name} (NMI's k-means needs a NeF per class); give train >= {classes}.")


def cell_arch(cell: Cell) -> str:
    """The architecture of a cell's NeFs (its override, else its recipe's)."""
    import arena_builders

    return dict(cell.overrides).get("arch") or arena_builders.recipe(cell.dataset.recipe).arch


def setting_text(value: Any, what: str = "a setting") -> str:
    """A TOML value as ``arena-build --set`` takes it: ``true``, ``16``, ``0.0001``.

    ``what`` names the value in the :class:`ConfigError` for a non-finite number or another type
    (``c.toml: settings.hidden``).
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"{what} = {value}: settings must be finite numbers; give a finite one.")
        return repr(value)
    if isinstance(value, (int, str)):
        return str(value)
    raise ConfigError(f"{what} = {value!r}: a setting must be a number, a string or a boolean.")


def expand(text: str, what: str) -> str:
    """``text`` with ``$VAR`` and ``${VAR}`` replaced; an unset variable is refused, naming it."""

    def sub(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        if name not in os.environ:
            raise ConfigError(f"{what} '{text}' uses ${name}, which is not set; set it, or give the path with --source.")
        return os.environ[name]

    return _VAR.sub(sub, text)


def _dataset(raw: Any, base: Path, where: str, source: str | None) -> DatasetSpec:
    raw = _table(raw, "dataset", where)
    _known(raw, _DATASET, where)
    recipe = raw.get("recipe")
    if not isinstance(recipe, str) or not recipe:
        raise ConfigError(f"{where} needs recipe = \"NAME\", a builder recipe (digits, mnist, ...).")
    import arena_builders

    arena_builders.recipe(recipe)  # an unknown recipe fails now, with its close match
    name = raw.get("name", recipe.removeprefix("neural_"))
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ConfigError(f"{where}: name = {name!r}: use letters, digits, '_', '.' and '-'.")
    path = raw.get("source")
    if source is not None:  # from the command line: relative to the working directory
        path = source if source.startswith("hf://") else str(Path(source).expanduser())
    elif path is not None:
        if not isinstance(path, str):
            raise ConfigError(f"{where}: source must be a path string, not {path!r}.")
        if not path.startswith("hf://"):
            path = str(base / Path(expand(path, f"{where} source")).expanduser())
    sizes = tuple((s, _int(raw[s], f"dataset.{s}", where, low=1)) for s in SPLITS if s in raw)
    if sizes and len(sizes) != len(SPLITS):
        raise ConfigError(f"{where} {name}: give the size of every split (train, val, test), or none for the "
                          "whole splits.")
    return DatasetSpec(recipe=recipe, name=name, source=path, sizes=sizes)


def _grid(raw: Mapping[str, Any], where: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    grid = []
    for key, values in raw.items():
        values = values if isinstance(values, list) else [values]
        if not values:
            raise ConfigError(f"{where}: grid.{key} has no values, so the grid is empty; give it at least one.")
        texts = tuple(setting_text(v, f"{where}: grid.{key}") for v in values)
        if len(set(texts)) != len(texts):
            raise ConfigError(f"{where}: grid.{key} lists a value twice ({list(texts)}).")
        grid.append((key, texts))
    return tuple(grid)


def _settings(raw: Mapping[str, Any], section: str, where: str) -> dict[str, str]:
    out = {}
    for key, value in raw.items():
        if isinstance(value, (list, dict)):
            raise ConfigError(f"{where}: {section}.{key} must be one value; put lists of values in [grid].")
        out[key] = setting_text(value, f"{where}: {section}.{key}")
    return out


def _model(raw: Any, base: Path, where: str) -> ModelRun:
    raw = _table(raw, "models", where)
    _known(raw, _MODEL, f"{where} [[models]]")
    ref = raw.get("ref")
    if not isinstance(ref, str) or not ref:
        raise ConfigError(f"{where}: each [[models]] needs ref = \"baseline:NAME\" or a model file path.")
    if not ref.startswith("baseline:"):  # absolute, so the sweep runs from any directory (its identity keeps the name)
        ref = str((base / Path(expand(ref, f"{where} model")).expanduser()).resolve())
    name = raw.get("name", ref.removeprefix("baseline:") if ref.startswith("baseline:") else Path(ref).stem)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ConfigError(f"{where}: model name = {name!r}: use letters, digits, '_', '.' and '-'.")
    only = _table(raw.get("only", {}), f"models.{name}.only", where)
    only_values = tuple((k, tuple(setting_text(x, f"{where}: models.{name}.only.{k}")
                                  for x in (v if isinstance(v, list) else [v]))) for k, v in only.items())

    def opt(key, kind):
        value = raw.get(key)
        if value is None:
            return None
        return _int(value, f"models.{key}", where, low=1) if kind is int else _float(value, f"models.{key}", where)

    return ModelRun(ref=ref, name=name, seeds=_int(raw.get("seeds", 3), "models.seeds", where, low=1),
                    epochs=opt("epochs", int), batch_size=opt("batch_size", int), lr=opt("lr", float),
                    weight_decay=opt("weight_decay", float), only=only_values)


def param(name: str, raw: Any, where: str) -> Param:
    """The searched setting ``name`` from its table (``low``, ``high``, ``log`` or ``choices``);
    ``where`` names it in messages (``c.toml: search.space.lr``, ``--param lr=...``)."""
    spec = _table(raw, f"search.space.{name}", where)
    _known(spec, _RANGE, where)
    if "choices" in spec:
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices or set(spec) - {"choices"}:
            raise ConfigError(f"{where}: give either choices = [...] (non-empty) or low/high.")
        return Param(name=name, choices=tuple(choices), where=where)
    low, high = spec.get("low"), spec.get("high")
    for v in (low, high):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ConfigError(f"{where}: needs numbers low and high; got {low!r}, {high!r}.")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{where}: log must be true or false.")
    if not low < high or (log and low <= 0):
        raise ConfigError(f"{where}: needs low < high (and low > 0 with log); got {low}, {high}.")
    return Param(name=name, low=low, high=high, log=log, integer=isinstance(low, int) and isinstance(high, int),
                 where=where)


def _known_arch(arch: str, where: str) -> None:
    from arena_builders._recipe import ARCH_HPARAMS

    if arch not in ARCH_HPARAMS:
        close = difflib.get_close_matches(arch, ARCH_HPARAMS, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"{where}: unknown architecture '{arch}'.{hint} The architectures are "
                          f"{', '.join(ARCH_HPARAMS)}.")


def _known(raw: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    for key in raw:
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key '{key}'; the keys are {', '.join(allowed)}.")


def _table(raw: Any, name: str, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: [{name}] must be a table of key = value, not {raw!r}.")
    return raw


def _list(raw: Any, name: str, where: str) -> list:
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: {name} must be a list of tables ([[{name}]]).")
    return raw


def _int(value: Any, what: str, where: str, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{where}: {what} must be an integer >= {low}, not {value!r}.")
    return value


def _float(value: Any, what: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{where}: {what} must be a positive number, not {value!r}.")
    return float(value)
