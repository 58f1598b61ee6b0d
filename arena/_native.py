"""Compiling the package's C++ kernels once per user and machine, and where they are kept.

Contract:

- :func:`build` compiles one source file with ``$CXX`` (else ``g++``, ``c++`` or ``clang++``) into
  a shared library in :func:`cache_dir` (``$ARENA_KERNEL_CACHE``, else
  ``$XDG_CACHE_HOME/arena/kernels``, else ``~/.cache/arena/kernels``), named
  ``<name>-<key>.so``; the key hashes the source, the compiler (its path and ``--version``), the
  flags, the include directories, any extra parts the caller adds (a library version) and the
  machine. A cached library is reused by every later process; it is written whole or not at all
  (:func:`arena.format.write_bytes_atomic`), one compile at a time per key (a file lock).
- A failed compile raises :class:`RuntimeError` with one line naming the command that failed and
  the compiler's last error line; callers fall back to their portable code.
- The kernels are written for x86-64 Linux CPUs with AVX2 and FMA: :func:`unavailable` says why
  they cannot be used here (``ARENA_CPU_KERNELS=0`` included), or returns ``None``.

Nothing here imports JAX: the occupancy labeller's kernel (:mod:`arena.sources._winding`) needs
none, the SIREN kernels (:mod:`arena.fields._dense`) pass XLA's FFI headers as an include dir.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from arena import format as fmt

FLAGS = ("-O3", "-mavx2", "-mfma", "-std=c++17", "-fPIC", "-shared", "-w")


def cache_dir() -> Path:
    """Where compiled kernels are kept, across processes and runs (per user)."""
    if os.environ.get("ARENA_KERNEL_CACHE"):
        return Path(os.environ["ARENA_KERNEL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "arena" / "kernels"


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux lists them in ``/proc/cpuinfo`` (empty elsewhere)."""
    try:
        return frozenset(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return frozenset()


def cpu_has_avx2_fma() -> bool:
    flags = cpu_flags()
    return "avx2" in flags and "fma" in flags


def compiler() -> str | None:
    """The C++ compiler kernels are built with: ``$CXX``, else the first one on ``PATH``."""
    return os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")


def unavailable() -> str | None:
    """Why the CPU kernels cannot be used in this process, or ``None`` when they can."""
    if os.environ.get("ARENA_CPU_KERNELS", "1") == "0":
        return "ARENA_CPU_KERNELS=0 turns it off"
    if not sys.platform.startswith("linux") or platform.machine().lower() not in ("x86_64", "amd64"):
        return f"it is built for x86-64 Linux (this is {sys.platform} on {platform.machine()})"
    if not cpu_has_avx2_fma():
        return "this CPU lacks AVX2 or FMA"
    if compiler() is None:
        return "no C++ compiler was found (set CXX, or install g++)"
    return None


def _compiler_identity(cxx: str) -> str:
    """The compiler's resolved path and the first line of its ``--version`` (part of the key)."""
    path = shutil.which(cxx) or cxx
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
        version = (done.stdout.strip().splitlines() or [""])[0]
    except (OSError, subprocess.SubprocessError):
        version = ""
    return f"{path}\n{version}"


def cache_key(cxx: str, source: Path, flags: Sequence[str], extra: Sequence[str] = ()) -> str:
    """The key of the library that ``cxx`` builds from ``source`` with ``flags``."""
    parts = (source.read_bytes(), _compiler_identity(cxx).encode(), " ".join(flags).encode(),
             *(str(x).encode() for x in extra), platform.machine().encode())
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]


def build(cxx: str, source: Path, *, name: str, flags: Sequence[str] = FLAGS,
          include_dirs: Sequence[str] = (), extra: Sequence[str] = ()) -> Path:
    """The cached library ``name-<key>.so`` built from ``source``, compiled first if missing.

    Raises:
        RuntimeError: the compile failed; the message is one line naming the command.
    """
    from filelock import FileLock

    flags = (*flags, *(f"-I{d}" for d in include_dirs))
    target = cache_dir() / f"{name}-{cache_key(cxx, source, flags, extra)}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if target.exists():  # another process compiled it while this one waited
            return target
        with tempfile.TemporaryDirectory(prefix="arena-kernel-") as tmp:
            out = Path(tmp) / target.name
            cmd = [cxx, *flags, str(source), "-o", str(out)]
            what = "compiling the CPU kernel failed"  # the command names the source
            try:
                done = subprocess.run(cmd, capture_output=True, text=True)
            except OSError as exc:
                raise RuntimeError(f"{what}: `{shlex.join(cmd)}` could not run ({exc})") from None
            if done.returncode != 0 or not out.is_file():
                last = ((done.stderr or done.stdout).strip().splitlines() or ["no output"])[-1]
                raise RuntimeError(f"{what}: `{shlex.join(cmd)}` exited with {done.returncode}: {last}")
            fmt.write_bytes_atomic(target, out.read_bytes())
    return target
