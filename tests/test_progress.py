"""A run's progress from its logged steps."""

import pytest

from clues.progress import human_seconds, progress, total_steps


def test_progress_helpers():
    assert total_steps(10, 4, 3) == 9
    done, left = progress(3, 9, 30.0)
    assert done == pytest.approx(1 / 3) and left == pytest.approx(60.0)
    assert human_seconds(75) == "1 min 15 s"
