"""The ``arena-submission/1`` document, slugs, and the layout of a submission folder.

``<leaderboard>/submissions/<dataset>/<slug>/`` holds :data:`RESULT` (``arena-result/1``,
unchanged), :data:`MODEL` (the exact model file) and :data:`SUBMISSION` (``arena-submission/1``);
an external-protocol result's folder holds :data:`EXTERNAL_FILES`, no model file.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

from arena.errors import SubmissionError

SCHEMA_ID = "arena-submission/1"
RESULT, MODEL, SUBMISSION = "result.json", "model.py", "submission.json"
FILES = (RESULT, MODEL, SUBMISSION)
EXTERNAL_FILES = (RESULT, SUBMISSION)
SUBMISSIONS = "submissions"
MIN_SEEDS = 3
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclasses.dataclass(frozen=True)
class Submission:
    """Who submits a result, and where to read more: ``arena-submission/1`` less the hardware.

    Attributes:
        method: the method's name as the leaderboard shows it; its :func:`slug` names the folder.
        authors: one name per author.
        code_url, paper_url: ``http(s)://`` links; the table links the method to the code, else
            the paper.
        contact: an e-mail address or a handle.
        note: free text shown on the page.
    """

    method: str
    authors: tuple[str, ...] = ()
    code_url: str | None = None
    paper_url: str | None = None
    contact: str | None = None
    note: str | None = None

    @property
    def slug(self) -> str:
        return slug(self.method)

    def to_json(self, hardware: str) -> dict[str, Any]:
        """The ``arena-submission/1`` document, with the hardware the result recorded."""
        return {"schema": SCHEMA_ID, "method": self.method, "authors": list(self.authors),
                "code_url": self.code_url, "paper_url": self.paper_url, "contact": self.contact,
                "hardware": hardware, "note": self.note}


def slug(name: str) -> str:
    """``"Graph Net (v2)"`` -> ``"graph-net-v2"``: lowercase ``[a-z0-9]`` runs joined by ``-``."""
    out = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not out:
        raise SubmissionError(
            f"The method name {name!r} has no letter or digit to make a folder name from; "
            "give --name a name such as 'My GNN'."
        )
    return out


@functools.cache
def schema() -> dict[str, Any]:
    """The JSON Schema of ``arena-submission/1`` (``arena/eval/submission.schema.json``)."""
    return json.loads(resources.files("arena.eval").joinpath("submission.schema.json").read_text())


def validate(document: Any, *, source: str = SUBMISSION) -> None:
    """Raise :class:`SubmissionError` naming the first place ``document`` breaks the schema."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(top level)"
        raise SubmissionError(
            f"{source} is not a valid {SCHEMA_ID} document: at {where}: {errors[0].message}."
        )


def dumps(document: Any) -> str:
    """How every leaderboard JSON document is written: two-space indent, one final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def read_json(path: Path) -> Any:
    """Parse a JSON file strictly (:func:`arena.eval.result.read_json`), or raise
    :class:`SubmissionError` naming it."""
    from arena.eval.result import read_json

    return read_json(path, error=SubmissionError, name=path.name)
