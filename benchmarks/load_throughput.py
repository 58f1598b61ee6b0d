"""Loading speed of a neural dataset against the ways NeF parameters were stored before, one run.

(a) Time to first batch: a fresh Python process imports numpy, then arena, then calls
    ``arena.load(NAME, split="train")`` and takes the first shuffled batch of 256. Reported
    separately: ``import numpy``, ``import arena``, and load -> first batch, which includes the
    lazy imports that load triggers (target < 0.5 s). Median of 3 processes.
(b) Epoch throughput: batches/s of one full shuffled epoch of ``Split.batches(256)``, without and
    with ``PermuteHidden`` (an independent permutation of every hidden layer of every NeF), once
    the process has touched the shards' pages (its first epoch, also reported, maps them).
(c) Baselines on the same parameters, written to a temporary directory first:
    - ``npy``: the whole split in memory (``np.load`` of a .npy), each batch a fancy index of
      random rows (what a hand-written loader over an in-memory array does);
    - ``hdf5``: fit-a-nef's storage, one HDF5 file with ``params`` (N, P), read with h5py, each
      batch a sorted point selection (``f["params"][sorted_rows]``);
    - ``nfa``: the first Neural Field Arena's loader: everything preloaded in memory, a
      ``torch.utils.data.DataLoader`` over a per-NeF ``__getitem__`` with default collation.
    Ratios are Arena / baseline (> 1: the Arena is faster).

The page cache is warm (the dataset is read once before timing); the local store is used
(``ARENA_HOME``), nothing is downloaded. The last line is JSON.

    ARENA_HOME=/work/builds/home python benchmarks/load_throughput.py          # ~1-2 minutes
    python benchmarks/load_throughput.py --path /path/to/neural_mnist/1.0.0   # a directory
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BATCH = 256


def first_batch_seconds(ref: str, runs: int = 3) -> tuple[float, float, float]:
    """Median seconds over fresh processes of: ``import numpy``; ``import arena``; and
    ``arena.load`` -> first batch (with the lazy imports it triggers: arena.data, arena.hub)."""
    code = (
        "import time; t0 = time.perf_counter(); import numpy; t1 = time.perf_counter(); "
        "import arena; t2 = time.perf_counter(); "
        f"s = arena.load({ref!r}, split='train'); p, l = next(s.batches({BATCH}, seed=0)); "
        f"t3 = time.perf_counter(); assert p.shape[0] == {BATCH}; print(t1 - t0, t2 - t1, t3 - t2)"
    )
    times = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
        times.append([float(v) for v in out.stdout.split()])
    return tuple(statistics.median(column) for column in zip(*times))


def epoch_rate(batches) -> tuple[float, int]:
    t = time.perf_counter()
    n = 0
    for params, labels in batches:
        n += 1
    return n / (time.perf_counter() - t), n


def npy_rate(path: Path, n: int, seed: int = 0) -> float:
    t = time.perf_counter()
    params = np.load(path)
    print(f"    np.load of the .npy: {time.perf_counter() - t:.2f} s (not counted in its rate)")
    labels = np.zeros(n, np.int64)
    order = np.random.default_rng(seed).permutation(n)

    def run():
        for lo in range(0, n, BATCH):
            rows = order[lo:lo + BATCH]
            yield params[rows], labels[rows]

    return epoch_rate(run())[0]


def hdf5_rate(path: Path, n: int, seed: int = 0) -> float:
    import h5py

    order = np.random.default_rng(seed).permutation(n)
    with h5py.File(path, "r") as f:
        data, labels = f["params"], f["labels"]

        def run():
            for lo in range(0, n, BATCH):
                rows = np.sort(order[lo:lo + BATCH])
                yield data[rows], labels[rows]

        return epoch_rate(run())[0]


def nfa_rate(path: Path, n: int, seed: int = 0) -> float:
    import torch

    params = np.load(path)
    labels = np.zeros(n, np.int64)

    class PreloadedNeFDataset(torch.utils.data.Dataset):
        def __len__(self):
            return n

        def __getitem__(self, i):
            return {"params": params[i], "labels": labels[i]}

    loader = torch.utils.data.DataLoader(PreloadedNeFDataset(), batch_size=BATCH, shuffle=True,
                                         generator=torch.Generator().manual_seed(seed))
    return epoch_rate((b["params"], b["labels"]) for b in loader)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default="neural_mnist", help="dataset name (resolved via ARENA_HOME)")
    parser.add_argument("--path", help="a dataset directory instead of a name")
    parser.add_argument("--tmp", help="where to write the baselines' copies (default: system temp)")
    parser.add_argument("--skip-hdf5", action="store_true", help="leave out the h5py baseline")
    args = parser.parse_args()
    ref = args.path or args.name

    import arena
    from arena.data import PermuteHidden

    train = arena.load(ref, split="train")
    n, p = len(train), train.num_params
    print(f"dataset: {train.dataset} {train.version} train, {n:,} NeFs x {p} params "
          f"({n * p * 4 / 2**20:.0f} MiB), {len(train._parts)} shards, batch {BATCH}")
    for _ in train.batches(4096, shuffle=False):  # warm the page cache
        pass

    numpy_s, import_s, first_s = first_batch_seconds(ref)
    print(f"(a) fresh process: import numpy {numpy_s:.3f} s, import arena {import_s:.3f} s, "
          f"arena.load -> first batch {first_s:.3f} s (target < 0.5 s)")

    first, batches = epoch_rate(train.batches(BATCH, seed=0))
    plain, _ = epoch_rate(train.batches(BATCH, seed=1))
    permute, _ = epoch_rate(train.batches(BATCH, seed=2, transforms=[PermuteHidden(train.info)]))
    print(f"(b) arena epoch: {plain:8.1f} batches/s ({plain * BATCH:,.0f} NeFs/s); "
          f"with PermuteHidden {permute:8.1f} batches/s ({batches} batches); the process's first "
          f"epoch {first:.1f} batches/s (it maps the shards' pages)")

    result = {"batches_per_s_first_epoch": round(first, 1), "first_batch_s": round(first_s, 3), "import_arena_s": round(import_s, 3),
              "import_numpy_s": round(numpy_s, 3),
              "batches_per_s": round(plain, 1), "batches_per_s_permute": round(permute, 1)}
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        everything = np.asarray(train.params)
        np.save(Path(tmp) / "params.npy", everything)
        rates = {"npy": npy_rate(Path(tmp) / "params.npy", n)}
        if not args.skip_hdf5:
            try:
                import h5py
            except ImportError:
                print("    (h5py not installed: no hdf5 baseline; pip install 'neural-field-arena[hdf5]')")
            else:
                with h5py.File(Path(tmp) / f"nefs_0-{n}.hdf5", "w") as f:
                    f.create_dataset("params", data=everything)
                    f.create_dataset("labels", data=np.asarray(train.labels))
                rates["hdf5"] = hdf5_rate(Path(tmp) / f"nefs_0-{n}.hdf5", n)
        try:
            rates["nfa"] = nfa_rate(Path(tmp) / "params.npy", n)
        except ImportError:
            print("    (torch not installed: no first-Neural-Field-Arena baseline)")
        del everything
    for name, rate in rates.items():
        print(f"(c) {name:5s} baseline {rate:8.1f} batches/s   arena/{name} = {plain / rate:5.2f}x, "
              f"with PermuteHidden {permute / rate:5.2f}x")
        result[f"baseline_{name}_batches_per_s"] = round(rate, 1)
        result[f"ratio_vs_{name}"] = round(plain / rate, 2)
        result[f"ratio_permute_vs_{name}"] = round(permute / rate, 2)
    result.update({"dataset": train.dataset, "num_nefs": n, "num_params": p, "batch_size": BATCH,
                   "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
