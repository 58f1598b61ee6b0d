"""The study tools: sweeps that resume after a kill, searches that workers share, plots that
leave failed cells out, and the bad input they refuse in one line."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _sourcedata import DATA, needs_data
from typer.testing import CliRunner

import arena_builders
from arena.cli.main import app
from arena.errors import ConfigError
from arena.study import config as study_config

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "benchmarks" / "study_digits_tiny.toml"
MNIST_CONFIG = ROOT / "benchmarks" / "study_mnist.toml"
MNIST_DATA = DATA / "mnist"
FIRST = "digits,arch=siren,init=shared"
TINY_CELLS = [FIRST, "digits,arch=siren,init=random", "digits,arch=mfn,init=shared", "digits,arch=mfn,init=random"]
# a small digits search: 12/10/10 NeFs, 10 steps, 1 epoch of the MLP
SEARCH_ARGS = ["study", "search", "--dataset", "digits", "--train", "12", "--val", "10", "--test", "10",
               "--set", "steps=10", "--set", "hidden=8", "--param", "lr=1e-4:1e-2:log",
               "--param", "omega0=5.0:30.0", "--epochs", "1", "--seeds", "1", "--quiet", "--threads", "1"]


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("ARENA_HOME", str(tmp_path / "home"))


def _arena(*args: str) -> list[str]:
    return [sys.executable, "-c", "from arena.cli.main import main; main()", *args]


def _invoke(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def _one_error_line(result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def _files(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its inode and mtime: a rewritten file changes them."""
    return {str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def _records(root: Path) -> dict[str, dict]:
    lines = (root / "cells.jsonl").read_text().splitlines()
    return {r["cell"]: r for r in map(json.loads, lines)}


# --- the builders switch architecture ------------------------------------------------------


def test_set_arch_switches_a_recipe_to_another_architecture_keeping_its_width():
    digits = arena_builders.recipe("digits")
    mfn = digits.with_overrides({"arch": "mfn", "lr": "0.005"})
    assert (mfn.arch, dict(mfn.hparams), mfn.lr) == ("mfn", {"hidden": 16, "filters": 4, "input_scale": 16.0}, 0.005)
    rff = digits.with_overrides({"std": "0.1", "arch": "rffnet"})  # arch applies first, whatever the order
    assert rff.arch == "rffnet" and rff.hparams["std"] == 0.1 and rff.hparams["layers"] == 3
    assert digits.with_overrides({"arch": "siren"}) == digits
    with pytest.raises(ConfigError, match="Unknown setting 'omega0' for neural_digits with arch=mfn"):
        digits.with_overrides({"arch": "mfn", "omega0": "9"})
    with pytest.raises(ConfigError, match="unknown architecture; choose one of siren, rffnet, mfn"):
        digits.with_overrides({"arch": "kan"})


def test_recipe_architecture_defaults_are_the_fields_defaults():
    from arena import fields
    from arena_builders._recipe import ARCH_HPARAMS

    for arch, cls in fields.ARCHITECTURES.items():
        defaults = {f.name: f.default for f in dataclasses.fields(cls)
                    if f.name not in ("in_dim", "out_dim", "sine", "dense")}
        assert ARCH_HPARAMS[arch] == defaults, arch


# --- bad input: one line, nothing run ------------------------------------------------------

_MODEL = '\n[[models]]\nref = "baseline:mlp"\n'
_BAD_CONFIGS = {
    "unknown top-level key": ('[dataset]\nrecipe = "digits"\n[gird]\ninit = ["shared"]\n' + _MODEL,
                              "unknown key 'gird'"),
    "unknown model key": ('[dataset]\nrecipe = "digits"\n[grid]\ninit = ["shared"]\n[[models]]\nref = "baseline:mlp"\n'
                          'epoch = 2\n', "unknown key 'epoch'"),
    "no grid": ('[dataset]\nrecipe = "digits"\n' + _MODEL, "The grid is empty"),
    "an axis without values": ('[dataset]\nrecipe = "digits"\n[grid]\nhidden = []\n' + _MODEL,
                               "grid.hidden has no values"),
    "an unknown setting in a cell": ('[dataset]\nrecipe = "digits"\n[grid]\nwidht = [8]\n' + _MODEL,
                                     "cell digits,widht=8: Unknown setting 'widht'"),
    "a setting its architecture lacks": ('[dataset]\nrecipe = "digits"\n[grid]\narch = ["siren", "mfn"]\n'
                                         '[settings]\nomega0 = 9.0\n' + _MODEL,
                                         "cell digits,arch=mfn: Unknown setting 'omega0'"),
    "an unknown recipe": ('[dataset]\nrecipe = "mnsit"\n[grid]\ninit = ["shared"]\n' + _MODEL,
                          "Did you mean 'mnist'?"),
    "an only key that no cell has": ('[dataset]\nrecipe = "digits"\n[grid]\ninit = ["shared"]\n[[models]]\n'
                                     'ref = "baseline:mlp"\nonly = { widht = [8] }\n',
                                     "model mlp: only.widht is not a setting of any cell"),
    "an unknown baseline": ('[dataset]\nrecipe = "digits"\n[grid]\ninit = ["shared"]\n[[models]]\n'
                            'ref = "baseline:mpl"\n', "model mpl: Unknown baseline 'mpl'"),
    "no models": ('[dataset]\nrecipe = "digits"\n[grid]\ninit = ["shared"]\n', "has no [[models]]"),
    "sizes of some splits only": ('[dataset]\nrecipe = "digits"\ntrain = 5\n[grid]\ninit = ["shared"]\n' + _MODEL,
                                  "give the size of every split"),
    "a split larger than the recipe's": ('[dataset]\nrecipe = "digits"\ntrain = 100000\nval = 10\ntest = 10\n'
                                         '[grid]\ninit = ["shared"]\n' + _MODEL,
                                         "train = 100000, but the train split of neural_digits holds 1258 examples"),
    "fewer train NeFs than classes": ('[dataset]\nrecipe = "digits"\ntrain = 5\nval = 10\ntest = 10\n'
                                      '[grid]\ninit = ["shared"]\n' + _MODEL,
                                      "train = 5 is fewer than the 10 classes of neural_digits"),
    "an arch_settings table of an unknown architecture": ('[dataset]\nrecipe = "digits"\n[grid]\narch = ["siren", "mfn"]'
                                                          '\n[arch_settings.mfm]\nlr = 5e-3\n' + _MODEL,
                                                          "[arch_settings.mfm]: unknown architecture 'mfm'. Did you "
                                                          "mean 'mfn'?"),
    "an only value no cell can take": ('[dataset]\nrecipe = "digits"\n[grid]\ninit = ["shared"]\n[[models]]\n'
                                       'ref = "baseline:mlp"\nonly = { arch = ["sirn"] }\n',
                                       "model mlp: only.arch = 'sirn' is a value no cell can take"),
    "a setting that is not a finite number": ('[dataset]\nrecipe = "digits"\n[grid]\ninit = ["shared"]\n'
                                              '[settings]\nhidden = nan\n' + _MODEL,
                                              "bad.toml: settings.hidden = nan: settings must be finite numbers"),
    "not TOML": ("[dataset\n", "is not valid TOML"),
}


@pytest.mark.parametrize("case", sorted(_BAD_CONFIGS))
def test_bad_sweep_configuration_is_one_error_line_and_runs_nothing(tmp_path, case):
    text, message = _BAD_CONFIGS[case]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = _invoke("study", "sweep", path, "--out", tmp_path / "sweep", "--quiet")
    assert message in _one_error_line(result)
    assert not (tmp_path / "sweep" / "cells").exists()


def test_a_config_variable_that_is_not_set_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv("ARENA_STUDY_TEST_DATA", raising=False)
    path = tmp_path / "c.toml"
    path.write_text('[dataset]\nrecipe = "mnist"\nsource = "${ARENA_STUDY_TEST_DATA}/mnist"\n[grid]\ninit = ["shared"]\n'
                    + _MODEL)
    line = _one_error_line(_invoke("study", "sweep", path, "--out", tmp_path / "s"))
    assert "uses $ARENA_STUDY_TEST_DATA, which is not set" in line and "--source" in line
    monkeypatch.setenv("ARENA_STUDY_TEST_DATA", str(tmp_path / "data"))
    assert study_config.load(path).datasets[0].source == str(tmp_path / "data" / "mnist")


def test_arch_settings_of_the_recipes_architecture_apply_when_no_arch_is_set(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[dataset]\nrecipe = "digits"\n[grid]\ninit = ["shared"]\n[arch_settings.siren]\nomega0 = 12.0\n'
                    + _MODEL)
    (cell,) = study_config.load(path).cells()
    assert dict(cell.overrides) == {"omega0": "12.0", "init": "shared"}


def test_a_model_file_is_identified_by_its_name_not_the_working_directory_or_mount(tmp_path, monkeypatch):
    config_text = '[dataset]\nrecipe = "digits"\n[grid]\ninit = ["shared"]\n[[models]]\nref = "m.py"\n'
    for mount in ("a", "b"):  # the same project seen at two paths, as two workers might
        (tmp_path / mount / "conf").mkdir(parents=True)
        (tmp_path / mount / "conf" / "c.toml").write_text(config_text)
        (tmp_path / mount / "conf" / "m.py").write_text("# the model\n")
    identities = []
    for cwd, config_path, mount in ((tmp_path, "a/conf/c.toml", "a"), (tmp_path / "a" / "conf", "c.toml", "a"),
                                    (tmp_path / "b", "conf/c.toml", "b")):
        monkeypatch.chdir(cwd)
        config = study_config.load(Path(config_path))
        assert config.models[0].ref == str((tmp_path / mount / "conf" / "m.py").resolve())  # runs from anywhere
        identities.append(config.identity())
    assert identities[0] == identities[1] == identities[2]
    assert identities[0]["models"][0]["ref"] == "m.py"


def test_a_sweep_refuses_an_out_that_is_a_file_or_a_folder_of_other_files(tmp_path):
    user = tmp_path / "mine"
    (user / "figures").mkdir(parents=True)
    (user / "figures" / "table.md").write_text("my table\n")
    before = _files(user)
    line = _one_error_line(_invoke("study", "sweep", TINY, "--out", user, "--quiet"))
    assert f"--out {user} holds other files and no sweep.json: it is not a sweep" in line
    assert _files(user) == before and (user / "figures" / "table.md").read_text() == "my table\n"
    (tmp_path / "afile").write_text("x")
    line = _one_error_line(_invoke("study", "sweep", TINY, "--out", tmp_path / "afile", "--quiet"))
    assert f"--out {tmp_path / 'afile'} is a file; give a folder" in line


def _finished_sweep(out: Path) -> list[str]:
    """The tiny sweep in ``out`` as if it had run: its identity, a done record per cell, its index."""
    from arena.study import _cell, _sweep

    config = study_config.load(TINY)
    _sweep._claim(out, config)
    for cell in config.cells():
        _cell.write_json(out / "cells" / cell.id / "cell.json", {
            "cell": cell.id, "status": "done", "reason": None, "failed_phase": None, "values": dict(cell.values),
            "overrides": dict(cell.overrides), "settings": _cell.resolved_settings(cell),
            "dataset": {**cell.dataset.identity(), "path": "dataset"}, "models": {}})
    _sweep.write_index(out, config)
    return [c.id for c in config.cells()]


def test_a_rerun_with_a_narrower_grid_keeps_the_other_finished_cells_in_the_index(tmp_path):
    out = tmp_path / "s"
    ids = _finished_sweep(out)
    assert list(_records(out)) == ids
    other = json.loads((out / "cells" / FIRST / "cell.json").read_text())
    other.update(cell="digits,arch=rffnet,init=shared", values={"arch": "rffnet", "init": "shared"})
    (out / "cells" / other["cell"]).mkdir()  # its overrides are not what this sweep gives rffnet
    (out / "cells" / other["cell"] / "cell.json").write_text(json.dumps(other))
    (out / "cells" / "digits,arch=rffnet,init=random").mkdir()  # no record: not finished
    result = _invoke("study", "sweep", TINY, "--out", out, "--grid", "arch=siren", "--quiet")
    assert "0 done, 0 failed, 2 finished earlier, of 2 cells" in result.output, result.output
    assert list(_records(out)) == ids
    assert _invoke("study", "sweep", TINY, "--out", out, "--grid", "arch=mfn", "--quiet").exit_code == 0
    assert list(_records(out)) == ids


def test_a_sweep_is_refused_while_another_holds_its_folder_whatever_its_arena_home(tmp_path, monkeypatch):
    import filelock

    out = tmp_path / "s"
    _finished_sweep(out)
    monkeypatch.setenv("ARENA_HOME", str(tmp_path / "another-home"))
    with filelock.FileLock(str(out / "sweep.lock")):
        line = _one_error_line(_invoke("study", "sweep", TINY, "--out", out, "--quiet"))
    assert f"Another arena study sweep is running in {out} now" in line
    assert _invoke("study", "sweep", TINY, "--out", out, "--quiet").exit_code == 0


def test_plot_refuses_an_index_line_that_is_not_a_cell_record_and_an_empty_index(tmp_path):
    out = tmp_path / "s"
    out.mkdir()
    for bad in ('{"cell": "x"}', "[1, 2]", "not json"):
        (out / "cells.jsonl").write_text('\n' + bad + "\n")
        line = _one_error_line(_invoke("study", "plot", out))
        assert f"{out / 'cells.jsonl'}, line 2, is not a cell record" in line
    (out / "cells.jsonl").write_text("")
    assert "No cell of the sweep in" in _one_error_line(_invoke("study", "plot", out))
    assert not (out / "figures").exists()


def test_a_sweep_directory_refuses_another_configuration(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "sweep.json").write_text(json.dumps({"datasets": []}))
    line = _one_error_line(_invoke("study", "sweep", TINY, "--out", tmp_path / "s"))
    assert "holds a sweep of another configuration (it differs in: arch_settings, datasets" in line


def test_search_refuses_a_storage_optuna_cannot_open_and_zero_trials(tmp_path):
    args = [*SEARCH_ARGS, "--out", tmp_path / "q"]
    line = _one_error_line(_invoke(*args, "--storage", "nosuchdb://nowhere"))
    assert "--storage nosuchdb://nowhere: Optuna cannot open it" in line
    assert "--trials must be a positive integer" in _one_error_line(_invoke(*args, "--trials", "0"))
    no_space = [a for i, a in enumerate(args) if a != "--param" and (i == 0 or args[i - 1] != "--param")]
    assert "Nothing to search" in _one_error_line(_invoke(*no_space))


def test_search_refuses_a_space_the_recipe_cannot_take_before_any_trial_naming_the_flag(tmp_path):
    out = tmp_path / "q"
    line = _one_error_line(_invoke(*SEARCH_ARGS, "--param", "lrr=1e-4:1e-2:log", "--out", out))
    assert "--param lrr=1e-4:1e-2:log: 0.0001 cannot be searched: Unknown setting 'lrr'" in line
    line = _one_error_line(_invoke(*SEARCH_ARGS, "--param", "arch=siren,mfm", "--out", out))
    assert "--param arch=siren,mfm: 'mfm' cannot be searched" in line
    line = _one_error_line(_invoke(*SEARCH_ARGS, "--param", "lr=1e-2:1e-4", "--out", out))
    assert line.startswith("error: --param lr=1e-2:1e-4: needs low < high")
    assert not out.exists()
    config = tmp_path / "c.toml"
    config.write_text('[dataset]\nrecipe = "digits"\n' + _MODEL + '[search.space]\nhidden = { low = 8.0, high = 32.0 }\n')
    line = _one_error_line(_invoke("study", "search", config, "--out", out))
    assert f"{config}: search.space.hidden: 8.0 cannot be searched: --set hidden=8.0: expected an integer" in line


def test_search_refuses_an_out_that_is_a_file_or_a_folder_of_other_files(tmp_path):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("mine\n")
    line = _one_error_line(_invoke(*SEARCH_ARGS, "--out", user))
    assert f"--out {user} holds 'notes.txt' and no search.json: it is not a search" in line
    assert sorted(p.name for p in user.iterdir()) == ["notes.txt"]
    (tmp_path / "afile").write_text("x")
    assert "is a file; give a folder" in _one_error_line(_invoke(*SEARCH_ARGS, "--out", tmp_path / "afile"))


def test_a_search_folder_made_before_its_mark_or_beside_its_own_database_is_accepted(tmp_path):
    from arena.study import _search

    legacy = tmp_path / "legacy"  # --storage elsewhere, made before search.json: trials only
    (legacy / "lr-search" / "trial-0000").mkdir(parents=True)
    _search._check_out(legacy, "postgresql://db/x")
    racing = tmp_path / "racing"  # another worker created its --storage database here, no mark yet
    racing.mkdir()
    (racing / "other.db").write_bytes(b"")
    (racing / "other.db.lock").write_bytes(b"")
    _search._check_out(racing, f"sqlite:///{racing / 'other.db'}")
    (legacy / "lr-search" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="holds 'lr-search' and no search.json"):
        _search._check_out(legacy, "postgresql://db/x")


def test_search_refuses_an_sqlite_file_that_is_not_an_optuna_database(tmp_path):
    import sqlite3

    out = tmp_path / "q"
    out.mkdir()
    with sqlite3.connect(out / "study.db") as db:
        db.execute("CREATE TABLE notes (text)")
    db.close()
    before = (out / "study.db").read_bytes()
    line = _one_error_line(_invoke(*SEARCH_ARGS, "--out", out))
    assert f"{out / 'study.db'} exists and is not an Optuna study database; it is left alone" in line
    assert (out / "study.db").read_bytes() == before and sorted(p.name for p in out.iterdir()) == ["study.db"]


def test_the_default_storage_is_the_study_db_in_out_whatever_characters_its_path_holds(tmp_path):
    import optuna

    from arena.study import _search

    out = tmp_path / "s_q?x#1%20"
    out.mkdir()
    optuna.create_study(storage=_search.default_storage(out), study_name="study")
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name] and (out / "study.db").is_file()


