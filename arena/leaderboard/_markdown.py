"""``leaderboard/README.md``: the rules, then one table per dataset, best first.

A pure function of the tables: no date of "now", no machine-dependent text, so rendering an
unchanged folder gives the same bytes.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from arena.leaderboard._cells import COLUMNS, RIGHT, cells, title
from arena.leaderboard._rows import Row, Table

MARK = "<!-- Written by `arena leaderboard render` from submissions/; edit the submissions, not this file. -->"
RULES = f"""\
# Neural Field Arena leaderboard

{MARK}

## Rules

- **Protocol v1** (`arena-eval`): train on `train` only, select the checkpoint on `val` only, and
  score `test` once per seed, at that checkpoint; test labels never reach training or selection.
- **At least 3 seeds** (0, 1, 2, ...): the table shows the mean ± sample standard deviation
  (ddof 1) of test accuracy over the seeds, and the mean val accuracy.
- **The dataset is pinned by its manifest hash**: a result is ranked only when its dataset's
  name, version and manifest sha256 are a release in the registry (`arena/registry.json`).
  Any other build is listed as *unverified dataset*, below the ranked rows, never ranked.
- **Full datasets and `*_subset` datasets are separate tables**, never ranked together.
- **Hardware is reported, never ranks.**
- **External-protocol results** (a model trained by its own loop and only scored by the Arena)
  are shown, never ranked with protocol v1.
- Ties in test accuracy are broken by val accuracy, then by the submission's folder name.

## How to submit

1. `arena-eval MODEL.py --dataset neural_digits --seeds 3 --submit --name "My method"
   [--authors ... --code-url ... --paper-url ... --contact ... --note ...]` runs the evaluation
   and writes `leaderboard/submissions/<dataset>/<slug>/` (`result.json`, `model.py`,
   `submission.json`).
2. `arena leaderboard verify` checks every submission without running its code (schemas, the
   summary recomputed from the seeds, the model file's hash, protocol, seeds, dataset pin);
   `arena leaderboard verify --rerun SLUG` reruns one of them.
3. `arena leaderboard render` rewrites this file and `index.html`.
4. Open a pull request with the new folder and the re-rendered files; CI verifies the folder
   and checks that the committed README.md and index.html are the render.
"""


def render_markdown(tables: list[Table]) -> str:
    """The whole README.md for ``tables``."""
    parts = [RULES]
    if not tables:
        parts.append("\nNo submissions yet.\n")
    for table in tables:
        parts.append(f"\n## {title(table)}\n\n{_table(table)}")
    return "".join(parts)


def _table(table: Table) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |",
             "|" + "|".join("---:" if c in RIGHT else "---" for c in COLUMNS) + "|"]
    lines += ["| " + " | ".join(_row(row)) + " |" for row in table.rows]
    return "\n".join(lines) + "\n"


def _row(row: Row) -> list[str]:
    values = {k: _escape(v) for k, v in cells(row).items()}
    link = row.url or f"submissions/{row.dataset}/{row.slug}/"
    values["method"] = f"[{values['method']}]({quote(link, safe=':/?#@!$&*+,;=%~')})"
    return [values[c] for c in COLUMNS]


def _escape(text: str) -> str:
    """One line of a Markdown table cell, with nothing that could open HTML or a link."""
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"([\\|\[\]<>`*_])", r"\\\1", text)
