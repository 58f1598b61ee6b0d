"""The embedded default job: build Neural Digits, evaluate a baseline on it, print the result.

Everything it needs ships with the package and scikit-learn, so it runs on a fresh machine
with no download: ``arena demo``.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from arena.errors import ConfigError, require


def run(*, model: str = "baseline:mlp", seeds: int = 3, out: Path | None = None) -> dict:
    """Build ``neural_digits`` into the local store (or reuse it) and run protocol v1 on it.

    Returns ``{"dataset": path, "build_seconds": ..., "eval_seconds": ..., "result": document}``.
    """
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"seeds must be a positive integer, not {seeds!r}.")
    require("sklearn", "build", "The demo's Neural Digits build")
    require("torch", "eval", "The demo's evaluation")
    from arena import format as fmt
    from arena.cli.eval import print_summary
    from arena.eval import evaluate, modelfile, result
    from arena_builders import build

    modelfile.check(model)  # a typo must not cost a build
    if out is not None:
        result.check_target(out)

    console = Console()
    console.rule("1. build neural_digits (one SIREN per scikit-learn digit)")
    t0 = time.perf_counter()
    path = build("digits", progress=True)
    build_seconds = time.perf_counter() - t0
    manifest = fmt.Manifest.load(path)
    _print_dataset(console, path, manifest, build_seconds)

    console.rule(f"2. evaluate {model} with protocol v1 ({seeds} seeds)")
    t0 = time.perf_counter()
    document = evaluate(model, path, seeds=seeds, progress=True)
    eval_seconds = time.perf_counter() - t0
    target = out or result.default_path(path.parent.parent.parent / "results", document)
    result.write(document, target)
    print_summary(document, target)
    console.print(f"evaluation wall time {eval_seconds:.1f} s")
    from arena.leaderboard import print_placement

    print_placement(document, console)  # where it would rank in ./leaderboard; writes nothing
    return {"dataset": path, "build_seconds": build_seconds, "eval_seconds": eval_seconds,
            "result": document}


def _print_dataset(console: Console, path: Path, manifest, seconds: float) -> None:
    data = manifest.data
    field = data["field"]
    metrics = data["stats"]["metrics"]
    table = Table(title=f"{manifest.name} {manifest.version}  ({path})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    splits = sorted(manifest.splits, key=lambda s: (["train", "val", "test"] + [s]).index(s))
    total = sum(manifest.num_examples(s) for s in splits)
    hp = field["hparams"]
    table.add_row("NeFs", f"{total:,} (" + ", ".join(f"{s} {manifest.num_examples(s):,}" for s in splits) + ")")
    table.add_row("field", f"{field['arch']} hidden {hp.get('hidden')}, {hp.get('layers')} layers, "
                           f"omega0 {hp.get('omega0')}: {field['num_params']:,} params")
    table.add_row("fit", f"{data['fit']['optimizer']} lr {data['fit']['lr']:g}, {data['fit']['steps']} steps")
    table.add_row("build wall time (compile included)", f"{seconds:.1f} s")
    for split in splits:
        m = metrics.get(split, {})
        if "psnr" in m:
            table.add_row(f"PSNR {split} (pixels / off-grid)", f"{m['psnr']:.2f} / {m['psnr_offgrid']:.2f} dB")
    console.print(table)
