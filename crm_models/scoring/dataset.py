"""The store's purchase history as data frames, for training (not for serving).

Times are float days since the Unix epoch (UTC), the unit every feature and label
function works in. A cancelled order's cancellation time is its ``updated_at`` (the
seed sets it to the credit note that reversed the order, a chat cancellation to the
moment it happened); before that moment the order counts as a normal purchase, so
a feature as of an earlier cutoff never sees a cancellation from its future.
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, literal, or_, select, union_all
from sqlalchemy.orm import Session

from crm_models.store.schema import (
    CANCELLATION_SOURCE,
    ChatFeedback,
    ChatFeedbackKind,
    ConversationOutcome,
    Order,
    OrderLine,
    OrderStatus,
    Refund,
    RefundStatus,
    Ticket,
)

logger = logging.getLogger(__name__)

SECONDS_PER_DAY = 86_400.0
NOT_CANCELLED = math.inf
# Refund statuses that mean money went back to the customer.
MONEY_BACK = frozenset({RefundStatus.APPROVED, RefundStatus.PAID})
# A conversation rating (1 to 5) at or below this is a bad one.
BAD_CONVERSATION_RATING = 2
COMPLAINT_REASON = "complaint"


class ContactKind(enum.IntEnum):
    """What a customer's contact with the shop's service was (conversation signals).

    One conversation may leave several: a chat, its hand-off, and a bad rating.
    """

    CHAT = 0  # a conversation linked to the customer began
    HANDOFF = 1  # a ticket was opened for an agent
    COMPLAINT = 2  # that ticket's reason was a complaint
    BAD_RATING = 3  # a conversation rated 1-2 of 5, or a bot reply thumbed down


def to_days(moment: datetime) -> float:
    """A timezone-aware datetime as float days since the epoch."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: times must be timezone-aware")
    return moment.timestamp() / SECONDS_PER_DAY


def from_days(days: float) -> datetime:
    """Float days since the epoch as a UTC datetime."""
    return datetime.fromtimestamp(days * SECONDS_PER_DAY, tz=timezone.utc)


def cancelled_at(
    status: OrderStatus, placed_at: datetime, updated_at: datetime
) -> float:
    """When an order was cancelled (days), or ``inf`` if it is not."""
    if status != OrderStatus.CANCELLED:
        return NOT_CANCELLED
    return to_days(max(updated_at, placed_at))


@dataclass(frozen=True)
class Events:
    """All purchase events of the store.

    Attributes:
        orders: order_id, customer_id, placed (days), total_pence, cancelled_at
            (days, ``inf`` when not cancelled), n_lines, units (summed quantities).
        lines: order_id, product_id (one row per order line).
        refunds: customer_id, created (days), amount_pence, money_back (bool:
            approved or paid, as opposed to requested or rejected).
        contacts: customer_id, at (days), kind (a ``ContactKind`` value): the
            conversation signals. Empty when the store has no conversations yet
            (the seeded transactions have none).
    """

    orders: pd.DataFrame
    lines: pd.DataFrame
    refunds: pd.DataFrame
    contacts: pd.DataFrame = field(default_factory=lambda: contacts_frame([]))

    @property
    def last_order_day(self) -> float:
        """The time (days) of the latest order in the store."""
        return float(self.orders["placed"].max())


def orders_frame(rows: Sequence[Any]) -> pd.DataFrame:
    """The ``Events.orders`` frame of order rows, without the per-line columns.

    Each row has id, customer_id, placed_at, total_pence, status and updated_at.
    """
    return pd.DataFrame(
        {
            "order_id": np.array([r.id for r in rows], dtype=np.int64),
            "customer_id": np.array([r.customer_id for r in rows], dtype=np.int64),
            "placed": np.array([to_days(r.placed_at) for r in rows]),
            "total_pence": np.array([r.total_pence for r in rows], dtype=np.float64),
            "cancelled_at": np.array(
                [cancelled_at(r.status, r.placed_at, r.updated_at) for r in rows]
            ),
        }
    )


