"""Association rules: support, confidence and lift on tiny baskets."""

from __future__ import annotations

import pytest

from crm_models.recommend.rules import fit_rules
from tests.crm_models.recommend.builders import BASKETS


def test_confidence_and_lift_of_the_kept_rules() -> None:
    rules = fit_rules(BASKETS, min_count=1, min_confidence=0.1, min_lift=1.0)

    ids, confidence = rules.confidence.row(30)
    _, lift = rules.lift.row(30)

    # 30 is in one order of 4, with 10 and 20: P(10 | 30) = 1, P(10) = 3/4.
    assert ids.tolist() == [10, 20]
    assert confidence.tolist() == pytest.approx([1.0, 1.0])
    assert lift.tolist() == pytest.approx([4 / 3, 4 / 3])
    # 10 -> 20: P = 1, lift 4/3; 10 -> 30: P = 1/3, lift (1/3) / (1/4).
    assert rules.confidence.row(10)[1].tolist() == pytest.approx([1.0, 1 / 3])
    assert rules.lift.row(10)[1].tolist() == pytest.approx([4 / 3, 4 / 3])
    assert rules.n_baskets == 4


def test_rules_need_enough_orders_behind_them() -> None:
    rules = fit_rules(BASKETS, min_count=2)

    assert rules.confidence.row(10)[0].tolist() == [20]  # 10 + 30: one order only
    assert rules.confidence.row(30)[0].tolist() == []


def test_rules_at_chance_level_are_dropped() -> None:
    rules = fit_rules(BASKETS, min_count=1, min_lift=1.5)

    assert len(rules.confidence) == 0  # every lift here is 4/3
