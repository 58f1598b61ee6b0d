"""Issue 19, evaluation side: hostile or careless model files, datasets and paths given to
``arena-eval``, ``arena show`` and ``arena demo`` end in one clear line, and nothing is written."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")

from _nefdata import make_field, nef_params, write_dataset  # noqa: E402
from arena import format as fmt  # noqa: E402
from arena.cli.eval import app as eval_app  # noqa: E402
from arena.cli.main import app as main_app  # noqa: E402
from arena.errors import ConfigError, DatasetContentError, ModelFileError  # noqa: E402
from arena.eval import evaluate, result  # noqa: E402

SIZES = {"train": 40, "val": 24, "test": 37}  # distinct lengths: a split's arrays are recognisable
QUICK = ["--seeds", "1", "--epochs", "1", "--quiet"]

LINEAR = """
    import torch
    HPARAMS = {"batch_size": 16}
    def build_model(spec):
        return torch.nn.Linear(spec.num_params, spec.num_classes)
"""


def _dataset(root, *, labels=None):
    """A 3-class SIREN dataset of random NeFs (numpy only); ``labels`` replace splits' labels."""
    field = make_field("siren")
    arrays = {s: nef_params(field, n, seed=i) for i, (s, n) in enumerate(SIZES.items())}
    classes = {s: np.arange(n) % 3 for s, n in SIZES.items()}
    classes.update(labels or {})
    return write_dataset(root, {s: [a] for s, a in arrays.items()},
                         labels={s: [np.asarray(y, np.int64)] for s, y in classes.items()})


def _replace_params(root, split, params):
    """Rewrite ``split``'s shard with ``params`` and re-sign it in the manifest (stats unchanged)."""
    data = json.loads((root / fmt.MANIFEST_NAME).read_text())
    rel = data["splits"][split]["files"][0]["path"]
    arrays = {k: np.array(v) for k, v in fmt.shard_arrays(root / rel, mmap=False).items()}
    (root / rel).unlink()
    fmt.write_shard(root / rel, params, arrays["label"], arrays["index"], {"psnr": arrays["metric.psnr"]})
    data["splits"][split] = fmt.split_entry(root, [rel])
    fmt.Manifest(data).write(root)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return _dataset(tmp_path_factory.mktemp("hostile") / "neural_test")


