"""Tickets: asking for a person, complaints with priority, reviews."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.handoff import ActionComplaint, ActionHumanHandoff, ActionReview
from crm_models.store.schema import Ticket
from tests.actions.builders import outcomes, slot, slots_set, user
from tests.actions.conftest import FakeScorer, FakeScores


def tickets(db: Session, conversation: str = "conversation-1") -> list[Ticket]:
    db.expire_all()
    return list(
        db.scalars(select(Ticket).where(Ticket.conversation_id == conversation))
    )


async def test_asking_for_a_person_opens_a_ticket(run, db: Session) -> None:
    result = await run(
        ActionHumanHandoff(),
        [user("a human please", "contact_human_agent", customer_id=12347)],
    )

    assert result.responses == ["utter_handoff"]
    assert "Monday to Friday" in result.texts[0]
    assert outcomes(result.events) == ["ticket_opened"]
    [ticket] = tickets(db)
    assert ticket.reason == "customer_request"
    assert ticket.customer_id == 12347
    assert "contact_human_agent" in ticket.summary


async def test_accepted_offer_keeps_its_reason(run, db: Session) -> None:
    events = [
        slot("pending_question", "human_offer"),
        slot("handoff_reason", "order_lookup_failed"),
        user("yes", "affirm", customer_id=12347),
    ]

    result = await run(ActionHumanHandoff(), events)

    assert tickets(db)[0].reason == "order_lookup_failed"
    assert slots_set(result.events)["pending_question"] is None


async def test_unknown_visitor_can_reach_a_person(run, db: Session) -> None:
    await run(ActionHumanHandoff(), [user("human!", "contact_human_agent")])

    assert tickets(db)[0].customer_id is None


@pytest.mark.parametrize(
    ("scores", "priority"),
    [
        (FakeScores(high_value=True), 1),  # a valuable customer
        (FakeScores(churn_risk=0.8), 1),  # a customer we may lose
        (FakeScores(), 2),  # everyone else
    ],
)
async def test_complaint_priority(
    run, db: Session, scorer: FakeScorer, scores: FakeScores, priority: int
) -> None:
    scorer.scores = scores

    result = await run(
        ActionComplaint(),
        [user("this is unacceptable", "complaint", customer_id=12347)],
    )

    assert result.responses == ["utter_complaint_received"]
    assert outcomes(result.events) == ["ticket_opened"]
    [ticket] = tickets(db)
    assert (ticket.reason, ticket.priority) == ("complaint", priority)


async def test_complaint_then_request_for_a_person_is_one_ticket(
    run, db: Session
) -> None:
    await run(ActionComplaint(), [user("awful", "complaint", customer_id=12347)])
    await run(
        ActionHumanHandoff(), [user("human", "contact_human_agent", customer_id=12347)]
    )

    assert len(tickets(db)) == 1


async def test_review_is_thanked_with_the_review_link(run) -> None:
    result = await run(ActionReview(), [user("love the shop", "review")])

    assert "https://retrospot.example/reviews" in result.texts[0]
