from __future__ import annotations

from datetime import datetime, timezone

import pytest

from crm_models.feedback.outcomes import add_outcome, headline, new_conversation


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        # a cancelled order outranks the recommendation shown before it
        (["recommendation_shown", "order_cancelled"], "order_cancelled"),
        (["ticket_opened", "refund_created"], "refund_created"),
        (["resolved_by_bot", "ticket_opened"], "ticket_opened"),
        (["abandoned"], "abandoned"),
        # unknown values are ignored
        (["something_else"], None),
        ([], None),
    ],
)
def test_headline_takes_the_most_significant_outcome(
    outcomes: list[str], expected: str | None
) -> None:
    assert headline(outcomes) == expected


def test_add_outcome_keeps_each_value_once_and_refuses_unknown() -> None:
    conversation = new_conversation("c", datetime(2024, 1, 1, tzinfo=timezone.utc))

    assert add_outcome(conversation, "resolved_by_bot")
    assert add_outcome(conversation, "ticket_opened")
    assert add_outcome(conversation, "resolved_by_bot")
    assert not add_outcome(conversation, "abandoned")  # the consumer's to decide
    assert not add_outcome(conversation, "bogus")

    assert conversation.outcomes == ["resolved_by_bot", "ticket_opened"]
    assert conversation.outcome == "ticket_opened"
