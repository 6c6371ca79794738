from __future__ import annotations

from dataclasses import dataclass

from crm_models.handoff.next_step import suggest_next_step


@dataclass(frozen=True)
class Scores:
    high_value: bool = False
    churn_risk: float = 0.1
    high_propensity: bool = False
    high_risk_refund: bool = False


def test_a_refund_review_says_to_review_the_refund() -> None:
    step = suggest_next_step(
        reason="refund_review", scores=Scores(), known_customer=True, has_order=True
    )

    assert step.startswith("Review the refund")
    assert "goodwill" not in step


def test_an_unknown_visitor_must_prove_who_they_are() -> None:
    step = suggest_next_step(
        reason="customer_request",
        scores=Scores(),
        known_customer=False,
        has_order=False,
    )

    assert "not signed in" in step


def test_a_valuable_customer_may_get_a_gesture() -> None:
    step = suggest_next_step(
        reason="complaint",
        scores=Scores(high_value=True, high_risk_refund=True),
        known_customer=True,
        has_order=False,
    )

    assert "goodwill gesture" in step
    assert "second look" in step
