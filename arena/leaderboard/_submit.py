"""Filing a result: ``arena-eval MODEL --dataset D --submit --name ...``; an external-protocol
result (:class:`arena.eval.Evaluator`): ``arena leaderboard add RESULT.json --name ... --code-url ...``.

What can be checked before training is checked by :func:`prepare` (at least 3 seeds, a usable
name and links, a free slug), so a run that could not be filed fails before it starts. After the
run, :func:`submit` writes ``<root>/submissions/<dataset>/<slug>/`` into a temporary sibling
folder and renames it into place, so the folder is either whole or absent. ``force`` replaces an
existing submission by a swap (the old folder is moved aside, the new one renamed in, then the
old one's three files removed); it never deletes anything else.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from arena import format as fmt
from arena.errors import ConfigError, SubmissionError, WriteError
from arena.leaderboard import _documents as docs
from arena.leaderboard._documents import FILES, MIN_SEEDS, MODEL, RESULT, SUBMISSION, SUBMISSIONS, Submission

DEFAULT_ROOT = Path("leaderboard")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_URL_RE = re.compile(r"^https?://\S+$")


@dataclasses.dataclass(frozen=True)
class Pending:
    """A submission checked before training; :meth:`write` files the run's result."""

    submission: Submission
    model: str
    root: Path
    force: bool

    def write(self, document: Mapping[str, Any]) -> Path:
        return submit(document, self.model, self.submission, root=self.root, force=self.force)


def prepare(model: str, submission: Submission, *, seeds: int, dataset: str,
            root: str | os.PathLike = DEFAULT_ROOT, force: bool = False) -> Pending:
    """Check, before any training, what a submission of ``model`` on ``dataset`` needs.

    Raises:
        SubmissionError: fewer than 3 seeds, a name without letters or digits, a link that is not
            ``http(s)://``, or (when ``dataset`` names the dataset) a slug already taken.
    """
    check_seeds(seeds, source="this run")
    _check_root(Path(root))
    docs.validate(submission.to_json(hardware="(recorded by the run)"), source="The submission")
    name = _dataset_name(dataset)
    if name is not None:
        _check_free(Path(root) / SUBMISSIONS / name / submission.slug, force)
    return Pending(submission, str(model), Path(root), force)


def from_options(model: str, *, submit: bool, name: str | None, authors: list[str] | None,
                 code_url: str | None, paper_url: str | None, contact: str | None, note: str | None,
                 seeds: int, dataset: str, root: str | os.PathLike = DEFAULT_ROOT,
                 force: bool = False) -> Pending | None:
    """``arena-eval``'s submission options, checked before training (``None`` without ``--submit``)."""
    given = {"--name": name, "--authors": authors, "--code-url": code_url, "--paper-url": paper_url,
             "--contact": contact, "--note": note, "--force": force or None}
    if not submit:
        stray = [option for option, value in given.items() if value is not None]
        if stray:
            raise ConfigError(
                f"{stray[0]} only applies to a submission; add --submit to file the result on the leaderboard."
            )
        return None
    if not name:
        raise SubmissionError(
            "--submit needs --name, the method's name on the leaderboard (e.g. --name 'My GNN')."
        )
    for option, url in (("--code-url", code_url), ("--paper-url", paper_url)):
        if url is not None and not _URL_RE.match(url):
            raise SubmissionError(
                f"{option} {url!r} is not an http(s) link; give the whole URL, e.g. https://github.com/me/method."
            )
    submission = Submission(name, tuple(authors or ()), code_url, paper_url, contact, note)
    return prepare(model, submission, seeds=seeds, dataset=dataset, root=root, force=force)


def submit(document: Mapping[str, Any], model: str, submission: Submission, *,
           root: str | os.PathLike = DEFAULT_ROOT, force: bool = False) -> Path:
    """Write ``document`` (an ``arena-result/1`` run of ``model``) as a submission; return its folder.

    Args:
        document: the result, as :func:`arena.eval.evaluate` returned it.
        model: the model file path or ``baseline:NAME`` that was evaluated.
        submission: who submits it.
        root: the leaderboard folder.
        force: replace a submission of the same slug on the same dataset.
    """
    from arena.eval import result

    result.validate(document)
    if document["protocol"]["version"] == result.EXTERNAL:
        raise SubmissionError("This is an external-protocol result, which files no model file; "
                              "file it with: arena leaderboard add RESULT.json --name NAME --code-url URL")
    check_seeds(document["summary"]["num_seeds"], source="the result")
    code = model_source(model).read_bytes()
    digest = hashlib.sha256(code).hexdigest()
    if digest != document["model"]["sha256"]:
        raise SubmissionError(
            f"The model file {model} changed since it was evaluated (sha256 {digest[:12]}, the "
            f"result has {document['model']['sha256'][:12]}); run the evaluation again."
        )
    record = submission.to_json(hardware=document["environment"]["device"])
    docs.validate(record)
    folder = Path(root) / SUBMISSIONS / document["dataset"]["name"] / submission.slug
    _check_free(folder, force)
    files = {RESULT: docs.dumps(document).encode(), MODEL: code, SUBMISSION: docs.dumps(record).encode()}
    _write_folder(folder, files)
    return folder


