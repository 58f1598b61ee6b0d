"""The process-wide CPU settings that make the fitter fast, applied only when asked for.

On a multi-core CPU the fitter is fastest with:

- one XLA host device per core (``--xla_force_host_platform_device_count``): the fitter spreads
  its blocks over the local devices, one host thread per device;
- single-threaded XLA programs (``--xla_cpu_multi_thread_eigen=false``), so the devices do not
  share Eigen's thread pool: one core per device;
- 512-bit vectors where the CPU has them (``--xla_cpu_prefer_vector_width=512``).

They are ``XLA_FLAGS``: they hold for the whole process, XLA reads them once, when JAX
initialises its CPU backend, and other JAX code (a user's own model) may run slower under them,
so importing the Arena never sets them; JAX's own options (its CPU dispatch included) are never
changed. :func:`use_all_cores` (public as ``arena.fit.use_all_cores``) applies them, keeping
any already set; the command lines ``arena-build`` and ``arena demo`` and the fit benchmarks
apply them first thing through :func:`apply_for_command`, which ``ARENA_XLA_FLAGS=0`` turns off.
A fit on a multi-core CPU without them warns once per process (:func:`hint_once`). What they
are worth is in docs/measurements.md.
"""

from __future__ import annotations

import os
import sys
import warnings

from arena.errors import ConfigError

OPT_OUT_ENV = "ARENA_XLA_FLAGS"  # "0": the entry points leave XLA_FLAGS and JAX alone
_hinted = False


def cpu_count() -> int:
    """The cores this process may use (``sched_getaffinity`` where the OS has it)."""
    getaffinity = getattr(os, "sched_getaffinity", None)
    return len(getaffinity(0)) if getaffinity else (os.cpu_count() or 1)


def use_all_cores() -> None:
    """Make JAX fit on every CPU core: one single-threaded XLA device per core.

    Adds ``--xla_force_host_platform_device_count=<cores>``, ``--xla_cpu_multi_thread_eigen=false``
    and ``--xla_cpu_prefer_vector_width=512`` to ``XLA_FLAGS``, for this process and the
    processes it starts; a flag you have set yourself is kept. Only the CPU platform is affected.

    Call it before anything initialises JAX's backends (``jax.devices()``, the first array, the
    first ``jit``); importing ``jax`` or ``arena.fit`` first is fine. Calling it again, once the
    settings hold, does nothing.

    Raises:
        ConfigError: JAX's backends are already initialised without these settings, so they
            can no longer take effect.

    Example:
        >>> from arena import fit
        >>> fit.use_all_cores()  # first thing in the script, before anything uses JAX
        >>> import jax
        >>> len(jax.devices())  # on a 2-core CPU
        2
    """
    flags = os.environ.get("XLA_FLAGS", "")
    extra = _missing_flags(flags)
    if not extra:
        return
    wanted = " ".join([flags, *extra]).strip()
    if _backend_initialised():
        raise ConfigError(
            "arena.fit.use_all_cores() came after JAX initialised its backends, so its settings "
            "can no longer take effect. Call it first, before anything uses JAX, or set them "
            f"yourself before starting Python: XLA_FLAGS='{wanted}'."
        )
    os.environ["XLA_FLAGS"] = wanted


def apply_for_command() -> None:
    """:func:`use_all_cores` for a command line or benchmark, called before it uses JAX.

    Does nothing when ``ARENA_XLA_FLAGS=0`` or when the process hosting the command (a test,
    a notebook) has already initialised JAX: its settings stand.
    """
    if os.environ.get(OPT_OUT_ENV, "1") == "0" or _backend_initialised():
        return
    use_all_cores()


def hint_once(devices) -> None:
    """Warn, once per process, when a fit on a multi-core CPU runs without the settings.

    ``devices`` are the local devices a fit uses by default. Nothing is said on accelerators, on
    one core, under ``jax.distributed`` (processes share the cores) or with ``ARENA_XLA_FLAGS=0``.
    """
    global _hinted
    if _hinted or os.environ.get(OPT_OUT_ENV, "1") == "0":
        return
    if not devices or any(d.platform != "cpu" for d in devices):
        return
    import jax

    cores = cpu_count()
    if len(devices) >= cores or jax.process_count() > 1:
        return
    _hinted = True
    warnings.warn(
        f"arena.fit runs on {len(devices)} XLA CPU device{'s' if len(devices) > 1 else ''} for "
        f"{cores} cores; one single-threaded device per core fits faster (about 2x on a 2-core "
        f"CPU, measured). Call arena.fit.use_all_cores() before anything uses JAX, or build with "
        f"`arena-build`; {OPT_OUT_ENV}=0 silences this.",
        UserWarning,
        stacklevel=_outside_arena(),
    )


def _missing_flags(flags: str) -> list[str]:
    wanted = {
        "xla_force_host_platform_device_count": str(cpu_count()),
        "xla_cpu_multi_thread_eigen": "false",
        "xla_cpu_prefer_vector_width": "512",
    }
    return [f"--{name}={value}" for name, value in wanted.items() if name not in flags]


def _outside_arena() -> int:
    """The ``stacklevel`` that makes a warning from the calling function name the user's code."""
    frame, level = sys._getframe(2), 2
    while frame is not None and frame.f_globals.get("__name__", "").startswith("arena"):
        frame, level = frame.f_back, level + 1
    return level


def _backend_initialised() -> bool:
    if "jax" not in sys.modules:
        return False
    from jax._src import xla_bridge  # JAX has no public "are the backends up" check

    return xla_bridge.backends_are_initialized()
