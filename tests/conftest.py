"""Run JAX strictly, on two host CPU devices, so sharding is tested on any laptop.

The flags must be set before JAX is imported anywhere, hence at the top of the conftest.
"""

import os
import tempfile

os.environ["XLA_FLAGS"] = " ".join(
    f for f in os.environ.get("XLA_FLAGS", "").split() if "host_platform_device_count" not in f
) + " --xla_force_host_platform_device_count=2 --xla_cpu_multi_thread_eigen=false"
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# the CPU dense kernel is compiled once per run into a fresh cache (subprocesses inherit it)
os.environ.setdefault("ARENA_KERNEL_CACHE", tempfile.mkdtemp(prefix="arena-kernels-"))

import pytest  # noqa: E402


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
