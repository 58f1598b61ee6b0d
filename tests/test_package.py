"""The package surface: a light import, the console scripts, errors without tracebacks."""

import json
import subprocess
import sys

import pytest

from typer.testing import CliRunner

from arena.cli.main import app


def test_import_arena_loads_neither_jax_nor_torch_and_is_fast():
    code = (
        "import sys, time; t = time.perf_counter(); import arena; dt = time.perf_counter() - t; "
        "print(' '.join(m for m in ('jax', 'torch', 'flax') if m in sys.modules) or 'none', dt)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    heavy, seconds = out.split()
    assert heavy == "none"
    assert float(seconds) < 1.0


@pytest.mark.slow
def test_demo_builds_neural_digits_evaluates_the_mlp_and_writes_its_result(tmp_path, monkeypatch):
    monkeypatch.setenv("ARENA_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["demo", "--seeds", "2"])
    assert result.exit_code == 0, result.output
    assert "PSNR train" in result.output and "1,797" in result.output
    written = tmp_path / "results" / "neural_digits" / "baseline-mlp.json"
    doc = json.loads(written.read_text())
    assert doc["summary"]["num_seeds"] == 2 and doc["summary"]["test_mean"] > 0.5
    assert f"test accuracy {100 * doc['summary']['test_mean']:.2f}" in result.output
    assert (tmp_path / "datasets" / "neural_digits" / "1.0.0" / "arena.json").is_file()


def test_user_mistake_is_one_red_line_without_traceback():
    result = CliRunner().invoke(app, ["demo", "--seeds", "0"])
    assert result.exit_code == 1
    assert "seeds must be a positive integer, not 0" in result.output
    assert "Traceback" not in result.output


def test_console_script_prints_help():
    exe = [sys.executable, "-c", "from arena.cli.main import main; main()", "--help"]
    out = subprocess.run(exe, capture_output=True, text=True)
    assert out.returncode == 0 and "demo" in out.stdout


def test_builders_set_the_fast_cpu_settings_before_jax_is_imported():
    env = {k: v for k, v in __import__("os").environ.items()
           if k not in ("XLA_FLAGS", "JAX_CPU_ENABLE_ASYNC_DISPATCH")}
    code = ("import os, sys; import arena_builders._build; "
            "print('jax' in sys.modules, os.environ['JAX_CPU_ENABLE_ASYNC_DISPATCH'], "
            "'xla_force_host_platform_device_count' in os.environ['XLA_FLAGS'])")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "false", "True"]
