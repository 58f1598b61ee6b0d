"""Training recipes in HPARAMS (warmup, cosine, clipping, AMSGrad), per-epoch history, --augment
and where arena-eval writes, on a real (small) neural digits build."""

from __future__ import annotations

import json
import math
import textwrap

import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")

from arena.cli.eval import app  # noqa: E402
from arena.errors import ConfigError  # noqa: E402
from arena.eval import evaluate, result  # noqa: E402
from arena.eval.protocol import Settings, parse_augment  # noqa: E402
from arena_builders import build  # noqa: E402


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    out = tmp_path_factory.mktemp("recipes") / "neural_digits"
    return build("digits", out=out, limit=120, overrides={"steps": "40"}, progress=False)


def _model(tmp_path, hparams: dict, name="model.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(f"""
        import torch
        INPUT = "flat"
        HPARAMS = {hparams!r}
        def build_model(spec):
            return torch.nn.Sequential(torch.nn.Linear(spec.num_params, 32), torch.nn.ReLU(),
                                       torch.nn.Linear(32, spec.num_classes))
    """))
    return path


def test_warmup_rises_linearly_then_holds_the_learning_rate():
    s = Settings(warmup_steps=4)
    assert [s.lr_factor(k, 100, 10) for k in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_warmup_in_epochs_counts_steps_per_epoch():
    assert Settings(warmup_epochs=2).warmup_length(steps_per_epoch=7) == 14


def test_cosine_decays_from_lr_to_zero_after_the_warmup():
    s = Settings(warmup_steps=10, schedule="cosine")
    assert s.lr_factor(10, 110, 5) == pytest.approx(1.0)
    assert s.lr_factor(60, 110, 5) == pytest.approx(0.5)
    assert s.lr_factor(109, 110, 5) == pytest.approx(0.5 * (1 + math.cos(math.pi * 99 / 100)))


@pytest.mark.parametrize("bad", [
    {"warmup_steps": -1}, {"warmup_epochs": 1001}, {"warmup_steps": 5, "warmup_epochs": 1},
    {"schedule": "linear"}, {"clip_grad_norm": -0.5}, {"amsgrad": "yes"},
])
def test_recipe_settings_out_of_bounds_are_refused_by_name(bad):
    with pytest.raises(ConfigError, match=next(iter(bad)) if len(bad) == 1 else "not both"):
        Settings.resolve(bad)


def test_a_document_that_predates_the_recipe_keys_reads_as_the_defaults():
    old = {"epochs": 5, "batch_size": 32, "lr": 1e-3, "weight_decay": 0.0, "normalize": True,
           "augment": [], "noise_std": 0.01, "dropout": 0.05}
    assert Settings.from_json(old) == Settings(epochs=5, batch_size=32, weight_decay=0.0)


def test_recipe_is_applied_and_recorded_in_the_result(digits, tmp_path):
    recipe = {"epochs": 3, "batch_size": 32, "lr": 3e-3, "warmup_steps": 5, "schedule": "cosine",
              "clip_grad_norm": 1.0, "amsgrad": True}
    doc = evaluate(_model(tmp_path, recipe), digits, seeds=1, progress=False)
    result.validate(doc)
    settings = doc["protocol"]["settings"]
    assert {k: settings[k] for k in recipe} == recipe
    plain = evaluate(_model(tmp_path, {"epochs": 3, "batch_size": 32, "lr": 3e-3}, "plain.py"), digits,
                     seeds=1, progress=False)
    # the same model and seed: the recipe changes the training trajectory
    assert [h["train_loss"] for h in doc["seeds"][0]["history"]] != \
        [h["train_loss"] for h in plain["seeds"][0]["history"]]


def test_each_seed_records_its_per_epoch_history(digits, tmp_path):
    doc = evaluate(_model(tmp_path, {"epochs": 4, "batch_size": 32}), digits, seeds=2, progress=False)
    for run in doc["seeds"]:
        history = run["history"]
        assert [h["epoch"] for h in history] == [1, 2, 3, 4]
        assert all(h["train_loss"] > 0 and h["seconds"] > 0 for h in history)
        assert max(h["val_accuracy"] for h in history) == run["val_accuracy"]
        assert history[run["best_epoch"] - 1]["val_accuracy"] == run["val_accuracy"]


def test_history_entries_are_schema_checked(digits, tmp_path):
    doc = evaluate(_model(tmp_path, {"epochs": 1, "batch_size": 32}), digits, seeds=1, progress=False)
    doc["seeds"][0]["history"][0]["val_accuracy"] = 1.5
    with pytest.raises(Exception, match="1.5"):
        result.validate(doc)


def test_parse_augment_accepts_lists_and_none_and_names_an_unknown_value_or_an_empty_name():
    assert parse_augment("permute, noise") == ("permute", "noise")
    assert parse_augment("none") == parse_augment("") == ()
    with pytest.raises(ConfigError, match="'rotate'.*permute, signflip, noise, dropout"):
        parse_augment("permute,rotate")
    for text in ("permute,,noise", "permute,", ","):
        with pytest.raises(ConfigError, match="empty name between commas"):
            parse_augment(text)


def test_cli_augment_overrides_hparams_and_default_output_is_under_arena_home(digits, tmp_path, monkeypatch):
    monkeypatch.setenv("ARENA_HOME", str(tmp_path / "home"))
    model = _model(tmp_path, {"epochs": 1, "batch_size": 32, "augment": ["noise"]})
    run = CliRunner().invoke(app, [str(model), "--dataset", str(digits), "--seeds", "1",
                                   "--augment", "permute,signflip", "--quiet"])
    assert run.exit_code == 0, run.output
    path = tmp_path / "home" / "results" / "neural_digits" / "model.json"
    assert f"result: {path}" in run.output
    assert json.loads(path.read_text())["protocol"]["settings"]["augment"] == ["permute", "signflip"]
    assert path.stat().st_mode & 0o040, "results are readable by the user's group"


def test_cli_unknown_augmentation_is_one_line_and_writes_nothing(digits, tmp_path, monkeypatch):
    monkeypatch.setenv("ARENA_HOME", str(tmp_path / "home"))
    run = CliRunner().invoke(app, [str(_model(tmp_path, {"epochs": 1})), "--dataset", str(digits),
                                   "--augment", "mixup", "--quiet"])
    assert run.exit_code == 1
    assert "Unknown augmentation 'mixup'" in run.output and "Traceback" not in run.output
    assert not (tmp_path / "home" / "results").exists()


def test_arena_plot_draws_curves_of_several_results_and_refuses_one_without_history(digits, tmp_path):
    from arena.cli.main import app as arena_app

    paths = []
    for name, hp in (("small.py", {"epochs": 3, "batch_size": 32}), ("fast.py", {"epochs": 3, "lr": 1e-2})):
        doc = evaluate(_model(tmp_path, hp, name), digits, seeds=2, progress=False)
        paths.append(result.write(doc, tmp_path / f"{name}.json"))
    out = tmp_path / "curves.png"
    run = CliRunner().invoke(arena_app, ["plot", *map(str, paths), "-o", str(out)])
    assert run.exit_code == 0, run.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = tmp_path / "again.png"
    CliRunner().invoke(arena_app, ["plot", *map(str, paths), "-o", str(again)])
    assert again.read_bytes() == out.read_bytes(), "the same results draw the same bytes"

    old = json.loads(paths[0].read_text())
    for run_ in old["seeds"]:
        del run_["history"]
    stale = tmp_path / "old.json"
    stale.write_text(json.dumps(old))
    run = CliRunner().invoke(arena_app, ["plot", str(stale), "-o", str(tmp_path / "x.png")])
    assert run.exit_code == 1 and "has no per-epoch history" in run.output
    assert "Traceback" not in run.output and not (tmp_path / "x.png").exists()


def test_arena_eval_keeps_freed_memory_unless_arena_malloc_0_and_the_library_never_does(digits, tmp_path,
                                                                                        monkeypatch):
    from arena.eval import _memory

    calls = []
    monkeypatch.setattr(_memory, "keep_freed_memory", lambda: calls.append(1) or True)
    monkeypatch.setenv("ARENA_HOME", str(tmp_path / "home"))
    model = _model(tmp_path, {"epochs": 1, "batch_size": 32})
    evaluate(model, digits, seeds=1, progress=False)
    assert calls == [], "evaluate() is a library call: it changes nothing process-wide"
    args = [str(model), "--dataset", str(digits), "--seeds", "1", "--quiet"]
    assert CliRunner().invoke(app, args).exit_code == 0
    assert calls == [1]
    monkeypatch.setenv("ARENA_MALLOC", "0")
    assert CliRunner().invoke(app, args).exit_code == 0
    assert calls == [1]


def test_keep_freed_memory_sets_glibc_malloc_in_a_fresh_process():
    import subprocess
    import sys

    code = "from arena.eval._memory import keep_freed_memory; print(keep_freed_memory())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ("True" if sys.platform.startswith("linux") else "False")


def test_the_device_string_counts_threads_in_english_and_rerun_reads_it_back(digits, tmp_path):
    from arena.leaderboard._rerun import _THREADS_RE

    before = torch.get_num_threads()
    try:
        doc = evaluate(_model(tmp_path, {"epochs": 1, "batch_size": 32}), digits, seeds=1, threads=1,
                       progress=False)
    finally:
        torch.set_num_threads(before)
    assert doc["environment"]["device"].endswith(", 1 thread)")
    assert _THREADS_RE.search(doc["environment"]["device"]).group(1) == "1"
    assert _THREADS_RE.search("cpu (AMD EPYC, 2 threads)").group(1) == "2"


def test_micro_batches_give_the_whole_batch_update_in_chunks_and_are_recorded(digits, tmp_path):
    seen = tmp_path / "sizes.txt"
    path = tmp_path / "chunked.py"
    path.write_text(textwrap.dedent(f"""
        import torch
        HPARAMS = {{"epochs": 3, "batch_size": 32, "lr": 3e-3}}
        class Net(torch.nn.Module):
            def __init__(self, spec):
                super().__init__()
                self.net = torch.nn.Sequential(torch.nn.Linear(spec.num_params, 32), torch.nn.Tanh(),
                                               torch.nn.Linear(32, spec.num_classes))
            def forward(self, x):
                if self.training:
                    with open({str(seen)!r}, "a") as f:
                        f.write(f"{{len(x)}}\\n")
                return self.net(x)
        def build_model(spec):
            return Net(spec)
    """))
    whole = evaluate(path, digits, seeds=1, progress=False)
    sizes = seen.read_text().split()
    seen.unlink()
    chunked = evaluate(path, digits, seeds=1, micro_batch_size=7, progress=False)
    assert set(seen.read_text().split()) - {"7"} <= {str(int(s) % 7) for s in sizes if int(s) % 7}
    assert max(int(s) for s in seen.read_text().split()) == 7
    assert "micro_batch_size" not in whole["protocol"]["settings"]
    assert chunked["protocol"]["settings"]["micro_batch_size"] == 7
    for a, b in zip(whole["seeds"][0]["history"], chunked["seeds"][0]["history"]):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)  # the same updates, summed in chunks
    assert chunked["seeds"][0]["test_accuracy"] == pytest.approx(whole["seeds"][0]["test_accuracy"], abs=0.02)


def test_compile_trains_the_same_model_through_torch_compile_and_is_recorded(digits, tmp_path):
    path = _model(tmp_path, {"epochs": 2, "batch_size": 32, "lr": 3e-3})
    eager = evaluate(path, digits, seeds=1, progress=False)
    compiled = evaluate(path, digits, seeds=1, compile=True, progress=False)
    assert "compile" not in eager["protocol"]["settings"]
    assert compiled["protocol"]["settings"]["compile"] is True
    for a, b in zip(eager["seeds"][0]["history"], compiled["seeds"][0]["history"]):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)  # the same function, other rounding


def test_a_model_torch_compile_cannot_compile_is_one_line_that_says_run_without_compile(digits, tmp_path, monkeypatch):
    import torch._dynamo

    def broken(gm, example_inputs):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(torch, "compile", lambda net: torch._dynamo.optimize(broken)(net))
    with pytest.raises(ConfigError, match=r"torch.compile could not compile the model.*run it without compile"):
        evaluate(_model(tmp_path, {"epochs": 1}), digits, seeds=1, compile=True, progress=False)
