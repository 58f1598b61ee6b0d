"""The package's progress lines (arena._progress): what a terminal of any width shows of them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import rich

from arena import _progress
from arena._progress import WIDE, Display


@pytest.mark.parametrize("width", [80, 120, WIDE])
@pytest.mark.parametrize("total", [40 * 1258, 200 * 55000])  # the harness's samples: neural_digits, Neural MNIST
def test_a_harness_progress_line_reads_whole_at_any_terminal_width(width, total, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.setattr(rich, "_console", None)  # rich's shared console, made anew at this width
    clock = iter([0.0, total / 20_000])  # a real epoch's rate: ~20,000 samples/s
    monkeypatch.setattr(_progress, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    with Display(True, note=True) as display:  # a harness line: epoch, samples, rate, val note, ETA
        line = display.line("seed 0 epoch 200/200", total, "samples")
        line.advance(total)
        line.note("val 94.44% (best 95.00%)")
    out = capsys.readouterr().out
    assert "…" not in out, out  # no column clipped
    for part in ("seed 0 epoch 200/200", "samples/s", "val 94.44% (best 95.00%)", "ETA"):
        assert part in out, (part, out)
    assert max(len(row) for row in out.splitlines()) <= width
    wide = width >= WIDE  # the bar and the counts only where they fit beside the rest
    assert ("━" in out, f"{total}/{total}" in out, "100%" in out) == (wide, wide, not wide), out


def test_a_narrow_terminal_counts_few_items_and_gives_a_percent_of_many(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(rich, "_console", None)
    with Display(True) as display:
        display.line("fitting neural_digits", 12, "NeFs").advance(12)
        display.line("seed 0 epoch 40/40", 50_320, "samples").advance(50_320)
    out = capsys.readouterr().out
    assert "fitting neural_digits 12/12" in " ".join(out.split()) and "50320" not in out and "100%" in out, out


def test_work_read_from_a_checkpoint_fills_the_bar_but_never_the_rate(monkeypatch, capsys):
    """A resumed evaluation showed finished seeds at billions of samples/s: their samples were
    counted as done in the instant the checkpoint was read."""
    monkeypatch.setenv("COLUMNS", str(WIDE))
    monkeypatch.setattr(rich, "_console", None)
    clock = iter([0.0, 1.0, 2.0])
    monkeypatch.setattr(_progress, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    with Display(True, note=True) as display:
        finished = display.line("seed 0 epoch 200/200", 1000, "samples")
        finished.restore(1000)
        finished.note("from the checkpoint")
        current = display.line("seed 1 epoch 5/10", 1000, "samples")
        current.restore(400)  # epochs 1-4 from the checkpoint
        current.advance(100)  # then one epoch, in the one second the clock moves
    out = " ".join(capsys.readouterr().out.split())
    assert "1000/1000" in out and "- samples/s from the checkpoint" in out, out
    assert "500/1000" in out and "100 samples/s" in out, out
