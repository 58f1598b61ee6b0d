"""The package surface: the console scripts, the demo, errors without tracebacks.

What importing the package does (nothing global, no jax or torch) is in test_imports.py."""

import json
import subprocess
import sys

import pytest

from typer.testing import CliRunner

from arena.cli.main import app


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
