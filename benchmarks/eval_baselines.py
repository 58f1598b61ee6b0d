"""Run evaluation protocol v1 for baselines on neural datasets; print accuracy and time.

    python benchmarks/eval_baselines.py --dataset neural_digits --models mlp gnn dws transformer
    python benchmarks/eval_baselines.py --dataset neural_mnist --models mlp --seeds 3
    python benchmarks/eval_baselines.py --dataset neural_mnist --models gnn --epochs 5   # CPU budget
    python benchmarks/eval_baselines.py --dataset neural_digits --models gnn transformer \
        --compare-edge-list --batch-size 128 --threads 2 --rounds 3 [--no-mmap] [--compile]

Each model runs through the same code as `arena-eval` (``arena.eval.evaluate``); the result
documents are written to ``--out`` (default ``results/bench/``). Times are this machine's:
wall time of the whole protocol (all seeds, imports excluded) and mean seconds per training
epoch. Next to each accuracy, the paper's number (docs/design.md §6) where there is one. The last line
is JSON.

``--compare-edge-list`` times training epochs of a graph baseline's two implementations of the
same function (``message_passing="dense"`` and ``"edge_list"``, the same initial parameters),
with the harness's batches, loss and optimizer. A round is one epoch of each, interleaved step
by step (the two train on the same batch one after the other, which goes first alternating), so
that both see the same load on a shared machine. Each round prints wall, user and system CPU
seconds of the epoch per implementation; the summary gives the medians, the per-round ratio
edge-list / dense, the model's forward FLOPs per graph (its linear maps and attention products
as the reference computes them, counted from its sizes) and the share of this run's sgemm peak
(a 2048 x 2048 float32 matmul at the same threads) that 3 x forward FLOPs per trained graph
reach. ``--no-mmap`` applies :func:`keep_freed_memory` first. ``--compile`` adds a third arm,
the dense implementation through ``torch.compile`` (what ``arena-eval --compile`` runs), its
compilation paid before the timed rounds for the full and the last, smaller batch.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path

import numpy as np

PAPER = {  # test accuracy %, Papa et al. 2024 via docs/design.md §6
    "neural_mnist": {"gnn": 96.40, "dws": 93.51, "transformer": 95.08},
    "neural_cifar10": {"gnn": 39.83, "dws": 44.01, "transformer": 44.11},
    "neural_microimagenet": {"gnn": 25.08, "dws": 28.61, "transformer": 28.50},
    "neural_shapenet": {"gnn": 82.96, "dws": 91.06, "transformer": 90.31},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="neural_digits")
    parser.add_argument("--models", nargs="+", default=["mlp"], help="baseline names or model files")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=None, help="override every model's epochs")
    parser.add_argument("--batch-size", type=int, default=None, help="override every model's batch size")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=Path("results/bench"))
    parser.add_argument("--verbose", action="store_true", help="print one line per epoch")
    parser.add_argument("--compare-edge-list", action="store_true",
                        help="time epochs of the dense and the edge-list message passing (gnn, transformer)")
    parser.add_argument("--rounds", type=int, default=3, help="paired rounds of --compare-edge-list")
    parser.add_argument("--compile", action="store_true", help="--compare-edge-list: also the dense arm compiled")
    parser.add_argument("--no-mmap", action="store_true",
                        help="glibc malloc keeps freed memory, big tensors are not mapped anew (keep_freed_memory)")
    args = parser.parse_args()
    if args.no_mmap:
        keep_freed_memory()

    import torch  # noqa: F401 - imported before timing

    if args.compare_edge_list:
        compare_edge_list(args)
        return

    from arena.eval import evaluate, result

    report = {}
    for name in args.models:
        ref = name if name.endswith(".py") or ":" in name else f"baseline:{name}"
        t = time.perf_counter()
        doc = evaluate(ref, args.dataset, seeds=args.seeds, epochs=args.epochs, batch_size=args.batch_size, device=args.device, threads=args.threads,
                       progress=_epoch_line if args.verbose else False)
        wall = time.perf_counter() - t
        result.write(doc, args.out / doc["dataset"]["name"] / f"{ref.replace(':', '-')}.json")
        s = doc["summary"]
        std = None if s["test_std"] is None else 100 * s["test_std"]  # None: one seed, no spread
        per_epoch = sum(r["epoch_seconds"] for r in doc["seeds"]) / len(doc["seeds"])
        paper = PAPER.get(doc["dataset"]["name"], {}).get(ref.removeprefix("baseline:"))
        report[ref] = {"test_mean": round(100 * s["test_mean"], 2), "test_std": None if std is None else round(std, 2),
                       "val_mean": round(100 * s["val_mean"], 2), "epochs": doc["protocol"]["settings"]["epochs"],
                       "seconds_per_epoch": round(per_epoch, 2), "wall_s": round(wall, 1),
                       "num_parameters": doc["model"]["num_parameters"], "paper": paper,
                       "best_epochs": [r["best_epoch"] for r in doc["seeds"]]}
        note = f"  (paper {paper:.2f})" if paper else ""
        spread = " % (one seed)" if std is None else f" ± {std:.2f} %"
        print(f"{ref} on {doc['dataset']['name']} {doc['dataset']['version']}: test {100 * s['test_mean']:.2f}{spread}"
              f"{note}; {doc['protocol']['settings']['epochs']} epochs x {args.seeds} seeds in {wall:.0f} s "
              f"({per_epoch:.2f} s/epoch, {doc['model']['num_parameters']:,} parameters)")
    print(json.dumps({"dataset": args.dataset, "device": args.device, "results": report}))


def keep_freed_memory() -> None:
    """:func:`arena.eval._memory.keep_freed_memory`, or stop: the comparison needs it."""
    from arena.eval._memory import keep_freed_memory as keep

    if not keep():
        raise SystemExit("glibc's mallopt is not available here; run without --no-mmap")


def compare_edge_list(args) -> None:
    """Paired epochs of each model's dense and edge-list implementations; prints times, FLOPs, sgemm share."""
    import importlib

    import torch

    import arena
    from arena.eval.spec import ModelSpec

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    train = arena.load(args.dataset, split="train")
    spec = ModelSpec.from_manifest(train.info)
    peak = sgemm_peak()
    report = {"dataset": args.dataset, "threads": torch.get_num_threads(), "sgemm_peak_gflops": round(peak / 1e9, 1),
              "results": {}}
    print(f"sgemm peak (2048^3 float32, {torch.get_num_threads()} threads): {peak / 1e9:.1f} GFLOP/s")
    for name in args.models:
        module = importlib.import_module(f"arena.baselines.{name}")
        flops = FORWARD_FLOPS[name](spec.graph, spec.num_classes)
        batch_size = args.batch_size or module.HPARAMS["batch_size"]
        arms = ("edge_list", "dense", "dense+compile") if args.compile else ("edge_list", "dense")
        runs = {impl: _Trainer(module, spec, train, impl, batch_size) for impl in arms}
        times = {impl: [] for impl in runs}
        for r in range(args.rounds):
            for impl, seconds in _paired_epoch(runs, train, batch_size, epoch=r + 1).items():
                times[impl].append(seconds)
            print(f"{name} round {r + 1}: " + ", ".join(
                "{} {:.1f} s (user {:.1f}, sys {:.1f})".format(impl, *times[impl][-1]) for impl in runs), flush=True)
        ratios = [e[0] / d[0] for e, d in zip(times["edge_list"], times["dense"])]
        compiled = [e[0] / d[0] for e, d in zip(times["edge_list"], times.get("dense+compile", []))]
        summary = {}
        for impl, rows in times.items():
            wall, user, system = (statistics.median(col) for col in zip(*rows))
            rate = 3 * flops * len(train) / wall
            summary[impl] = {"epoch_s": round(wall, 2), "user_s": round(user, 2), "sys_s": round(system, 2),
                             "gflops": round(rate / 1e9, 1), "peak_share": round(rate / peak, 3)}
            print(f"  {name} {impl}: {wall:.2f} s/epoch (user {user:.2f} s, sys {system:.2f} s), "
                  f"{rate / 1e9:.1f} GFLOP/s = {100 * rate / peak:.1f} % of sgemm peak")
        print(f"  {name}: {flops / 1e6:.1f} MFLOP per graph forward; edge-list / dense per epoch: median "
              f"{statistics.median(ratios):.2f}x, rounds {[round(x, 2) for x in ratios]}")
        if compiled:
            print(f"  {name}: edge-list / dense+compile per epoch: median {statistics.median(compiled):.2f}x, "
                  f"rounds {[round(x, 2) for x in compiled]}")
            summary["ratio_median_compiled"] = round(statistics.median(compiled), 2)
        report["results"][name] = {"forward_mflops_per_graph": round(flops / 1e6, 1), "batch_size": batch_size,
                                   "ratio_median": round(statistics.median(ratios), 2),
                                   "ratios": [round(x, 3) for x in ratios], **summary}
    print(json.dumps(report))


