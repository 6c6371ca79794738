"""Customer features as of a cutoff, from orders, order lines and refunds.

Only events strictly before the cutoff count, and an order cancelled after the
cutoff still counts as a purchase (it was one at the time). One pure function,
``compute_features``, does the arithmetic for both paths, so training and serving
cannot drift apart:

- ``features_table``: every customer with a purchase before the cutoff (training).
- ``customer_features``: one customer as of now, from three small queries (serving).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from crm_models.scoring.dataset import (
    MONEY_BACK,
    Events,
    cancelled_at,
    to_days,
)
from crm_models.store.schema import Order, OrderLine, Refund

FEATURES: tuple[str, ...] = (
    "recency_days",  # since the last purchase
    "frequency",  # purchases (orders not cancelled at the cutoff)
    "orders_365d",  # purchases in the last 365 days
    "monetary",  # net spend in pounds: purchases minus money refunded
    "mean_order_value",  # pounds per purchase
    "tenure_days",  # since the first order
    "mean_interval_days",  # between purchases (tenure when there is one purchase)
    "spend_90d",  # pounds spent in the last 90 days
    "spend_trend",  # log of last-90-days spend over the earlier 90-day rate
    "n_products",  # distinct products bought
    "n_cancelled",  # orders cancelled before the cutoff
    "n_refunds",  # refunds (returns) before the cutoff
    "returns_90d",  # refunds and cancellations in the last 90 days
    "cancelled_share",  # cancelled and refunded value over ordered value, 0..1
)

RECENT_DAYS = 90.0
YEAR_DAYS = 365.0


@dataclass(frozen=True)
class History:
    """One customer's events, times in days since the epoch (see ``dataset``)."""

    placed: np.ndarray  # order times
    totals: np.ndarray  # order totals, pence
    cancelled_at: np.ndarray  # cancellation times, inf when not cancelled
    refund_times: np.ndarray
    refund_money: np.ndarray  # pence actually paid back (0 for requested/rejected)


def compute_features(
    history: History, *, cutoff: float, n_products: int
) -> dict[str, float] | None:
    """The features of one customer as of ``cutoff`` (days).

    Args:
        history: the customer's events (any times; later ones are ignored).
        cutoff: the moment the features describe; events at or after it are unseen.
        n_products: distinct products in the purchases before ``cutoff``.

    Returns:
        ``FEATURES`` → value, or ``None`` when there is no purchase before the
        cutoff (the customer is not scored as of then).
    """
    before = history.placed < cutoff
    cancelled_before = before & (history.cancelled_at < cutoff)
    bought = before & ~cancelled_before
    placed = history.placed[bought]
    if placed.size == 0:
        return None
    totals = history.totals[bought]
    refunds_before = history.refund_times < cutoff

    first_order = float(history.placed[before].min())
    first, last = float(placed.min()), float(placed.max())
    n = int(placed.size)
    tenure = cutoff - first_order
    gross = float(history.totals[before].sum())
    refunded = float(history.refund_money[refunds_before].sum())
    cancelled_value = float(history.totals[cancelled_before].sum())

    recent = placed >= cutoff - RECENT_DAYS
    spend_90d = float(totals[recent].sum()) / 100
    spend_before = float(totals[~recent].sum()) / 100
    days_before = max(RECENT_DAYS, (cutoff - RECENT_DAYS) - first)
    rate_before = spend_before * RECENT_DAYS / days_before
    returns_90d = int(
        ((history.refund_times >= cutoff - RECENT_DAYS) & refunds_before).sum()
        + ((history.cancelled_at >= cutoff - RECENT_DAYS) & cancelled_before).sum()
    )

    monetary = (float(totals.sum()) - refunded) / 100
    return {
        "recency_days": cutoff - last,
        "frequency": float(n),
        "orders_365d": float((placed >= cutoff - YEAR_DAYS).sum()),
        "monetary": monetary,
        "mean_order_value": monetary / n,
        "tenure_days": tenure,
        "mean_interval_days": (last - first) / (n - 1) if n > 1 else tenure,
        "spend_90d": spend_90d,
        "spend_trend": math.log((1 + spend_90d) / (1 + rate_before)),
        "n_products": float(n_products),
        "n_cancelled": float(cancelled_before.sum()),
        "n_refunds": float(refunds_before.sum()),
        "returns_90d": float(returns_90d),
        "cancelled_share": min(1.0, (cancelled_value + refunded) / gross)
        if gross > 0
        else 0.0,
    }


