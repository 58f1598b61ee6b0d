"""The import layers of the ``arena`` package, and the check that imports flow one way.

``python -m arena._layers`` prints the import graph between the package's units and exits 1,
naming each import that goes up a layer and each cycle between units, or 0 when there is none.

A unit is a top-level module or package of ``arena`` (``arena.hub``, ``arena.format``,
``arena._xla``...); the recipes, shipped beside it as ``arena_builders``, are the unit
``builders``. :data:`LAYERS` lists the layers from the top: a unit may import units of its own
layer or of lower ones, never of a higher one, and the units of one layer must not import each
other in a cycle. A new unit must be given a layer here before the check passes.

Imports are read from the source with :mod:`ast`, at module level and inside functions alike
(a deferred import is still a dependency); only those under ``if TYPE_CHECKING:``, which never
run, are left out. The package root ``arena`` is a lazy facade, not a unit: ``from arena import
X`` imports unit ``X`` when ``X`` is a submodule, and nothing otherwise (``__version__``).
Dynamic imports (``importlib.import_module``) are not seen.
"""

from __future__ import annotations

import ast
import dataclasses
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

PACKAGE = "arena"
BUILDERS = ("arena_builders", "builders")  # the import name of the recipes, and its unit

LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("entry points", frozenset({"cli"})),
    ("applications", frozenset({"builders", "demo", "eval", "export", "leaderboard", "study"})),
    ("library", frozenset({"_flax", "baselines", "data", "fit", "graph", "hub", "interop", "sources",
                           "subset"})),
    ("fields", frozenset({"fields"})),
    ("nef", frozenset({"nef"})),  # numpy only: the architectures' layouts and numpy forward passes
    ("core", frozenset({"_layers", "_native", "_progress", "_xla", "format", "metrics"})),
    ("base", frozenset({"catalog", "errors", "layout"})),
)


@dataclasses.dataclass(frozen=True)
class Import:
    """One import of another unit: ``source`` imports ``module`` (of unit ``target``) at ``where``."""

    source: str
    target: str
    module: str
    where: str


def rank(unit: str, layers: Sequence[tuple[str, frozenset[str]]] = LAYERS) -> int | None:
    """The layer of ``unit``, counted from the top (0), or ``None`` when it has none."""
    for i, (_, units) in enumerate(layers):
        if unit in units:
            return i
    return None


def units(root: Path, package: str = PACKAGE) -> list[str]:
    """The top-level modules and packages of the package directory ``root``."""
    found = {p.stem for p in root.glob("*.py") if p.name != "__init__.py"}
    found |= {p.name for p in root.iterdir() if (p / "__init__.py").is_file()}
    return sorted(found)


def imports(root: Path, package: str = PACKAGE) -> list[Import]:
    """Every import, in the package directory ``root``, of one unit by another (see the module
    docstring for what counts), in file and line order."""
    known = set(units(root, package))
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts == ("__init__.py",):
            continue  # the lazy facade
        source = rel.parts[0].removesuffix(".py")
        home = [package, *rel.parent.parts]  # the package a relative import starts from
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _run_time_imports(tree):
            for module in _modules(node, home, package):
                target = _unit(module, package, known)
                if target is not None and target != source:
                    where = f"{root.name}/{rel.as_posix()}:{node.lineno}"
                    found.append(Import(source, target, module, where))
    return found


def problems(found: Iterable[Import], known: Iterable[str],
             layers: Sequence[tuple[str, frozenset[str]]] = LAYERS) -> list[str]:
    """One line per unit without a layer, per import that goes up a layer, and per cycle
    between units of one layer."""
    found = list(found)
    lines = []
    for unit in sorted(set(known) | {i.target for i in found}):
        if rank(unit, layers) is None:
            lines.append(f"unit '{unit}' has no layer: add it to arena._layers.LAYERS")
    for i in found:
        low, high = rank(i.source, layers), rank(i.target, layers)
        if low is not None and high is not None and high < low:
            lines.append(
                f"{i.where}: {i.source} ({layers[low][0]}) imports {i.module} "
                f"({i.target}, {layers[high][0]}): an import up a layer"
            )
    first = {}  # a cycle through several layers goes up somewhere, and is named there
    for i in found:
        if rank(i.source, layers) is not None and rank(i.source, layers) == rank(i.target, layers):
            first.setdefault((i.source, i.target), i.where)
    for cycle in _cycles(first):
        arrows = ", ".join(f"{a} -> {b} ({first[a, b]})" for a, b in zip(cycle, cycle[1:]))
        lines.append(f"cycle {' -> '.join(cycle)}: {arrows}")
    return lines


