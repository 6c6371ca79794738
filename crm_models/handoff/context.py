"""Everything the console shows beside one conversation, read in one session.

The ticket, the customer's CRM profile and recent orders, their scores with the
reasons, suggested products, private notes, timings and a suggested next step. The
result holds plain values only, so it can be used after the session is closed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session

from crm_models.errors import ArtifactMissing, ShopBotError
from crm_models.handoff import tickets
from crm_models.handoff.agents import get_agent_by_username
from crm_models.handoff.next_step import suggest_next_step
from crm_models.handoff.priority import queue_priority
from crm_models.store import repositories as repo
from crm_models.store.schema import Agent, Order

logger = logging.getLogger(__name__)

N_ORDERS = 5
N_RECOMMENDATIONS = 3


class Scorer(Protocol):
    def score(
        self, *, session: Session, customer_id: int | None, now: datetime
    ) -> Any: ...


class Recommender(Protocol):
    def recommend(
        self,
        *,
        session: Session,
        query: str | None,
        customer_id: int | None,
        k: int = 5,
        max_price_pence: int | None = None,
    ) -> list[Any]: ...


@dataclass(frozen=True)
class OrderView:
    order_number: str
    placed_at: datetime
    status: str
    payment_status: str
    total_pence: int
    currency: str
    items: str
    n_refunds: int


@dataclass(frozen=True)
class CustomerView:
    customer_id: int
    name: str
    email: str
    country: str
    n_orders: int
    lifetime_value_pence: int
    first_order_at: datetime | None
    last_order_at: datetime | None
    n_refunds: int
    n_cancelled: int


@dataclass(frozen=True)
class ScoresView:
    propensity: float
    churn_risk: float
    refund_risk: float
    high_value: bool
    high_propensity: bool
    high_risk_refund: bool
    segment: str
    reasons: dict[str, list[str]]


@dataclass(frozen=True)
class ProductView:
    stock_code: str
    name: str
    price_pence: int
    reason: str


@dataclass(frozen=True)
class NoteView:
    author: str
    text: str
    created_at: datetime


@dataclass(frozen=True)
class TicketContext:
    """One ticket as the console shows it beside the transcript (cheap to read)."""

    ticket_id: int
    conversation_id: str
    status: str
    reason: str
    priority: int
    queue_priority: int
    assigned_to: str | None
    assigned_name: str | None
    created_at: datetime
    waiting_seconds: int
    summary: str
    customer_id: int | None
    order_number: str | None
    notes: list[NoteView]
    timings: tickets.TicketTimings


@dataclass(frozen=True)
class CustomerContext:
    """The customer behind a ticket: CRM profile, scores, suggestions, next step."""

    customer: CustomerView | None
    orders: list[OrderView]
    scores: ScoresView
    recommendations: list[ProductView]
    recommendations_note: str
    next_step: str


def _order_view(order: Order) -> OrderView:
    names = [f"{line.quantity} × {line.product.name}" for line in order.lines[:3]]
    more = len(order.lines) - 3
    return OrderView(
        order_number=order.order_number,
        placed_at=order.placed_at,
        status=order.status.value,
        payment_status=order.payment_status.value,
        total_pence=order.total_pence,
        currency=order.currency,
        items=", ".join(names) + (f" (+{more})" if more > 0 else ""),
        n_refunds=len(order.refunds),
    )


def _customer_view(
    session: Session, customer_id: int, now: datetime
) -> CustomerView | None:
    customer = repo.get_customer(session=session, customer_id=customer_id)
    if customer is None:
        return None
    profile = repo.customer_profile(session=session, customer_id=customer_id, now=now)
    return CustomerView(
        customer_id=customer.id,
        name=customer.name,
        email=customer.email,
        country=customer.country,
        n_orders=profile.n_orders,
        lifetime_value_pence=profile.lifetime_value_pence,
        first_order_at=profile.first_order_at,
        last_order_at=profile.last_order_at,
        n_refunds=profile.n_refunds,
        n_cancelled=profile.n_cancelled,
    )


def _recommendations(
    session: Session, recommender: Recommender | None, customer_id: int | None
) -> tuple[list[ProductView], str]:
    if recommender is None:
        return [], "recommendations are not available"
    try:
        recs = recommender.recommend(
            session=session, query=None, customer_id=customer_id, k=N_RECOMMENDATIONS
        )
    except ArtifactMissing:
        return [], "the product index is not built yet"
    except ShopBotError as exc:
        logger.warning("context.recommend_failed error=%s", type(exc).__name__)
        return [], "recommendations failed"
    views = [ProductView(r.stock_code, r.name, r.price_pence, r.reason) for r in recs]
    return views, "" if views else "no suggestions for this customer"


def ticket_context(*, session: Session, ticket_id: int, now: datetime) -> TicketContext:
    """The console's view of ticket ``ticket_id``: state, notes and timings.

    Raises:
        TicketNotFound: no such ticket.
    """
    ticket = tickets.get_ticket(session=session, ticket_id=ticket_id)
    order_number = None
    if ticket.order_id is not None:
        order = session.get(Order, ticket.order_id)
        order_number = order.order_number if order is not None else None
    assigned_name = None
    if ticket.assigned_to:
        agent: Agent | None = get_agent_by_username(
            session=session, username=ticket.assigned_to
        )
        assigned_name = agent.display_name if agent is not None else ticket.assigned_to
    notes = [
        NoteView(n.agent.display_name, n.text, n.created_at)
        for n in tickets.list_notes(session=session, ticket_id=ticket.id)
    ]
    waiting = max(timedelta(0), now - ticket.created_at)
    return TicketContext(
        ticket_id=ticket.id,
        conversation_id=ticket.conversation_id,
        status=ticket.status.value,
        reason=ticket.reason,
        priority=ticket.priority,
        queue_priority=queue_priority(ticket.priority, waiting),
        assigned_to=ticket.assigned_to,
        assigned_name=assigned_name,
        created_at=ticket.created_at,
        waiting_seconds=int(waiting.total_seconds()),
        summary=ticket.summary,
        customer_id=ticket.customer_id,
        order_number=order_number,
        notes=notes,
        timings=tickets.ticket_timings(session=session, ticket_id=ticket.id),
    )


def customer_context(
    *,
    session: Session,
    ticket_id: int,
    now: datetime,
    scorer: Scorer,
    recommender: Recommender | None,
) -> CustomerContext:
    """The customer behind ticket ``ticket_id``, with scores and suggestions.

    Raises:
        TicketNotFound: no such ticket.
    """
    ticket = tickets.get_ticket(session=session, ticket_id=ticket_id)
    customer_id = ticket.customer_id
    customer = _customer_view(session, customer_id, now) if customer_id else None
    orders = []
    if customer is not None:
        orders = [
            _order_view(o)
            for o in repo.list_orders(
                session=session, customer_id=customer.customer_id, limit=N_ORDERS
            )
        ]
    scores = scorer.score(session=session, customer_id=customer_id, now=now)
    recs, recs_note = _recommendations(session, recommender, customer_id)
    return CustomerContext(
        customer=customer,
        orders=orders,
        scores=ScoresView(
            propensity=float(scores.propensity),
            churn_risk=float(scores.churn_risk),
            refund_risk=float(scores.refund_risk),
            high_value=bool(scores.high_value),
            high_propensity=bool(scores.high_propensity),
            high_risk_refund=bool(scores.high_risk_refund),
            segment=str(scores.segment),
            reasons={k: list(v) for k, v in (scores.reasons or {}).items()},
        ),
        recommendations=recs,
        recommendations_note=recs_note,
        next_step=suggest_next_step(
            reason=ticket.reason,
            scores=scores,
            known_customer=customer is not None,
            has_order=ticket.order_id is not None,
        ),
    )
