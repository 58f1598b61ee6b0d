"""The README runs as written: every Python snippet and every shell command in it, on neural_digits.

Python snippets run in order, each in a fresh interpreter, in one working directory whose store
(``ARENA_HOME``) holds a fresh ``arena-build digits``; the snippet that is a model file (it
defines ``build_model``) is saved as ``my_model.py`` for the commands that name it. Shell commands
run through bash in that directory, with ``neural_mnist`` read as ``neural_digits`` (the README's
examples name the paper's dataset; a test cannot build 70,000 NeFs), placeholders filled in and
``arena-eval`` held to 2 epochs per seed.
A command that cannot run here (it needs the network, a file the README leaves to the reader,
or an hour) must name the test that covers it in ``COVERED``; a README command that matches no
rule fails the test, so the README cannot gain an unchecked command.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("flax")

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent

# commands that do not run here, each with the test that runs what it does
COVERED = {
    r"^bash scripts/setup\.sh && \.venv/bin/arena demo$":
        "tests/test_package.py::test_demo_builds_neural_digits_evaluates_the_mlp_and_writes_its_result",
    r"^bash scripts/setup\.sh && \.venv/bin/python -m pytest -q$":
        "tests/test_committed_leaderboard.py",  # CI itself (.ci/run); any test file stands for it
    r"^arena-build mnist --download$":
        "tests/test_sources_download.py",  # the network: an md5-checked download from a local server
    r"^arena-build mnist --source hf://datasets/ylecun/mnist$":
        "tests/test_sources_hub.py",  # the network: the Parquet files from a local Hub stand-in
    r"^arena-build cifar10 --source cifar-10-python\.tar\.gz$":
        "tests/test_sources.py",  # the archive is the reader's download
    r"^arena-build modelnet10 --source ModelNet10\.zip --limit 50 --set steps=300$":
        "tests/test_build_ux.py::test_a_shape_build_draws_its_occupancy_points_under_their_own_bar",
    r"^arena download neural_mnist$": "tests/test_hub.py",  # a Hub download, from the local stand-in
    r"^arena push \S+ --repo my-org/neural_mnist$": "tests/test_hub.py",  # the Hub stand-in
    r"^arena push DIR --repo s3://bucket/neural_mnist$": "tests/test_hub.py",  # moto's S3
    r"^ARENA_DATA=\S+ bash benchmarks/study_mnist\.sh$":  # hours: the same script on one tiny cell
        "tests/test_study.py::test_the_reproduction_script_writes_records_figures_and_table_on_a_tiny_grid",
    r"^srun .* sh -c 'arena-build mnist .*--coordinator \S+ --num-processes ":  # a cluster: two local processes
        "tests/test_build_distributed.py",
}
# commands that run, with what a test must change first
REWRITE = [
    ("neural_mnist", "neural_digits"),
    ("https://...", "https://example.org/logreg"),
    ("arena-build mnist --source $ARENA_DATA/mnist",  # 8 NeFs per split: the reader, not the hour
     "arena-build mnist --source $ARENA_DATA/mnist --limit 8 --set steps=20 --out built/neural_mnist"),
]


def _blocks(language: str) -> list[tuple[int, str]]:
    """(first line number, text) of every fenced block in ``language``."""
    out, lines = [], README.read_text().splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == f"```{language}":
            j = i + 1
            while lines[j].strip() != "```":
                j += 1
            out.append((i + 2, "\n".join(lines[i + 1:j])))
            i = j
        i += 1
    return out


def _commands() -> list[tuple[int, str]]:
    """Every shell command of the README's bash blocks, continuation lines joined, comments cut."""
    out = []
    for start, text in _blocks("bash"):
        pending = ""
        for k, line in enumerate(text.splitlines()):
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            command = re.sub(r"\s+", " ", pending + line).strip()
            pending = ""
            if command:
                out.append((start + k, command))
    return out


def _covered(command: str) -> str | None:
    hits = [test for pattern, test in COVERED.items() if re.search(pattern, command)]
    assert len(hits) <= 1, f"{command!r} matches {len(hits)} rules"
    return hits[0] if hits else None


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A working directory: a store holding a fresh neural_digits, the README's model file, and
    a copy of the leaderboard folder for the leaderboard commands."""
    work = tmp_path_factory.mktemp("readme")
    env = {**os.environ, "ARENA_HOME": str(work / "home"), "PATH": f"{BIN}:{os.environ['PATH']}"}
    env.pop("ARENA_REGISTRY", None)
    built = subprocess.run(["arena-build", "digits", "--quiet"], cwd=work, env=env, capture_output=True, text=True)
    assert built.returncode == 0, built.stdout + built.stderr
    model = [text for _, text in _blocks("python") if "def build_model" in text]
    assert len(model) == 1, "the README shows one model file"
    (work / "my_model.py").write_text(model[0] + "\n")
    shutil.copytree(ROOT / "leaderboard", work / "leaderboard")
    return work, env


def test_readme_has_snippets_to_check():
    assert len(_blocks("python")) >= 4 and len(_commands()) >= 20


def test_every_python_snippet_in_the_readme_runs(work):
    cwd, env = work
    failures = []
    for line, text in _blocks("python"):
        if "def build_model" in text:
            code = "import runpy; runpy.run_path('my_model.py')"  # it is a model file: it must import
        else:
            code = text
        run = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                             timeout=900)
        if run.returncode != 0:
            failures.append(f"README.md:{line}: {run.stderr.strip().splitlines()[-1]}")
    assert not failures, "\n".join(failures)


def test_every_shell_command_in_the_readme_runs_or_names_the_test_that_covers_it(work):
    cwd, env = work
    failures = []
    for line, command in _commands():
        covered = _covered(command)
        if covered is not None:
            path, _, name = covered.partition("::")
            text = (ROOT / path).read_text()
            if name and f"def {name}(" not in text:
                failures.append(f"README.md:{line}: {command!r} names {covered}, which does not exist")
            continue
        if command.startswith("arena-build mnist --source $ARENA_DATA") and not os.environ.get("ARENA_DATA"):
            continue  # the raw MNIST files are CI's (tests/_sourcedata.py fails the run there without them)
        for old, new in REWRITE:
            command = command.replace(old, new)
        if command.startswith("arena-eval "):
            command += " --epochs 2"  # the protocol as written, in seconds: 2 epochs per seed
        run = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True,
                             timeout=900)
        if run.returncode != 0:
            tail = (run.stdout + run.stderr).strip().splitlines()[-3:]
            failures.append(f"README.md:{line}: {command!r} exited {run.returncode}: " + " | ".join(tail))
    assert not failures, "\n".join(failures)


def test_every_covered_rule_matches_a_readme_command():
    commands = [c for _, c in _commands()]
    stale = [p for p in COVERED if not any(re.search(p, c) for c in commands)]
    assert not stale, f"rules for commands the README no longer has: {stale}"
