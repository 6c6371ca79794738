"""Plain-English reasons for a score, from the features that explain it.

Training records, per target, each feature's direction (the sign of its rank
correlation with the label), median and spread. When a customer scores above the
average, the reasons are the features furthest from the median in the direction
that raises the score; below the average, those that lower it. Each becomes a short
phrase such as "last order 12 days ago". Only features that make sense as an
explanation of a target are used (returns explain refund risk, not propensity).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from crm_models.scoring.features import FEATURES

# Directions weaker than this correlation are treated as no direction.
MIN_CORRELATION = 0.05
# A feature must sit at least this many spreads from the median to be a reason.
MIN_DISTANCE = 0.25
# The features that may explain each target, strongest story first on ties.
EXPLAINS: dict[str, tuple[str, ...]] = {
    "propensity": (
        "recency_days",
        "orders_90d",
        "orders_365d",
        "active_months",
        "frequency",
        "spend_90d",
        "spend_trend",
        "mean_interval_days",
        "monetary",
        "n_products",
        "chats_90d",
        "complaints_365d",
        "bad_ratings_365d",
    ),
    "churn_risk": (
        "recency_days",
        "orders_90d",
        "orders_365d",
        "active_months",
        "frequency",
        "mean_interval_days",
        "spend_trend",
        "spend_90d",
        "tenure_days",
        "complaints_365d",
        "bad_ratings_365d",
        "handoffs_365d",
    ),
    "refund_risk": (
        "returns_90d",
        "n_refunds",
        "n_cancelled",
        "cancelled_share",
        "orders_365d",
        "frequency",
        "spend_90d",
        "complaints_365d",
        "handoffs_365d",
        "bad_ratings_365d",
    ),
}
# Features that say the same thing as a stronger one already chosen.
_OVERLAPS = (
    frozenset({"frequency", "orders_365d", "n_products", "active_months"}),
    frozenset({"orders_90d", "spend_90d", "spend_trend"}),
    frozenset({"monetary", "mean_order_value"}),
    frozenset({"spend_90d", "spend_trend"}),
    frozenset({"n_refunds", "returns_90d", "n_cancelled", "cancelled_share"}),
    frozenset({"complaints_365d", "handoffs_365d"}),
)


def _count(n: float, one: str, many: str) -> str:
    n = round(n)
    if n == 0:
        return f"no {many}"
    return f"{n} {one if n == 1 else many}"


def _pounds(value: float) -> str:
    return f"£{value:,.0f}"


def phrase(feature: str, value: float) -> str:
    """One feature value in plain English, e.g. ``"last order 12 days ago"``."""
    v = float(value)
    match feature:
        case "recency_days":
            return "last order today" if v < 1 else f"last order {round(v)} days ago"
        case "frequency":
            return _count(v, "order", "orders") + " in total"
        case "orders_365d":
            return _count(v, "order", "orders") + " in the last year"
        case "monetary":
            return f"{_pounds(v)} spent in total, net of refunds"
        case "mean_order_value":
            return f"{_pounds(v)} per order on average"
        case "tenure_days":
            return f"first order {round(v)} days ago"
        case "mean_interval_days":
            return f"orders every {round(v)} days on average"
        case "spend_90d":
            if v <= 0:
                return "no purchases in the last 90 days"
            return f"{_pounds(v)} spent in the last 90 days"
        case "spend_trend":
            more_or_less = "more" if v > 0 else "less"
            return f"spending {more_or_less} in the last 90 days than before"
        case "n_products":
            if round(v) == 1:
                return "bought a single product"
            return _count(v, "different product", "different products") + " bought"
        case "n_cancelled":
            return _count(v, "cancelled order", "cancelled orders")
        case "n_refunds":
            return _count(v, "return", "returns") + " in total"
        case "returns_90d":
            return (
                _count(v, "return or cancellation", "returns or cancellations")
                + " in the last 90 days"
            )
        case "cancelled_share":
            return f"{v:.0%} of order value cancelled or refunded"
        case "orders_90d":
            return _count(v, "order", "orders") + " in the last 90 days"
        case "active_months":
            return "bought in " + _count(v, "month", "different months")
        case "lines_per_order":
            return f"{v:.0f} different products per order on average"
        case "mean_quantity":
            return f"{v:.0f} of each product per order on average"
        case "chats_90d":
            return _count(v, "chat", "chats") + " with us in the last 90 days"
        case "handoffs_365d":
            return _count(v, "hand-off", "hand-offs") + " to an agent in the last year"
        case "complaints_365d":
            return _count(v, "complaint", "complaints") + " in the last year"
        case "bad_ratings_365d":
            ratings = _count(v, "poor rating", "poor ratings")
            return ratings + " of our service in the last year"
    raise KeyError(feature)


def reason_stats(X: pd.DataFrame, y: pd.Series) -> dict[str, dict[str, float]]:
    """Per feature: ``direction`` (-1, 0, +1), ``median`` and ``scale`` (IQR or std).

    Args:
        X: training features (columns ``FEATURES``).
        y: the 0/1 label of each row.
    """
    stats: dict[str, dict[str, float]] = {}
    for feature in FEATURES:
        column = X[feature].astype(float)
        direction = 0.0
        if column.nunique() > 1 and y.nunique() > 1:
            rho = column.corr(y.astype(float), method="spearman")
            if np.isfinite(rho) and abs(rho) >= MIN_CORRELATION:
                direction = float(np.sign(rho))
        q1, median, q3 = np.percentile(column, [25, 50, 75])
        scale = float(q3 - q1) or float(column.std()) or 1.0
        stats[feature] = {
            "direction": direction,
            "median": float(median),
            "scale": scale,
        }
    return stats


def explain(
    features: Mapping[str, float],
    stats: Mapping[str, Mapping[str, Any]],
    *,
    target: str,
    above_average: bool,
    limit: int = 2,
) -> list[str]:
    """Up to ``limit`` phrases for the features that move this score the most.

    Args:
        features: the customer's features.
        stats: ``reason_stats`` of the target.
        target: which score is explained (picks the features allowed to explain it).
        above_average: whether the score is above the target's base rate; the
            reasons then explain why it is high, else why it is low.
        limit: the most phrases to return.
    """
    sign = 1.0 if above_average else -1.0
    allowed = EXPLAINS[target]
    pushes = []
    for rank, feature in enumerate(allowed):
        s = stats.get(feature)
        if not s or not s["direction"]:
            continue
        if feature == "mean_interval_days" and features["frequency"] < 2:
            continue  # one order has no interval (the value is the tenure)
        distance = (
            sign * s["direction"] * (features[feature] - s["median"]) / s["scale"]
        )
        if distance >= MIN_DISTANCE:
            pushes.append((-distance, rank, feature))
    pushes.sort()

    chosen: list[str] = []
    for _, _, feature in pushes:
        if any(feature in group and group & set(chosen) for group in _OVERLAPS):
            continue
        chosen.append(feature)
        if len(chosen) == limit:
            break
    if not chosen:
        return ["close to the typical customer"]
    return [phrase(feature, features[feature]) for feature in chosen]
