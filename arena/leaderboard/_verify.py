"""``arena leaderboard verify``: every submission checked, none of their code executed.

Each ``submissions/<dataset>/<slug>/`` must hold a valid ``arena-result/1`` whose summary is the
one recomputed from its per-seed numbers (mean, sample std with ddof 1, to a relative 1e-9), of
a protocol version this package knows, with at least 3 seeds, on the dataset its folder names;
a valid ``arena-submission/1`` whose hardware is the result's device; and the model file whose
sha256 the result recorded. One method appears once per dataset. A result whose dataset name,
version and manifest sha256 are a release pinned in the registry is ranked; any other is listed
as *unverified dataset* and never ranked. Folders whose name starts with ``.`` (a submission
being written) are not read.

An ``external``-protocol result (a model trained by the submitter's own loop, its predictions
scored by :class:`arena.eval.Evaluator`) has no model file the Arena could hash or rerun: its
folder holds ``result.json`` and ``submission.json`` only (a ``model.py`` there is refused, as it
would suggest a rerunnable run), and ``submission.json`` must link the training code
(``code_url``). Everything else is checked as for protocol v1.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from arena.errors import ArenaError, LeaderboardError
from arena.leaderboard import _documents as docs
from arena.leaderboard._documents import (
    EXTERNAL_FILES,
    FILES,
    MIN_SEEDS,
    MODEL,
    RESULT,
    SLUG_RE,
    SUBMISSION,
    SUBMISSIONS,
)
from arena.subset import SUFFIX as SUBSET_SUFFIX


@dataclasses.dataclass(frozen=True)
class Entry:
    """A submission that passed every check.

    Attributes:
        dataset: its folder's dataset name (the result's).
        slug: its folder's name.
        path: its folder.
        result: the ``arena-result/1`` document.
        submission: the ``arena-submission/1`` document.
        pinned: its dataset (name, version, manifest sha256) is a release in the registry.
    """

    dataset: str
    slug: str
    path: Path
    result: Mapping[str, Any]
    submission: Mapping[str, Any]
    pinned: bool

    @property
    def label(self) -> str:
        return f"{self.dataset}/{self.slug}"

    @property
    def external(self) -> bool:
        """An external-protocol result: shown in its own table, never rerun."""
        from arena.eval.result import EXTERNAL

        return self.result["protocol"]["version"] == EXTERNAL


@dataclasses.dataclass(frozen=True)
class Report:
    """What :func:`verify` found: the valid submissions, and one line per failure."""

    root: Path
    entries: tuple[Entry, ...]
    problems: tuple[str, ...]  # "DATASET/SLUG: reason"

    @property
    def ok(self) -> bool:
        return not self.problems

    def require_ok(self) -> None:
        """Raise :class:`LeaderboardError` listing every failure, if there is any."""
        if self.problems:
            raise LeaderboardError(
                f"{self.root} does not verify, so nothing was rendered from it: "
                f"{'; '.join(p.rstrip('.') for p in self.problems)}. `arena leaderboard verify` lists the failures."
            )

    def find(self, ref: str) -> Entry:
        """The entry ``SLUG`` or ``DATASET/SLUG`` names."""
        found = [e for e in self.entries if ref in (e.slug, e.label)]
        if len(found) == 1:
            return found[0]
        if found:
            options = ", ".join(e.label for e in found)
            raise LeaderboardError(f"{ref!r} is a submission on several datasets ({options}); name one of them.")
        known = ", ".join(e.label for e in self.entries) or "none"
        raise LeaderboardError(f"No submission {ref!r} in {self.root}; the submissions are: {known}.")


def verify(root: str | os.PathLike) -> Report:
    """Check every submission under ``root`` (a leaderboard folder) without running any code."""
    root = Path(root)
    if not root.is_dir():
        raise LeaderboardError(
            f"No leaderboard folder at {root}. Submit a result first: "
            f"arena-eval MODEL --dataset NAME --seeds 3 --submit --name NAME --leaderboard {root}"
        )
    if not (root / SUBMISSIONS).is_dir():
        raise LeaderboardError(
            f"{root} has no {SUBMISSIONS}/ folder, so it is no leaderboard folder; give the folder that "
            f"holds {SUBMISSIONS}/ (arena-eval ... --submit --leaderboard DIR starts one)."
        )
    pins = _pins()
    entries: list[Entry] = []
    problems: list[tuple[str, str]] = []  # (label, reason)
    for dataset, folder in _folders(root, problems):
        try:
            entries.append(_check(folder, dataset, pins))
        except ArenaError as exc:
            problems.append((f"{dataset}/{folder.name}", str(exc)))
    problems += _duplicates(entries)
    failed = {label for label, _ in problems}
    return Report(root, tuple(e for e in entries if e.label not in failed),
                  tuple(f"{label}: {reason}" for label, reason in problems))


def pinned(result: Mapping[str, Any], pins: set[tuple[str, str, str]] | None = None) -> bool:
    """Whether a result's dataset is a release the registry pins by manifest sha256."""
    d = result["dataset"]
    return (d["name"], d["version"], d["manifest_sha256"]) in (_pins() if pins is None else pins)


def _pins() -> set[tuple[str, str, str]]:
    from arena.hub import registry

    return {
        (name, version, release.manifest_sha256)
        for name, entry in registry().items()
        for version, release in entry.releases.items()
        if release.manifest_sha256 is not None
    }


