"""EASE: learned item weights follow who bought what, recent purchases count more."""

from __future__ import annotations

import numpy as np
import pytest

from crm_models.recommend.ease import EaseConfig, fit_ease, recency_weight
from tests.crm_models.recommend.builders import purchases


def _shop() -> list[tuple[int, int, int, float]]:
    # Customers 1-6 buy 1 with 2; customers 7-9 buy 3 with 4; one buys 1 and 4.
    rows = []
    for c in range(1, 7):
        rows += [(c, c, 1, 90.0), (c, c, 2, 90.0)]
    for c in range(7, 10):
        rows += [(c, c, 3, 90.0), (c, c, 4, 90.0)]
    rows += [(10, 10, 1, 90.0), (10, 10, 4, 90.0)]
    return rows


def test_products_bought_together_get_each_other_first() -> None:
    table = fit_ease(purchases(_shop()), now=100.0, config=EaseConfig(l2=1.0))

    assert table.row(1)[0][0] == 2
    assert table.row(3)[0][0] == 4
    assert table.row(2)[0].tolist()[:1] == [1]


def test_the_weights_follow_the_recency_of_purchases() -> None:
    config = EaseConfig(tau_days=30.0, floor=0.5)

    assert recency_weight(0.0, config) == pytest.approx(1.5)
    assert recency_weight(np.array([30.0]), config)[0] == pytest.approx(
        0.5 + np.exp(-1)
    )


def test_only_the_most_bought_products_take_part_when_capped() -> None:
    table = fit_ease(
        purchases(_shop()), now=100.0, config=EaseConfig(l2=1.0, max_items=2)
    )

    # Products 1 (7 buyers) and 2 or 4 (6 and 4): 3 is left out.
    assert 3 not in table.keys.tolist()
    assert set(table.keys.tolist()) <= {1, 2, 4}


def test_no_purchases_no_table() -> None:
    assert len(fit_ease(purchases([]), now=0.0)) == 0
