from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from crm_models.feedback.outcomes import (
    add_outcome,
    add_recommendation_click,
    headline,
    new_conversation,
    pause,
    resume,
    touch,
)

T = datetime(2024, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        # a cancelled order outranks the recommendation shown before it
        (["recommendation_shown", "order_cancelled"], "order_cancelled"),
        (["ticket_opened", "refund_created"], "refund_created"),
        (["resolved_by_bot", "ticket_opened"], "ticket_opened"),
        (["abandoned"], "abandoned"),
        # a click on a suggestion says more than the suggestion alone
        (["recommendation_shown", "recommendation_clicked"], "recommendation_clicked"),
        (["recommendation_clicked", "ticket_opened"], "ticket_opened"),
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
    assert not add_outcome(conversation, "recommendation_clicked")  # the same
    assert not add_outcome(conversation, "bogus")

    assert conversation.outcomes == ["resolved_by_bot", "ticket_opened"]
    assert conversation.outcome == "ticket_opened"


def test_click_is_added_once() -> None:
    conversation = new_conversation("c", T)
    add_outcome(conversation, "recommendation_shown")

    add_recommendation_click(conversation)
    add_recommendation_click(conversation)

    assert conversation.outcomes == ["recommendation_shown", "recommendation_clicked"]
    assert conversation.outcome == "recommendation_clicked"


def test_touch_keeps_handle_time_and_counts_paused_time_between_events() -> None:
    conversation = new_conversation("c", T)

    touch(conversation, T + timedelta(seconds=10))
    pause(conversation, T + timedelta(seconds=10))
    touch(conversation, T + timedelta(seconds=70))  # the customer writes meanwhile
    pause(conversation, T + timedelta(seconds=70))  # paused again: still since 10
    touch(conversation, T + timedelta(seconds=40))  # late event: no time back
    touch(conversation, T + timedelta(seconds=100))
    resume(conversation)
    touch(conversation, T + timedelta(seconds=130))  # the bot again

    assert conversation.handle_seconds == 130.0
    assert conversation.paused_seconds == 90.0
    assert conversation.paused_since is None


def test_pause_on_a_row_from_before_paused_seconds_counts_from_there() -> None:
    conversation = new_conversation("c", T)
    conversation.paused_seconds = None  # as an upgraded store's old rows have it

    pause(conversation, T)
    touch(conversation, T + timedelta(seconds=5))

    assert conversation.paused_seconds == 5.0
