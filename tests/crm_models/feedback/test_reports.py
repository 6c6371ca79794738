from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.orm import Session, sessionmaker

from crm_models.feedback.reports import format_summary, summary
from crm_models.store.schema import ConversationOutcome, MessageLog

START = datetime(2024, 3, 1, 10, 0, tzinfo=timezone.utc)


def _conversation(
    cid: str, outcome: str | None, n_user: int, n_fallback: int
) -> ConversationOutcome:
    return ConversationOutcome(
        conversation_id=cid,
        started_at=START,
        last_event_at=START + timedelta(minutes=5),
        n_user_messages=n_user,
        n_fallbacks=n_fallback,
        outcomes=[outcome] if outcome else [],
        outcome=outcome,
    )


def _message(key: str, intent: str | None, at: datetime = START) -> MessageLog:
    return MessageLog(
        event_key=key,
        conversation_id="a",
        sent_at=at,
        text_masked="x",
        intent=intent,
        confidence=0.9,
        entities=[],
    )


def test_summary_counts_intents_outcomes_and_fallback_rate(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session, session.begin():
        session.add_all(
            [
                _conversation("a", "order_cancelled", 3, 1),
                _conversation("b", "abandoned", 1, 1),
                _conversation("c", None, 4, 0),
                _message("1", "greet"),
                _message("2", "cancel_order"),
                _message("3", "greet"),
                _message("4", None),
            ]
        )

    with sessions() as session:
        report = summary(session)

    assert report.messages == 4
    assert report.conversations == 3
    assert report.by_intent == {"greet": 2, "cancel_order": 1, "none": 1}
    assert report.by_outcome == {"abandoned": 1, "open": 1, "order_cancelled": 1}
    assert report.fallback_rate == pytest.approx(2 / 8)
    assert "fallback rate: 25.0%" in format_summary(report)


def test_summary_since_and_empty_store(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        session.add(_message("old", "greet", START - timedelta(days=9)))

    with sessions() as session:
        report = summary(session, since=START)

    assert (report.messages, report.conversations, report.fallback_rate) == (0, 0, 0.0)
