"""Run JAX strictly, on two host CPU devices, so sharding is tested on any laptop.

The flags must be set before JAX is imported anywhere, hence at the top of the conftest. The CPU
kernel compiles into its per-user cache (arena/fields/_dense.py), once, not once per run.

Tests that read real raw source files find them under ``$ARENA_DATA`` and are marked
``needs_data``: without the files they skip, under CI they fail (tests/_sourcedata.py).

The session runs in a store of its own (``ARENA_HOME``, a temporary folder removed at the end),
so that no test reads, writes or removes datasets, results or run checkpoints in the user's
store; tests that need a particular store set ``ARENA_HOME`` themselves.
"""

import os
import shutil
import tempfile

os.environ["XLA_FLAGS"] = " ".join(
    f for f in os.environ.get("XLA_FLAGS", "").split() if "host_platform_device_count" not in f
) + " --xla_force_host_platform_device_count=2 --xla_cpu_multi_thread_eigen=false"
os.environ.setdefault("JAX_PLATFORMS", "cpu")
SESSION_HOME = tempfile.mkdtemp(prefix="arena-test-home-")
os.environ["ARENA_HOME"] = SESSION_HOME

import pytest  # noqa: E402
from _sourcedata import require  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "needs_data(*paths): reads $ARENA_DATA/<path>; skips without it, fails under CI")


def pytest_runtest_setup(item):
    for mark in item.iter_markers("needs_data"):
        require(*mark.args)


@pytest.fixture(autouse=True, scope="session")
def strict_jax():
    try:
        import jax
    except ImportError:
        yield
        return
    jax.config.update("jax_numpy_rank_promotion", "raise")
    assert len(jax.devices()) == 2, "tests expect two forced host devices"
    yield


@pytest.fixture
def fresh_kernel_state(monkeypatch):
    """Forget the process-wide load of the SIREN CPU kernel before and after a test that changes
    what it loads (environment, compiler, checks); yields ``monkeypatch``."""
    from arena.fields import _dense

    _dense._load.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    _dense._load.cache_clear()


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(SESSION_HOME, ignore_errors=True)  # the session's own store, created above
