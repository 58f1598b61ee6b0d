"""``arena leaderboard verify --rerun SLUG``: the one check that executes submitted code.

The submission's ``model.py`` is run by ``arena-eval`` in a subprocess, with the recorded seeds
and protocol settings (epochs, batch size, learning rate, weight decay, micro-batches, compile;
the rest are the model file's own), on the recorded dataset (its manifest sha256 must match), on
the recorded device type and, on a CPU, the recorded number of threads, in a home of its own and
from scratch (never continuing a checkpoint another run left). Per-seed val and test accuracies
must be equal when the device type and the torch and numpy versions are the result's; otherwise
they must agree within :data:`TOLERANCE` (absolute, as fractions).
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from arena.errors import LeaderboardError
from arena.leaderboard._documents import MODEL
from arena.leaderboard._verify import Entry

TOLERANCE = 0.01
SAME = ("torch", "numpy")
_THREADS_RE = re.compile(r"(\d+) threads?\)$")


@dataclasses.dataclass(frozen=True)
class Rerun:
    """A rerun that reproduced its submission.

    Attributes:
        label: ``DATASET/SLUG``.
        seeds: the seeds compared.
        exact: whether equality was required (same device type, torch and numpy versions) rather
            than agreement within :data:`TOLERANCE`.
    """

    label: str
    seeds: tuple[int, ...]
    exact: bool

    def describe(self) -> str:
        how = ("equal (same device type, torch and numpy)" if self.exact
               else f"within {TOLERANCE} (another device type or torch/numpy version)")
        seeds = ", ".join(map(str, self.seeds))
        return f"{self.label}: the rerun reproduces seeds {seeds}: val and test accuracy {how}."


def rerun(entry: Entry, *, dataset: str | None = None, device: str | None = None) -> Rerun:
    """Run ``entry``'s model file again and compare its per-seed accuracies with the recorded ones.

    Args:
        entry: a verified submission (see :func:`arena.leaderboard.verify`).
        dataset: the dataset to run on (default: the recorded name and version, from the local
            store); its manifest sha256 must be the recorded one.
        device: ``cpu`` or ``cuda`` (default: the recorded device type).

    Raises:
        LeaderboardError: the rerun failed, or a seed differs (the message names each), or the
            entry is an external-protocol result (trained outside the harness: nothing to rerun).
    """
    from arena.eval import result

    if entry.external:
        raise LeaderboardError(
            f"{entry.label} is an external-protocol result: its model was trained outside the "
            "harness, so there is no model file to rerun; its code is linked from the leaderboard."
        )

    recorded = entry.result
    root = _dataset_root(recorded, dataset)
    device = device or _device_type(recorded)
    with tempfile.TemporaryDirectory(prefix="arena-rerun-") as tmp:
        out = Path(tmp) / "result.json"
        # a home of its own: no checkpoint of an earlier or concurrent run of this model is continued
        env = {**os.environ, "ARENA_HOME": str(Path(tmp) / "home")}
        proc = subprocess.run(_command(entry, root, device, out), capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout).strip().splitlines() or ["no output"]
            raise LeaderboardError(f"{entry.label}: the rerun failed: {lines[-1].strip()}")
        fresh = result.load(out)
    exact = _same_environment(recorded, fresh)
    differ = _differences(recorded, fresh, exact)
    if differ:
        how = "exactly" if exact else f"within {TOLERANCE}"
        raise LeaderboardError(f"{entry.label}: the rerun does not reproduce it {how}: {'; '.join(differ)}.")
    return Rerun(entry.label, tuple(s["seed"] for s in recorded["seeds"]), exact)


def _dataset_root(recorded: Mapping[str, Any], dataset: str | None) -> Path:
    from arena import format as fmt
    from arena import hub

    d = recorded["dataset"]
    root = Path(dataset) if dataset is not None else hub.locate(d["name"], version=d["version"])
    sha = fmt.open_dataset(root).manifest_sha256
    if sha != d["manifest_sha256"]:
        raise LeaderboardError(
            f"The dataset at {root} has manifest sha256 {sha[:12]}, but the submission ran on "
            f"{d['name']} {d['version']} with {d['manifest_sha256'][:12]}; give that build with --dataset."
        )
    return root


def _command(entry: Entry, root: Path, device: str, out: Path) -> list[str]:
    protocol = entry.result["protocol"]
    s = protocol["settings"]
    cmd = [sys.executable, "-c", "from arena.cli.eval import main; main()", str(entry.path / MODEL),
           "--dataset", str(root), "--seeds", str(protocol["seeds"]), "--epochs", str(s["epochs"]),
           "--batch-size", str(s["batch_size"]), "--lr", repr(float(s["lr"])),
           "--weight-decay", repr(float(s["weight_decay"])), "--augment", ",".join(s["augment"]) or "none",
           "--device", device, "--out", str(out), "--quiet"]
    cmd += ["--restart", "--micro-batch-size", str(s.get("micro_batch_size", 0))]
    if s.get("compile"):
        cmd.append("--compile")
    threads = _THREADS_RE.search(entry.result["environment"]["device"])
    if device == "cpu" and threads:
        cmd += ["--threads", threads.group(1)]
    return cmd


def _device_type(document: Mapping[str, Any]) -> str:
    return document["environment"]["device"].split(" ", 1)[0]


def _same_environment(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    packages = (a["environment"]["packages"], b["environment"]["packages"])
    return _device_type(a) == _device_type(b) and all(
        packages[0].get(name) == packages[1].get(name) for name in SAME)


def _differences(recorded: Mapping[str, Any], fresh: Mapping[str, Any], exact: bool) -> list[str]:
    from arena.eval.protocol import Settings

    # a document that predates a setting recorded it at its default
    if Settings.from_json(fresh["protocol"]["settings"]) != Settings.from_json(recorded["protocol"]["settings"]):
        return [f"the settings differ ({fresh['protocol']['settings']} rerun, "
                f"{recorded['protocol']['settings']} recorded)"]
    out = []
    for old, new in zip(recorded["seeds"], fresh["seeds"]):
        for key in ("val_accuracy", "test_accuracy"):
            a, b = old[key], new[key]
            if (a != b) if exact else abs(a - b) > TOLERANCE:
                out.append(f"seed {old['seed']} {key.split('_')[0]} {a:.4f} recorded, {b:.4f} rerun")
    return out
