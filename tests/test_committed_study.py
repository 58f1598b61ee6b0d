"""The committed reproduction (docs/study) is what its records say: the table and the drawn points
re-render byte for byte from docs/study/sweep, and every accuracy in the records is the mean of
the per-seed numbers of the committed result documents (``bash benchmarks/study_mnist.sh`` wrote
them all)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from arena.study import _plot  # noqa: E402
from arena.study._sweep import read_index  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "docs" / "study"
SWEEP = STUDY / "sweep"


def test_committed_study_table_and_points_rerender_from_its_records(tmp_path):
    _plot.plot(SWEEP, out=tmp_path)
    for name in ("table.md", "points.json"):
        assert (tmp_path / name).read_text() == (STUDY / name).read_text(), (
            f"docs/study/{name} is not what `arena study plot docs/study/sweep --out docs/study` draws; rerun it")


def test_committed_study_accuracies_are_the_result_documents_means():
    records = read_index(SWEEP)
    assert len(records) == 30 and all(r["status"] == "done" for r in records)
    checked = 0
    for record in records:
        for name, model in record["models"].items():
            if model["status"] == "skipped":  # DWSNet reads SIREN layers only (the config's `only`)
                assert name == "dws" and not (record["values"]["arch"] == "siren"
                                              and record["values"]["hidden"] in ("16", "32"))
                continue
            assert model["status"] == "done", (record["cell"], name)
            doc = json.loads((SWEEP / "cells" / record["cell"] / model["result"]).read_text())
            tests = [s["test_accuracy"] for s in doc["seeds"]]
            assert len(tests) == model["seeds"] == 3, (record["cell"], name)
            assert model["test_mean"] == pytest.approx(np.mean(tests), abs=1e-12)
            assert model["test_std"] == pytest.approx(np.std(tests, ddof=1), abs=1e-12)
            assert doc["dataset"]["name"] == "neural_mnist" and doc["summary"]["num_seeds"] == 3
            checked += 1
    assert checked == 30 + 8  # the MLP on every cell, DWSNet on the SIREN cells of widths 16 and 32