def test_search_refuses_a_study_of_another_configuration_naming_what_differs(tmp_path):
    import optuna

    from arena.study import _search

    config = tmp_path / "c.toml"
    text = ('[dataset]\nrecipe = "digits"\ntrain = 12\nval = 10\ntest = 10\n[settings]\nsteps = 10\n'
            '[[models]]\nref = "baseline:mlp"\nseeds = 1\nepochs = EPOCHS\n[search.space]\nlr = { low = 1e-4, high = 1e-2 }\n')
    config.write_text(text.replace("EPOCHS", "1"))
    out = tmp_path / "q"
    out.mkdir()
    study = optuna.create_study(storage=_search.default_storage(out), study_name="study")
    study.set_user_attr("arena", study_config.load(config).search_identity())
    config.write_text(text.replace("EPOCHS", "2"))
    line = _one_error_line(_invoke("study", "search", config, "--out", out))
    assert "study 'study' in sqlite:///" in line and "is a search of another configuration (it differs in: objective)" in line
    line = _one_error_line(_invoke("study", "search", config, "--out", out, "--param", "lr=1e-3:1e-2"))
    assert "(it differs in: objective, space)" in line
    assert len(study.trials) == 0


def test_opening_a_study_fails_the_trials_of_killed_workers_of_this_machine_and_enqueues_them_again(tmp_path):
    import socket

    import optuna

    from arena.study import _search

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'study.db'}", study_name="study")
    folder = tmp_path / "study"
    trials = {}
    here, ours = socket.gethostname(), _search._pid_namespace()
    for name, worker, namespace, created in (
            ("killed", f"{here}:{dead.stdout.strip()}", ours, True),
            ("killed before its folder", f"{here}:{dead.stdout.strip()}", ours, False),
            ("alive", f"{here}:{os.getpid()}", ours, True),
            ("another machine", "elsewhere:1", ours, True),
            ("a container with this host name", f"{here}:{dead.stdout.strip()}", "another-boot:4026531836", True)):
        trial = study.ask()
        trial.suggest_float("lr", 1e-4, 1e-2)
        trial.set_user_attr("worker", worker)
        trial.set_user_attr("pid_namespace", namespace)
        (folder / f"trial-{trial.number:04d}").mkdir(parents=True)
        if created:
            trial.set_user_attr("directory", str(folder / f"trial-{trial.number:04d}"))
        trials[name] = trial
    _search._fail_stale(optuna, study, folder)
    states = {name: study.trials[t.number].state.name for name, t in trials.items()}
    assert states == {"killed": "FAIL", "killed before its folder": "FAIL", "alive": "RUNNING",
                      "another machine": "RUNNING", "a container with this host name": "RUNNING"}
    assert sorted(p.name for p in folder.iterdir()) == ["trial-0001", "trial-0002", "trial-0003", "trial-0004"]
    for killed in ("killed", "killed before its folder"):  # the next trials run their parameters again
        retry = study.ask()
        assert retry.suggest_float("lr", 1e-4, 1e-2) == trials[killed].params["lr"]
        assert retry.user_attrs["retry_of"] == trials[killed].number


