"""Hand-offs: tickets with reason, priority and summary; the pause; staffed hours."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.handoff import (
    ActionComplaint,
    ActionHumanHandoff,
    ActionReview,
    bot_tried,
    chat_length,
)
from crm_models.settings import Settings
from crm_models.store.schema import Order, Ticket
from tests.actions.builders import (
    action,
    build_tracker,
    outcomes,
    slot,
    slots_set,
    user,
)
from tests.actions.conftest import FakeScorer, FakeScores
from tests.conftest import make_test_settings


def tickets(db: Session, conversation: str = "conversation-1") -> list[Ticket]:
    db.expire_all()
    return list(
        db.scalars(select(Ticket).where(Ticket.conversation_id == conversation))
    )


def paused(events: list[dict]) -> bool:
    return any(e.get("event") == "pause" for e in events)


def marker(result) -> dict:  # type: ignore[no-untyped-def]
    [message] = [m for m in result.dispatcher.messages if m.get("custom")]
    return message["custom"]["data"]


async def test_asking_for_a_person_opens_a_ticket_and_pauses(run, db: Session) -> None:
    result = await run(
        ActionHumanHandoff(),
        [user("a human please", "contact_human_agent", customer_id=12347)],
    )

    # SHOP_TODAY is a Friday and noon is inside the staffed hours.
    assert result.responses == ["utter_handoff"]
    assert "A person will join this chat shortly" in result.texts[0]
    assert marker(result) == {"type": "handoff", "state": "waiting", "staffed": True}
    assert outcomes(result.events) == ["ticket_opened"]
    assert paused(result.events)
    [ticket] = tickets(db)
    assert ticket.reason == "customer_request"
    assert ticket.customer_id == 12347
    assert ticket.priority == 3
    assert ticket.summary.startswith("Asked for a person.")
    assert "Intents: contact_human_agent." in ticket.summary


async def test_the_summary_names_the_order_and_what_the_bot_tried(
    run, db: Session
) -> None:
    order = db.scalars(select(Order).where(Order.customer_id == 12347)).first()
    events = [
        user("where is my order", "track_order", customer_id=12347),
        slot("customer_id", 12347),  # verified by the first action
        action("order_form"),
        slot("order_number", order.order_number),
        # the widget signs every message, not only the first one
        user("??", "nlu_fallback", customer_id=12347),
        action("action_fallback"),
        user("blah", "nlu_fallback", customer_id=12347),
        action("action_fallback"),
        slot("pending_question", "human_offer"),
        slot("handoff_reason", "bot_fallback"),
        user("yes", "affirm", customer_id=12347),
    ]

    result = await run(ActionHumanHandoff(), events)

    [ticket] = tickets(db)
    assert ticket.reason == "bot_fallback"
    assert ticket.order_id == order.id
    assert ticket.summary == (
        "The bot did not understand twice in a row. "
        f"Order {order.order_number}. "
        "Intents: track_order, nlu_fallback, nlu_fallback, affirm. "
        "Bot tried: order_form, action_fallback ×2."
    )
    assert slots_set(result.events)["pending_question"] is None
    assert slots_set(result.events)["handoff_reason"] is None


async def test_unknown_visitor_can_reach_a_person(run, db: Session) -> None:
    result = await run(ActionHumanHandoff(), [user("human!", "contact_human_agent")])

    assert tickets(db)[0].customer_id is None
    assert paused(result.events)


async def test_a_valuable_customer_goes_first(
    run, db: Session, scorer: FakeScorer
) -> None:
    scorer.scores = FakeScores(high_value=True)

    await run(
        ActionHumanHandoff(),
        [user("a human please", "contact_human_agent", customer_id=12347)],
    )

    [ticket] = tickets(db)
    assert ticket.priority == 2
    assert "Priority: high-value customer." in ticket.summary


@pytest.mark.parametrize(
    ("scores", "priority", "handed_over"),
    [
        (FakeScores(high_value=True), 1, True),  # a valuable customer
        (FakeScores(churn_risk=0.8), 1, True),  # a customer we may lose
        (FakeScores(), 2, False),  # everyone else: a ticket, the bot stays on
    ],
)
async def test_complaint_priority_and_hand_over(
    run,
    db: Session,
    scorer: FakeScorer,
    scores: FakeScores,
    priority: int,
    handed_over: bool,
) -> None:
    scorer.scores = scores

    result = await run(
        ActionComplaint(),
        [user("this is unacceptable", "complaint", customer_id=12347)],
    )

    expected = (
        ["utter_complaint_sorry", "utter_handoff"]
        if handed_over
        else ["utter_complaint_received"]
    )
    assert result.responses == expected
    assert paused(result.events) is handed_over
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


class TestAfterHours:
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return make_test_settings(tmp_path, today="2025-06-14")  # a Saturday

    async def test_the_customer_is_told_when_someone_answers(
        self, run, db: Session
    ) -> None:
        result = await run(
            ActionHumanHandoff(),
            [user("a human please", "contact_human_agent", customer_id=12347)],
        )

        assert result.responses == ["utter_handoff_after_hours"]
        text = result.texts[0]
        assert "Monday at 09:00 (UK time)" in text
        assert "Leave your message below" in text
        assert marker(result)["staffed"] is False
        # The ticket stays open and the bot stays quiet: messages wait for a person.
        assert paused(result.events)
        assert tickets(db)[0].status.value == "open"


def test_bot_tried_and_chat_length_read_the_events(domain: dict) -> None:
    events = [
        {**user("hi", "greet"), "timestamp": 100.0},
        {**action("action_greet"), "timestamp": 101.0},
        {**action("action_listen"), "timestamp": 101.5},
        {**action("order_form"), "timestamp": 700.0},
    ]
    tracker = build_tracker(events, domain)

    assert bot_tried(tracker) == "action_greet, order_form"
    assert chat_length(tracker).total_seconds() == 600.0
    assert bot_tried(build_tracker([], domain)) == "nothing yet"


async def test_review_is_thanked_with_the_review_link(run) -> None:
    result = await run(ActionReview(), [user("love the shop", "review")])

    assert "https://retrospot.example/reviews" in result.texts[0]
