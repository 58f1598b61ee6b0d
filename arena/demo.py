"""The embedded default job: build Neural Digits, evaluate a baseline on it, print the result.

Everything it needs ships with the package and scikit-learn, so it runs on a fresh machine
with no download: ``arena demo``.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console

from arena.errors import ConfigError, require


def run(*, model: str = "baseline:mlp", seeds: int = 3, out: Path | None = None) -> dict:
    """Build ``neural_digits`` into the local store (or reuse it) and run protocol v1 on it.

    Returns ``{"dataset": path, "build_seconds": ..., "eval_seconds": ..., "result": document}``.
    """
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"seeds must be a positive integer, not {seeds!r}.")
    require("sklearn", "build", "The demo's Neural Digits build")
    require("torch", "eval", "The demo's evaluation")
    from arena_builders import print_build_summary
    from arena.eval import evaluate, modelfile, result
    from arena_builders import recipe
    from arena_builders._build import make

    modelfile.check(model)  # a typo must not cost a build
    if out is not None:
        result.check_target(out)

    console = Console()
    console.rule("1. build neural_digits (one SIREN per scikit-learn digit)")
    built = make(recipe("digits"), progress=True)
    path, build_seconds = built.path, built.seconds
    if not built.fresh:
        console.print(built.already_built(), highlight=False, soft_wrap=True)
    print_build_summary(console, built)

    console.rule(f"2. evaluate {model} with protocol v1 ({seeds} seeds)")
    t0 = time.perf_counter()
    document = evaluate(model, path, seeds=seeds, progress=True)
    eval_seconds = time.perf_counter() - t0
    target = out or result.default_path(path.parent.parent.parent / "results", document)
    result.write(document, target)
    result.print_summary(document, target)
    console.print(f"evaluation wall time {eval_seconds:.1f} s")
    from arena.leaderboard import print_placement

    print_placement(document, console)  # where it would rank in ./leaderboard; writes nothing
    return {"dataset": path, "build_seconds": build_seconds, "eval_seconds": eval_seconds,
            "result": document}
