"""Customer features as of a cutoff, from orders, order lines and refunds.

Only events strictly before the cutoff count, and an order cancelled after the
cutoff still counts as a purchase (it was one at the time). One pure function,
``compute_features``, does the arithmetic for every path, so training and serving
cannot drift apart:

- ``features_table``: every customer with a purchase before the cutoff (training).
- ``load_histories``: the ``History`` of some (or all) customers from the store, which
  ``feature_cache`` keeps in memory for serving.
- ``customer_features``: one customer as of now, straight from the store.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_models.scoring.dataset import (
    ContactKind,
    Events,
    load_contacts,
    orders_frame,
    refunds_frame,
    to_days,
)
from crm_models.store.schema import CANCELLATION_SOURCE, Order, OrderLine, Refund

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
    "orders_90d",  # purchases in the last 90 days
    "active_months",  # distinct 30-day periods (counted back) with a purchase
    "lines_per_order",  # order lines per purchase: basket breadth
    "mean_quantity",  # units per order line: retail (few) or trade (many)
    # Conversation signals (zero until the feedback store has conversations):
    "chats_90d",  # conversations with the assistant in the last 90 days
    "handoffs_365d",  # hand-offs to an agent in the last year
    "complaints_365d",  # complaints in the last year
    "bad_ratings_365d",  # conversations rated 1-2 or replies thumbed down, last year
)

RECENT_DAYS = 90.0
YEAR_DAYS = 365.0
MONTH_DAYS = 30.0


@dataclass(frozen=True)
class History:
    """One customer's events, times in days since the epoch (see ``dataset``).

    Order arrays are parallel (one entry per order); the ``line_*`` arrays hold
    one entry per distinct (order, product) pair.
    """

    placed: np.ndarray  # order times
    totals: np.ndarray  # order totals, pence
    cancelled_at: np.ndarray  # cancellation times, inf when not cancelled
    n_lines: np.ndarray  # order lines per order
    units: np.ndarray  # units (summed quantities) per order
    refund_times: np.ndarray
    refund_money: np.ndarray  # pence actually paid back (0 for requested/rejected)
    line_products: np.ndarray  # product ids
    line_placed: np.ndarray  # their order's time
    line_cancelled_at: np.ndarray  # their order's cancellation time
    contact_times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    contact_kinds: np.ndarray = field(  # ``ContactKind`` values
        default_factory=lambda: np.zeros(0, dtype=np.int64)
    )


def compute_features(history: History, *, cutoff: float) -> dict[str, float] | None:
    """The features of one customer as of ``cutoff`` (days).

    Args:
        history: the customer's events (any times; later ones are ignored).
        cutoff: the moment the features describe; events at or after it are unseen.

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
    line_bought = (history.line_placed < cutoff) & (history.line_cancelled_at >= cutoff)
    n_products = np.unique(history.line_products[line_bought]).size
    n_lines = float(history.n_lines[bought].sum())
    months = np.unique(np.floor((cutoff - placed) / MONTH_DAYS))

    monetary = (float(totals.sum()) - refunded) / 100
    contacted = history.contact_times < cutoff

    def contacts(kind: ContactKind, days: float) -> float:
        return float(
            (
                contacted
                & (history.contact_kinds == kind)
                & (history.contact_times >= cutoff - days)
            ).sum()
        )

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
        "orders_90d": float(recent.sum()),
        "active_months": float(months.size),
        "lines_per_order": n_lines / n,
        "mean_quantity": float(history.units[bought].sum()) / n_lines
        if n_lines > 0
        else 0.0,
        "chats_90d": contacts(ContactKind.CHAT, RECENT_DAYS),
        "handoffs_365d": contacts(ContactKind.HANDOFF, YEAR_DAYS),
        "complaints_365d": contacts(ContactKind.COMPLAINT, YEAR_DAYS),
        "bad_ratings_365d": contacts(ContactKind.BAD_RATING, YEAR_DAYS),
    }


def _by_customer(
    customer_ids: np.ndarray, columns: dict[str, np.ndarray]
) -> dict[int, dict[str, np.ndarray]]:
    """Split parallel ``columns`` into one slice per customer (stable order)."""
    if len(customer_ids) == 0:
        return {}
    order = np.argsort(customer_ids, kind="stable")
    ids = customer_ids[order]
    unique, starts = np.unique(ids, return_index=True)
    ends = np.append(starts[1:], len(ids))
    ordered = {name: values[order] for name, values in columns.items()}
    return {
        int(customer): {name: values[a:b] for name, values in ordered.items()}
        for customer, a, b in zip(unique, starts, ends, strict=True)
    }


