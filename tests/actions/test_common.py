"""Identity, formatting, the error boundary and the policy answers."""

from __future__ import annotations

import logging
from datetime import date

import pytest
from sqlalchemy.exc import OperationalError

from actions.common import ShopAction, Turn, day, mask_email, money, resolve_identity
from actions.policy import ActionAnswerPolicy
from crm_models.errors import InvalidStateError
from crm_models.identity import identity_metadata
from tests.actions.builders import SECRET, build_tracker, slot, user


@pytest.mark.parametrize(
    ("pence", "currency", "text"),
    [
        (1250, "GBP", "£12.50"),  # pounds and pence
        (5, "GBP", "£0.05"),  # pence only
        (-399, "GBP", "-£3.99"),  # a credit
        (1000, "EUR", "10.00 EUR"),  # another currency
    ],
)
def test_money(pence: int, currency: str, text: str) -> None:
    assert money(pence, currency) == text


def test_day_and_mask() -> None:
    assert day(date(2025, 6, 3)) == "3 June 2025"
    assert day(None) == ""
    assert mask_email("jane.doe@example.com") == "j***@example.com"
    assert mask_email("not-an-address") == "***"


@pytest.mark.parametrize(
    ("metadata", "slot_value", "expected", "changed"),
    [
        (identity_metadata(12347, SECRET), None, 12347, True),  # signed: trusted
        (
            {"customer_id": "12347", "customer_sig": "f" * 64},
            None,
            None,
            False,
        ),  # forged
        (
            {"customer_id": "12347", "customer_sig": "f" * 64},
            12347,
            None,
            True,
        ),  # forged clears
        ({}, 12347, None, True),  # unsigned: the slot is a record, not a proof
        (identity_metadata(12350, SECRET), 12347, 12350, True),  # another account
    ],
)
def test_resolve_identity(
    domain, metadata: dict, slot_value: int | None, expected: int | None, changed: bool
) -> None:
    events = [slot("customer_id", slot_value), user("hi", "greet", metadata=metadata)]
    tracker = build_tracker(events, domain)

    customer_id, slot_events = resolve_identity(tracker, SECRET)

    assert customer_id == expected
    assert bool(slot_events) is changed


class _Failing(ShopAction):
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def name(self) -> str:
        return "action_failing"

    def act(self, turn: Turn) -> list:
        turn.say("utter_greet")
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "level"),
    [
        (InvalidStateError("order 1 is shipped"), logging.WARNING),  # ours
        (
            OperationalError("select", {}, Exception("db down")),
            logging.ERROR,
        ),  # the store
        (KeyError("bug"), logging.ERROR),  # a bug
    ],
)
async def test_error_boundary_apologises_and_logs_once(
    run, caplog: pytest.LogCaptureFixture, exc: Exception, level: int
) -> None:
    caplog.set_level(logging.INFO, logger="actions")

    result = await run(_Failing(exc), [user("my name is Jane, jane@x.org", "greet")])

    assert result.responses == ["utter_technical_problem"]
    assert [e["name"] for e in result.events if e["event"] == "slot"] == [
        "pending_question"
    ]
    records = [r for r in caplog.records if r.name == "actions.common"]
    assert [r.levelno for r in records] == [level]
    assert "jane" not in caplog.text.lower()


@pytest.mark.parametrize(
    ("intent", "response"),
    [
        ("check_refund_policy", "utter_refund_policy"),
        ("check_payment_methods", "utter_payment_methods"),
        ("delivery_options", "utter_delivery_options"),
        ("check_cancellation_fee", "utter_cancellation_free"),
        ("contact_customer_service", "utter_contact_details"),
    ],
)
async def test_policy_answers_come_from_the_file(
    run, intent: str, response: str
) -> None:
    result = await run(ActionAnswerPolicy(), [user("?", intent)])

    assert result.responses == [response]


async def test_delivery_options_list_prices(run) -> None:
    result = await run(ActionAnswerPolicy(), [user("?", "delivery_options")])

    assert "Express: £7.99, 1-2 working days" in result.texts[0]
    assert "£50.00" in result.texts[0]