def add(document: Mapping[str, Any] | str | os.PathLike, submission: Submission, *,
        root: str | os.PathLike = DEFAULT_ROOT, force: bool = False) -> Path:
    """File an external-protocol result (:meth:`arena.eval.Evaluator.write_result`); return its folder.

    The folder holds ``result.json`` and ``submission.json``, no model file: the model was trained
    outside the harness, so ``submission.code_url`` (required) links the code that trained it.

    Args:
        document: the ``arena-result/1`` document of protocol ``external``, or its file.
        submission: who submits it; ``code_url`` must be set.
        root: the leaderboard folder.
        force: replace a submission of the same slug on the same dataset.

    Raises:
        SubmissionError: a protocol-v1 result (``arena-eval --submit`` files those, with their
            model file), fewer than 3 seeds, no ``code_url``, or a slug already taken.
    """
    from arena.eval import result

    if not isinstance(document, Mapping):
        document = result.load(document)
    result.validate(document)
    if document["protocol"]["version"] != result.EXTERNAL:
        raise SubmissionError(
            "This is a protocol v1 result; file it with arena-eval MODEL --dataset D --submit --name NAME, "
            "which files the evaluated model file with it."
        )
    seeds = document["summary"]["num_seeds"]
    if seeds < MIN_SEEDS:
        raise SubmissionError(
            f"A leaderboard submission needs at least {MIN_SEEDS} seeds, and the result has {seeds}; "
            f"score the predictions of {MIN_SEEDS} or more seeds with Evaluator.write_result."
        )
    if not submission.code_url:
        raise SubmissionError(
            "An external-protocol result must link the code that trained it; give --code-url "
            "(an http(s) URL, e.g. https://github.com/me/method)."
        )
    record = submission.to_json(hardware=document["environment"]["device"])
    docs.validate(record, source="The submission")
    name = document["dataset"]["name"]
    if not _NAME_RE.match(name):
        raise SubmissionError(f"The result's dataset name {name!r} is not a plain dataset name; it cannot name a folder.")
    folder = Path(root) / SUBMISSIONS / name / submission.slug
    _check_free(folder, force)
    _write_folder(folder, {RESULT: docs.dumps(document).encode(), SUBMISSION: docs.dumps(record).encode()})
    return folder


def check_seeds(seeds: int, *, source: str) -> None:
    if seeds < MIN_SEEDS:
        raise SubmissionError(
            f"A leaderboard submission needs at least {MIN_SEEDS} seeds, and {source} has {seeds}. "
            f"Run arena-eval with --seeds {MIN_SEEDS} or more."
        )


def model_source(model: str) -> Path:
    """The file a model reference runs: the file itself, or the baseline's module as shipped."""
    from arena.eval import modelfile

    if not model.startswith(modelfile.BASELINE_PREFIX):
        return Path(model)
    name = model[len(modelfile.BASELINE_PREFIX):]
    spec = importlib.util.find_spec(f"arena.baselines.{name}") if name in modelfile.baselines() else None
    if spec is None or spec.origin is None:
        raise ConfigError(f"Unknown baseline {name!r}; choose one of {modelfile.baselines()}.")
    return Path(spec.origin)


def _dataset_name(ref: str) -> str | None:
    """The dataset name a reference evaluates, when it is known without loading anything."""
    path = Path(ref).expanduser()
    if path.is_dir():
        return fmt.Manifest.load(path).name
    return ref if _NAME_RE.match(ref) else None


def _check_root(root: Path) -> None:
    """Refuse a leaderboard folder that is, or lies under, a file (checked before training)."""
    for path in (root, *root.parents):
        if path.exists():
            if not path.is_dir():
                raise SubmissionError(
                    f"--leaderboard {root}: {path} is a file, not a folder; give the leaderboard folder "
                    "(the one holding submissions/, or a new one)."
                )
            return


def _check_free(folder: Path, force: bool) -> None:
    if folder.is_symlink() or any(p.is_symlink() for p in folder.parents[:2]):
        raise SubmissionError(
            f"{folder} is, or lies under, a symbolic link; a submission is written only into plain "
            "folders under submissions/. Remove the link, or give --leaderboard the real folder."
        )
    if not folder.exists():
        return
    if not force:
        raise SubmissionError(
            f"{folder} already exists; choose another --name, or pass --force to replace it."
        )
    extra = sorted(p.name for p in folder.iterdir() if p.name not in FILES)
    if extra:
        raise SubmissionError(
            f"{folder} holds {extra[0]!r}, which is no part of a submission; --force replaces only "
            f"{', '.join(FILES)}. Move it out first."
        )


def _write_folder(folder: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` into a staged folder and put it at ``folder`` (:func:`arena.format.staged_directory`);
    a submission there is swapped out, and only its own files are removed."""
    with fmt.staged_directory(folder, discard=_remove_replaced) as tmp:
        for name, data in files.items():
            try:
                fmt.write_bytes_atomic(tmp / name, data)
            except WriteError as exc:
                raise _write_error(folder, exc) from exc


def _remove_replaced(old: Path) -> None:
    """Remove a replaced submission: its own files, then the folder (never anything else; a
    link is removed, never what it points to)."""
    if old.is_symlink() or not old.is_dir():
        old.unlink()
        return
    for name in FILES:
        (old / name).unlink(missing_ok=True)
    old.rmdir()


def _write_error(folder: Path, exc: WriteError) -> WriteError:
    cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
    error = WriteError(f"Could not write the submission {folder}: {cause.strerror or cause}. "
                       "Nothing was written there.")
    error.errno = exc.errno
    return error