def histories(events: Events, cutoff: float | None = None) -> dict[int, History]:
    """The ``History`` of every customer with an order (before ``cutoff`` if given).

    Events at or after ``cutoff`` are dropped, except that a cancellation stays
    known to the order (``compute_features`` ignores it until its time).
    """
    orders, refunds, contacts = events.orders, events.refunds, events.contacts
    if cutoff is not None:
        orders = orders[orders["placed"] < cutoff]
        refunds = refunds[refunds["created"] < cutoff]
        contacts = contacts[contacts["at"] < cutoff]
    lines = (
        events.lines[["order_id", "product_id"]]
        .drop_duplicates()
        .merge(orders[["order_id", "customer_id", "placed", "cancelled_at"]])
    )

    def column(frame: pd.DataFrame, name: str) -> np.ndarray:
        return frame[name].to_numpy()

    order_parts = _by_customer(
        column(orders, "customer_id"),
        {
            name: column(orders, name)
            for name in ("placed", "total_pence", "cancelled_at", "n_lines", "units")
        },
    )
    refund_parts = _by_customer(
        column(refunds, "customer_id"),
        {
            "created": column(refunds, "created"),
            "money": np.where(
                column(refunds, "money_back"), column(refunds, "amount_pence"), 0.0
            ),
        },
    )
    line_parts = _by_customer(
        column(lines, "customer_id"),
        {
            name: column(lines, name)
            for name in ("product_id", "placed", "cancelled_at")
        },
    )
    contact_parts = _by_customer(
        column(contacts, "customer_id"),
        {"at": column(contacts, "at"), "kind": column(contacts, "kind")},
    )
    empty = np.zeros(0)
    no_refunds = {"created": empty, "money": empty}
    no_lines = {"product_id": empty, "placed": empty, "cancelled_at": empty}
    no_contacts = {"at": empty, "kind": np.zeros(0, dtype=np.int64)}
    result = {}
    for customer, o in order_parts.items():
        r = refund_parts.get(customer, no_refunds)
        li = line_parts.get(customer, no_lines)
        c = contact_parts.get(customer, no_contacts)
        result[customer] = History(
            placed=o["placed"],
            totals=o["total_pence"],
            cancelled_at=o["cancelled_at"],
            n_lines=o["n_lines"],
            units=o["units"],
            refund_times=r["created"],
            refund_money=r["money"],
            line_products=li["product_id"],
            line_placed=li["placed"],
            line_cancelled_at=li["cancelled_at"],
            contact_times=c["at"],
            contact_kinds=c["kind"],
        )
    return result


def features_table(events: Events, cutoff: float) -> pd.DataFrame:
    """Features of every customer with a purchase before ``cutoff`` (days).

    Returns:
        One row per customer (index ``customer_id``, sorted), columns ``FEATURES``.
    """
    rows: dict[int, dict[str, float]] = {}
    for customer_id, history in histories(events, cutoff).items():
        values = compute_features(history, cutoff=cutoff)
        if values is not None:
            rows[customer_id] = values
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(FEATURES))
    table.index.name = "customer_id"
    return table.sort_index()


# ---------------------------------------------------------------- serving


def load_histories(
    *, session: Session, customer_ids: Iterable[int] | None = None
) -> dict[int, History]:
    """The ``History`` of the given customers (every customer with ``None``).

    Four queries whatever the number of customers; customers without an order are
    left out (their conversations alone are not scored). Nothing is cut at a
    moment: ``compute_features`` does that.
    """
    ids = None if customer_ids is None else sorted({int(c) for c in customer_ids})
    if ids is not None and not ids:
        return {}

    def only(column: object) -> tuple[object, ...]:
        return () if ids is None else (column.in_(ids),)  # type: ignore[attr-defined]

    per_order = (
        select(
            OrderLine.order_id,
            func.count().label("n_lines"),
            func.sum(OrderLine.quantity).label("units"),
        )
        .join(Order, Order.id == OrderLine.order_id)
        .where(*only(Order.customer_id))
        .group_by(OrderLine.order_id)
        .subquery()
    )
    # Core rows through the session's connection: no ORM result processing.
    connection = session.connection()
    order_rows = connection.execute(
        select(
            Order.id,
            Order.customer_id,
            Order.placed_at,
            Order.total_pence,
            Order.status,
            Order.updated_at,
            per_order.c.n_lines,
            per_order.c.units,
        )
        .outerjoin(per_order, per_order.c.order_id == Order.id)
        .where(*only(Order.customer_id))
    ).all()
    line_rows = connection.execute(
        select(Order.customer_id, OrderLine.order_id, OrderLine.product_id)
        .join(Order, Order.id == OrderLine.order_id)
        .where(*only(Order.customer_id))
        .distinct()
    ).all()
    refund_rows = connection.execute(
        select(
            Refund.customer_id, Refund.created_at, Refund.amount_pence, Refund.status
        ).where(
            Refund.source != CANCELLATION_SOURCE,  # a cancellation, not a return
            *only(Refund.customer_id),
        )
    ).all()

    orders = orders_frame(order_rows)
    orders["n_lines"] = np.array([r.n_lines or 0 for r in order_rows], np.float64)
    orders["units"] = np.array([r.units or 0 for r in order_rows], np.float64)
    lines = pd.DataFrame(
        np.array([tuple(r) for r in line_rows], dtype=np.int64).reshape(-1, 3)[:, 1:],
        columns=["order_id", "product_id"],
    )
    refunds = refunds_frame(refund_rows)
    contacts = load_contacts(session=session, customer_ids=ids)
    return histories(
        Events(orders=orders, lines=lines, refunds=refunds, contacts=contacts)
    )


def customer_features(
    *, session: Session, customer_id: int, now: datetime
) -> dict[str, float] | None:
    """Features of one customer as of ``now``, read from the store.

    Returns:
        ``FEATURES`` → value, or ``None`` when the customer has no purchase yet.
    """
    history = load_histories(session=session, customer_ids=[customer_id]).get(
        int(customer_id)
    )
    if history is None:
        return None
    return compute_features(history, cutoff=to_days(now))
