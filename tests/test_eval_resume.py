"""An interrupted evaluation continues from its checkpoint to the numbers of an uninterrupted run,
on a real (small) neural digits build; the state is locked, refused when damaged, and removed
once arena-eval has written the result."""

from __future__ import annotations

import json
import signal
import textwrap

import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")

from arena.cli.eval import app  # noqa: E402
from arena.errors import ConfigError  # noqa: E402
from arena.eval import _checkpoint, evaluate  # noqa: E402
from arena.eval.harness import Interrupted, discard_checkpoint  # noqa: E402
from arena_builders import build  # noqa: E402

# every random source the harness carries across epochs: dropout (torch's generator), the
# optimizer's moments and AMSGrad maxima, a warmup then cosine schedule, augmentation draws
MODEL = """
import signal
import torch
INPUT = "flat"
HPARAMS = {"epochs": 4, "batch_size": 32, "lr": 3e-3, "warmup_steps": 3, "schedule": "cosine",
           "clip_grad_norm": 1.0, "amsgrad": True, "augment": ["permute", "noise"]}
def build_model(spec):
    return torch.nn.Sequential(torch.nn.Linear(spec.num_params, 32), torch.nn.ReLU(),
                               torch.nn.Dropout(0.3), torch.nn.Linear(32, spec.num_classes))
"""


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    out = tmp_path_factory.mktemp("resume") / "neural_digits"
    return build("digits", out=out, limit=120, overrides={"steps": "40"}, progress=False)


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(textwrap.dedent(MODEL))
    return path


