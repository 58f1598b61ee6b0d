"""The repository's own leaderboard/ verifies, and its README.md and index.html are exactly what
`arena leaderboard render` writes from its submissions (so nobody edits a ranking by hand)."""

import shutil
from pathlib import Path

import pytest

from arena import leaderboard

BOARD = Path(__file__).resolve().parent.parent / "leaderboard"


@pytest.fixture
def board():
    if not (BOARD / "submissions").is_dir():
        pytest.fail(f"{BOARD}/submissions is missing: the repository ships its leaderboard")
    return BOARD


def test_every_committed_submission_verifies(board):
    report = leaderboard.verify(board)
    assert report.ok, "\n".join(report.problems)
    assert report.entries, "the committed leaderboard has no submission"


def test_committed_readme_and_page_are_the_render_of_the_submissions(board, tmp_path):
    copy = tmp_path / "leaderboard"
    shutil.copytree(board / "submissions", copy / "submissions")
    written = leaderboard.render(copy)
    assert sorted(p.name for p in written) == ["README.md", "index.html"]
    for path in written:
        committed = board / path.name
        assert committed.is_file(), f"{committed} is missing: run `arena leaderboard render leaderboard`"
        assert committed.read_bytes() == path.read_bytes(), (
            f"{committed} differs from a fresh render: run `arena leaderboard render leaderboard`")
