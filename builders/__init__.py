"""The recipes of the published neural datasets, one module each, and the build engine.

Installed as ``arena_builders`` (it ships inside the wheel); ``arena-build NAME`` runs them.
"""

from __future__ import annotations

import difflib

from arena.errors import ConfigError
from arena_builders import cifar10, digits, microimagenet, mnist, modelnet10, shapenet
from arena_builders._recipe import Recipe, parse_assignments
from arena_builders._summary import print_build_summary

RECIPES: dict[str, Recipe] = {
    m.RECIPE.name.removeprefix("neural_"): m.RECIPE
    for m in (digits, mnist, cifar10, microimagenet, shapenet, modelnet10)
}


def recipe(name: str) -> Recipe:
    """The recipe called ``name`` (``mnist`` or ``neural_mnist``)."""
    key = name.removeprefix("neural_")
    if key not in RECIPES:
        close = difflib.get_close_matches(key, RECIPES, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"Unknown dataset '{name}'.{hint} Builders: {', '.join(RECIPES)}.")
    return RECIPES[key]


def build(name: str, **kwargs):
    """Build the dataset ``name``; see :func:`arena_builders._build.build` for the arguments."""
    from arena_builders._build import build as run

    return run(recipe(name), **kwargs)


__all__ = ["RECIPES", "Recipe", "build", "parse_assignments", "print_build_summary", "recipe"]