def _wrapped(tmp_path, name: str, condition: str, action: str):
    """MODEL, whose forward does ``action`` in training once ``condition`` on its call count holds."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(MODEL) + textwrap.dedent(f"""
        class Wrapped(torch.nn.Module):
            def __init__(self, spec):
                super().__init__()
                self.net, self.calls = build(spec), 0
            def forward(self, x):
                self.calls += 1
                out = self.net(x)
                if self.training and self.calls {condition}:
                    {action}
                return out
        build, build_model = build_model, Wrapped
    """))
    return path


def _interrupt_at(seed: int, epoch: int, seen: list):
    """A progress callback that records each epoch and sends the process a real SIGINT at one."""

    def callback(event):
        seen.append((event["seed"], event["epoch"]))
        if (event["seed"], event["epoch"]) == (seed, epoch):
            signal.raise_signal(signal.SIGINT)

    return callback


def _numbers(document):
    """Everything of the seeds but the seconds."""
    return [{k: v for k, v in run.items() if "seconds" not in k}
            | {"history": [{k: v for k, v in h.items() if k != "seconds"} for h in run["history"]]}
            for run in document["seeds"]]


def test_an_interrupted_run_continues_to_the_numbers_of_an_uninterrupted_one(digits, model, tmp_path):
    straight = evaluate(model, digits, seeds=2, progress=False)
    seen = []
    with pytest.raises(Interrupted, match=r"1 seed finished.*continues it at seed 1 from epoch 3"):
        evaluate(model, digits, seeds=2, progress=_interrupt_at(1, 2, seen), checkpoints=tmp_path / "runs",
                 checkpoint_every=0)
    assert seen[-1] == (1, 2)
    after = []
    resumed = evaluate(model, digits, seeds=2, progress=lambda e: after.append((e["seed"], e["epoch"])),
                       checkpoints=tmp_path / "runs", checkpoint_every=0)
    assert after == [(1, 3), (1, 4)]  # seed 0 and seed 1's first two epochs came from the checkpoint
    assert _numbers(resumed) == _numbers(straight)
    assert resumed["summary"] == straight["summary"]


def test_restart_discards_the_saved_state_and_starts_from_seed_0(digits, model, tmp_path):
    with pytest.raises(Interrupted):
        evaluate(model, digits, seeds=1, progress=_interrupt_at(0, 2, []), checkpoints=tmp_path, checkpoint_every=0)
    seen = []
    evaluate(model, digits, seeds=1, progress=lambda e: seen.append((e["seed"], e["epoch"])), checkpoints=tmp_path,
             restart=True)
    assert seen[0] == (0, 1)


def test_the_state_stays_after_evaluate_and_discard_checkpoint_removes_only_its_files(digits, model, tmp_path):
    document = evaluate(model, digits, seeds=1, progress=False, checkpoints=tmp_path / "runs")
    folder = _checkpoint.run_dir(tmp_path / "runs", document)
    assert (folder / "state.pt").is_file()
    mine = tmp_path / "runs" / "keep.txt"
    mine.write_text("not the harness's")
    discard_checkpoint(tmp_path / "runs", document)
    assert not folder.parent.exists()  # the dataset's folder held only this run
    assert mine.read_text() == "not the harness's"


def test_a_second_copy_of_the_same_run_is_refused_while_the_first_holds_its_lock(digits, model, tmp_path):
    document = evaluate(model, digits, seeds=1, progress=False, checkpoints=tmp_path)
    with _checkpoint.RunState(_checkpoint.run_dir(tmp_path, document)):
        with pytest.raises(ConfigError, match="Another arena-eval is running this same run"):
            evaluate(model, digits, seeds=1, progress=False, checkpoints=tmp_path)


def test_a_save_killed_midway_leaves_a_temporary_file_that_the_next_run_removes(digits, model, tmp_path):
    document = evaluate(model, digits, seeds=1, progress=False, checkpoints=tmp_path)
    folder = _checkpoint.run_dir(tmp_path, document)
    stale = folder / ".state.pt.999999.tmp"  # what a process killed inside torch.save leaves
    stale.write_bytes(b"half a pickle")
    mine = folder / "notes.txt"
    mine.write_text("not the harness's")
    with _checkpoint.RunState(folder):
        assert not stale.exists() and mine.exists()


def test_a_damaged_checkpoint_is_one_line_that_names_restart(digits, model, tmp_path):
    document = evaluate(model, digits, seeds=1, progress=False, checkpoints=tmp_path)
    (_checkpoint.run_dir(tmp_path, document) / "state.pt").write_bytes(b"half a file")
    with pytest.raises(ConfigError, match="cannot be read.*--restart"):
        evaluate(model, digits, seeds=1, progress=False, checkpoints=tmp_path)
    assert evaluate(model, digits, seeds=1, progress=False, checkpoints=tmp_path, restart=True)["seeds"]


def test_another_run_of_the_same_model_keeps_its_own_checkpoint(digits, model, tmp_path):
    with pytest.raises(Interrupted):
        evaluate(model, digits, seeds=1, progress=_interrupt_at(0, 2, []), checkpoints=tmp_path, checkpoint_every=0)
    seen = []
    evaluate(model, digits, seeds=1, epochs=2, progress=lambda e: seen.append(e["epoch"]), checkpoints=tmp_path)
    assert seen == [1, 2]  # other settings: a new run, not the 4-epoch one's checkpoint
    states = list(tmp_path.rglob("state.pt"))
    assert len(states) == 2


def test_arena_eval_removes_its_checkpoint_once_the_result_is_written(digits, model, tmp_path, monkeypatch):
    monkeypatch.setenv("ARENA_HOME", str(tmp_path / "home"))
    out = tmp_path / "result.json"
    res = CliRunner().invoke(app, [str(model), "--dataset", str(digits), "--seeds", "1", "--epochs", "2",
                                   "--quiet", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["seeds"]
    assert not list((tmp_path / "home" / "runs").rglob("*"))


def test_ctrl_c_in_arena_eval_is_one_line_with_where_the_run_stands(digits, tmp_path, monkeypatch):
    monkeypatch.setenv("ARENA_HOME", str(tmp_path / "home"))
    # stands in for a person pressing Ctrl-C: a real SIGINT, mid-epoch
    model = _wrapped(tmp_path, "stopped.py", "== 8", "signal.raise_signal(signal.SIGINT)")
    out = tmp_path / "result.json"
    res = CliRunner().invoke(app, [str(model), "--dataset", str(digits), "--seeds", "1", "--quiet",
                                   "--out", str(out)])
    assert res.exit_code == 130, res.output
    assert "Interrupted before the run's first checkpoint" in res.output
    assert "nothing was kept; the same command starts it again" in res.output
    assert "Traceback" not in res.output
    assert not out.exists()
    assert not list((tmp_path / "home" / "runs").rglob("*"))  # nothing to continue: no folder left


def test_a_run_that_fails_by_the_models_fault_leaves_no_checkpoint_behind(digits, tmp_path):
    model = _wrapped(tmp_path, "diverges.py", "> 9", 'return out * float("nan")')
    from arena.errors import ModelFileError

    with pytest.raises(ModelFileError, match="training loss became nan"):
        evaluate(model, digits, seeds=1, progress=False, checkpoints=tmp_path / "runs", checkpoint_every=0)
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").rglob("*.pt"))
    assert not list((tmp_path / "runs").rglob("lock"))


def test_running_out_of_memory_keeps_the_checkpoint_for_a_later_try(digits, tmp_path):
    model = _wrapped(tmp_path, "oom.py", "> 9",
                     'raise RuntimeError("DefaultCPUAllocator: can\'t allocate memory: you tried to allocate 9 GB")')
    from arena.errors import ModelFileError

    with pytest.raises(ModelFileError, match="can't allocate memory"):
        evaluate(model, digits, seeds=1, progress=False, checkpoints=tmp_path / "runs", checkpoint_every=0)
    assert len(list((tmp_path / "runs").rglob("state.pt"))) == 1


def test_a_checkpoint_made_with_other_package_versions_is_not_continued(digits, model, tmp_path):
    with pytest.raises(Interrupted):
        evaluate(model, digits, seeds=1, progress=_interrupt_at(0, 2, []), checkpoints=tmp_path, checkpoint_every=0)
    (path,) = tmp_path.rglob("state.pt")
    state = torch.load(path, weights_only=True)
    state["versions"]["torch"] = "1.0.0"
    torch.save(state, path)
    with pytest.raises(ConfigError, match=r"was made with torch 1\.0\.0 \(now .*\).*--restart"):
        evaluate(model, digits, seeds=1, progress=False, checkpoints=tmp_path)
    assert evaluate(model, digits, seeds=1, progress=False, checkpoints=tmp_path, restart=True)["seeds"]


def test_a_run_with_other_settings_says_it_starts_afresh_beside_an_unfinished_one(digits, model, tmp_path, capsys):
    with pytest.raises(Interrupted):
        evaluate(model, digits, seeds=1, progress=_interrupt_at(0, 2, []), checkpoints=tmp_path, checkpoint_every=0)
    (unfinished,) = (p.parent.name for p in tmp_path.rglob("state.pt"))
    evaluate(model, digits, seeds=1, epochs=1, progress=True, checkpoints=tmp_path)
    err = capsys.readouterr().err
    assert "Starting afresh: the unfinished run(s) of this model in" in " ".join(err.split())
    assert unfinished in err
