"""The registry's release pins: a fresh `arena-build digits` reproduces neural_digits 1.0.0 byte for byte.

tests/data/neural_digits-1.0.0.arena.json is the canonical build's manifest (the one the registry
pins by sha256). When a rebuild differs, the failure names the settings and files that differ, so
it says whether the platform (the CPU kernel or XLA, the library versions, the block size) or
the code changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from arena import hub

PINNED = Path(__file__).parent / "data" / "neural_digits-1.0.0.arena.json"
SETTINGS = ("fit", "field", "source", "signal", "builder")
HINTS = {
    "fit.dense": "the sine layers' products ran elsewhere (the CPU kernel needs x86-64 with AVX2 "
                 "and FMA and a C++ compiler; ARENA_CPU_KERNELS=0 turns it off)",
    "fit.versions": "install the versions of constraints.txt",
    "fit.block_size": "another number of devices or memory budget split the NeFs into other blocks",
    "fit.matmul_precision": "another matmul precision",
    "fit.sine": "another sine implementation",
}
# what tests/conftest.py adds to XLA_FLAGS: the canonical build is a plain `arena-build digits`
CONFTEST_FLAGS = ("--xla_force_host_platform_device_count", "--xla_cpu_multi_thread_eigen")


def _pin() -> str:
    return hub.registry()["neural_digits"].release("1.0.0").manifest_sha256


def test_stored_canonical_manifest_is_the_registry_pin():
    assert hashlib.sha256(PINNED.read_bytes()).hexdigest() == _pin()
    assert not hub.registry()["neural_digits"].release("1.0.0").published  # pinned, not downloadable


@pytest.mark.slow
def test_fresh_digits_build_reproduces_the_registry_pin(tmp_path):
    env = {**os.environ, "ARENA_HOME": str(tmp_path), "XLA_FLAGS": _plain_xla_flags()}
    env.pop("ARENA_REGISTRY", None)
    proc = subprocess.run([sys.executable, "-c", "from arena.cli.build import main; main()", "digits"],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    built = tmp_path / "datasets" / "neural_digits" / "1.0.0" / "arena.json"
    sha = hashlib.sha256(built.read_bytes()).hexdigest()
    assert sha == _pin(), _explain(sha, json.loads(built.read_text()), json.loads(PINNED.read_text()))


def test_explanation_names_the_product_path_versions_and_files_that_differ():
    pinned = json.loads(PINNED.read_text())
    other = json.loads(PINNED.read_text())
    other["fit"]["dense"] = "xla"
    other["fit"]["versions"]["jax"] = "0.0.1"
    other["splits"]["train"]["files"][0]["sha256"] = "0" * 64
    text = _explain("f" * 64, other, pinned)
    assert "fit.dense: 'xla' here, 'kernel' pinned" in text and "CPU kernel" in text
    assert "fit.versions.jax: '0.0.1' here" in text and "constraints.txt" in text
    assert "data/train-00000-of-00003.safetensors" in text
    assert "fit.block_size" not in text


def _plain_xla_flags() -> str:
    flags = os.environ.get("XLA_FLAGS", "").split()
    return " ".join(f for f in flags if not f.startswith(CONFTEST_FLAGS))


def _explain(sha: str, built: dict[str, Any], pinned: dict[str, Any]) -> str:
    lines = [f"the rebuilt neural_digits 1.0.0 has manifest sha256 {sha}, the registry pins {_pin()}; "
             f"differences from the pinned manifest ({PINNED.name}):"]
    for section in SETTINGS:
        a, b = _flatten(built.get(section), section), _flatten(pinned.get(section), section)
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                hint = next((h for k, h in HINTS.items() if key.startswith(k)), "")
                lines.append(f"  {key}: {a.get(key)!r} here, {b.get(key)!r} pinned" + (f" ({hint})" if hint else ""))
    files_a, files_b = _files(built), _files(pinned)
    for path in sorted(set(files_a) | set(files_b)):
        if files_a.get(path) != files_b.get(path):
            lines.append(f"  {path}: sha256 {str(files_a.get(path))[:12]} here, {str(files_b.get(path))[:12]} pinned")
    if len(lines) == 1:
        lines.append("  no setting or file differs: the manifests differ in their layout (arena.format's JSON writer)")
    return "\n".join(lines)


def _flatten(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}"))
        return out
    return {prefix: value}


def _files(manifest: dict[str, Any]) -> dict[str, str]:
    entries = [f for split in manifest["splits"].values() for f in split["files"]]
    if manifest.get("init"):
        entries.append(manifest["init"])
    return {e["path"]: e["sha256"] for e in entries}