def _model_file(tmp_path, body: str, name: str = "model.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def _one_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


def _eval_cli(*args):
    return CliRunner().invoke(eval_app, [str(a) for a in args])


# ---------------------------------------------------------------- defect 5: model code ends the harness

_RAISING = {  # where a model file's code raises
    "import": "import sys\n{raise_}\ndef build_model(spec):\n    pass\n",
    "build_model": "import sys\ndef build_model(spec):\n    {raise_}\n",
    "forward": """import sys, torch
class M(torch.nn.Linear):
    def forward(self, x):
        {raise_}
def build_model(spec):
    return M(spec.num_params, spec.num_classes)
""",
}


@pytest.mark.parametrize("where, raise_, named", [
    ("import", "raise KeyboardInterrupt", "KeyboardInterrupt"),
    ("build_model", "sys.exit(0)", "SystemExit: 0"),
    ("build_model", "sys.exit()", "SystemExit"),
    ("build_model", "raise KeyboardInterrupt", "KeyboardInterrupt"),
    ("build_model", "raise GeneratorExit", "GeneratorExit"),
    ("build_model", "raise type('Stop', (BaseException,), {})('bye')", "Stop: bye"),
    ("forward", "raise SystemExit(1)", "SystemExit: 1"),
    ("forward", "sys.exit(0)", "SystemExit: 0"),
    ("forward", "raise KeyboardInterrupt", "KeyboardInterrupt"),
])
def test_model_code_that_raises_a_base_exception_ends_in_one_line_naming_the_file(tiny, tmp_path, where,
                                                                                 raise_, named):
    model = _model_file(tmp_path, _RAISING[where].format(raise_=raise_))
    out = tmp_path / "r.json"
    res = _eval_cli(model, "--dataset", tiny, *QUICK, "--out", out)
    assert res.exit_code == 1, res.output
    line = _one_line(res.output)
    assert str(model) in line and named in line
    assert not out.exists()


@pytest.mark.parametrize("where, exit_, says, status", [
    ("build_model", "os._exit(0)", "ended before it finished (exit status 0)", 1),
    ("import", "os._exit(3)", "ended before it finished (exit status 3)", 3),
    ("forward", "os.kill(os.getpid(), signal.SIGKILL)", "killed by SIGKILL (on Linux most often the out-of-memory", 137),
])
def test_model_code_that_ends_the_process_is_reported_by_arena_eval_in_one_line(tiny, tmp_path, where, exit_,
                                                                              says, status):
    """The console script itself (a real process): os._exit and a kill bypass every handler in
    the process, so the evaluation runs in a child and arena-eval reports how it ended."""
    model = _model_file(tmp_path, _RAISING[where].format(raise_=exit_).replace("import sys", "import os, signal, sys"))
    out = tmp_path / "r.json"
    done = subprocess.run([str(Path(sys.executable).parent / "arena-eval"), str(model), "--dataset", str(tiny),
                           *QUICK, "--out", str(out)], capture_output=True, text=True,
                          env={**os.environ, "ARENA_HOME": str(tmp_path / "home")})
    assert done.returncode == status, done.stderr
    assert says in _one_line(done.stdout + done.stderr)
    assert not out.exists()


def test_a_sigint_sent_to_arena_eval_stops_the_run_and_the_working_directory_shadows_no_module(tiny, tmp_path):
    """A SIGINT sent to the console script's own process (kill -INT, timeout -s INT, a launcher)
    reaches the evaluation; a json.py where arena-eval runs is not imported in its place."""
    started = tmp_path / "started"
    model = _model_file(tmp_path, f"""
        import pathlib, time, torch
        class M(torch.nn.Linear):
            def forward(self, x):
                pathlib.Path({str(started)!r}).touch()
                time.sleep(0.2)
                return super().forward(x)
        def build_model(spec):
            return M(spec.num_params, spec.num_classes)
    """)
    (tmp_path / "json.py").write_text("raise SystemExit(5)\n")
    out = tmp_path / "r.json"
    run = subprocess.Popen([str(Path(sys.executable).parent / "arena-eval"), str(model), "--dataset", str(tiny),
                            "--seeds", "1", "--epochs", "50", "--quiet", "--out", str(out)], cwd=tmp_path,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env={**os.environ, "ARENA_HOME": str(tmp_path / "home")})
    deadline = time.monotonic() + 120
    while not started.exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    run.send_signal(signal.SIGINT)
    output, _ = run.communicate(timeout=120)
    assert run.returncode == 130 and "Interrupted" in output, output
    assert not out.exists()


@pytest.mark.parametrize("returns, says", [
    ("out.argmax(-1, keepdim=True).expand(-1, out.shape[1])", "a tensor of int64"),
    ("out > 0", "a tensor of bool"),
    ("out.to('meta')", "logits on meta"),
])
def test_logits_that_are_not_floats_on_the_device_end_in_one_line(tiny, tmp_path, returns, says):
    model = _model_file(tmp_path, f"""
        import torch
        class M(torch.nn.Linear):
            def forward(self, x):
                out = super().forward(x)
                return {returns}
        def build_model(spec):
            return M(spec.num_params, spec.num_classes)
    """)
    res = _eval_cli(model, "--dataset", tiny, *QUICK)
    assert res.exit_code == 1 and says in _one_line(res.output), res.output


@pytest.mark.parametrize("body, says", [
    ("def build_model(spec)\n    pass\n", "SyntaxError: expected ':' (model.py, line 1)."),
    ("class E(Exception):\n    def __str__(self):\n        raise ValueError('no')\n"
     "def build_model(spec):\n    raise E()\n", "raised E: (its message could not be printed) (at model.py:5)"),
])
def test_a_syntax_error_or_an_unprintable_exception_is_one_line_naming_the_model_file(tiny, tmp_path, body, says):
    model = _model_file(tmp_path, body)
    res = _eval_cli(model, "--dataset", tiny, *QUICK)
    line = _one_line(res.output)
    assert res.exit_code == 1 and says in line and "importlib" not in line, res.output


def test_a_real_ctrl_c_during_model_code_still_stops_the_evaluation(tiny, tmp_path):
    model = _model_file(tmp_path, """
        import signal, torch
        class M(torch.nn.Linear):
            def forward(self, x):
                signal.raise_signal(signal.SIGINT)  # what the terminal sends on Ctrl-C
                return super().forward(x)
        def build_model(spec):
            return M(spec.num_params, spec.num_classes)
    """)
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        evaluate(model, tiny, seeds=1, epochs=1, progress=False)
    assert signal.getsignal(signal.SIGINT) is before


# ---------------------------------------------------------------- defect 8: where the test labels are

_SNOOP = """
import gc, hashlib, sys, types
import numpy as np
import torch

HPARAMS = {{"batch_size": 16, "epochs": 1}}
N, DIGEST = {n}, "{digest}"
ARRAYS = (np.ndarray, np.memmap, torch.Tensor)


def _is_test_labels(x):
    if type(x) is torch.Tensor and x.dtype == torch.int64 and x.shape == (N,):
        x = x.detach().cpu().numpy()
    return (type(x) in ARRAYS[:2] and x.dtype == np.int64 and x.shape == (N,)
            and hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest() == DIGEST)


def _walk(x, seen, depth):  # are the test labels reachable from x through containers, attributes?
    if id(x) in seen or depth < 0 or isinstance(x, (type, types.ModuleType, types.FunctionType)):
        return False
    seen.add(id(x))
    if _is_test_labels(x):
        return True
    if type(x) is dict:
        children = list(x.values())
    elif type(x) in (list, tuple, set, frozenset):
        children = list(x)
    elif isinstance(x, (np.ndarray, torch.Tensor, str, bytes, int, float, type(None))):
        return False
    else:
        children = list(getattr(x, "__dict__", {{}}).values())
        children += [getattr(x, s, None) for c in type(x).__mro__ for s in getattr(c, "__slots__", ())]
    return any(_walk(c, seen, depth - 1) for c in children)


def snoop(where, *handed, everything=False):
    if any(_walk(h, set(), 6) for h in handed):
        raise RuntimeError(f"the test labels were handed to the model ({{where}})")
    if everything:  # every array any live object holds (a second, so only in build_model)
        gc.collect()
        arrays = [x for x in gc.get_referents(*gc.get_objects()) if type(x) in ARRAYS]
        if any(_is_test_labels(x) for x in arrays):
            raise RuntimeError(f"the test labels are in memory, held by a live object ({{where}})")
    frame = sys._getframe(1)
    while frame is not None:  # the harness's frames, which model code can walk up to
        if "arena" in frame.f_code.co_filename:
            if any(_walk(v, set(), 6) for v in list(frame.f_locals.values())):
                raise RuntimeError(f"the test labels are reachable from {{frame.f_code.co_name}} ({{where}})")
        frame = frame.f_back


class M(torch.nn.Linear):
    snooped = False

    def forward(self, x):
        if self.training and not self.snooped:
            self.snooped = True
            snoop("forward", x)
        return super().forward(x)


def build_model(spec):
    snoop("build_model", spec, everything=True)
    return M(spec.num_params, spec.num_classes)
"""


def test_model_code_finds_no_test_labels_while_it_is_built_and_trained(tmp_path):
    test_labels = np.random.default_rng(7).integers(0, 3, SIZES["test"])
    digest = hashlib.sha256(test_labels.astype(np.int64).tobytes()).hexdigest()
    root = _dataset(tmp_path / "ds", labels={"test": test_labels})
    del test_labels  # nothing in this test holds them either
    model = _model_file(tmp_path, _SNOOP.format(n=SIZES["test"], digest=digest))
    doc = evaluate(model, root, seeds=2, progress=False)  # a snoop that finds them raises
    assert [s["seed"] for s in doc["seeds"]] == [0, 1]


def test_test_labels_are_read_from_disk_only_after_each_seeds_training_and_selection(tiny, tmp_path,
                                                                                   monkeypatch):
    epochs, seeds = 2, 3
    events, reads = [], []
    read_split = fmt.read_split

    def spy(dataset, split, **kwargs):
        reads.append((split, len(events)))
        return read_split(dataset, split, **kwargs)

    monkeypatch.setattr(fmt, "read_split", spy)
    evaluate(_model_file(tmp_path, LINEAR), tiny, seeds=seeds, epochs=epochs, progress=events.append)
    assert len(events) == seeds * epochs
    assert {epochs_done for split, epochs_done in reads if split != "test"} == {0}
    # one read per seed, once its last epoch (training, val, selection) has been reported
    assert [epochs_done for split, epochs_done in reads if split == "test"] == [
        epochs * (s + 1) for s in range(seeds)]


# ---------------------------------------------------------------- defect 4: labels out of range

@pytest.mark.parametrize("split", ["train", "val", "test"])
@pytest.mark.parametrize("bad", [99, -5])
def test_a_label_outside_the_classes_stops_the_evaluation_naming_split_and_label(tmp_path, split, bad):
    labels = np.arange(SIZES[split]) % 3
    labels[5] = bad
    root = _dataset(tmp_path / "ds", labels={split: labels})
    model = _model_file(tmp_path, LINEAR)
    out = tmp_path / "r.json"
    res = _eval_cli(model, "--dataset", root, *QUICK, "--out", out)
    assert res.exit_code == 1
    line = _one_line(res.output)
    assert f"split '{split}' has 1 label(s) outside the valid range (0 to 2, 3 classes)" in line
    assert f"e.g. {bad} at row 5" in line
    assert not out.exists()
    # train and val are checked before training; test labels when they are read, after it
    events = []
    with pytest.raises(DatasetContentError, match=f"split '{split}' has 1 label"):
        evaluate(model, root, seeds=1, epochs=1, progress=events.append)
    assert len(events) == (1 if split == "test" else 0)


# ---------------------------------------------------------------- non-finite parameters and logits

@pytest.mark.parametrize("split", ["train", "val", "test"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_parameters_stop_the_evaluation_naming_the_split(tmp_path, split, value):
    params = nef_params(make_field("siren"), SIZES[split], seed=3)
    params[4, 7] = value
    root = _dataset(tmp_path / "ds")
    _replace_params(root, split, params)
    out = tmp_path / "r.json"
    res = _eval_cli(_model_file(tmp_path, LINEAR), "--dataset", root, *QUICK, "--out", out)
    assert res.exit_code == 1
    line = _one_line(res.output)
    assert f"split '{split}' has non-finite parameters (NeF 4" in line
    assert not out.exists()


def test_logits_that_are_nan_only_in_eval_mode_are_named_with_seed_and_epoch(tiny, tmp_path):
    model = _model_file(tmp_path, """
        import torch
        class M(torch.nn.Linear):
            def forward(self, x):
                out = super().forward(x)
                return out if self.training else out * float("nan")
        def build_model(spec):
            return M(spec.num_params, spec.num_classes)
    """)
    out = tmp_path / "r.json"
    res = _eval_cli(model, "--dataset", tiny, *QUICK, "--out", out)
    assert res.exit_code == 1
    line = _one_line(res.output)
    assert str(model) in line and "not finite in eval mode" in line
    assert "split 'val'" in line and "seed 0, epoch 1" in line
    assert not out.exists()


# ---------------------------------------------------------------- output paths

@pytest.mark.parametrize("out, message", [
    ("results", "it is an existing directory"),
    ("notes.txt/r.json", "notes.txt is a file, not a directory"),
])
def test_arena_eval_refuses_an_out_that_cannot_be_a_file_before_any_work(tiny, tmp_path, out, message):
    marker = tmp_path / "imported"
    model = _model_file(tmp_path, f"open({str(marker)!r}, 'w').close()\n" + textwrap.dedent(LINEAR))
    (tmp_path / "results").mkdir()
    (tmp_path / "notes.txt").write_text("mine")
    res = _eval_cli(model, "--dataset", tiny, *QUICK, "--out", tmp_path / out)
    assert res.exit_code == 1
    assert message in _one_line(res.output) and str(tmp_path / out) in res.output
    assert not marker.exists() and list((tmp_path / "results").iterdir()) == []
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("name", ["../../evil", "/{tmp}/abs/evil"])
def test_a_dataset_name_cannot_move_the_default_result_outside_results(tiny, tmp_path, monkeypatch, name):
    import shutil

    name = name.format(tmp=str(tmp_path).strip("/"))
    root = shutil.copytree(tiny, tmp_path / "copy")
    data = json.loads((root / fmt.MANIFEST_NAME).read_text())
    data["name"] = name
    (root / fmt.MANIFEST_NAME).write_text(json.dumps(data))
    work = tmp_path / "work" / "here"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    res = _eval_cli(_model_file(tmp_path, LINEAR), "--dataset", root, *QUICK)
    assert res.exit_code == 1
    assert name in _one_line(res.output)
    assert not (tmp_path / "evil").exists() and not (tmp_path / "abs").exists()
    assert not (work / "results").exists() or list((work / "results").rglob("*.json")) == []


@pytest.mark.parametrize("name", ["../../evil", "/abs/evil", "a/../../evil"])
def test_the_default_result_path_never_leaves_its_root_whatever_the_dataset_name(tmp_path, name):
    root = tmp_path / "results"
    assert result.default_path(root, {"dataset": {"name": "neural_test"}, "model": {"name": "baseline:mlp"}}) \
        == root / "neural_test" / "baseline-mlp.json"
    with pytest.raises(ConfigError, match=f"The dataset name '{name}' would put the result at .*, outside"):
        result.default_path(root, {"dataset": {"name": name}, "model": {"name": "baseline:mlp"}})


def test_arena_show_refuses_an_existing_directory_as_output_before_any_work(tiny, tmp_path, monkeypatch):
    import arena

    def no_load(*args, **kwargs):
        raise AssertionError("arena show opened the dataset before checking -o")

    monkeypatch.setattr(arena, "load", no_load)
    out = tmp_path / "pictures"
    out.mkdir()
    res = CliRunner().invoke(main_app, ["show", str(tiny), "0", "-o", str(out)])
    assert res.exit_code == 1
    assert "is an existing directory" in _one_line(res.output) and str(out) in res.output
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("index", ["-1", "-40", "37"])
def test_arena_show_says_an_index_is_out_of_range_and_names_the_range(tiny, tmp_path, index):
    res = CliRunner().invoke(main_app, ["show", str(tiny), index, "-o", str(tmp_path / "x.png")])
    assert res.exit_code == 1
    line = _one_line(res.output)
    assert f"INDEX {index} is out of range" in line and "37 NeFs (0..36)" in line
    assert not (tmp_path / "x.png").exists()


# ---------------------------------------------------------------- arena demo --model

@pytest.mark.parametrize("ref, message", [
    ("nosuch.py", "'nosuch.py' does not exist"),
    ("{tmp}", "is a directory"),
    ("{tmp}/model.txt", "is not a .py file"),
    ("baseline:nope", "Unknown baseline 'nope'"),
])
def test_arena_demo_checks_the_model_file_before_building(tmp_path, monkeypatch, ref, message):
    import arena_builders

    def no_build(*args, **kwargs):
        raise AssertionError("arena demo started the build before checking --model")

    monkeypatch.setattr(arena_builders, "build", no_build)
    monkeypatch.setenv("ARENA_HOME", str(tmp_path / "home"))
    (tmp_path / "model.txt").write_text(textwrap.dedent(LINEAR))
    res = CliRunner().invoke(main_app, ["demo", "--model", ref.format(tmp=tmp_path)])
    assert res.exit_code == 1
    assert message in _one_line(res.output)
    assert not (tmp_path / "home").exists()


def test_a_model_file_that_is_not_python_is_refused_by_evaluate_too(tiny, tmp_path):
    with pytest.raises(ModelFileError, match=r"model.txt' is not a \.py file"):
        evaluate(_model_file(tmp_path, LINEAR, name="model.txt"), tiny, seeds=1, progress=False)
