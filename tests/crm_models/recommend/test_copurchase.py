"""Co-purchase neighbours by basket cosine."""

from __future__ import annotations

import math

import pytest

from crm_models.recommend.copurchase import fit_copurchase
from tests.crm_models.recommend.builders import BASKETS


def test_neighbours_are_weighted_by_basket_cosine() -> None:
    table = fit_copurchase(BASKETS)

    ids, weights = table.row(10)

    assert ids.tolist() == [20, 30]
    # 10 and 20 share 3 orders of 3 each; 10 and 30 share 1 of 3 and 1.
    assert weights.tolist() == pytest.approx([1.0, 1 / math.sqrt(3)])
    assert table.row(40)[0].tolist() == []  # alone in its order


def test_only_the_top_neighbours_are_kept() -> None:
    table = fit_copurchase(BASKETS, top_n=1)

    assert table.row(10)[0].tolist() == [20]
    assert table.row(30)[0].tolist() == [10]  # a tie with 20: the smaller id


def test_an_empty_history_gives_an_empty_table() -> None:
    assert len(fit_copurchase(BASKETS.before(-1.0))) == 0
