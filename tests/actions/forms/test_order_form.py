"""validate_order_form: format, ownership, failure counting, stopping."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from actions.forms.order_form import (
    ActionAskOrderNumber,
    ValidateOrderForm,
    normalise_order_number,
)
from crm_models.store.schema import OrderStatus
from tests.actions.builders import action, loop, slot, slots_set, user
from tests.actions.conftest import find_order, other_customer_order


def waiting_for_number(customer_id: int | None, failures: int = 0) -> list[dict]:
    """The order form is active and has asked for the number."""
    return [
        user("track my order", "track_order", customer_id=customer_id),
        action("order_form"),
        loop("order_form"),
        slot("requested_slot", "order_number"),
        slot("order_failures", failures),
    ]


def typed(
    text: str, customer_id: int | None, intent: str = "inform", **entities: str
) -> list[dict]:
    """The customer's answer, as the form validation action sees it."""
    return [
        user(text, intent, entities=entities or None, customer_id=customer_id),
        action("order_form"),
        *[slot("order_number", v) for v in entities.values()],
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("536365", "536365"),  # plain
        ("#536365", "536365"),  # with a hash
        ("it's 536 365", "536365"),  # with a space inside
        ("order 536365 please", "536365"),  # in a sentence
        ("53636", None),  # too short
        ("5363655", None),  # too long
        ("536365 and 536366", None),  # two numbers: which one?
        ("abc", None),  # no digits
    ],
)
def test_normalise_order_number(raw: str, expected: str | None) -> None:
    assert normalise_order_number(raw, digits=6) == expected


async def test_own_order_is_accepted(run, db: Session) -> None:
    order = find_order(db, OrderStatus.SHIPPED)
    events = waiting_for_number(order.customer_id) + typed(
        f"#{order.order_number}",
        order.customer_id,
        order_number=f"#{order.order_number}",
    )

    result = await run(ValidateOrderForm(), events)

    slots = slots_set(result.events)
    assert slots["order_number"] == order.order_number
    assert slots["order_failures"] == 0
    assert result.responses == []


async def test_bad_format_counts_a_failure(run, db: Session) -> None:
    order = find_order(db, OrderStatus.SHIPPED)
    events = waiting_for_number(order.customer_id) + typed("12345", order.customer_id)

    result = await run(ValidateOrderForm(), events)

    assert result.responses == ["utter_order_number_format"]
    assert slots_set(result.events)["order_number"] is None
    assert slots_set(result.events)["order_failures"] == 1


async def test_someone_elses_order_is_refused_like_a_missing_one(
    run, db: Session
) -> None:
    order = find_order(db, OrderStatus.SHIPPED)
    foreign = other_customer_order(db, order.customer_id)

    other = await run(
        ValidateOrderForm(),
        waiting_for_number(order.customer_id)
        + typed(
            foreign.order_number, order.customer_id, order_number=foreign.order_number
        ),
    )
    missing = await run(
        ValidateOrderForm(),
        waiting_for_number(order.customer_id)
        + typed("999999", order.customer_id, order_number="999999"),
    )

    assert other.responses == missing.responses == ["utter_order_not_found"]
    assert other.texts == missing.texts
    assert slots_set(other.events) == slots_set(missing.events)


async def test_third_failure_offers_a_person_and_ends_the_form(
    run, db: Session
) -> None:
    order = find_order(db, OrderStatus.SHIPPED)
    events = waiting_for_number(order.customer_id, failures=2) + typed(
        "999999", order.customer_id, order_number="999999"
    )

    result = await run(ValidateOrderForm(), events)

    slots = slots_set(result.events)
    assert result.responses == ["utter_order_lookup_failed"]
    assert result.dispatcher.messages[0]["response"] == "utter_order_lookup_failed"
    assert slots["requested_slot"] is None
    assert slots["pending_question"] == "human_offer"
    assert slots["handoff_reason"] == "order_lookup_failed"
    assert slots["order_failures"] == 0


async def test_another_topic_without_digits_is_left_to_the_rules(
    run, db: Session
) -> None:
    order = find_order(db, OrderStatus.SHIPPED)
    events = waiting_for_number(order.customer_id) + typed(
        "what is your refund policy?", order.customer_id, intent="check_refund_policy"
    )

    result = await run(ValidateOrderForm(), events)

    # Nothing extracted: Rasa's form rejects, and the interruption rules answer.
    assert slots_set(result.events) == {}
    assert result.responses == []


async def test_stop_ends_the_form(run) -> None:
    events = waiting_for_number(12347) + typed("Stop!", 12347, intent="deny")

    result = await run(ValidateOrderForm(), events)

    assert result.responses == ["utter_order_form_stopped"]
    assert slots_set(result.events)["requested_slot"] is None


async def test_unknown_customer_is_never_looked_up(run, db: Session) -> None:
    order = find_order(db, OrderStatus.SHIPPED)
    events = waiting_for_number(None) + typed(
        order.order_number, None, order_number=order.order_number
    )

    result = await run(ValidateOrderForm(), events)

    assert result.responses == ["utter_order_needs_sign_in"]
    assert slots_set(result.events)["order_number"] is None
    assert slots_set(result.events)["requested_slot"] is None


async def test_topic_follows_an_order_intent_inside_the_form(run, db: Session) -> None:
    order = find_order(db, OrderStatus.PROCESSING)
    events = waiting_for_number(order.customer_id) + typed(
        f"actually cancel {order.order_number}",
        order.customer_id,
        intent="cancel_order",
        order_number=order.order_number,
    )

    result = await run(ValidateOrderForm(), events)

    assert slots_set(result.events)["order_topic"] == "cancel"


async def test_the_question_names_the_number_of_digits(run) -> None:
    result = await run(ActionAskOrderNumber(), waiting_for_number(12347))

    assert result.message("utter_ask_order_number")["digits"] == 6


async def test_a_cleared_slot_is_not_a_failure(run) -> None:
    # "No, another order": the form starts without a number and just asks.
    events = [
        user("no", "deny", customer_id=12347),
        slot("order_number", None),
        action("order_form"),
        slot("order_number", None),
    ]

    result = await run(ValidateOrderForm(), events)

    assert result.responses == []
    assert slots_set(result.events) == {"order_number": None}
