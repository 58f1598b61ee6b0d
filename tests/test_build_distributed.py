"""`arena-build` on several processes under jax.distributed: whole shards per process, process 0's
manifest last, the same bytes as one process, resumption from whole shards, one-line refusals."""

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arena import format as fmt
from arena.cli.build import app
from arena.errors import ConfigError
from arena_builders._distributed import check_written, launch_settings

pytest.importorskip("sklearn")
pytest.importorskip("jax")

# 6 NeFs per split in shards of 2: 9 shards, 5 for process 0 and 4 for process 1
BUILD = ["digits", "--limit", "6", "--set", "steps=5", "--set", "shard_size=2"]
CODE = "from arena.cli.build import main; main()"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ARENA_COORDINATOR", "ARENA_NUM_PROCESSES",
                                                          "ARENA_PROCESS_ID", "ARENA_HOME")}
    # the processes' own XLA settings (conftest's two CPU devices each), the lock dir in tmp
    return {**env, "JAX_PLATFORMS": "cpu", "ARENA_HOME": str(home), "PYTHONUNBUFFERED": "1", **extra}


def _run_group(out: Path, home: Path, args=("--quiet",), args1=None) -> list[subprocess.CompletedProcess]:
    """Two processes building ``out``: process 0 told by options, process 1 by environment."""
    port = _free_port()
    first = subprocess.Popen(
        [sys.executable, "-c", CODE, *BUILD, *args, "--out", str(out), "--coordinator", f"127.0.0.1:{port}",
         "--num-processes", "2", "--process-id", "0"],
        env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    second = subprocess.Popen(
        [sys.executable, "-c", CODE, *BUILD, *(args if args1 is None else args1), "--out", str(out)],
        env=_env(home, ARENA_COORDINATOR=f"127.0.0.1:{port}", ARENA_NUM_PROCESSES="2", ARENA_PROCESS_ID="1"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    done = []
    try:
        for proc in (first, second):
            stdout, _ = proc.communicate(timeout=300)
            done.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout))
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                proc.kill()
    return done


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def one_process(tmp_path_factory) -> Path:
    """The same build in one process, with the same devices per process."""
    tmp = tmp_path_factory.mktemp("one")
    out = tmp / "ds"
    subprocess.run([sys.executable, "-c", CODE, *BUILD, "--quiet", "--out", str(out)], env=_env(tmp / "home"),
                   check=True, capture_output=True, timeout=300)
    return out


def test_two_processes_write_every_file_byte_identical_to_one_process(one_process, tmp_path):
    out = tmp_path / "ds"
    first, second = _run_group(out, tmp_path / "home", args=())
    assert first.returncode == 0, first.stdout
    assert second.returncode == 0, second.stdout
    assert _tree(out) == _tree(one_process)
    assert fmt.verify(out) == []
    # whole shards each: 5 of 2 NeFs for process 0, 4 for process 1; process 0 reports the build
    fitting = [[next(t for t in line.split() if re.fullmatch(r"\d+/\d+", t)) for line in proc.stdout.splitlines()
                if line.startswith("fitting neural_digits")]
               for proc in (first, second)]
    assert fitting == [["10/10"], ["8/8"]], first.stdout + second.stdout
    assert first.stdout.rstrip().endswith(f"built {out}")
    assert second.stdout.rstrip().endswith(f"process 1 of 2: its shards are in {out}; process 0 reports the build")
    assert "drawing the dataset card" not in second.stdout


def test_a_group_resumes_from_the_whole_shards_a_killed_group_left(one_process, tmp_path):
    out = tmp_path / "ds"
    names = [f["path"] for split in ("train", "val", "test")
             for f in fmt.Manifest.load(one_process)["splits"][split]["files"]]
    (out / "data").mkdir(parents=True)
    kept = names[::2]  # process 0's shards were written; process 1 died before writing its own
    for name in kept:
        shutil.copy2(one_process / name, out / name)
    (out / f"{names[1]}{fmt.INCOMPLETE_SUFFIX}").write_bytes(b"half a shard")
    before = {name: (out / name).stat().st_mtime_ns for name in kept}

    first, second = _run_group(out, tmp_path / "home")
    assert (first.returncode, second.returncode) == (0, 0), first.stdout + second.stdout
    assert {name: (out / name).stat().st_mtime_ns for name in kept} == before  # kept, not refit
    assert _tree(out) == _tree(one_process)


def test_a_process_that_fails_stops_the_group_in_one_line_and_no_manifest_is_written(tmp_path):
    out = tmp_path / "ds"
    first, second = _run_group(out, tmp_path / "home", args1=["--set", "seed=1"])
    assert (first.returncode, second.returncode) == (1, 1), first.stdout + second.stdout
    said = " ".join(second.stdout.split())
    assert "Process 0 builds neural_digits" in said and "give every process the same arguments" in said
    said = " ".join(first.stdout.split())
    assert "Process 1 of 2 stopped the build" in said and "resumes from the complete shards" in said
    assert "Traceback" not in first.stdout + second.stdout
    assert not (out / fmt.MANIFEST_NAME).exists()


@pytest.mark.parametrize("args, env, says", [
    (["--num-processes", "two"], {}, "--num-processes 'two' is not a whole number"),
    (["--num-processes", "0"], {}, "--num-processes 0 is not 1 or more"),
    (["--coordinator", "127.0.0.1:29500", "--num-processes", "2", "--process-id", "2"], {},
     "--process-id 2 is out of range for 2 processes"),
    (["--coordinator", "node001", "--num-processes", "2", "--process-id", "0"], {},
     "--coordinator 'node001' is not HOST:PORT"),
    (["--num-processes", "2"], {}, "also needs --coordinator (or $ARENA_COORDINATOR) and --process-id"),
    ([], {"ARENA_PROCESS_ID": "1"}, "Got $ARENA_PROCESS_ID 1 but no --num-processes"),
    ([], {"ARENA_COORDINATOR": "h:1", "ARENA_NUM_PROCESSES": "2", "ARENA_PROCESS_ID": "x"},
     "$ARENA_PROCESS_ID 'x' is not a whole number"),
])
def test_bad_launch_options_are_refused_in_one_line_before_anything_starts(tmp_path, monkeypatch, args, env, says):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(app, ["digits", "--out", str(tmp_path / "ds"), *args])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(" ".join(lines).split("error:")) == 2 and "Traceback" not in result.output
    assert says in " ".join(result.output.split())
    assert not (tmp_path / "ds").exists()


def test_one_process_or_no_options_is_a_plain_build():
    assert launch_settings(environ={}) is None
    assert launch_settings(num_processes="1", environ={}) is None
    launch = launch_settings(environ={"ARENA_COORDINATOR": "[::1]:29500", "ARENA_NUM_PROCESSES": "4",
                                      "ARENA_PROCESS_ID": "3"})
    assert (launch.coordinator, launch.num_processes, launch.process_id, launch.leads) == ("[::1]:29500", 4, 3, False)
    assert launch_settings("h:1", "2", "0", environ={"ARENA_PROCESS_ID": "1"}).process_id == 0  # options win


def test_process_0_refuses_a_shard_it_does_not_see_as_its_writer_wrote_it(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.bin").write_bytes(b"shard bytes")
    entry = fmt.file_entry(tmp_path, "data/a.bin")
    check_written(tmp_path, "data/a.bin", entry, writer=1)
    with pytest.raises(ConfigError, match="differs from what process 1 wrote.*shared filesystem"):
        check_written(tmp_path, "data/a.bin", {**entry, "sha256": "0" * 64}, writer=1)
    with pytest.raises(ConfigError, match="not in .* as process 0 sees it.*shared filesystem"):
        check_written(tmp_path, "data/b.bin", entry, writer=1)


def test_a_process_whose_coordinator_is_gone_stops_in_one_line_not_a_traceback():
    from builders._distributed import Group

    class GoneStore:  # stands in for JAX's key-value client once process 0 has died
        def key_value_set(self, *args, **kwargs):
            raise RuntimeError("UNAVAILABLE: failed to connect to all addresses\nstack ...")

        key_value_dir_get = blocking_key_value_get = key_value_set

    group = Group(1, 2, GoneStore(), "arena-build/0/")
    for call in (lambda: group._set("shard/x", "{}"), group._check, lambda: group._wait("end")):
        with pytest.raises(ConfigError, match=r"^Process 1 lost the build's coordinator \(UNAVAILABLE: failed to "
                                              r"connect to all addresses\); rerun every process"):
            call()
