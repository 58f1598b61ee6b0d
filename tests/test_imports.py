"""Importing the Arena changes nothing global; the fast CPU settings are applied only when asked.

Every check runs in a fresh Python process whose environment has none of the settings (the test
process itself runs under the conftest's flags), so what a module does on import shows.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _nefdata import make_field, nef_params, write_dataset

import arena
import arena_builders

SETTINGS = ("XLA_FLAGS", "JAX_CPU_ENABLE_ASYNC_DISPATCH", "ARENA_XLA_FLAGS")
FLAGS = ("--xla_force_host_platform_device_count=", "--xla_cpu_multi_thread_eigen=false",
         "--xla_cpu_prefer_vector_width=512")


def _public_modules() -> list[str]:
    """Every module of the two packages whose dotted name has no part starting with ``_``."""
    names = set()
    for package in (arena, arena_builders):
        root = Path(package.__file__).parent
        for path in root.rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            if not any(part.startswith("_") for part in parts):
                names.add(".".join((package.__name__, *parts)))
    return sorted(names)


PUBLIC = _public_modules()

# Prepended to every script: what changed in os.environ since `snapshot`, and JAX's config
# (the options of these that this JAX version has; reading it imports jax).
_HELPERS = """
import json, os, sys
def changed(snapshot):
    now = dict(os.environ)
    return sorted(k for k in snapshot.keys() | now.keys() if snapshot.get(k) != now.get(k))
def jax_config():
    import jax
    names = ("jax_cpu_enable_async_dispatch", "jax_numpy_rank_promotion", "jax_enable_x64",
             "jax_platforms")
    return {n: v for n, v in jax.config.values.items() if n in names}
"""


def _fresh(code: str, *args: str, **env: str):
    """Run ``code`` (with ``sys.argv[1:] == args``) in a new interpreter whose environment has
    none of the CPU settings, plus ``env``; return the JSON of its last line of output."""
    clean = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    out = subprocess.run([sys.executable, "-c", _HELPERS + textwrap.dedent(code), *args],
                         env={**clean, **env}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _plain_jax_config() -> dict:
    return _fresh("print(json.dumps(jax_config()))")


def _what_importing_jax_changes() -> list[str]:
    """The variables ``import jax`` itself sets (TPU_SKIP_MDS_QUERY, TF_CPP_MIN_LOG_LEVEL where
    unset): whoever imports jax sets them, so they are not the Arena's doing."""
    return _fresh("snapshot = dict(os.environ); import jax; print(json.dumps(changed(snapshot)))")


def test_the_import_check_covers_every_public_package():
    assert {"arena", "arena.fields", "arena.fit", "arena.data", "arena.graph", "arena.interop",
            "arena.hub", "arena.eval", "arena.baselines", "arena.sources", "arena.metrics",
            "arena.layout", "arena.format", "arena.cli.main", "arena.cli.build",
            "arena_builders"} <= set(PUBLIC)
    assert {f"arena.{m}" for m in arena._SUBMODULES} <= set(PUBLIC)


def test_import_arena_loads_neither_jax_nor_torch_and_is_fast():
    got = _fresh("""
        import time
        t = time.perf_counter()
        import arena
        seconds = time.perf_counter() - t
        print(json.dumps({"heavy": [m for m in ("jax", "torch", "flax") if m in sys.modules],
                          "seconds": seconds}))
    """)
    assert got["heavy"] == []
    assert got["seconds"] < 1.0


def test_importing_every_public_module_leaves_the_environment_and_jax_config_untouched():
    got = _fresh("""
        import importlib
        snapshot = dict(os.environ)
        for name in sys.argv[1:]:
            importlib.import_module(name)
        print(json.dumps({"changed": changed(snapshot), "config": jax_config()}))
    """, *PUBLIC)
    plain = _plain_jax_config()
    assert {"jax_numpy_rank_promotion", "jax_enable_x64", "jax_platforms"} <= plain.keys()
    assert got["changed"] == _what_importing_jax_changes()
    assert got["config"] == plain


def test_jax_view_of_a_dataset_leaves_the_environment_and_jax_config_untouched(tmp_path):
    root = write_dataset(tmp_path / "d", {"train": [nef_params(make_field("siren"), 4)]})
    got = _fresh("""
        snapshot = dict(os.environ)
        import arena
        batches = list(arena.load(sys.argv[1], split="train").jax(2, shuffle=False))
        print(json.dumps({"changed": changed(snapshot), "config": jax_config(),
                          "batches": len(batches)}))
    """, str(root))
    assert got["batches"] == 2
    assert got["changed"] == _what_importing_jax_changes()
    assert got["config"] == _plain_jax_config()