# ---------------------------------------------------------------- training


def _bought_before(orders: pd.DataFrame, cutoff: float) -> pd.Series:
    return (orders["placed"] < cutoff) & ~(orders["cancelled_at"] < cutoff)


def features_table(events: Events, cutoff: float) -> pd.DataFrame:
    """Features of every customer with a purchase before ``cutoff`` (days).

    Returns:
        One row per customer (index ``customer_id``, sorted), columns ``FEATURES``.
    """
    orders, refunds = events.orders, events.refunds
    bought_ids = orders.loc[_bought_before(orders, cutoff), ["order_id", "customer_id"]]
    n_products = (
        events.lines.merge(bought_ids, on="order_id")
        .groupby("customer_id")["product_id"]
        .nunique()
    )
    refunds_of = dict(list(refunds.groupby("customer_id")))
    empty = refunds.iloc[0:0]

    rows: dict[int, dict[str, float]] = {}
    for customer_id, frame in orders[orders["placed"] < cutoff].groupby("customer_id"):
        refund_frame = refunds_of.get(customer_id, empty)
        history = History(
            placed=frame["placed"].to_numpy(),
            totals=frame["total_pence"].to_numpy(),
            cancelled_at=frame["cancelled_at"].to_numpy(),
            refund_times=refund_frame["created"].to_numpy(),
            refund_money=np.where(
                refund_frame["money_back"].to_numpy(),
                refund_frame["amount_pence"].to_numpy(),
                0.0,
            ),
        )
        values = compute_features(
            history, cutoff=cutoff, n_products=int(n_products.get(customer_id, 0))
        )
        if values is not None:
            rows[int(customer_id)] = values
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(FEATURES))
    table.index.name = "customer_id"
    return table.sort_index()


# ---------------------------------------------------------------- serving


def customer_features(
    *, session: Session, customer_id: int, now: datetime
) -> dict[str, float] | None:
    """Features of one customer as of ``now`` (three small indexed queries).

    Returns:
        ``FEATURES`` → value, or ``None`` when the customer has no purchase yet.
    """
    order_rows = session.execute(
        select(
            Order.id, Order.placed_at, Order.total_pence, Order.status, Order.updated_at
        ).where(Order.customer_id == customer_id, Order.placed_at < now)
    ).all()
    if not order_rows:
        return None
    cutoff = to_days(now)
    cancelled = [cancelled_at(r.status, r.placed_at, r.updated_at) for r in order_rows]
    bought_ids = [
        r.id for r, c in zip(order_rows, cancelled, strict=True) if c >= cutoff
    ]
    n_products = 0
    if bought_ids:
        n_products = session.scalar(
            select(func.count(distinct(OrderLine.product_id))).where(
                OrderLine.order_id.in_(bought_ids)
            )
        )
    refund_rows = session.execute(
        select(Refund.created_at, Refund.amount_pence, Refund.status).where(
            Refund.customer_id == customer_id, Refund.created_at < now
        )
    ).all()
    history = History(
        placed=np.array([to_days(r.placed_at) for r in order_rows]),
        totals=np.array([float(r.total_pence) for r in order_rows]),
        cancelled_at=np.array(cancelled),
        refund_times=np.array([to_days(r.created_at) for r in refund_rows]),
        refund_money=np.array(
            [
                float(r.amount_pence) if r.status in MONEY_BACK else 0.0
                for r in refund_rows
            ]
        ),
    )
    return compute_features(history, cutoff=cutoff, n_products=int(n_products or 0))
