"""Named RFM segments from recency, frequency and monetary quintile scores."""

from __future__ import annotations

CHAMPION = "champion"
LOYAL = "loyal"
AT_RISK = "at risk"
NEW = "new"
HIBERNATING = "hibernating"
UNKNOWN = "unknown"

SEGMENTS = (CHAMPION, LOYAL, AT_RISK, NEW, HIBERNATING, UNKNOWN)
NEW_DAYS = 90.0


def segment(*, r: int, f: int, m: int, tenure_days: float) -> str:
    """The segment of a customer with quintile scores ``r``, ``f``, ``m`` (1-5).

    - new: first order less than 90 days ago;
    - champion: bought recently and often (r ≥ 4, f ≥ 4);
    - loyal: otherwise still buying (r ≥ 3);
    - at risk: used to buy often (f ≥ 3 or m ≥ 4) but not lately;
    - hibernating: bought little, long ago.
    """
    if tenure_days < NEW_DAYS:
        return NEW
    if r >= 4 and f >= 4:
        return CHAMPION
    if r >= 3:
        return LOYAL
    if f >= 3 or m >= 4:
        return AT_RISK
    return HIBERNATING
