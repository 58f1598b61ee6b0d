"""The GPU scripts run as written: a CPU dry run of ``benchmarks/baselines_gpu.sh``, so that a
lent GPU's minutes go to measuring and not to debugging the script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from arena_builders import build  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_digits(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-dry") / "neural_digits"
    return build("digits", out=out, limit=48, overrides={"steps": "20"}, progress=False)


def test_baselines_gpu_script_runs_all_four_recipes_on_cpu(tiny_digits, tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "DEVICE": "cpu", "SEEDS": "1",
           "ARENA_HOME": str(tmp_path / "home")}
    out = tmp_path / "results"
    run = subprocess.run(["bash", str(ROOT / "benchmarks" / "baselines_gpu.sh"), str(tiny_digits),
                          "--epochs", "1", "--batch-size", "16", "--threads", "1", "--out", str(out)],
                         env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    written = sorted(p.name for p in out.rglob("*.json"))
    assert written == ["baseline-dws.json", "baseline-gnn.json", "baseline-mlp.json",
                       "baseline-transformer.json"], written
    gnn = json.loads((out / "neural_digits" / "baseline-gnn.json").read_text())
    settings = gnn["protocol"]["settings"]
    # the reference recipe travels with the baseline, whatever the epochs override
    assert (settings["amsgrad"], settings["warmup_epochs"], settings["clip_grad_norm"]) == (True, 2, 10.0)
    assert json.loads(run.stdout.strip().splitlines()[-1])  # the last line is the JSON report
