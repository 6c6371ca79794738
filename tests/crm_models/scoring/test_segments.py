"""Named RFM segments."""

from __future__ import annotations

import pytest

from crm_models.scoring.segments import segment


@pytest.mark.parametrize(
    ("r", "f", "m", "tenure_days", "expected"),
    [
        (5, 1, 1, 30, "new"),  # first order a month ago, whatever else
        (5, 5, 3, 400, "champion"),
        (4, 4, 5, 400, "champion"),
        (3, 2, 2, 400, "loyal"),  # still buying, not often
        (2, 4, 2, 400, "at risk"),  # used to buy often
        (1, 1, 5, 400, "at risk"),  # spent a lot, long ago
        (1, 1, 1, 400, "hibernating"),
    ],
)
def test_segments(r: int, f: int, m: int, tenure_days: float, expected: str) -> None:
    assert segment(r=r, f=f, m=m, tenure_days=tenure_days) == expected
