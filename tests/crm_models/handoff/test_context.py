from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_models.errors import ArtifactMissing
from crm_models.handoff import context, tickets
from crm_models.store import repositories as repo
from crm_models.store.schema import Agent, Order
from tests.conftest import SEED_TODAY

NOW = datetime.combine(SEED_TODAY, time(12), tzinfo=timezone.utc)


@dataclass(frozen=True)
class Scores:
    propensity: float = 0.7
    churn_risk: float = 0.2
    refund_risk: float = 0.05
    high_risk_refund: bool = False
    high_propensity: bool = True
    high_value: bool = True
    segment: str = "loyal"
    reasons: dict[str, list[str]] = field(
        default_factory=lambda: {"propensity": ["ordered in each of the last 3 months"]}
    )


class Scorer:
    def score(self, *, session: Session, customer_id: int | None, now: Any) -> Scores:
        return Scores()


@dataclass(frozen=True)
class Rec:
    product_id: int
    stock_code: str
    name: str
    price_pence: int
    score: float
    reason: str


class Recommender:
    def __init__(self, *, missing: bool = False) -> None:
        self.missing = missing

    def recommend(self, **kwargs: Any) -> list[Rec]:
        if self.missing:
            raise ArtifactMissing("no index")
        return [Rec(1, "22423", "REGENCY CAKESTAND", 1275, 0.9, "you bought cake tins")]


def seeded_ticket(session: Session) -> tuple[int, Order]:
    order = session.scalars(select(Order).order_by(Order.id)).first()
    assert order is not None
    t = repo.open_ticket(
        session=session,
        conversation_id="ctx-1",
        customer_id=order.customer_id,
        reason="refund_review",
        priority=2,
        summary="Refund flagged by the risk model.",
        now=NOW - timedelta(minutes=3),
        order_id=order.id,
    )
    return t.id, order


def test_ticket_context_has_state_notes_and_who_has_it(
    seeded_session: Session,
) -> None:
    ticket_id, order = seeded_ticket(seeded_session)
    sam = Agent(
        username="sam",
        display_name="Sam Jones",
        password_hash="x",
        active=True,
        created_at=NOW,
    )
    seeded_session.add(sam)
    seeded_session.flush()
    tickets.claim_ticket(
        session=seeded_session, ticket_id=ticket_id, agent=sam, now=NOW
    )
    tickets.add_note(
        session=seeded_session, ticket_id=ticket_id, agent=sam, text="checked", now=NOW
    )

    ctx = context.ticket_context(session=seeded_session, ticket_id=ticket_id, now=NOW)

    assert (ctx.status, ctx.assigned_to, ctx.assigned_name) == (
        "claimed",
        "sam",
        "Sam Jones",
    )
    assert ctx.order_number == order.order_number
    assert ctx.waiting_seconds == 180
    assert [(n.author, n.text) for n in ctx.notes] == [("Sam Jones", "checked")]


def test_customer_context_has_profile_orders_scores_and_suggestions(
    seeded_session: Session,
) -> None:
    ticket_id, order = seeded_ticket(seeded_session)

    ctx = context.customer_context(
        session=seeded_session,
        ticket_id=ticket_id,
        now=NOW,
        scorer=Scorer(),
        recommender=Recommender(),
    )

    assert ctx.customer is not None
    assert ctx.customer.customer_id == order.customer_id
    assert ctx.customer.lifetime_value_pence > 0
    assert 1 <= len(ctx.orders) <= context.N_ORDERS
    assert ctx.orders[0].placed_at >= ctx.orders[-1].placed_at
    assert ctx.scores.reasons["propensity"] == ["ordered in each of the last 3 months"]
    assert [r.name for r in ctx.recommendations] == ["REGENCY CAKESTAND"]
    assert ctx.next_step.startswith("Review the refund")


def test_a_missing_index_or_visitor_still_gives_a_context(
    seeded_session: Session,
) -> None:
    t = repo.open_ticket(
        session=seeded_session,
        conversation_id="ctx-guest",
        customer_id=None,
        reason="customer_request",
        priority=3,
        summary="Asked for a person.",
        now=NOW,
    )

    ctx = context.customer_context(
        session=seeded_session,
        ticket_id=t.id,
        now=NOW,
        scorer=Scorer(),
        recommender=Recommender(missing=True),
    )

    assert ctx.customer is None
    assert ctx.orders == []
    assert ctx.recommendations == []
    assert "not built" in ctx.recommendations_note
    assert "not signed in" in ctx.next_step
