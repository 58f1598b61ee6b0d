"""The command lines as people expect them: -h and --help everywhere, --version, flags without a
type in the help, `arena list` and `arena info` with sizes and --json, and `arena export`.
Everything runs through typer's CliRunner, offline, in a fresh ARENA_HOME."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from _nefdata import write_dataset
from typer.testing import CliRunner

import arena
from arena import hub
from arena.cli import build, eval as eval_cli, main
from arena.layout import Layout

LAYOUT = Layout([("layers.0.weight", (2, 4)), ("layers.0.bias", (4,)),
                 ("layers.1.weight", (4, 1)), ("layers.1.bias", (1,))])
APPS = {"arena": main.app, "arena-build": build.app, "arena-eval": eval_cli.app}


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """A fresh, offline store per test (the registry is the packaged one)."""
    monkeypatch.delenv("ARENA_REGISTRY", raising=False)
    monkeypatch.setenv("ARENA_HOME", str(tmp_path / "home"))
    for var in ("ARENA_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setenv(var, "1")
    return tmp_path / "home"


def run(app, *args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def built_digits(rows=(5, 2, 3)):
    """A stand-in neural_digits 1.0.0 in the store: 10 classes, P = 17."""
    params = {s: [np.full((n, LAYOUT.num_params), k, np.float32)] for k, (s, n) in enumerate(zip(("train", "val", "test"), rows))}
    return write_dataset(hub.local_path("neural_digits", "1.0.0"), params, layout=LAYOUT, name="neural_digits",
                         source={"name": "digits", "num_classes": 10})


def command_paths(command, prefix=()) -> list[tuple[str, ...]]:
    """Every command and group under a click command, as argument paths (the root is ())."""
    paths = [prefix]
    for name, sub in getattr(command, "commands", {}).items():
        paths += command_paths(sub, (*prefix, name))
    return paths


def every_command():
    import typer

    return [(prog, path) for prog, app in APPS.items() for path in command_paths(typer.main.get_command(app))]


# --------------------------------------------------------------------------------------------
# Help and version


@pytest.mark.parametrize(("prog", "path"), every_command(), ids=lambda v: " ".join(v) if isinstance(v, tuple) else v)
def test_every_command_takes_dash_h_as_well_as_dash_dash_help(prog, path):
    short, long = run(APPS[prog], *path, "-h"), run(APPS[prog], *path, "--help")
    assert short.exit_code == long.exit_code == 0, short.output
    assert short.output == long.output and "Usage:" in short.output


@pytest.mark.parametrize(("prog", "path"), every_command(), ids=lambda v: " ".join(v) if isinstance(v, tuple) else v)
def test_help_shows_flags_without_a_bool_type_or_a_negative_twin(prog, path):
    help_text = run(APPS[prog], *path, "--help").output
    assert "<bool>" not in help_text
    assert "--no-" not in help_text and "[default: no-" not in help_text, help_text
    assert "-h" in help_text and "Show this message and exit." in help_text


@pytest.mark.parametrize(("prog", "path"), every_command(), ids=lambda v: " ".join(v) if isinstance(v, tuple) else v)
def test_help_prose_wraps_to_the_terminal_not_at_the_docstrings_line_breaks(prog, path):
    import typer

    command = typer.main.get_command(APPS[prog])
    for name in path:
        command = command.commands[name]
    paragraphs = [" ".join(line.strip() for line in p.splitlines()) for p in (command.help or "").split("\n\n")]
    wide = CliRunner().invoke(APPS[prog], [*path, "--help"], env={"COLUMNS": "2000"}).output
    for paragraph in filter(None, paragraphs):
        assert paragraph in wide, (paragraph, wide)


@pytest.mark.parametrize("app, args, says", [
    ("arena-eval", ["m.py", "--seeds", "abc"], "Invalid value for '--seeds'"),
    ("arena-eval", [], "Missing argument 'model'"),
    ("arena", ["bogus-cmd"], "No such command 'bogus-cmd'"),
    ("arena", ["leaderboard", "verify", "--nope"], "No such option: --nope"),
    ("arena-build", ["digits", "--set"], "Option '--set' requires an argument"),
])
def test_usage_errors_end_in_one_line_and_exit_1_like_every_other_bad_input(app, args, says):
    res = run(APPS[app], *args)
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 1 and len(lines) == 1, res.output
    assert lines[0].startswith("error: ") and says in lines[0] and "--help lists what it takes" in lines[0]


def test_help_reflow_keeps_click_verbatim_blocks_and_stops_at_form_feed():
    from arena.cli._help import reflow

    text = "Do a thing\nwell.\n\n\bExamples:\n  arena list\n  arena info X\n\nMore\ntext.\f\nInternal notes."
    assert reflow(text) == "Do a thing well.\n\n\bExamples:\n  arena list\n  arena info X\n\nMore text."


def test_help_keeps_the_type_of_options_that_take_a_value():
    help_text = run(build.app, "--help").output
    assert "<int>" in help_text and "<path>" in help_text
    line = next(line for line in help_text.splitlines() if "--quiet" in line)
    assert "<" not in line


def test_version_prints_the_package_version():
    result = run(main.app, "--version")
    assert result.exit_code == 0 and result.output == f"neural-field-arena {arena.__version__}\n"


# --------------------------------------------------------------------------------------------
# list and info


def table_row(output: str, name: str) -> list[str]:
    line = next(line for line in output.splitlines() if f"│ {name} " in line)
    return [cell.strip() for cell in line.split("│")[1:-1]]


def test_list_shows_nefs_per_split_params_classes_and_size():
    root = built_digits()
    result = run(main.app, "list")
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if "┃" in line)
    assert [c.strip() for c in header.split("┃")[1:-1]] == [
        "name", "version", "published at", "here", "NeFs train/val/test", "params", "classes", "size"]
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    assert table_row(result.output, "neural_digits") == [
        "neural_digits", "1.0.0", "not published", "built", "5/2/3", "17", "10", f"{size / 1000:.1f} kB"]


def test_list_in_an_80_column_terminal_keeps_names_and_counts_whole():
    built_digits()
    result = CliRunner().invoke(main.app, ["list"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    header = next(line for line in result.output.splitlines() if "┃" in line)
    assert [c.strip() for c in header.split("┃")[1:-1]] == ["name", "version", "here", "NeFs train/val/test", "size"]
    for name in hub.registry():
        assert f"│ {name} " in result.output, name  # never cut to "neural_…"
    assert table_row(result.output, "neural_mnist")[3] == "55,000/5,000/10,000"
    version = next(iter(hub.registry()["neural_mnist_subset"].releases))  # a long one: it breaks at + and .
    lines = result.output.splitlines()
    start = next(i for i, line in enumerate(lines) if "│ neural_mnist_subset " in line)
    rows = [lines[start]] + list(itertools.takewhile(lambda line: line.split("│")[1].strip() == "", lines[start + 1:]))
    parts = [row.split("│")[2].strip() for row in rows]
    assert len(parts) > 1 and "".join(parts) == version and all(p.endswith(("+", ".")) for p in parts[:-1]), parts
    assert "a wider terminal adds published at, params and classes" in result.output


def test_list_shows_the_registry_split_sizes_of_datasets_not_here():
    row = table_row(run(main.app, "list").output, "neural_mnist")
    assert row[3:] == ["-", "55,000/5,000/10,000", "-", "-", "-"]


def test_list_json_is_a_stable_document():
    root = built_digits()
    first, second = run(main.app, "list", "--json"), run(main.app, "list", "--json")
    assert first.exit_code == 0 and first.output == second.output
    doc = json.loads(first.output)
    assert doc["format"] == "arena-list/1"
    digits = next(d for d in doc["datasets"] if d["name"] == "neural_digits")
    assert digits == {
        "name": "neural_digits", "version": "1.0.0", "published_at": None, "here": "built", "path": str(root),
        "num_examples": {"train": 5, "val": 2, "test": 3}, "num_params": 17, "num_classes": 10,
        "bytes": sum(p.stat().st_size for p in root.rglob("*") if p.is_file()),
    }
    mnist = next(d for d in doc["datasets"] if d["name"] == "neural_mnist")
    assert mnist["num_examples"] == {"train": 55000, "val": 5000, "test": 10000} and mnist["here"] is None
    assert {tuple(sorted(d)) for d in doc["datasets"]} == {tuple(sorted(digits))}


def test_info_shows_nefs_per_split_params_classes_and_size_on_disk():
    root = built_digits()
    result = run(main.app, "info", "neural_digits")
    assert result.exit_code == 0, result.output
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    for text in ("digits, 10 classes", "P = 17 parameters per NeF", "train 5 · val 2 · test 3 NeFs",
                 f"{size / 1000:.1f} kB on disk", str(root)):
        assert text in result.output


def test_info_of_a_dataset_not_here_shows_the_registry_split_sizes():
    result = run(main.app, "info", "neural_mnist")
    assert result.exit_code == 0, result.output
    assert "train 55,000 · val 5,000 · test 10,000 NeFs (the registry's release" in result.output


def test_info_json_is_a_stable_document():
    root = built_digits()
    result = run(main.app, "info", "neural_digits", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    assert doc["format"] == "arena-info/1" and doc["name"] == "neural_digits" and doc["version"] == "1.0.0"
    assert doc["num_examples"] == {"train": 5, "val": 2, "test": 3} and doc["num_examples_from"] == "manifest"
    assert (doc["num_params"], doc["num_classes"], doc["bytes"], doc["bytes_on_disk"]) == (17, 10, size, size)
    assert doc["read_from"] == str(root) and doc["local_copies"] == [str(root)] and doc["arch"] == "siren"
    remote = json.loads(run(main.app, "info", "neural_mnist", "--json").output)
    assert remote.keys() == doc.keys()
    assert remote["num_examples"] == {"train": 55000, "val": 5000, "test": 10000}
    assert remote["num_examples_from"] == "registry" and remote["num_params"] is None


def test_info_of_an_unknown_name_is_one_line_with_a_suggestion():
    result = run(main.app, "info", "neural_mnsit", "--json")
    assert result.exit_code == 1 and "Did you mean 'neural_mnist'" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


# --------------------------------------------------------------------------------------------
# export


def test_export_command_writes_parquet_then_refuses_to_write_over_it_without_force(tmp_path):
    pytest.importorskip("datasets")
    built_digits()
    out = tmp_path / "digits-parquet"
    first = run(main.app, "export", "neural_digits", "--out", str(out))
    assert first.exit_code == 0, first.output
    assert f"exported neural_digits to {out}" in first.output
    assert sorted(p.name for p in (out / "data").iterdir()) == [
        "test-00000-of-00001.parquet", "train-00000-of-00001.parquet", "val-00000-of-00001.parquet"]
    again = run(main.app, "export", "neural_digits", "--out", str(out))
    assert again.exit_code == 1 and "already holds an export of neural_digits 1.0.0; pass --force" in again.output
    assert len(again.output.strip().splitlines()) == 1
    assert run(main.app, "export", "neural_digits", "--out", str(out), "--force").exit_code == 0


def test_export_command_refuses_an_unknown_format_in_one_line(tmp_path):
    built_digits()
    result = run(main.app, "export", "neural_digits", "--out", str(tmp_path / "x"), "--format", "csv")
    assert result.exit_code == 1 and "Unknown export format 'csv'" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "x").exists()


def test_the_console_scripts_print_arena_warnings_as_one_line_without_the_library_source():
    import subprocess
    import sys

    code = (  # the console script's main(), with a command that warns from the library and from elsewhere
        "import warnings, arena.data\n"
        "from arena.cli import main\n"
        "def app():\n"
        "    warnings.warn_explicit('arena.load uses a custom build', UserWarning, arena.data.__file__, 107)\n"
        "    warnings.warn_explicit('from elsewhere', DeprecationWarning, '/elsewhere/lib.py', 3)\n"
        "main.app = app\n"
        "main.main()\n"
    )
    err = subprocess.run([sys.executable, "-W", "always", "-c", code], capture_output=True, text=True).stderr
    lines = err.splitlines()
    assert "warning: arena.load uses a custom build" in lines, err
    assert not any("arena/data" in line and "custom build" in line for line in lines), err
    assert any(line.startswith("/elsewhere/lib.py:3: DeprecationWarning: from elsewhere") for line in lines), err
