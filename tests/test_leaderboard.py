"""The leaderboard: submit -> verify -> render -> show on a real (small) neural digits build.

The registry pin of the small build is simulated with an ``ARENA_REGISTRY`` overlay holding its
manifest sha256, as a release would.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

pytest.importorskip("torch")

from arena import format as fmt  # noqa: E402
from arena import leaderboard  # noqa: E402
from arena.baselines import mlp  # noqa: E402
from arena.cli.eval import app as eval_app  # noqa: E402
from arena.cli.main import app  # noqa: E402
from arena.errors import SubmissionError  # noqa: E402
from arena.eval import result  # noqa: E402
from arena.subset import subset  # noqa: E402
from arena_builders import build  # noqa: E402

TINY_MLP = """
    import torch
    INPUT = "flat"
    HPARAMS = {"epochs": 3, "batch_size": 32, "lr": 3e-3}
    def build_model(spec):
        return torch.nn.Sequential(torch.nn.Linear(spec.num_params, 64), torch.nn.ReLU(),
                                   torch.nn.Linear(64, spec.num_classes))
"""
runner = CliRunner()


class Board:
    """A leaderboard with three real submissions, and what made them."""

    def __init__(self, root: Path, digits: Path, small: Path, model: Path, registry: Path):
        self.root, self.digits, self.small, self.model, self.registry = root, digits, small, model, registry

    def folder(self, slug: str, dataset: str = "neural_digits") -> Path:
        return self.root / "submissions" / dataset / slug

    def submit(self, *args: str, model: str | None = None, dataset: Path | None = None):
        return runner.invoke(eval_app, [model or str(self.model), "--dataset", str(dataset or self.digits),
                                        "--seeds", "3", "--quiet", "--out", str(self.root.parent / "out.json"),
                                        "--submit", "--leaderboard", str(self.root), *args])


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Board:
    base = tmp_path_factory.mktemp("leaderboard")
    digits = build("digits", out=base / "neural_digits", limit=150, overrides={"steps": "60"}, progress=False)
    small = subset(digits, {"train": 60, "val": 40, "test": 40}, out=base / "neural_digits_subset")
    model = base / "tiny_mlp.py"
    model.write_text(textwrap.dedent(TINY_MLP))
    registry = base / "registry.json"
    registry.write_text(json.dumps(_registry(digits, small)))
    board = Board(base / "leaderboard", digits, small, model, registry)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARENA_HOME", str(base / "home"))
        mp.setenv("ARENA_REGISTRY", str(registry))
        for made_run in (board.submit("--name", "Tiny MLP", "--code-url", "https://example.org/tiny",
                                      "--authors", "A. Author", "--authors", "B. Author"),
                         board.submit("--name", "Baseline MLP", "--epochs", "2", model="baseline:mlp"),
                         board.submit("--name", "Tiny MLP", dataset=small)):
            assert made_run.exit_code == 0, made_run.output
    return board


@pytest.fixture
def board(made, tmp_path, monkeypatch) -> Board:
    """A fresh copy of the leaderboard (tests may break it), with the registry that pins its datasets."""
    monkeypatch.setenv("ARENA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ARENA_REGISTRY", str(made.registry))
    root = Path(shutil.copytree(made.root, tmp_path / "leaderboard"))
    return Board(root, made.digits, made.small, made.model, made.registry)


def _registry(*datasets: Path) -> dict:
    out = {}
    for root in datasets:
        files = fmt.open_dataset(root)
        release = {"repo": None, "commit": None, "manifest_sha256": files.manifest_sha256}
        out[files.manifest.name] = {"version": files.manifest.version,
                                    "releases": {files.manifest.version: release}}
    return {"format": "arena-registry/1", "datasets": out}


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _edit(path: Path, change: Callable[[dict], None]) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document, indent=2) + "\n")


def _resummarize(document: dict) -> None:
    document["summary"] = result.summarize(document["seeds"])


def _other(accuracy: float) -> float:
    """Another accuracy than ``accuracy``, still in [0, 1]."""
    return round(accuracy - 0.01 if accuracy >= 0.01 else accuracy + 0.01, 6)


def _lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


# -- the flow ---------------------------------------------------------------------------------


def test_submit_verify_render_show_ranks_by_test_mean_and_renders_byte_identically(board, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # the terminal table is wide
    verified = runner.invoke(app, ["leaderboard", "verify", str(board.root)])
    assert verified.exit_code == 0, verified.output
    assert "3 submissions verify (3 on pinned releases, 0 on an unverified dataset)" in verified.output

    first = runner.invoke(app, ["leaderboard", "render", str(board.root)])
    assert first.exit_code == 0, first.output
    rendered = {name: (board.root / name).read_bytes() for name in ("README.md", "index.html")}
    again = runner.invoke(app, ["leaderboard", "render", str(board.root)])
    assert again.exit_code == 0, again.output
    assert {name: (board.root / name).read_bytes() for name in rendered} == rendered

    readme = rendered["README.md"].decode()
    assert readme.index("## Rules") < readme.index("## neural_digits\n") < readme.index("## neural_digits_subset")
    for rule in ("Protocol v1", "At least 3 seeds", "pinned by its manifest hash",
                 "never ranked together", "Hardware is reported, never ranks", "pull request"):
        assert rule in readme
    digits_table = readme.split("## neural_digits\n")[1].split("## neural_digits_subset")[0]
    results = {slug: json.loads((board.folder(slug) / "result.json").read_text())
               for slug in ("tiny-mlp", "baseline-mlp")}
    best_first = sorted(results, key=lambda s: (-results[s]["summary"]["test_mean"],
                                                -results[s]["summary"]["val_mean"], s))
    rows = [line for line in digits_table.splitlines() if line.startswith("| ") and "](" in line]
    assert [row.split(" | ")[0] for row in rows] == ["| 1", "| 2"]
    names = {"tiny-mlp": "[Tiny MLP](https://example.org/tiny)",
             "baseline-mlp": "[Baseline MLP](submissions/neural_digits/baseline-mlp/)"}
    assert [row.split(" | ")[1] for row in rows] == [names[s] for s in best_first]
    top = results[best_first[0]]["summary"]
    assert f"{100 * top['test_mean']:.2f} ± {100 * top['test_std']:.2f} (3)" in rows[0]
    assert "Tiny MLP" in readme.split("## neural_digits_subset")[1]

    shown = runner.invoke(app, ["leaderboard", "show", str(board.root), "--dataset", "neural_digits"])
    assert shown.exit_code == 0, shown.output
    assert "neural_digits_subset" not in shown.output
    order = [shown.output.index(label) for label in ("Tiny MLP" if s == "tiny-mlp" else "Baseline MLP"
                                                     for s in best_first)]
    assert order == sorted(order)


def test_submission_holds_the_result_unchanged_and_the_shipped_baseline_file(board):
    folder = board.folder("baseline-mlp")
    assert sorted(p.name for p in folder.iterdir()) == ["model.py", "result.json", "submission.json"]
    document = result.load(folder / "result.json")
    shipped = Path(mlp.__file__)
    assert (folder / "model.py").read_bytes() == shipped.read_bytes()
    assert hashlib.sha256(shipped.read_bytes()).hexdigest() == document["model"]["sha256"]
    submission = json.loads((board.folder("tiny-mlp") / "submission.json").read_text())
    assert submission["authors"] == ["A. Author", "B. Author"]
    assert submission["hardware"] == result.load(board.folder("tiny-mlp") / "result.json")["environment"]["device"]
    assert not [p for p in board.root.rglob(".*")], "a temporary folder was left behind"


def test_subset_result_gets_its_own_table_never_ranked_with_the_full_dataset(board):
    tables = {t.dataset: t for t in leaderboard.collect(board.root)}
    assert (tables["neural_digits"].kind, tables["neural_digits_subset"].kind) == ("full", "subset")
    assert [r.rank for r in tables["neural_digits_subset"].rows] == [1]
    assert {r.slug for r in tables["neural_digits"].rows} == {"tiny-mlp", "baseline-mlp"}


# -- bad input: one line, exit 1, nothing written ---------------------------------------------


def _tamper_accuracy(b: Board):
    _edit(b.folder("tiny-mlp") / "result.json",
          lambda d: d["seeds"][1].update(test_accuracy=_other(d["seeds"][1]["test_accuracy"])))


def _change_model(b: Board):
    with open(b.folder("tiny-mlp") / "model.py", "a") as f:
        f.write("# a change after the run\n")


def _schema_violation(b: Board):
    _edit(b.folder("tiny-mlp") / "submission.json", lambda d: d.update(code_url="not a url"))


def _duplicate_method(b: Board):
    shutil.copytree(b.folder("tiny-mlp"), b.folder("tiny-mlp-again"))


def _unknown_protocol(b: Board):
    _edit(b.folder("tiny-mlp") / "result.json", lambda d: d["protocol"].update(version=2))


def _two_seeds(b: Board):
    def drop(d):
        d["seeds"].pop()
        d["protocol"]["seeds"] = 2
        _resummarize(d)

    _edit(b.folder("tiny-mlp") / "result.json", drop)


def _subset_as_full(b: Board):
    shutil.move(b.folder("tiny-mlp", "neural_digits_subset"), b.folder("tiny-mlp-subset"))


VERIFY = ("verify", "render", "show")
BAD = [  # (break the board, what must then fail, what the line says)
    (_tamper_accuracy, VERIFY, "neural_digits/tiny-mlp: result.json: summary.test_mean is"),
    (_change_model, VERIFY, "neural_digits/tiny-mlp: model.py has sha256"),
    (_schema_violation, VERIFY, "neural_digits/tiny-mlp: submission.json is not a valid arena-submission/1 document: at code_url"),
    (_duplicate_method, VERIFY, "neural_digits/tiny-mlp-again: the method 'Tiny MLP' is already on neural_digits as tiny-mlp"),
    (_unknown_protocol, VERIFY, "neural_digits/tiny-mlp: result.json follows protocol version 2, which this package does not know"),
    (_two_seeds, VERIFY, "neural_digits/tiny-mlp: result.json has 2 seeds; the leaderboard needs at least 3"),
    (_subset_as_full, VERIFY, "neural_digits/tiny-mlp-subset: result.json is on neural_digits_subset, a subset, but is filed under the full dataset"),
    (None, ("submit-again",), "tiny-mlp already exists; choose another --name, or pass --force"),
]


@pytest.mark.parametrize("breaks, commands, says", BAD, ids=[
    "tampered-accuracy", "changed-model", "schema-violation", "duplicate-method", "unknown-protocol",
    "two-seeds", "subset-as-full", "existing-slug"])
def test_bad_submission_ends_in_one_line_and_exit_1_and_writes_nothing(board, breaks, commands, says):
    if breaks is not None:
        breaks(board)
    before = _tree(board.root)
    for command in commands:
        if command == "submit-again":
            res = board.submit("--name", "Tiny MLP")
        else:
            res = runner.invoke(app, ["leaderboard", command, str(board.root)])
        assert res.exit_code == 1, (command, res.output)
        lines = _lines(res.output)
        assert len(lines) == 1 and says in lines[0], (command, res.output)
        assert "Traceback" not in res.output
    assert _tree(board.root) == before
    assert not (board.root / "README.md").exists()


def test_manifest_hash_that_is_no_release_is_listed_unverified_and_never_ranked(board):
    _edit(board.folder("tiny-mlp") / "result.json", lambda d: d["dataset"].update(manifest_sha256="0" * 64))
    verified = runner.invoke(app, ["leaderboard", "verify", str(board.root)])
    assert verified.exit_code == 0, verified.output
    assert "1 on an unverified dataset: neural_digits/tiny-mlp" in verified.output
    table = next(t for t in leaderboard.collect(board.root) if t.dataset == "neural_digits")
    assert [(r.slug, r.rank, r.verified) for r in table.rows] == [
        ("baseline-mlp", 1, "verified"), ("tiny-mlp", None, "unverified dataset")]
    assert runner.invoke(app, ["leaderboard", "render", str(board.root)]).exit_code == 0
    row = next(line for line in (board.root / "README.md").read_text().splitlines() if "[Tiny MLP]" in line)
    assert row.startswith("| – |") and "unverified dataset" in row


# -- submitting -------------------------------------------------------------------------------


def test_fewer_than_3_seeds_are_refused_before_the_model_is_even_loaded(board, tmp_path):
    res = runner.invoke(eval_app, [str(tmp_path / "missing.py"), "--dataset", str(board.digits),
                                   "--seeds", "2", "--submit", "--name", "X", "--leaderboard", str(board.root)])
    assert res.exit_code == 1
    assert len(_lines(res.output)) == 1 and "at least 3 seeds" in res.output
    assert "missing.py" not in res.output


def test_failed_run_writes_no_submission(board, tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("def build_model(spec):\n    raise RuntimeError('no model today')\n")
    before = _tree(board.root)
    res = board.submit("--name", "Broken", model=str(broken))
    assert res.exit_code == 1 and "no model today" in res.output
    assert _tree(board.root) == before and not board.folder("broken").exists()


def test_submission_options_without_submit_are_refused(board):
    res = runner.invoke(eval_app, [str(board.model), "--dataset", str(board.digits), "--name", "X"])
    assert res.exit_code == 1 and "--name only applies to a submission" in res.output


def test_force_replaces_the_submission_by_a_swap_and_touches_nothing_else(board):
    old = board.folder("tiny-mlp")
    others = {p: b for p, b in _tree(board.root).items() if not p.startswith("submissions/neural_digits/tiny-mlp/")}
    res = board.submit("--name", "Tiny MLP", "--note", "second run", "--force")
    assert res.exit_code == 0, res.output
    assert json.loads((old / "submission.json").read_text())["note"] == "second run"
    assert {p: b for p, b in _tree(board.root).items() if not p.startswith("submissions/neural_digits/tiny-mlp/")} == others
    assert sorted(p.name for p in board.folder("tiny-mlp").parent.iterdir()) == ["baseline-mlp", "tiny-mlp"]


def test_force_refuses_a_folder_holding_files_that_are_no_part_of_a_submission(board):
    (board.folder("tiny-mlp") / "notes.txt").write_text("mine\n")
    before = _tree(board.root)
    res = board.submit("--name", "Tiny MLP", "--force")
    assert res.exit_code == 1 and "'notes.txt', which is no part of a submission" in res.output
    assert _tree(board.root) == before


def test_force_through_a_linked_submission_folder_refuses_and_deletes_nothing_it_points_to(board, tmp_path):
    victim = Path(shutil.copytree(board.folder("tiny-mlp"), tmp_path / "victim"))
    kept = _tree(victim)
    shutil.rmtree(board.folder("tiny-mlp"))
    board.folder("tiny-mlp").symlink_to(victim, target_is_directory=True)
    res = board.submit("--name", "Tiny MLP", "--force")
    assert res.exit_code == 1 and "symbolic link" in _lines(res.output)[-1], res.output
    assert _tree(victim) == kept and board.folder("tiny-mlp").is_symlink()


def test_verify_refuses_linked_submission_folders_and_files(board, tmp_path):
    outside = tmp_path / "model.py"
    shutil.copyfile(board.folder("tiny-mlp") / "model.py", outside)
    (board.folder("tiny-mlp") / "model.py").unlink()
    (board.folder("tiny-mlp") / "model.py").symlink_to(outside)
    board.folder("linked").symlink_to(board.folder("baseline-mlp"), target_is_directory=True)
    problems = leaderboard.verify(board.root).problems
    assert any(p.startswith("neural_digits/tiny-mlp: model.py is a symbolic link") for p in problems), problems
    assert any(p.startswith("neural_digits/linked: not a submission folder") for p in problems), problems


def test_render_refuses_to_replace_a_readme_it_did_not_write(board, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(board.root / "submissions", project / "submissions")
    (project / "README.md").write_text("# my project\n")
    res = runner.invoke(app, ["leaderboard", "render", str(project)])
    assert res.exit_code == 1 and "was not written by arena leaderboard render" in _lines(res.output)[-1]
    assert (project / "README.md").read_text() == "# my project\n" and not (project / "index.html").exists()
    res = runner.invoke(app, ["leaderboard", "render", str(board.root)])  # its own files: replaced
    assert res.exit_code == 0, res.output


def test_verify_and_render_refuse_a_folder_without_submissions(tmp_path):
    (tmp_path / "README.md").write_text("mine\n")
    for command in ("verify", "render"):
        res = runner.invoke(app, ["leaderboard", command, str(tmp_path)])
        assert res.exit_code == 1 and "has no submissions/ folder" in res.output, res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]


def test_verify_refuses_rerun_options_without_rerun(board):
    res = runner.invoke(app, ["leaderboard", "verify", str(board.root), "--device", "cuda"])
    assert res.exit_code == 1 and "--device only applies with --rerun" in _lines(res.output)[-1], res.output


def test_submit_to_a_leaderboard_under_a_file_is_refused_before_training(board, tmp_path):
    (tmp_path / "afile").write_text("x\n")
    out = tmp_path / "never.json"
    res = runner.invoke(eval_app, [str(board.model), "--dataset", str(board.digits), "--seeds", "3", "--quiet",
                                   "--out", str(out), "--submit", "--name", "X",
                                   "--leaderboard", str(tmp_path / "afile" / "board")])
    assert res.exit_code == 1 and "is a file, not a folder" in _lines(res.output)[-1], res.output
    assert not out.exists()


@pytest.mark.parametrize("text, says", [
    ('{"schema": NaN}', "holds NaN"),
    ("[" * 100_000 + "]" * 100_000, "nests too deeply"),
    ('{"n": 1' + "0" * 5000 + "}", "not valid JSON"),
])
def test_hostile_json_documents_end_in_one_line_in_verify_add_and_plot(board, tmp_path, text, says):
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    (board.folder("tiny-mlp") / "submission.json").write_text(text)
    problems = leaderboard.verify(board.root).problems
    assert any(p.startswith("neural_digits/tiny-mlp: submission.json") and says in p for p in problems), problems
    for args in (["leaderboard", "add", str(bad), "--name", "X", "--code-url", "https://x.org",
                  "--leaderboard", str(board.root)], ["plot", str(bad), "-o", str(tmp_path / "c.png")]):
        res = runner.invoke(app, args)
        assert res.exit_code == 1 and says in _lines(res.output)[-1] and "Traceback" not in res.output, res.output


# -- where a fresh result would rank ----------------------------------------------------------


def test_placement_of_a_run_that_reproduces_an_entry_says_it_ties_with_it(board):
    fresh = json.loads((board.folder("tiny-mlp") / "result.json").read_text())  # the same numbers
    console = Console(record=True, width=200)
    leaderboard.print_placement(fresh, console, root=board.root)
    text = console.export_text()
    assert "tied with Tiny MLP (the same test and val means)" in text, text
    assert f"On the leaderboard in {board.root}, this run would rank" in text


def test_a_narrow_terminal_says_why_a_row_has_no_rank_without_the_verified_column(board):
    fresh = json.loads((board.folder("tiny-mlp") / "result.json").read_text())
    fresh["dataset"]["manifest_sha256"] = "0" * 64  # a build that is no pinned release: unranked
    narrow, wide = Console(record=True, width=80), Console(record=True, width=200)
    leaderboard.print_placement(fresh, narrow, root=board.root)
    leaderboard.print_placement(fresh, wide, root=board.root)
    assert "–: not ranked (a wider terminal says why)" in " ".join(narrow.export_text().split())
    assert "unverified dataset" in wide.export_text()


def test_placement_ranks_a_fresh_result_without_writing_anything(board):
    fresh = json.loads((board.folder("tiny-mlp") / "result.json").read_text())
    for seed in fresh["seeds"]:
        seed["test_accuracy"] = 1.0
    _resummarize(fresh)
    before = _tree(board.root)
    table = leaderboard.placement(fresh, board.root)
    assert [(r.slug, r.rank) for r in table.rows][0] == ("this-run", 1) and len(table.rows) == 3
    console = Console(record=True, width=200)
    leaderboard.print_placement(fresh, console, root=board.root)
    assert "this run would rank 1 of 3 on neural_digits" in console.export_text()
    fresh["dataset"]["manifest_sha256"] = "0" * 64
    mine = next(r for r in leaderboard.placement(fresh, board.root).rows if r.slug == "this-run")
    assert (mine.rank, mine.verified) == (None, "unverified dataset")
    assert _tree(board.root) == before


@pytest.mark.parametrize("width", [80, 120])
def test_show_in_a_narrow_terminal_cuts_no_word_of_a_method_name_and_no_score(width):
    """A long method name may wrap between its words ("Relational Transformer (neural graphs)"
    at 80 columns), never inside one ("DWSNe|t" was the defect)."""
    root = Path(__file__).resolve().parents[1] / "leaderboard"
    console = Console(record=True, width=width)
    leaderboard.show(root, console=console)
    text = console.export_text()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    names = {json.loads(p.read_text())["method"] for p in root.glob("submissions/*/*/submission.json")}
    words = {word for name in names for word in name.split()}
    assert names and all(any(word in line for line in lines) for word in words), text
    short = [name for name in names if len(name) <= 20]  # short names stay on one line
    assert short and all(any(name in line for line in lines) for name in short), text
    assert "94.06 ± 0.85 (3)" in text  # the MLP's neural_digits entry, unbroken


# -- rerun: the opt-in that executes the submitted code ---------------------------------------


def test_rerun_reproduces_the_recorded_per_seed_numbers(board):
    res = runner.invoke(app, ["leaderboard", "verify", str(board.root), "--rerun", "neural_digits/tiny-mlp",
                              "--dataset", str(board.digits)])
    assert res.exit_code == 0, res.output
    assert "neural_digits/tiny-mlp: the rerun reproduces seeds 0, 1, 2: val and test accuracy equal" in res.output


def test_rerun_names_the_seed_that_differs_when_the_result_was_resigned(board):
    def change(d):
        d["seeds"][1]["test_accuracy"] = _other(d["seeds"][1]["test_accuracy"])
        _resummarize(d)  # re-signed: the static checks pass, only the rerun can tell

    _edit(board.folder("tiny-mlp") / "result.json", change)
    assert runner.invoke(app, ["leaderboard", "verify", str(board.root)]).exit_code == 0
    res = runner.invoke(app, ["leaderboard", "verify", str(board.root), "--rerun", "neural_digits/tiny-mlp",
                              "--dataset", str(board.digits)])
    assert res.exit_code == 1
    problem = _lines(res.output)[-1]
    assert "neural_digits/tiny-mlp: the rerun does not reproduce it exactly: seed 1 test" in problem
    assert "seed 0" not in problem and "seed 2" not in problem


def test_rerun_of_a_slug_on_several_datasets_asks_which_one(board):
    res = runner.invoke(app, ["leaderboard", "verify", str(board.root), "--rerun", "tiny-mlp"])
    assert res.exit_code == 1
    assert "'tiny-mlp' is a submission on several datasets (neural_digits/tiny-mlp, neural_digits_subset/tiny-mlp)" in _lines(res.output)[-1]


# -- external protocol: a model trained outside the harness, scored by the Evaluator ----------


def _external_result(board: Board, path: Path, *, seeds=(0, 1, 2)) -> Path:
    """A scikit-learn logistic regression trained by its own loop on neural digits, written by
    ``Evaluator.write_result`` (C selected on val, per seed)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    import arena
    from arena.eval import Evaluator

    splits = arena.load(board.digits)
    x = {s: np.asarray(splits[s].params) for s in ("train", "val", "test")}
    runs = []
    for seed in seeds:
        fits = [LogisticRegression(C=c, max_iter=300, random_state=seed).fit(x["train"], splits["train"].labels)
                for c in (0.1, 1.0)]
        best = max(fits, key=lambda clf: clf.score(x["val"], splits["val"].labels))
        runs.append({"seed": seed, "val_pred": best.predict(x["val"]), "test_pred": best.predict(x["test"])})
    return Evaluator(board.digits).write_result(
        path, runs, model="Logistic regression", num_parameters=10 * x["train"].shape[1] + 10,
        training="scikit-learn LogisticRegression, C in {0.1, 1} chosen on val", device="cpu (test machine)")


