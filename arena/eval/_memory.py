"""How the evaluation commands ask glibc to keep freed memory (a process-wide setting).

glibc maps every allocation above its mmap threshold (at most 32 MiB) afresh and unmaps it on
free, so each training step's large activations (the graph baselines' edge states) are
page-faulted and zeroed by the kernel again: system time, not arithmetic. :func:`keep_freed_memory`
sets ``M_MMAP_MAX = 0`` and an unbounded ``M_TRIM_THRESHOLD``, so that freed blocks stay in the
process for reuse; the resident size then stays at its peak. It changes the whole process, so
the library never calls it on its own: ``arena-eval`` and ``arena demo`` do, at start
(``ARENA_MALLOC=0`` leaves glibc's defaults), and a script may call it itself.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

ENV = "ARENA_MALLOC"
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # <malloc.h>


def keep_freed_memory() -> bool:
    """Make glibc malloc keep freed memory for reuse; ``False`` where there is no glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to set
        return False
    return bool(mallopt(_M_MMAP_MAX, 0) and mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))


def apply_for_command() -> bool:
    """:func:`keep_freed_memory` unless ``ARENA_MALLOC=0``; what the evaluation commands call."""
    if os.environ.get(ENV, "1") == "0":
        return False
    return keep_freed_memory()
