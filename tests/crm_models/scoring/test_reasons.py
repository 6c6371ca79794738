"""Reasons in plain English."""

from __future__ import annotations

import pandas as pd
import pytest

from crm_models.scoring.features import FEATURES
from crm_models.scoring.reasons import explain, phrase, reason_stats


@pytest.mark.parametrize(
    ("feature", "value", "text"),
    [
        ("recency_days", 12.4, "last order 12 days ago"),
        ("recency_days", 0.3, "last order today"),
        ("orders_365d", 7, "7 orders in the last year"),
        ("orders_365d", 1, "1 order in the last year"),  # singular
        ("orders_365d", 0, "no orders in the last year"),
        ("returns_90d", 2, "2 returns or cancellations in the last 90 days"),
        ("monetary", 1234.5, "£1,234 spent in total, net of refunds"),
        ("spend_90d", 0, "no purchases in the last 90 days"),
        ("spend_trend", -0.4, "spending less in the last 90 days than before"),
        ("cancelled_share", 0.125, "12% of order value cancelled or refunded"),
    ],
)
def test_phrases(feature: str, value: float, text: str) -> None:
    assert phrase(feature, value) == text


def test_every_feature_has_a_phrase() -> None:
    for feature in FEATURES:
        assert phrase(feature, 1.0)


def _stats() -> dict[str, dict[str, float]]:
    X = pd.DataFrame({f: [0.0, 1.0, 2.0, 3.0] for f in FEATURES})
    X["recency_days"] = [100.0, 50.0, 20.0, 5.0]
    X["n_refunds"] = [0.0, 0.0, 1.0, 5.0]
    y = pd.Series([0, 0, 1, 1])
    return reason_stats(X, y)


def test_stats_learn_directions_from_rank_correlation() -> None:
    stats = _stats()

    assert stats["recency_days"]["direction"] == -1.0
    assert stats["n_refunds"]["direction"] == 1.0


def test_reasons_explain_a_high_score_and_skip_unrelated_features() -> None:
    stats = _stats()
    customer = dict.fromkeys(FEATURES, 1.5) | {"recency_days": 3.0, "n_refunds": 9.0}

    refund = explain(customer, stats, target="refund_risk", above_average=True)
    propensity = explain(customer, stats, target="propensity", above_average=True)

    assert refund[0] == "9 returns in total"
    assert "9 returns in total" not in propensity  # returns do not explain buying
    assert propensity[0] == "last order 3 days ago"


def test_an_average_customer_is_called_typical() -> None:
    stats = _stats()
    customer = {f: s["median"] for f, s in stats.items()}

    assert explain(customer, stats, target="churn_risk", above_average=False) == [
        "close to the typical customer"
    ]


def test_a_single_order_has_no_interval_to_speak_of() -> None:
    stats = {f: {"direction": 0.0, "median": 0.0, "scale": 1.0} for f in FEATURES}
    stats["mean_interval_days"] = {"direction": 1.0, "median": 30.0, "scale": 10.0}
    customer = dict.fromkeys(FEATURES, 0.0) | {"mean_interval_days": 300.0}

    one_order = explain(
        customer | {"frequency": 1.0}, stats, target="churn_risk", above_average=True
    )
    two_orders = explain(
        customer | {"frequency": 2.0}, stats, target="churn_risk", above_average=True
    )

    assert one_order == ["close to the typical customer"]
    assert two_orders == ["orders every 300 days on average"]
