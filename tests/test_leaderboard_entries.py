"""``benchmarks/leaderboard_entries.sh``: every reference entry on the board is the output of one
of its ``arena-eval --submit`` lines, with the method, note and links the submission records."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "leaderboard_entries.sh"


def _printed() -> dict[str, list[str]]:
    env = {"PATH": "/usr/bin:/bin", "ARENA_BIN": str(Path(sys.executable).parent), "HOME": str(Path.home())}
    out = subprocess.run(["bash", str(SCRIPT), "--print", "all"], env=env, capture_output=True, text=True,
                         check=True).stdout
    return {line.split(":", 1)[0]: shlex.split(line.split(":", 1)[1]) for line in out.splitlines()}


def _option(cmd: list[str], name: str) -> str | None:
    return cmd[cmd.index(name) + 1] if name in cmd else None


def test_every_committed_reference_entry_comes_from_one_line_of_the_script():
    commands = _printed()
    for folder in sorted((ROOT / "leaderboard" / "submissions").glob("*/*")):
        result = json.loads((folder / "result.json").read_text())
        submission = json.loads((folder / "submission.json").read_text())
        if not result["model"]["name"].startswith("baseline:"):
            continue
        dataset = result["dataset"]
        matches = [
            name for name, cmd in commands.items()
            if cmd[1] == result["model"]["name"]
            and (_option(cmd, "--dataset") == dataset["name"]
                 or _option(cmd, "--dataset").endswith(f"/{dataset['name']}/{dataset['version']}"))
        ]
        assert len(matches) == 1, f"{folder}: {matches}"
        cmd = commands[matches[0]]
        assert _option(cmd, "--name") == submission["method"], folder
        assert _option(cmd, "--note") == submission["note"], folder
        assert _option(cmd, "--paper-url") == submission["paper_url"], folder
        assert _option(cmd, "--seeds") == str(result["protocol"]["seeds"]) and "--submit" in cmd


def test_an_unknown_entry_is_one_line_naming_the_choices():
    res = subprocess.run(["bash", str(SCRIPT), "--print", "gnn"], capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr.strip() == ("error: unknown entry 'gnn'; choose from: mlp-digits dws-digits gnn-digits "
                                  "transformer-digits mlp-mnist mlp-subset dws-subset or all")
