"""A ticket's priority: what it is about, who the customer is, and how long they wait.

Priorities run from 1 (urgent) to 4 (low), as in ``tickets.priority``. A ticket is
opened with :func:`ticket_priority`; the queue then ranks it with
:func:`queue_priority`, which moves a ticket up one level for every
``ESCALATE_EVERY`` it waits, so nobody waits for ever behind newer urgent tickets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

URGENT, HIGH, NORMAL, LOW = 1, 2, 3, 4
# Reasons that start above normal: an unhappy customer, money waiting for review.
REASON_PRIORITY = {"complaint": HIGH, "refund_review": HIGH}
# NOTE: the scorer gives no churn flag; churn risk above this counts as high (the
# untrained prior is exactly 0.5, which must not raise every ticket).
CHURN_RISK_HIGH = 0.5
# A customer who has been chatting this long before the hand-off has struggled.
LONG_CHAT = timedelta(minutes=10)
ESCALATE_EVERY = timedelta(minutes=10)


class Scores(Protocol):
    """The scores priority looks at (``CustomerScores`` has them)."""

    @property
    def high_value(self) -> bool: ...

    @property
    def churn_risk(self) -> float: ...


@dataclass(frozen=True)
class Priority:
    """A priority and the plain-English reasons that raised it."""

    value: int
    reasons: tuple[str, ...]


def ticket_priority(*, reason: str, scores: Scores, waited: timedelta) -> Priority:
    """The priority of a new ticket.

    Args:
        reason: the ticket's reason code, e.g. "complaint".
        scores: the customer's scores (priors for an unknown visitor).
        waited: how long the customer had been chatting before the hand-off.
    """
    value = REASON_PRIORITY.get(reason, NORMAL)
    why = []
    if scores.high_value:
        why.append("high-value customer")
    if scores.churn_risk > CHURN_RISK_HIGH:
        why.append(f"churn risk {scores.churn_risk:.2f}")
    if why:
        value -= 1
    if waited >= LONG_CHAT:
        value -= 1
        why.append(f"chatting for {int(waited.total_seconds() // 60)} min")
    return Priority(max(URGENT, min(LOW, value)), tuple(why))


def queue_priority(priority: int, waiting: timedelta) -> int:
    """The priority a ticket has in the queue after ``waiting`` there."""
    steps = max(0, int(waiting / ESCALATE_EVERY))
    return max(URGENT, priority - steps)
