"""Real conversations through the REST channel with seeded customers.

The servers run from the trained model and a copy of the seeded store; each test uses
its own sender id, so conversations do not share state.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from crm_models.store.schema import (
    ConversationOutcome,
    MessageLog,
    Order,
    OrderStatus,
    Refund,
    Ticket,
)
from tests.e2e.servers import ROOT, Stack

pytestmark = pytest.mark.e2e


def texts(messages: list[dict[str, Any]]) -> str:
    """Everything the bot showed, as one lower-case string (text, buttons, payloads)."""
    parts = []
    for message in messages:
        parts.append(message.get("text") or "")
        parts.extend(b.get("title", "") for b in message.get("buttons") or [])
        if message.get("custom"):
            parts.append(json.dumps(message["custom"]))
    return "\n".join(parts).lower()


def sender() -> str:
    return f"e2e-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def db(stack: Stack) -> Session:
    return Session(create_engine(stack.database_url))


def order_with_status(db: Session, status: OrderStatus, *, skip: int = 0) -> Order:
    """A seeded order in ``status`` whose customer has several orders."""
    orders = db.scalars(
        select(Order).where(Order.status == status).order_by(Order.id).offset(skip)
    ).all()
    assert orders, f"the seed has no {status} order"
    return orders[0]


def test_track_an_order(stack: Stack, db: Session) -> None:
    order = order_with_status(db, OrderStatus.SHIPPED)

    reply = texts(
        stack.say(
            sender(),
            f"where is my order {order.order_number}?",
            customer_id=order.customer_id,
        )
    )

    assert order.order_number in reply
    assert order.shipment.tracking_code.lower() in reply


def test_cancel_an_open_order_changes_the_store(stack: Stack, db: Session) -> None:
    order = order_with_status(db, OrderStatus.PROCESSING)
    conversation = sender()

    first = texts(
        stack.say(
            conversation,
            f"please cancel order {order.order_number}",
            customer_id=order.customer_id,
        )
    )
    second = texts(stack.say(conversation, "yes", customer_id=order.customer_id))

    assert order.order_number in first  # the bot asks before it cancels
    assert "cancel" in second
    db.expire_all()
    assert db.get(Order, order.id).status == OrderStatus.CANCELLED


def test_a_shipped_order_is_not_cancelled(stack: Stack, db: Session) -> None:
    order = order_with_status(db, OrderStatus.SHIPPED, skip=1)
    conversation = sender()

    stack.say(
        conversation,
        f"cancel my order {order.order_number}",
        customer_id=order.customer_id,
    )
    stack.say(conversation, "yes", customer_id=order.customer_id)

    db.expire_all()
    assert db.get(Order, order.id).status == OrderStatus.SHIPPED


def test_refund_request_creates_a_refund_or_a_ticket(stack: Stack, db: Session) -> None:
    # The most recently delivered order is inside the refund window.
    order = db.scalars(
        select(Order)
        .where(Order.status == OrderStatus.DELIVERED)
        .order_by(Order.placed_at.desc())
    ).first()
    conversation = sender()
    before = db.scalar(
        select(func.count())
        .select_from(Refund)
        .where(Refund.order_id == order.id, Refund.source == "chat")
    )

    reply = texts(
        stack.say(
            conversation,
            f"I want a refund for order {order.order_number}",
            customer_id=order.customer_id,
        )
    )
    if "yes" in reply or "confirm" in reply:  # the bot may ask before it creates it
        reply += texts(stack.say(conversation, "yes", customer_id=order.customer_id))

    db.expire_all()
    after = db.scalar(
        select(func.count())
        .select_from(Refund)
        .where(Refund.order_id == order.id, Refund.source == "chat")
    )
    assert after == before + 1
    assert "refund" in reply
    assert order.order_number in reply


def test_an_old_order_is_past_the_refund_window(stack: Stack, db: Session) -> None:
    order = order_with_status(db, OrderStatus.DELIVERED)  # the oldest one

    reply = texts(
        stack.say(
            sender(),
            f"I want a refund for order {order.order_number}",
            customer_id=order.customer_id,
        )
    )

    db.expire_all()
    refunds = db.scalars(
        select(Refund).where(Refund.order_id == order.id, Refund.source == "chat")
    ).all()
    assert refunds == []
    assert "30 days" in reply


def test_recommendation_returns_real_products(stack: Stack) -> None:
    messages = stack.say(
        sender(), "I'm looking for a present for someone who loves gardening"
    )

    # Custom payloads travel as {"data": {...}} so that Rasa's socket.io channel can
    # emit them; the REST channel hands the same object back under "custom".
    cards = [m["custom"]["data"] for m in messages if isinstance(m.get("custom"), dict)]
    assert cards
    assert cards[0]["type"] == "products"
    items = cards[0]["items"]
    assert 1 <= len(items) <= 5
    assert all(item["name"] and item["price"] for item in items)
    assert any("garden" in item["name"].lower() for item in items)


def test_asking_for_a_human_opens_a_ticket(stack: Stack, db: Session) -> None:
    order = order_with_status(db, OrderStatus.DELIVERED, skip=3)
    conversation = sender()

    reply = texts(
        stack.say(
            conversation,
            "I want to talk to a real person",
            customer_id=order.customer_id,
        )
    )

    db.expire_all()
    tickets = db.scalars(
        select(Ticket).where(Ticket.conversation_id == conversation)
    ).all()
    assert len(tickets) == 1
    assert tickets[0].customer_id == order.customer_id
    assert reply


def test_another_customers_order_is_refused(stack: Stack, db: Session) -> None:
    theirs = order_with_status(db, OrderStatus.PROCESSING, skip=1)
    mine = db.scalars(
        select(Order).where(Order.customer_id != theirs.customer_id).order_by(Order.id)
    ).first()
    conversation = sender()
    item_names = [line.product.name.lower() for line in theirs.lines]

    track = texts(
        stack.say(
            conversation,
            f"where is order {theirs.order_number}",
            customer_id=mine.customer_id,
        )
    )
    cancel = texts(
        stack.say(
            conversation,
            f"cancel order {theirs.order_number}",
            customer_id=mine.customer_id,
        )
    )
    cancel += texts(stack.say(conversation, "yes", customer_id=mine.customer_id))

    for reply in (track, cancel):
        assert not any(name in reply for name in item_names)
        assert "processing" not in reply
    db.expire_all()
    assert db.get(Order, theirs.id).status == OrderStatus.PROCESSING


def test_anonymous_visitor_gets_no_order_data(stack: Stack, db: Session) -> None:
    order = order_with_status(db, OrderStatus.SHIPPED, skip=2)

    reply = texts(stack.say(sender(), f"where is my order {order.order_number}"))

    assert not any(line.product.name.lower() in reply for line in order.lines)
    assert reply  # still a helpful answer, e.g. how to sign in or find the order


@pytest.mark.parametrize(
    "text",
    [
        "",  # an empty message
        "😀🙏🔥",  # emoji only
        "I have a question about my parcel. " * 143,  # about 5,000 characters
    ],
)
def test_odd_messages_get_a_polite_reply(stack: Stack, text: str) -> None:
    messages = stack.say(sender(), text)

    assert messages, "the bot said nothing"
    assert all("error" not in (m.get("text") or "").lower() for m in messages)


def test_feedback_records_every_message_masked(stack: Stack, db: Session) -> None:
    order = order_with_status(db, OrderStatus.DELIVERED, skip=5)
    conversation = sender()
    stack.say(conversation, "hello", customer_id=order.customer_id)
    stack.say(
        conversation,
        f"where is order {order.order_number}",
        customer_id=order.customer_id,
    )

    subprocess.run(
        [sys.executable, "-m", "crm_models.feedback.consumer", "--once"],
        cwd=ROOT,
        env=stack.env,
        check=True,
        timeout=120,
    )

    db.expire_all()
    logged = db.scalars(
        select(MessageLog)
        .where(MessageLog.conversation_id == conversation)
        .order_by(MessageLog.id)
    ).all()
    assert [m.intent for m in logged][:1] == ["greet"]
    assert len(logged) == 2
    assert order.order_number not in logged[1].text_masked
    outcome = db.get(ConversationOutcome, conversation)
    assert outcome is not None
    assert outcome.n_user_messages == 2
    assert outcome.customer_id == order.customer_id
    assert outcome.last_event_at - outcome.started_at < timedelta(hours=1)


def test_a_conversation_id_alone_does_not_make_you_the_customer(
    stack: Stack, db: Session
) -> None:
    order = order_with_status(db, OrderStatus.SHIPPED, skip=4)
    conversation = sender()
    stack.say(conversation, "hello", customer_id=order.customer_id)  # signed

    # Someone who knows the conversation id writes without the signature.
    reply = texts(stack.say(conversation, f"where is order {order.order_number}"))

    assert order.shipment.tracking_code.lower() not in reply
    assert not any(line.product.name.lower() in reply for line in order.lines)
