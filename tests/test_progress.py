"""The package's progress lines (arena._progress): what a terminal of any width shows of them."""

from __future__ import annotations

import time

import pytest

from arena._progress import WIDE, Display


@pytest.mark.parametrize("width", [80, 200])
def test_a_progress_line_with_a_note_reads_whole_in_an_80_column_terminal(width, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", str(width))
    with Display(True, note=True) as display:  # a harness line: epoch, samples, rate, val note, ETA
        line = display.line("seed 0 epoch 40/40", 1258, "samples")
        time.sleep(0.3)  # a rate of a few thousand samples/s, as in a real epoch
        line.advance(1258)
        line.note("val 94.44% (best 95.00%)")
    out = capsys.readouterr().out
    assert "…" not in out, out  # no column clipped
    for part in ("seed 0 epoch 40/40", "1258/1258", "samples/s", "val 94.44% (best 95.00%)", "ETA"):
        assert part in out, (part, out)
    assert max(len(row) for row in out.splitlines()) <= width
    assert ("━" in out) == (width >= WIDE)  # the bar only where it fits beside the rest