def test_use_all_cores_gives_one_single_threaded_device_per_core_and_leaves_jax_config_alone():
    got = _fresh("""
        from arena import _xla, fit
        fit.use_all_cores()
        import jax
        devices = len(jax.devices())
        fit.use_all_cores()  # once the settings hold, calling again is harmless
        print(json.dumps({"devices": devices, "cores": _xla.cpu_count(),
                          "flags": os.environ["XLA_FLAGS"], "config": jax_config()}))
    """)
    assert got["devices"] == got["cores"]
    assert f"--xla_force_host_platform_device_count={got['cores']}" in got["flags"]
    assert all(flag in got["flags"] for flag in FLAGS)
    assert got["config"] == _plain_jax_config()


def test_use_all_cores_keeps_a_device_count_the_user_set():
    got = _fresh("""
        from arena import fit
        fit.use_all_cores()
        import jax
        print(json.dumps({"devices": len(jax.devices()), "flags": os.environ["XLA_FLAGS"]}))
    """, XLA_FLAGS="--xla_force_host_platform_device_count=3")
    assert got["devices"] == 3
    assert got["flags"].count("xla_force_host_platform_device_count") == 1
    assert "--xla_cpu_multi_thread_eigen=false" in got["flags"]


def test_use_all_cores_after_jax_started_raises_config_error_saying_what_to_do():
    got = _fresh("""
        import jax
        jax.devices()
        from arena import fit
        from arena.errors import ConfigError
        snapshot = dict(os.environ)
        try:
            fit.use_all_cores()
            message = None
        except ConfigError as exc:
            message = str(exc)
        print(json.dumps({"message": message, "changed": changed(snapshot)}))
    """)
    assert got["message"] is not None
    assert "Call it first" in got["message"] and "XLA_FLAGS='" in got["message"]
    assert "\n" not in got["message"]
    assert got["changed"] == []


# `arena-build digits` or `arena demo` with the work itself replaced by a probe of the settings
_COMMAND = """
from pathlib import Path
import arena.demo, arena_builders, arena_builders._build
seen = {}
def probe(*args, **kwargs):
    seen.update(jax_imported="jax" in sys.modules, flags=os.environ.get("XLA_FLAGS", ""))
    raise KeyboardInterrupt  # the work itself never starts
arena_builders.build = arena_builders._build.make = arena.demo.run = probe
try:
    if sys.argv[1] == "build":
        from arena.cli.build import app
        app(["digits"], standalone_mode=False)
    else:
        from arena.cli.main import app
        app(["demo"], standalone_mode=False)
except BaseException:
    pass
print(json.dumps(seen))
"""


@pytest.mark.parametrize("command", ["build", "demo"])
def test_build_and_demo_commands_apply_the_cpu_settings_before_jax_is_imported(command):
    seen = _fresh(_COMMAND, command)
    assert seen["jax_imported"] is False
    assert all(flag in seen["flags"] for flag in FLAGS)


@pytest.mark.parametrize("command", ["build", "demo"])
def test_build_and_demo_commands_leave_xla_flags_alone_with_arena_xla_flags_0(command):
    seen = _fresh(_COMMAND, command, ARENA_XLA_FLAGS="0")
    assert seen["flags"] == ""


# Two small fits; prints the warnings that point to use_all_cores()
_FIT_TWICE = """
import warnings
import numpy as np
from arena import _xla, fields, fit
_xla.cpu_count = lambda: 2  # the same verdict on any machine: two cores
if sys.argv[1] == "use_all_cores":
    fit.use_all_cores()
images = np.random.default_rng(0).random((4, 8, 8)).astype(np.float32)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for _ in range(2):
        fit.fit_images(fields.Siren(hidden=8, layers=2), images, steps=2, progress=False)
print(json.dumps([str(w.message) for w in caught if "use_all_cores" in str(w.message)]))
"""


@pytest.mark.slow
def test_fit_on_a_multicore_cpu_without_the_settings_says_once_how_to_get_them():
    hints = _fresh(_FIT_TWICE, "plain")
    assert len(hints) == 1
    assert "1 XLA CPU device for 2 cores" in hints[0]
    assert "about 2x on a 2-core CPU" in hints[0] and "arena-build" in hints[0]


@pytest.mark.slow
def test_fit_with_use_all_cores_says_nothing():
    assert _fresh(_FIT_TWICE, "use_all_cores") == []