def graph_lines(found: Iterable[Import], known: Iterable[str],
                layers: Sequence[tuple[str, frozenset[str]]] = LAYERS) -> list[str]:
    """The import graph, one line per unit from the top layer down: ``unit [layer] -> units``."""
    targets: dict[str, set[str]] = {u: set() for u in known}
    for i in found:
        targets.setdefault(i.source, set()).add(i.target)
    order = sorted(targets, key=lambda u: (_sort_rank(u, layers), u))
    width = max((len(u) for u in order), default=0)
    lines = []
    for unit in order:
        r = rank(unit, layers)
        layer = layers[r][0] if r is not None else "no layer"
        lines.append(f"{unit:<{width}}  [{layer}] -> {', '.join(sorted(targets[unit])) or '-'}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Print the graph and the problems of the package at ``argv[0]`` (default: this one)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    root = Path(argv[0]) if argv else Path(__file__).resolve().parent
    package = root.name
    known = units(root, package)
    if BUILDERS[0] != package:
        known = [*known, BUILDERS[1]]
    found = imports(root, package)
    print(f"Imports between the units of {package} (unit [layer] -> the units it imports):")
    for line in graph_lines(found, known):
        print("  " + line)
    lines = problems(found, known)
    if not lines:
        print("Imports flow one way: no import goes up a layer, no units import each other in a cycle.")
        return 0
    print(f"{len(lines)} problem(s); layers from the top: "
          + " > ".join(name for name, _ in LAYERS) + ":")
    for line in lines:
        print("  " + line)
    return 1


def _run_time_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements of ``tree`` that can run: all but those under ``if TYPE_CHECKING``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _modules(node: ast.Import | ast.ImportFrom, package_parts: list[str], package: str) -> list[str]:
    """The absolute module names an import statement names (``from m import x``: ``m`` and,
    when ``m`` is the package root, ``root.x``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = package_parts[: len(package_parts) - node.level + 1]
        module = ".".join(base + ([node.module] if node.module else []))
    else:
        module = node.module or ""
    if module == package:
        return [f"{package}.{alias.name}" for alias in node.names]
    return [module]


def _unit(module: str, package: str, known: set[str]) -> str | None:
    parts = module.split(".")
    if parts[0] == BUILDERS[0] and package != BUILDERS[0]:
        return BUILDERS[1]
    if parts[0] != package or len(parts) < 2:
        return None
    return parts[1] if parts[1] in known else None


def _sort_rank(unit: str, layers) -> int:
    r = rank(unit, layers)
    return len(layers) if r is None else r


def _cycles(arrows: Iterable[tuple[str, str]]) -> list[list[str]]:
    """One cycle through each strongly connected group of two or more units, as a closed path."""
    edges: dict[str, set[str]] = {}
    for a, b in arrows:
        edges.setdefault(a, set()).add(b)
        edges.setdefault(b, set())
    cycles = []
    for group in _groups(edges):
        if len(group) > 1:
            cycles.append(_path_back(min(group), edges, group))
    return cycles


def _groups(edges: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected groups of a directed graph (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    groups.append(group)
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return groups


def _path_back(start: str, edges: dict[str, set[str]], group: set[str]) -> list[str]:
    """The shortest path from ``start`` back to itself inside ``group`` (breadth first)."""
    previous: dict[str, str] = {start: start}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(edges[node] & group):
                if child == start:
                    chain = [node]
                    while chain[-1] != start:
                        chain.append(previous[chain[-1]])
                    return [*reversed(chain), start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    return [start, start]


if __name__ == "__main__":
    sys.exit(main())