def _paired_epoch(runs: dict, train, batch_size: int, epoch: int) -> dict[str, tuple[float, float, float]]:
    """One epoch of every run on the same batches, interleaved step by step: (wall, user, sys) seconds each."""
    import torch

    transforms = next(iter(runs.values())).transforms
    totals = {impl: np.zeros(3) for impl in runs}
    batches = train.batches(batch_size, shuffle=True, seed=(0, epoch), transforms=transforms)
    for step, (x, y) in enumerate(batches):
        order = list(runs) if (epoch + step) % 2 == 0 else list(runs)[::-1]
        for impl in order:
            totals[impl] += runs[impl].timed_step(torch.from_numpy(x), torch.from_numpy(y))
    return {impl: tuple(float(t) for t in total) for impl, total in totals.items()}


class _Trainer:
    """One implementation of a graph baseline trained as the harness trains (AdamW, cross-entropy)."""

    def __init__(self, module, spec, train, message_passing: str, batch_size: int):
        import torch

        from arena.data import Normalize
        from arena.eval.protocol import Settings

        cls = {"gnn": "NeuralGraphGNN", "transformer": "RelationalTransformer"}[module.__name__.rsplit(".", 1)[1]]
        settings = Settings.resolve(module.HPARAMS)
        torch.manual_seed(0)  # every implementation draws the same initial parameters
        compiled = message_passing.endswith("+compile")
        net = getattr(module, cls)(spec.graph, spec.num_classes, message_passing=message_passing.split("+")[0])
        self.optimizer = torch.optim.AdamW(net.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
        self.net = torch.compile(net) if compiled else net
        self.transforms = [Normalize.from_manifest(train.info)] if settings.normalize else []
        self.graph = spec.graph
        self.net.train()
        x, y = next(train.batches(batch_size, shuffle=False, transforms=self.transforms))
        self.timed_step(torch.from_numpy(x), torch.from_numpy(y))  # first-call costs are not counted
        if len(train) % batch_size and compiled:  # nor the compilation for the last, smaller batch
            n = len(train) % batch_size
            self.timed_step(torch.from_numpy(x[:n]), torch.from_numpy(y[:n]))

    def timed_step(self, x, y) -> np.ndarray:
        """One optimizer step: (wall, user CPU, system CPU) seconds."""
        import torch

        before, t = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        loss = torch.nn.functional.cross_entropy(self.net(self.graph.batch(x)), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        wall, after = time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF)
        return np.array([wall, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime])


def sgemm_peak(size: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of a float32 ``size x size`` matmul with torch's current threads, best of ``repeats``."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best


def _linear(rows: int, d_in: int, d_out: int) -> int:
    return 2 * rows * d_in * d_out


def gnn_forward_flops(graph, num_classes: int) -> int:
    """FLOPs of one graph through ``baseline:gnn``'s linear maps (elementwise work not counted)."""
    from arena.baselines import gnn

    n, e, d, f = graph.num_nodes, graph.num_edges, gnn.HIDDEN, 2 * gnn.FOURIER
    outputs = int((graph.node_kind == 2).sum())
    embed = _linear(n, graph.node_dim, gnn.FOURIER) + _linear(n, f, d) \
        + _linear(e, graph.edge_dim, gnn.FOURIER) + _linear(e, f, d)
    step = _linear(2 * e, d, 2 * d) + _linear(n, d, 2 * d) \
        + _linear(n, 9 * d, gnn.NODE_MLP) + _linear(n, gnn.NODE_MLP, gnn.NODE_MLP) + _linear(n, gnn.NODE_MLP, d)
    edge_update = _linear(e, d, gnn.EDGE_MLP) + _linear(n, d, 2 * gnn.EDGE_MLP) + _linear(e, gnn.EDGE_MLP, d)
    head = _linear(1, (outputs + 1) * d, d) + _linear(1, d, d) + _linear(1, d, num_classes)
    return embed + gnn.STEPS * step + (gnn.STEPS - 1) * edge_update + head


def transformer_forward_flops(graph, num_classes: int) -> int:
    """FLOPs of one graph through ``baseline:transformer`` as the reference computes it (all N^2 pairs)."""
    from arena.baselines import transformer as t
    from arena.baselines.gnn import FOURIER

    n, e, pairs = graph.num_nodes, graph.num_edges, graph.num_nodes ** 2
    outputs = int((graph.node_kind == 2).sum())
    embed = _linear(n, graph.node_dim, FOURIER) + _linear(n, 2 * FOURIER, t.D_NODE) \
        + _linear(e, graph.edge_dim, FOURIER) + _linear(e, 2 * FOURIER, t.D_EDGE)
    attention = _linear(n, t.D_NODE, 3 * t.D_ATTN) + _linear(pairs, t.D_EDGE, 4 * t.D_ATTN) \
        + 2 * _linear(pairs, t.D_ATTN, 1) + _linear(n, t.D_ATTN, t.D_NODE)
    node = _linear(n, t.D_NODE, t.D_NODE) + _linear(n, t.D_NODE, t.D_NODE_HID) + _linear(n, t.D_NODE_HID, t.D_NODE)
    edge_update = _linear(pairs, 2 * t.D_EDGE, t.D_EDGE_HID) + _linear(n, t.D_NODE, 2 * t.D_EDGE_HID) \
        + _linear(pairs, t.D_EDGE_HID, t.D_EDGE) + _linear(pairs, t.D_EDGE, t.D_EDGE_HID) \
        + _linear(pairs, t.D_EDGE_HID, t.D_EDGE)
    head = _linear(1, (outputs + 1) * t.D_NODE, t.D_OUT_HID) + _linear(1, t.D_OUT_HID, num_classes)
    return embed + t.LAYERS * (attention + node) + (t.LAYERS - 1) * edge_update + head


FORWARD_FLOPS = {"gnn": gnn_forward_flops, "transformer": transformer_forward_flops}


def _epoch_line(e: dict) -> None:
    print(f"  seed {e['seed']} epoch {e['epoch']}: val {100 * e['val_accuracy']:.2f}% "
          f"(best {100 * e['best_val_accuracy']:.2f}%), {e['samples_per_second']:,.0f} samples/s", flush=True)


if __name__ == "__main__":
    main()
