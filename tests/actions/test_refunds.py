"""Refunds: eligible, risky (review by an agent), too old, and refund status."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.orders import ActionOrderRequest
from actions.refunds import ActionAcceptRefundOffer, ActionTrackRefund
from actions.services import use_services
from actions.shop_policy import PolicyFile
from crm_models.settings import Settings
from crm_models.store.schema import (
    Order,
    OrderStatus,
    PaymentStatus,
    Refund,
    RefundStatus,
    Ticket,
)
from tests.actions.builders import action, outcomes, slot, slots_set, user
from tests.actions.conftest import FakeScorer, FakeScores, find_order


def refund_asked(order: Order) -> list[dict]:
    return [
        user("I want my money back", "get_refund", customer_id=order.customer_id),
        slot("order_topic", "refund"),
        slot("order_number", order.order_number),
        action("order_form"),
    ]


@pytest.fixture
def recent_delivered(settings: Settings, db: Session) -> Order:
    return find_order(
        db,
        OrderStatus.DELIVERED,
        now=settings.now(),
        recent_days=20,
        payment=PaymentStatus.PAID,
    )


async def test_eligible_refund_is_approved(
    run, db: Session, recent_delivered: Order
) -> None:
    result = await run(ActionOrderRequest(), refund_asked(recent_delivered))

    assert result.responses == ["utter_refund_approved"]
    assert outcomes(result.events) == ["refund_created"]
    refund = db.scalars(
        select(Refund).where(
            Refund.order_id == recent_delivered.id, Refund.source == "chat"
        )
    ).one()
    assert refund.status is RefundStatus.APPROVED
    assert refund.amount_pence == recent_delivered.total_pence


async def test_risky_refund_waits_for_an_agent(
    run, db: Session, scorer: FakeScorer, recent_delivered: Order
) -> None:
    scorer.scores = FakeScores(
        refund_risk=0.9,
        high_risk_refund=True,
        reasons={"refund_risk": ["many returns"]},
    )

    result = await run(ActionOrderRequest(), refund_asked(recent_delivered))

    assert result.responses == ["utter_refund_under_review", "utter_handoff"]
    assert outcomes(result.events) == ["refund_created", "ticket_opened"]
    refund = db.scalars(
        select(Refund).where(
            Refund.order_id == recent_delivered.id, Refund.source == "chat"
        )
    ).one()
    assert refund.status is RefundStatus.REQUESTED
    ticket = db.scalars(
        select(Ticket).where(Ticket.conversation_id == "conversation-1")
    ).one()
    assert ticket.reason == "refund_review"
    assert ticket.order_id == recent_delivered.id
    assert "many returns" in ticket.summary


async def test_policy_can_switch_the_review_off(
    run, tmp_path, policy_path, scorer: FakeScorer, services, recent_delivered: Order
) -> None:
    relaxed = tmp_path / "policy.yml"
    relaxed.write_text(
        policy_path.read_text().replace(
            "high_risk_review: true", "high_risk_review: false"
        )
    )
    use_services(replace(services, policy=PolicyFile(relaxed).get))
    scorer.scores = FakeScores(high_risk_refund=True)

    result = await run(ActionOrderRequest(), refund_asked(recent_delivered))

    assert result.responses == ["utter_refund_approved"]


async def test_old_order_is_refused_and_a_person_offered(
    run, settings: Settings, db: Session
) -> None:
    order = find_order(
        db,
        OrderStatus.DELIVERED,
        now=settings.now(),
        older_days=30,
        payment=PaymentStatus.PAID,
    )

    result = await run(ActionOrderRequest(), refund_asked(order))

    assert result.responses == ["utter_refund_not_eligible_too_old"]
    assert slots_set(result.events)["pending_question"] == "human_offer"
    assert (
        db.scalars(
            select(Refund).where(Refund.order_id == order.id, Refund.source == "chat")
        ).first()
        is None
    )


async def test_shipped_order_is_not_refunded_yet(run, db: Session) -> None:
    order = find_order(db, OrderStatus.SHIPPED)

    result = await run(ActionOrderRequest(), refund_asked(order))

    assert result.responses == ["utter_refund_not_eligible_not_delivered_yet"]
    assert outcomes(result.events) == []


async def test_accepted_refund_offer_creates_the_refund(
    run, recent_delivered: Order
) -> None:
    events = [
        user("cancel it", "cancel_order", customer_id=recent_delivered.customer_id),
        slot("order_number", recent_delivered.order_number),
        slot("pending_question", "refund_offer"),
        user("yes", "affirm", customer_id=recent_delivered.customer_id),
    ]

    result = await run(ActionAcceptRefundOffer(), events)

    assert result.responses == ["utter_refund_approved"]
    assert slots_set(result.events)["pending_question"] is None


async def test_refund_status_lists_the_newest(
    run, db: Session, recent_delivered: Order
) -> None:
    await run(ActionOrderRequest(), refund_asked(recent_delivered))

    result = await run(
        ActionTrackRefund(),
        [
            user(
                "where is my refund",
                "track_refund",
                customer_id=recent_delivered.customer_id,
            )
        ],
    )

    assert result.responses[0] == "utter_refund_status_approved"
    assert (
        result.message("utter_refund_status_approved")["order_number"]
        == recent_delivered.order_number
    )


async def test_refund_status_of_someone_elses_order_says_none(
    run, db: Session, recent_delivered: Order
) -> None:
    result = await run(
        ActionTrackRefund(),
        [
            user(
                f"refund for {recent_delivered.order_number}?",
                "track_refund",
                entities={"order_number": recent_delivered.order_number},
                customer_id=recent_delivered.customer_id + 100000,
            )
        ],
    )

    assert result.responses == ["utter_no_refunds"]


async def test_refund_status_needs_sign_in(run) -> None:
    result = await run(
        ActionTrackRefund(), [user("where is my refund", "track_refund")]
    )

    assert result.responses == ["utter_refund_status_needs_sign_in"]