def refunds_frame(rows: Sequence[Any]) -> pd.DataFrame:
    """The ``Events.refunds`` frame of refund rows.

    Each row has customer_id, created_at, amount_pence and status.
    """
    return pd.DataFrame(
        {
            "customer_id": np.array([r.customer_id for r in rows], dtype=np.int64),
            "created": np.array([to_days(r.created_at) for r in rows]),
            "amount_pence": np.array([r.amount_pence for r in rows], dtype=np.float64),
            "money_back": np.array([r.status in MONEY_BACK for r in rows], dtype=bool),
        }
    )


def contacts_frame(rows: Iterable[Any]) -> pd.DataFrame:
    """The ``Events.contacts`` frame of (customer_id, at, kind) rows."""
    rows = list(rows)
    return pd.DataFrame(
        {
            "customer_id": np.array([r[0] for r in rows], dtype=np.int64),
            "at": np.array([to_days(r[1]) for r in rows], dtype=np.float64),
            "kind": np.array([int(r[2]) for r in rows], dtype=np.int64),
        }
    )


def load_contacts(
    *, session: Session, customer_ids: Sequence[int] | None = None
) -> pd.DataFrame:
    """Every conversation signal of the given customers (all with ``None``).

    Only conversations the customer was identified in count: an anonymous chat
    belongs to nobody. One query (a union of four selects).
    """

    def only(column: Any) -> tuple[Any, ...]:
        return () if customer_ids is None else (column.in_(customer_ids),)

    def kind(value: ContactKind) -> Any:
        return literal(int(value))

    outcome = ConversationOutcome
    bad = or_(
        and_(
            ChatFeedback.kind == ChatFeedbackKind.CONVERSATION,
            ChatFeedback.rating <= BAD_CONVERSATION_RATING,
        ),
        and_(ChatFeedback.kind == ChatFeedbackKind.MESSAGE, ChatFeedback.rating < 0),
    )
    query = union_all(
        select(outcome.customer_id, outcome.started_at, kind(ContactKind.CHAT)).where(
            outcome.customer_id.is_not(None), *only(outcome.customer_id)
        ),
        select(Ticket.customer_id, Ticket.created_at, kind(ContactKind.HANDOFF)).where(
            Ticket.customer_id.is_not(None), *only(Ticket.customer_id)
        ),
        select(
            Ticket.customer_id, Ticket.created_at, kind(ContactKind.COMPLAINT)
        ).where(
            Ticket.customer_id.is_not(None),
            Ticket.reason == COMPLAINT_REASON,
            *only(Ticket.customer_id),
        ),
        select(
            outcome.customer_id, ChatFeedback.created_at, kind(ContactKind.BAD_RATING)
        )
        .join(outcome, outcome.conversation_id == ChatFeedback.conversation_id)
        .where(outcome.customer_id.is_not(None), bad, *only(outcome.customer_id)),
    )
    return contacts_frame(session.connection().execute(query).all())


def load_events(*, session: Session) -> Events:
    """Read every order, order line and refund of the store (three queries)."""
    order_rows = session.execute(
        select(
            Order.id,
            Order.customer_id,
            Order.placed_at,
            Order.total_pence,
            Order.status,
            Order.updated_at,
        ).order_by(Order.id)
    ).all()
    orders = orders_frame(order_rows)
    line_rows = session.execute(
        select(OrderLine.order_id, OrderLine.product_id, OrderLine.quantity)
    ).all()
    lines = pd.DataFrame(
        line_rows, columns=["order_id", "product_id", "quantity"]
    ).astype("int64")
    per_order = lines.groupby("order_id")["quantity"].agg(["size", "sum"])
    orders["n_lines"] = (
        per_order["size"].reindex(orders["order_id"]).fillna(0).to_numpy(np.float64)
    )
    orders["units"] = (
        per_order["sum"].reindex(orders["order_id"]).fillna(0).to_numpy(np.float64)
    )
    lines = lines[["order_id", "product_id"]]
    refund_rows = session.execute(
        select(
            Refund.customer_id, Refund.created_at, Refund.amount_pence, Refund.status
        ).where(Refund.source != CANCELLATION_SOURCE)  # a cancellation, not a return
    ).all()
    refunds = refunds_frame(refund_rows)
    contacts = load_contacts(session=session)
    logger.info(
        "scoring.dataset.loaded orders=%s lines=%s refunds=%s contacts=%s",
        len(orders),
        len(lines),
        len(refunds),
        len(contacts),
    )
    return Events(orders=orders, lines=lines, refunds=refunds, contacts=contacts)