# --- a sweep end to end: killed after its first cell, resumed ------------------------------


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory):
    """The 4-cell tiny sweep, killed once its first cell is done, then rerun to the end."""
    work = tmp_path_factory.mktemp("tiny")
    out = work / "sweep"
    env = {**os.environ, "ARENA_HOME": str(work / "home")}
    proc = subprocess.Popen(_arena("study", "sweep", str(TINY), "--out", str(out), "--quiet", "--threads", "1"),
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    marker = out / "cells" / FIRST / "cell.json"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if marker.is_file() and json.loads(marker.read_text())["status"] == "done":
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    _, stderr = proc.communicate()
    assert marker.is_file(), stderr.decode()[-3000:]
    first = _files(out / "cells" / FIRST)
    killed = {c: (out / "cells" / c / "cell.json").is_file() for c in TINY_CELLS}
    rerun = subprocess.run(_arena("study", "sweep", str(TINY), "--out", str(out), "--quiet", "--threads", "1"),
                           env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    return {"out": out, "first": first, "killed": killed, "rerun": rerun.stdout}


@pytest.mark.slow
def test_killed_sweep_reruns_only_unfinished_cells_and_finishes_them_all(tiny_sweep):
    out = tiny_sweep["out"]
    assert not all(tiny_sweep["killed"].values()), "the sweep was not killed before its end"
    assert f"skip   [1/4] {FIRST}: done in an earlier run" in tiny_sweep["rerun"]
    assert f"done   [1/4] {FIRST}" not in tiny_sweep["rerun"]
    assert _files(out / "cells" / FIRST) == tiny_sweep["first"]  # not one file of the done cell rewritten
    records = _records(out)
    assert list(records) == TINY_CELLS
    for record in records.values():
        assert record["status"] == "done" and record["reason"] is None
        assert 0.0 <= record["nmi"]["train"] <= 1.0 and record["nmi"]["n_init"] == 10
        assert record["models"]["mlp"]["status"] == "done" and record["models"]["mlp"]["seeds"] == 1
        assert {"psnr", "psnr_offgrid"} <= set(record["fit"]["metrics"]["train"])
        assert record["dataset"]["num_examples"] == {"train": 30, "val": 15, "test": 15}
    assert "4 done" not in tiny_sweep["rerun"] and "1 finished earlier" in tiny_sweep["rerun"]


@pytest.mark.slow
def test_sweep_cells_record_their_overrides_in_their_manifests(tiny_sweep):
    from arena.sources import open_source
    from arena_builders._build import _image_stats

    out = tiny_sweep["out"]
    mfn = json.loads((out / "cells" / "digits,arch=mfn,init=random" / "dataset" / "arena.json").read_text())
    assert mfn["field"]["arch"] == "mfn" and mfn["field"]["hparams"]["hidden"] == 16
    assert (mfn["fit"]["lr"], mfn["fit"]["steps"], mfn["fit"]["init"]["kind"]) == (0.005, 20, "random")
    overrides = mfn["builder"]["overrides"]
    assert overrides["arch"] == "mfn" and overrides["limit"] == 30
    assert overrides["source"]["split_sizes"] == {"train": 1258, "val": 15, "test": 15}
    source = open_source("digits")
    whole_train = arena_builders.recipe("digits").splits(source)["train"]
    mean, std = _image_stats(source, whole_train)  # normalised like the published dataset
    assert mfn["signal"]["normalization"]["mean"] == list(mean)
    assert mfn["signal"]["normalization"]["std"] == list(std)


@pytest.mark.slow
def test_plot_writes_deterministic_figures_and_the_shared_vs_random_table(tiny_sweep):
    out = tiny_sweep["out"]
    first = _invoke("study", "plot", out)
    assert first.exit_code == 0, first.output
    names = sorted(p.name for p in (out / "figures").iterdir())
    assert names == sorted([f"accuracy_vs_{m}.{f}" for m in ("psnr", "psnr_offgrid", "offgrid_ratio", "nmi")
                           for f in ("png", "svg")]
                           + ["points.json", "table.md"])
    assert (out / "figures" / "accuracy_vs_nmi.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    before = {p.name: p.read_bytes() for p in (out / "figures").iterdir()}
    assert _invoke("study", "plot", out).exit_code == 0
    assert {p.name: p.read_bytes() for p in (out / "figures").iterdir()} == before
    table = (out / "figures" / "table.md").read_text()
    assert table in first.output
    for arch in ("siren", "mfn"):
        assert f"| {arch} | mlp | 1 |" in table
    points = json.loads((out / "figures" / "points.json").read_text())
    assert points["accuracy_vs_nmi"]["mlp"] == TINY_CELLS


# --- failures are recorded, the sweep goes on, plots leave them out --------------------------

_BAD_MODEL = '''
INPUT = "flat"
HPARAMS = {"epochs": 1, "batch_size": 8, "lr": 1e-3, "weight_decay": 0.0}


def build_model(spec):
    raise RuntimeError("this model cannot be built")
'''

_FIXED_MODEL = _BAD_MODEL.replace('raise RuntimeError("this model cannot be built")',
                                  "from torch import nn\n    return nn.Linear(spec.num_params, spec.num_classes)")


@pytest.mark.slow
def test_a_diverged_fit_and_a_failing_model_are_recorded_plots_leave_them_out_and_retry_reruns_them(tmp_path):
    (tmp_path / "bad.py").write_text(_BAD_MODEL)
    config = tmp_path / "c.toml"
    config.write_text('[dataset]\nrecipe = "digits"\ntrain = 12\nval = 10\ntest = 10\n'
                      '[grid]\nlr = [1e30, 0.01]\n[settings]\nhidden = 8\nsteps = 10\n'
                      '[[models]]\nref = "baseline:mlp"\nseeds = 1\nepochs = 1\n[[models]]\nref = "bad.py"\n')
    out = tmp_path / "sweep"
    result = _invoke("study", "sweep", config, "--out", out, "--quiet", "--threads", "1")
    assert result.exit_code == 0, result.output
    diverged, bad_model = "digits,lr=1e+30", "digits,lr=0.01"
    lines = result.output.splitlines()
    failed = [line for line in lines if line.startswith("failed")]
    assert len(failed) == 2
    assert diverged in failed[0] and "(fit)" in failed[0] and "diverged (non-finite parameters)" in failed[0]
    assert bad_model in failed[1] and "(eval bad)" in failed[1] and "this model cannot be built" in failed[1]
    assert "0 done, 2 failed" in lines[-1]
    records = _records(out)
    assert records[diverged]["status"] == "failed" and "fit" not in records[diverged]
    assert records[bad_model]["models"]["mlp"]["status"] == "done"
    assert records[bad_model]["models"]["bad"]["status"] == "failed"

    assert _invoke("study", "plot", out).exit_code == 0
    points = json.loads((out / "figures" / "points.json").read_text())
    for figure in ("accuracy_vs_psnr", "accuracy_vs_psnr_offgrid", "accuracy_vs_offgrid_ratio", "accuracy_vs_nmi"):
        assert points[figure] == {"mlp": [bad_model], "bad": []}
    rows = {line.split(" | ")[0].lstrip("| "): line for line in (out / "figures" / "table.md").read_text().splitlines()}
    assert rows[diverged].endswith("| failed (fit) | failed | failed | failed | failed | failed |")
    assert rows[bad_model].endswith("| failed |")

    rerun = _invoke("study", "sweep", config, "--out", out, "--quiet")  # failed cells are finished too
    assert "0 done, 0 failed, 2 finished earlier" in rerun.output

    (tmp_path / "bad.py").write_text(_FIXED_MODEL)
    mlp_result = _files(out / "cells" / bad_model / "results")["mlp.json"]
    retried = _invoke("study", "sweep", config, "--out", out, "--quiet", "--retry-failed")
    assert "1 done, 1 failed, 0 finished earlier" in retried.output
    records = _records(out)
    assert records[bad_model]["status"] == "done" and records[bad_model]["models"]["bad"]["status"] == "done"
    assert records[diverged]["status"] == "failed"
    assert _files(out / "cells" / bad_model / "results")["mlp.json"] == mlp_result  # kept, not evaluated again


# --- a search shared by two worker processes -----------------------------------------------


@pytest.mark.slow
def test_two_search_workers_share_one_sqlite_study(tmp_path):
    import optuna

    out = tmp_path / "search"
    env = {**os.environ, "ARENA_HOME": str(tmp_path / "home")}
    args = _arena(*SEARCH_ARGS, "--trials", "2", "--out", str(out))
    workers = [subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    for worker in workers:
        stdout, stderr = worker.communicate(timeout=600)
        assert worker.returncode == 0, stderr[-3000:]
        assert "study 'study' in sqlite:///" in stdout
    study = optuna.load_study(study_name="study", storage=f"sqlite:///{out / 'study.db'}")
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 4 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    by_worker = {}
    for t in trials:
        by_worker.setdefault(t.user_attrs["worker"], []).append(t.number)
    assert sorted(len(v) for v in by_worker.values()) == [2, 2]
    assert study.best_value == max(t.value for t in trials)
    draws = {(t.params["lr"], t.params["omega0"]) for t in trials}
    assert len(draws) == 4  # trial-seeded TPE: the two workers never proposed the same point
    for t in trials:
        record = json.loads((out / "study" / f"trial-{t.number:04d}" / "cell.json").read_text())
        assert record["models"]["mlp"]["val_mean"] == t.value
        assert t.user_attrs["nmi"] == record["nmi"]["train"]


# --- the reproduction's configuration --------------------------------------------------------


def test_mnist_reproduction_config_is_the_grid_of_the_issue(monkeypatch):
    monkeypatch.setenv("ARENA_SOURCE_DIR", "/data")
    config = study_config.load(MNIST_CONFIG)
    cells = config.cells()
    # three widths at 200 steps and three step counts at width 16, the shared cell once
    assert len(cells) == 3 * 2 * 5
    settings = {(dict(c.values)["hidden"], dict(c.values)["steps"]) for c in cells}
    assert settings == {("16", "50"), ("16", "200"), ("16", "1000"), ("32", "200"), ("64", "200")}
    for grid in config.grids:
        grid = dict(grid)
        assert grid["arch"] == ("siren", "rffnet", "mfn") and grid["init"] == ("shared", "random")
    assert dict(config.datasets[0].sizes) == {"train": 2000, "val": 500, "test": 1000}
    assert config.datasets[0].source == "/data/mnist"
    assert [(m.ref, m.seeds) for m in config.models] == [("baseline:mlp", 3), ("baseline:dws", 3)]
    dws = config.model("dws")
    assert dict(dws.only)["arch"] == ("siren",)  # baseline:dws reads SIREN layers only
    assert dws.applies_to({"arch": "siren", "hidden": 32}) and not dws.applies_to({"arch": "mfn", "hidden": 32})
    assert not dws.applies_to({"arch": "siren", "hidden": 64})
    study_config.check_cells(cells)


def test_several_grid_tables_run_the_union_of_their_products_once(tmp_path):
    path = tmp_path / "grids.toml"
    path.write_text('[dataset]\nrecipe = "digits"\n'
                    '[[grid]]\ninit = ["shared", "random"]\nhidden = [8]\n'
                    '[[grid]]\ninit = ["shared"]\nhidden = [8, 16]\n' + _MODEL)
    ids = [c.id for c in study_config.load(path).cells()]
    assert ids == ["digits,init=shared,hidden=8", "digits,init=random,hidden=8", "digits,init=shared,hidden=16"]


def test_grid_tables_that_vary_different_settings_are_refused(tmp_path):
    path = tmp_path / "grids.toml"
    path.write_text('[dataset]\nrecipe = "digits"\n[[grid]]\ninit = ["shared"]\n[[grid]]\nhidden = [8]\n' + _MODEL)
    result = _invoke("study", "sweep", path, "--out", tmp_path / "sweep", "--quiet")
    assert "every [[grid]] table must vary the same settings" in _one_error_line(result)
    assert not (tmp_path / "sweep" / "cells").exists()


@pytest.mark.slow
@needs_data("mnist")
def test_mnist_reproduction_command_dry_runs_on_a_tiny_grid(tmp_path):
    out = tmp_path / "sweep"
    result = _invoke("study", "sweep", MNIST_CONFIG, "--source", MNIST_DATA, "--out", out, "--train", "20",
                     "--val", "10", "--test", "10", "--grid", "hidden=16", "--grid", "steps=5", "--grid", "arch=siren",
                     "--grid", "init=shared", "--epochs", "1", "--seeds", "1", "--quiet", "--threads", "1")
    assert result.exit_code == 0, result.output
    (record,) = _records(out).values()
    assert record["status"] == "done", record["reason"]
    assert {k: v["status"] for k, v in record["models"].items()} == {"mlp": "done", "dws": "done"}
    assert record["dataset"]["dataset_name"] == "neural_mnist"
    assert np.isfinite(record["fit"]["metrics"]["test"]["psnr_offgrid"])


@pytest.mark.slow
@needs_data("mnist")
def test_the_reproduction_script_writes_records_figures_and_table_on_a_tiny_grid(tmp_path):
    env = {**os.environ, "ARENA_DATA": str(Path(MNIST_DATA).parent), "OUT": str(tmp_path / "sweep"),
           "STUDY_DIR": str(tmp_path / "study"), "THREADS": "1", "ARENA": str(Path(sys.executable).parent / "arena")}
    run = subprocess.run(["bash", str(ROOT / "benchmarks" / "study_mnist.sh"), "--train", "20", "--val", "10",
                          "--test", "10", "--grid", "hidden=16", "--grid", "steps=5", "--grid", "arch=siren",
                          "--grid", "init=shared", "--epochs", "1", "--seeds", "1", "--quiet"],
                         env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr
    study = tmp_path / "study"
    (record,) = [json.loads(line) for line in (study / "sweep" / "cells.jsonl").read_text().splitlines()]
    assert (study / "sweep" / "cells" / record["cell"] / "results" / "mlp.json").is_file()
    assert not (study / "sweep" / "cells" / record["cell"] / "dataset").exists()  # records, not datasets
    assert "| siren | mlp |" in (study / "table.md").read_text()
