"""The GPU scripts run as written: CPU dry runs of ``benchmarks/baselines_gpu.sh`` and of
``benchmarks/gpu_check.sh`` (its Pallas step interpreted), so that a lent GPU's minutes go to
measuring and not to debugging the scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from _sourcedata import needs_data  # noqa: E402
from arena_builders import build  # noqa: E402

from arena import _native  # noqa: E402

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


@pytest.mark.slow
@needs_data("mnist")
def test_gpu_check_script_times_the_pallas_step_against_the_unfused_step_on_cpu(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "NEFS": "4", "STEPS": "3", "NAIVE_NEFS": "2",
           "NAIVE_STEPS": "2", "FITANEF_NEFS": "4", "FITANEF_STEPS": "2", "DENSE": "pallas",
           "PRECISIONS": "tensorfloat32", "BUILD": "0", "ARENA_HOME": str(tmp_path / "home"),
           "PATHS_NEFS": "8", "PATHS_STEPS": "3", "PATHS_ROUNDS": "1"}
    run = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], env=env, capture_output=True,
                         text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    reports = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    report, paths = reports[0], reports[1:]
    assert (report["fused_step"], report["precision"]) == ("pallas (interpreted)", "tensorfloat32")
    for key in ("nef_steps_per_s", "unfused_nef_steps_per_s", "speedup_vs_unfused", "speedup_vs_fitanef_design",
                "psnr_mean", "psnr_offgrid_mean", "unfused_psnr_mean", "unfused_psnr_offgrid_mean"):
        assert report[key] > 0, key
    # the fused and the unfused step fit the same NeFs to the same PSNR (float32 rounding apart)
    assert abs(report["psnr_mean"] - report["unfused_psnr_mean"]) <= 0.02
    # then the CPU kernel's vector paths on the host (avx2 here; avx512 too on AVX-512 hosts)
    if _native.unavailable() is None:
        (paths,) = paths
        assert "avx2" in paths["paths"] and paths["same_psnr"] and paths["paths"]["avx2"]["nef_steps_per_s"] > 0
    else:
        assert "kernel paths: not measured" in run.stdout
