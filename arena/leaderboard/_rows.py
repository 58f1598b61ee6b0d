"""What the leaderboard shows: one row per submission, grouped into one table per dataset.

The Markdown table, the terminal table and the HTML page are all drawn from these, so the three
can never disagree about a rank or a number.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One submission as the leaderboard shows it (accuracies are fractions in [0, 1])."""

    dataset: str            # "neural_digits", "neural_mnist_subset", ...
    slug: str               # the submission's folder name, unique within its dataset
    rank: int | None        # 1-based among its table's ranked rows; None when not ranked (unverified dataset)
    method: str
    url: str | None         # the method's link: code URL, else paper URL, else None
    test_mean: float
    test_std: float | None  # sample std (ddof 1); None with one seed
    num_seeds: int
    val_mean: float
    num_parameters: int
    input_kind: str         # "flat", "layers" or "graph"
    protocol: str           # "v1", or "external" (own training loop; shown, never ranked with v1)
    dataset_version: str
    manifest_short: str     # the first 8 hex digits of the dataset's manifest sha256
    date: str               # YYYY-MM-DD, from the result document (never "now")
    verified: str           # "verified" or "unverified dataset"
    hardware: str           # as the result recorded it; reported, never ranks


@dataclass(frozen=True)
class Table:
    """The submissions of one protocol on one dataset, best first: ranked rows, then the unranked ones."""

    dataset: str
    kind: str               # "full" or "subset": never ranked together
    rows: tuple[Row, ...]
    protocol: str = "v1"    # "v1", or "external": a dataset's external results are a table of their own