def _add(board: Board, path: Path, *args: str):
    return runner.invoke(app, ["leaderboard", "add", str(path), "--leaderboard", str(board.root), *args])


LR = ("--name", "Logistic regression", "--code-url", "https://example.org/lr")


def test_external_result_is_added_and_shown_in_its_own_table_never_ranked_with_v1(board, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    path = _external_result(board, tmp_path / "lr.json")
    added = _add(board, path, *LR)
    assert added.exit_code == 0, added.output
    folder = board.folder("logistic-regression")
    assert sorted(p.name for p in folder.iterdir()) == ["result.json", "submission.json"]
    assert json.loads((folder / "result.json").read_text()) == json.loads(path.read_text())

    verified = runner.invoke(app, ["leaderboard", "verify", str(board.root)])
    assert verified.exit_code == 0, verified.output
    assert ("4 submissions verify (4 on pinned releases, 0 on an unverified dataset; "
            "1 of external protocol, never ranked with v1)") in verified.output

    tables = [t for t in leaderboard.collect(board.root) if t.dataset == "neural_digits"]
    assert [t.protocol for t in tables] == ["v1", "external"]
    assert sorted((r.slug, r.rank) for r in tables[0].rows) in (
        [("baseline-mlp", 1), ("tiny-mlp", 2)], [("baseline-mlp", 2), ("tiny-mlp", 1)])
    assert [(r.slug, r.rank, r.protocol, r.verified) for r in tables[1].rows] == [
        ("logistic-regression", 1, "external", "verified")]

    assert runner.invoke(app, ["leaderboard", "render", str(board.root)]).exit_code == 0
    readme = (board.root / "README.md").read_text()
    v1 = readme.index("## neural_digits\n")
    external = readme.index("## neural_digits — external protocol")
    assert v1 < external < readme.index("## neural_digits_subset")
    assert "Logistic regression" not in readme[v1:external]
    assert "[Logistic regression](https://example.org/lr)" in readme[external:]
    page = (board.root / "index.html").read_text()
    assert page.count('data-protocol="external"') == 1 and page.count('<option value="neural_digits">') == 1

    shown = runner.invoke(app, ["leaderboard", "show", str(board.root), "--dataset", "neural_digits"])
    assert shown.exit_code == 0 and "external protocol" in shown.output

    rerun = runner.invoke(app, ["leaderboard", "verify", str(board.root), "--rerun", "logistic-regression"])
    assert rerun.exit_code == 1
    assert "neural_digits/logistic-regression is an external-protocol result" in _lines(rerun.output)[-1]


def test_placement_of_an_external_result_is_in_the_external_table(board, tmp_path):
    document = result.load(_external_result(board, tmp_path / "lr.json"))
    table = leaderboard.placement(document, board.root)
    assert table.protocol == "external" and [(r.slug, r.rank) for r in table.rows] == [("this-run", 1)]


def _model_file_in_it(b: Board):
    (b.folder("logistic-regression") / "model.py").write_text("print('not run')\n")


def _code_url_removed(b: Board):
    _edit(b.folder("logistic-regression") / "submission.json", lambda d: d.update(code_url=None))


@pytest.mark.parametrize("breaks, says", [
    (_model_file_in_it, "neural_digits/logistic-regression: model.py is in an external-protocol submission"),
    (_code_url_removed, "neural_digits/logistic-regression: submission.json has no code_url"),
], ids=["model-file", "no-code-url"])
def test_a_broken_external_submission_fails_verify_in_one_line(board, tmp_path, breaks, says):
    assert _add(board, _external_result(board, tmp_path / "lr.json"), *LR).exit_code == 0
    breaks(board)
    res = runner.invoke(app, ["leaderboard", "verify", str(board.root)])
    assert res.exit_code == 1
    lines = _lines(res.output)
    assert len(lines) == 1 and says in lines[0], res.output


def test_add_refuses_what_it_cannot_file_in_one_line_and_writes_nothing(board, tmp_path):
    external = _external_result(board, tmp_path / "lr.json")
    two_seeds = _external_result(board, tmp_path / "lr2.json", seeds=(0, 1))
    before = _tree(board.root)
    for path, args, says in (
        (external, ("--name", "Logistic regression"), "must link the code that trained it; give --code-url"),
        (external, ("--name", "LR", "--code-url", "not a url"), "at code_url"),
        (two_seeds, LR, "needs at least 3 seeds, and the result has 2"),
        (board.folder("tiny-mlp") / "result.json", LR, "This is a protocol v1 result; file it with arena-eval"),
        (tmp_path / "missing.json", LR, "missing.json"),
    ):
        res = _add(board, path, *args)
        assert res.exit_code == 1, (args, res.output)
        assert len(_lines(res.output)) == 1 and says in res.output, (args, res.output)
        assert "Traceback" not in res.output
    assert _tree(board.root) == before
    with pytest.raises(SubmissionError, match="external-protocol result, which files no model file"):
        leaderboard.submit(result.load(external), str(board.model), leaderboard.Submission("LR"), root=board.root)
    assert _add(board, external, *LR).exit_code == 0
    again = _add(board, external, *LR)
    assert again.exit_code == 1 and "logistic-regression already exists" in again.output


def test_rerun_passes_the_recorded_micro_batches_and_compile_to_arena_eval(tmp_path):
    from types import SimpleNamespace

    from arena.leaderboard._rerun import _command

    settings = {"epochs": 200, "batch_size": 128, "lr": 1e-3, "weight_decay": 5e-4, "augment": [],
                "micro_batch_size": 32, "compile": True}
    entry = SimpleNamespace(path=tmp_path, result={"protocol": {"seeds": 3, "settings": settings},
                                                   "environment": {"device": "cpu (AMD EPYC, 1 thread)"}})
    cmd = _command(entry, tmp_path / "data", "cpu", tmp_path / "out.json")
    assert cmd[cmd.index("--micro-batch-size") + 1] == "32" and "--compile" in cmd
    assert cmd[cmd.index("--threads") + 1] == "1"
    assert "--restart" in cmd  # never continues a checkpoint left by another run of the model
    del settings["micro_batch_size"], settings["compile"]
    plain = _command(entry, tmp_path / "data", "cpu", tmp_path / "out.json")
    assert plain[plain.index("--micro-batch-size") + 1] == "0" and "--compile" not in plain