def _folders(root: Path, problems: list[tuple[str, str]]) -> Iterator[tuple[str, Path]]:
    """``(dataset, submission folder)`` in name order; stray files become problems."""
    base = root / SUBMISSIONS
    for dataset in _visible(base):
        if dataset.is_symlink() or not dataset.is_dir():
            problems.append((f"{SUBMISSIONS}/{dataset.name}", f"not a dataset folder; move it out of {base}."))
            continue
        for folder in _visible(dataset):
            label = f"{dataset.name}/{folder.name}"
            if folder.is_symlink() or not folder.is_dir():
                problems.append((label, f"not a submission folder (a submission is a plain folder, "
                                        f"never a link); move it out of {dataset}."))
            elif not SLUG_RE.match(folder.name):
                problems.append((label, "the folder name is no slug (lowercase letters, digits and '-')."))
            else:
                yield dataset.name, folder


def _visible(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if not p.name.startswith(".")), key=lambda p: p.name)


def _check(folder: Path, dataset: str, pins: set[tuple[str, str, str]]) -> Entry:
    from arena.eval.result import EXTERNAL

    links = [name for name in FILES if (folder / name).is_symlink()]
    if links:
        raise LeaderboardError(f"{links[0]} is a symbolic link; a submission holds plain files, which a pull "
                               "request adds: copy the file in place of the link.")
    result = _read_result(folder / RESULT) if (folder / RESULT).is_file() else None
    external = result is not None and result["protocol"]["version"] == EXTERNAL
    files = EXTERNAL_FILES if external else FILES
    missing = [name for name in files if not (folder / name).is_file()]
    if missing:
        how = ("an external-protocol submission holds " + ", ".join(files) + " (arena leaderboard add "
               "writes them)") if external else f"a submission holds {', '.join(FILES)} (arena-eval ... --submit writes them)"
        raise LeaderboardError(f"missing {', '.join(missing)}; {how}.")
    assert result is not None  # result.json is in both lists of files
    submission = docs.read_json(folder / SUBMISSION)
    docs.validate(submission)
    _check_dataset(result["dataset"]["name"], dataset)
    if external:
        _check_external(folder, submission)
    else:
        _check_model(folder / MODEL, result["model"]["sha256"])
    device = result["environment"]["device"]
    if submission["hardware"] != device:
        raise LeaderboardError(
            f"{SUBMISSION} says hardware {submission['hardware']!r}, but the result ran on {device!r}."
        )
    return Entry(dataset, folder.name, folder, result, submission, pinned(result, pins))


def _read_result(path: Path) -> dict[str, Any]:
    from arena.eval import result
    from arena.eval.protocol import VERSION

    document = docs.read_json(path)
    protocol = document.get("protocol") if isinstance(document, dict) else None
    version = protocol.get("version") if isinstance(protocol, dict) else None
    if version not in (VERSION, result.EXTERNAL) or isinstance(version, bool):
        raise LeaderboardError(
            f"{RESULT} follows protocol version {version!r}, which this package does not know "
            f"(it knows version {VERSION} and {result.EXTERNAL!r}); a newer neural-field-arena may."
        )
    result.validate(document, source=RESULT)
    seeds = document["summary"]["num_seeds"]
    if seeds < MIN_SEEDS:
        raise LeaderboardError(f"{RESULT} has {seeds} seeds; the leaderboard needs at least {MIN_SEEDS}.")
    return document


def _check_dataset(name: str, folder: str) -> None:
    if name == folder:
        return
    if name.endswith(SUBSET_SUFFIX) and not folder.endswith(SUBSET_SUFFIX):
        raise LeaderboardError(
            f"{RESULT} is on {name}, a subset, but is filed under the full dataset {folder}; "
            f"subsets are never ranked with full datasets: file it under {SUBMISSIONS}/{name}/."
        )
    raise LeaderboardError(
        f"{RESULT} is on {name}, but is filed under {folder}; file it under {SUBMISSIONS}/{name}/."
    )


def _check_model(path: Path, expected: str) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != expected:
        raise LeaderboardError(
            f"{MODEL} has sha256 {digest[:12]}, but the result evaluated a file with sha256 "
            f"{expected[:12]}; submit the exact file that was evaluated."
        )


def _check_external(folder: Path, submission: Mapping[str, Any]) -> None:
    if (folder / MODEL).exists():
        raise LeaderboardError(
            f"{MODEL} is in an external-protocol submission, whose model was trained outside the "
            f"harness: nothing runs or hashes it. Remove it and link the code with code_url in {SUBMISSION}."
        )
    if not submission.get("code_url"):
        raise LeaderboardError(
            f"{SUBMISSION} has no code_url; an external-protocol result must link the code that trained "
            "it (arena leaderboard add ... --code-url https://...)."
        )


def _duplicates(entries: list[Entry]) -> list[tuple[str, str]]:
    first: dict[tuple[str, str], Entry] = {}
    problems = []
    for entry in entries:
        key = (entry.dataset, entry.submission["method"].casefold())
        if key in first:
            problems.append((entry.label,
                             f"the method {entry.submission['method']!r} is already on {entry.dataset} "
                             f"as {first[key].slug}; one entry per method and dataset (replace it with --force)."))
        else:
            first[key] = entry
    return problems
