from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from crm_models.handoff.priority import queue_priority, ticket_priority


@dataclass(frozen=True)
class Scores:
    high_value: bool = False
    churn_risk: float = 0.1


@pytest.mark.parametrize(
    ("reason", "scores", "waited", "expected"),
    [
        ("customer_request", Scores(), timedelta(0), 3),  # the usual case
        ("customer_request", Scores(high_value=True), timedelta(0), 2),
        ("customer_request", Scores(churn_risk=0.7), timedelta(0), 2),
        ("complaint", Scores(), timedelta(0), 2),  # complaints start high
        ("complaint", Scores(high_value=True), timedelta(0), 1),
        # a long struggle with the bot counts too; never above urgent
        ("refund_review", Scores(high_value=True), timedelta(minutes=25), 1),
        ("bot_fallback", Scores(), timedelta(minutes=12), 2),
    ],
)
def test_ticket_priority(
    reason: str, scores: Scores, waited: timedelta, expected: int
) -> None:
    assert ticket_priority(reason=reason, scores=scores, waited=waited).value == (
        expected
    )


def test_the_reasons_say_why_it_was_raised() -> None:
    priority = ticket_priority(
        reason="customer_request",
        scores=Scores(high_value=True, churn_risk=0.61),
        waited=timedelta(minutes=11),
    )

    assert priority.reasons == (
        "high-value customer",
        "churn risk 0.61",
        "chatting for 11 min",
    )


@pytest.mark.parametrize(
    ("priority", "minutes", "expected"),
    [
        (3, 0, 3),
        (3, 9, 3),
        (3, 10, 2),  # one level per ten minutes in the queue
        (4, 25, 2),
        (2, 90, 1),  # never above urgent
    ],
)
def test_waiting_raises_the_queue_priority(
    priority: int, minutes: int, expected: int
) -> None:
    assert queue_priority(priority, timedelta(minutes=minutes)) == expected
