"""The time split: history before the cutoff, new products after it."""

from __future__ import annotations

from crm_models.recommend.timesplit import time_split
from tests.crm_models.recommend.builders import purchases

ROWS = [
    (1, 1, 10, 1.0),
    (1, 1, 20, 1.0),
    (1, 2, 10, 6.0),  # a repeat after the cutoff: not new
    (1, 2, 30, 6.0),  # new
    (1, 3, 40, 12.0),  # after the window's end
    (2, 4, 10, 7.0),  # no history before the cutoff
    (3, 5, 20, 2.0),
    (3, 6, 20, 8.0),  # only a repeat
]


def test_truth_is_the_new_products_in_the_window() -> None:
    split = time_split(purchases(ROWS), 5.0, 10.0)

    assert split.truth == {1: {30}}
    assert split.customers == [1]
    assert split.history[1] == {10: 1.0, 20: 1.0}
    assert split.history[3] == {20: 2.0}
    assert len(split.train) == 3  # only what happened before the cutoff


def test_without_an_end_the_window_runs_to_the_last_purchase() -> None:
    split = time_split(purchases(ROWS), 5.0)

    assert split.truth == {1: {30, 40}}
