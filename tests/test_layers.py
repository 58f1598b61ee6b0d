"""arena._layers: imports between the package's units flow one way, and the check says where not."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from arena import _layers


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    """A synthetic ``arena`` package under ``tmp_path`` with the given files (and ``__init__``)."""
    root = tmp_path / "arena"
    root.mkdir()
    (root / "__init__.py").write_text("from arena.errors import ArenaError\n__version__ = '0'\n")
    (root / "errors.py").write_text("class ArenaError(Exception):\n    pass\n")
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def _check(root: Path, capsys) -> tuple[int, str]:
    code = _layers.main([str(root)])
    return code, capsys.readouterr().out


def test_the_arena_package_imports_flow_one_way():
    done = subprocess.run([sys.executable, "-m", "arena._layers"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cli" in done.stdout and "[entry points]" in done.stdout


def test_an_import_up_a_layer_inside_a_function_is_named_with_its_file_and_line(tmp_path, capsys):
    root = _package(tmp_path, {
        "cli/__init__.py": "def main():\n    pass\n",
        "format/__init__.py": "import json\n\n\ndef f():\n    from arena.cli import main\n    return main\n",
    })
    code, out = _check(root, capsys)
    assert code == 1
    assert "arena/format/__init__.py:5: format (core) imports arena.cli (cli, entry points): an import up a layer" in out


def test_a_relative_import_up_a_layer_is_resolved_and_named(tmp_path, capsys):
    root = _package(tmp_path, {
        "eval/__init__.py": "",
        "data/__init__.py": "",
        "data/_split.py": "from ..eval import harness\n",
    })
    code, out = _check(root, capsys)
    assert code == 1 and "arena/data/_split.py:1: data (library) imports arena.eval" in out


def test_a_cycle_between_units_of_one_layer_is_named(tmp_path, capsys):
    root = _package(tmp_path, {
        "data/__init__.py": "from arena.hub import resolve\n",
        "hub/__init__.py": "def resolve():\n    from arena import data\n    return data\n",
    })
    code, out = _check(root, capsys)
    assert code == 1
    assert ("cycle data -> hub -> data: data -> hub (arena/data/__init__.py:1), "
            "hub -> data (arena/hub/__init__.py:2)") in out


def test_downward_imports_type_checking_imports_and_the_root_facade_pass(tmp_path, capsys):
    root = _package(tmp_path, {
        "cli/__init__.py": "import arena.data\nfrom arena import __version__, format\n",
        "data/__init__.py": "from arena.format import read\nfrom . import _split\n",
        "data/_split.py": "from arena.errors import ArenaError\n",
        "format/__init__.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from arena.data import Split\n"
            "def read():\n    pass\n"
        ),
    })
    code, out = _check(root, capsys)
    assert code == 0, out
    assert "data" in out and "Imports flow one way" in out


def test_a_unit_without_a_layer_must_be_given_one(tmp_path, capsys):
    root = _package(tmp_path, {"gadget.py": "from arena.errors import ArenaError\n"})
    code, out = _check(root, capsys)
    assert code == 1 and "unit 'gadget' has no layer: add it to arena._layers.LAYERS" in out


def test_nef_is_numpy_only_and_sits_below_the_units_that_use_it():
    nef = _layers.rank("nef")
    assert all(_layers.rank(u) < nef for u in ("fields", "graph", "data", "interop", "eval"))
    assert all(_layers.rank(u) > nef for u in ("format", "layout", "errors"))
    assert _layers.rank("cli") == 0
