"""The suggested next step the console shows an agent beside a conversation.

Plain rules over the ticket's reason and the customer's scores: a hint, not a script.
"""

from __future__ import annotations

from typing import Protocol

from crm_models.handoff.priority import CHURN_RISK_HIGH

_BY_REASON = {
    "refund_review": (
        "Review the refund waiting for approval on the order below: check the "
        "order's history, then approve or reject it and tell the customer."
    ),
    "refund_exception": (
        "The order is past the refund window: decide whether to make an "
        "exception and explain the decision."
    ),
    "order_lookup_failed": (
        "The bot could not find the order: check the customer's recent orders "
        "below and confirm which one they mean."
    ),
    "bot_fallback": (
        "The bot did not understand the last messages: read them and answer the "
        "question directly."
    ),
    "complaint": (
        "Apologise, find out what went wrong with the order, and offer a fix "
        "(replacement, refund or discount)."
    ),
}
_DEFAULT = "Greet the customer by name and ask how you can help."


class Scores(Protocol):
    """The scores the suggestion looks at (``CustomerScores`` has them)."""

    @property
    def high_value(self) -> bool: ...

    @property
    def churn_risk(self) -> float: ...

    @property
    def high_propensity(self) -> bool: ...

    @property
    def high_risk_refund(self) -> bool: ...


def suggest_next_step(
    *, reason: str, scores: Scores, known_customer: bool, has_order: bool
) -> str:
    """One or two sentences for the agent.

    Args:
        reason: the ticket's reason code.
        scores: the customer's scores.
        known_customer: whether the conversation has a verified customer.
        has_order: whether the ticket names an order.
    """
    steps = [_BY_REASON.get(reason, _DEFAULT)]
    if not known_customer:
        steps.append(
            "The visitor is not signed in: ask for the order number and e-mail "
            "address before discussing any order."
        )
    elif reason == "customer_request" and not has_order:
        steps.append("Their recent orders are listed below if they ask about one.")
    if scores.high_value or scores.churn_risk > CHURN_RISK_HIGH:
        steps.append(
            "A valuable or at-risk customer: a goodwill gesture (free delivery or "
            "a discount on the next order) is within policy."
        )
    elif scores.high_propensity:
        steps.append("Likely to buy again: the suggestions below may help.")
    if scores.high_risk_refund and reason != "refund_review":
        steps.append("Refunds for this customer need a second look.")
    return " ".join(steps)
