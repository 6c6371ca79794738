from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm_models.feedback import consumer as consumer_module
from crm_models.feedback.consumer import FeedbackConsumer, event_key
from crm_models.identity import identity_metadata
from crm_models.store.schema import ConsumerOffset, ConversationOutcome, MessageLog
from tests.crm_models.feedback.rasa_events import (
    T0,
    action,
    bot,
    simple,
    slot,
    user,
    write_event_log,
)
from tests.crm_models.feedback.support import (
    SECRET,
    FakeClock,
    make_settings,
    seed_customers,
)

MakeConsumer = Callable[..., FeedbackConsumer]


def _conversations() -> list[tuple[str, dict[str, Any]]]:
    """Two conversations, interleaved as a live log would have them."""
    signed = identity_metadata(12347, SECRET)
    forged = {"customer_id": "12348", "customer_sig": "0" * 64}
    return [
        # conv-a: a signed-in customer cancels an order, then types nonsense.
        ("conv-a", action("action_session_start", ts=T0)),
        ("conv-a", simple("session_started", ts=T0)),
        ("conv-a", action("action_listen", ts=T0)),
        ("conv-a", user("hi there", "greet", 0.98, ts=T0 + 1, metadata=signed)),
        ("conv-a", bot("Hello!", ts=T0 + 2)),
        # conv-b: a visitor with a forged identity asks something off-topic.
        ("conv-b", simple("session_started", ts=T0 + 3)),
        (
            "conv-b",
            user("what's the weather", "out_of_scope", 0.7, ts=T0 + 4, metadata=forged),
        ),
        ("conv-b", bot("I can only help with the shop.", ts=T0 + 5)),
        (
            "conv-a",
            user(
                "cancel order #536365, mail me at jo@example.com",
                "cancel_order",
                0.91,
                ts=T0 + 6,
                runner_up=("change_order", 0.05),
                entities=[
                    {
                        "entity": "order_number",
                        "value": "536365",
                        "start": 14,
                        "end": 20,
                        "extractor": "RegexEntityExtractor",
                    },
                    {
                        "entity": "email",
                        "value": "jo@example.com",
                        "start": 32,
                        "end": 46,
                        "extractor": "RegexEntityExtractor",
                    },
                ],
                metadata=signed,
            ),
        ),
        ("conv-a", action("action_cancel_order", ts=T0 + 7)),
        ("conv-a", slot("last_outcome", "order_cancelled", ts=T0 + 7)),
        ("conv-a", bot("Order cancelled.", ts=T0 + 8)),
        # The fallback classifier's intent and the fallback action are one turn.
        ("conv-a", user("asdfgh", "nlu_fallback", 0.3, ts=T0 + 9, metadata=signed)),
        ("conv-a", action("action_default_fallback", ts=T0 + 10)),
        ("conv-a", slot("last_outcome", "recommendation_shown", ts=T0 + 11)),
        ("conv-a", simple("pause", ts=T0 + 12)),
        ("conv-a", simple("resume", ts=T0 + 13)),
    ]


def _snapshot(sessions: sessionmaker[Session]) -> dict[str, Any]:
    with sessions() as session:
        return {
            "messages": [
                (m.event_key, m.conversation_id, m.sent_at, m.text_masked, m.intent,
                 m.confidence, m.runner_up, m.runner_up_confidence, m.entities)
                for m in session.scalars(select(MessageLog).order_by(MessageLog.id))
            ],
            "outcomes": [
                (c.conversation_id, c.customer_id, c.started_at, c.last_event_at,
                 c.n_user_messages, c.n_fallbacks, c.outcomes, c.outcome)
                for c in session.scalars(
                    select(ConversationOutcome).order_by(
                        ConversationOutcome.conversation_id
                    )
                )
            ],
        }  # fmt: skip


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def test_consumer_writes_masked_messages_and_outcomes(
    make_consumer: MakeConsumer, events_path: Path, sessions: sessionmaker[Session]
) -> None:
    write_event_log(events_path, _conversations())

    stats = make_consumer().run_once()

    assert (stats.rows, stats.events, stats.messages, stats.position) == (17, 17, 4, 17)
    with sessions() as session:
        messages = session.scalars(select(MessageLog).order_by(MessageLog.id)).all()
        a = session.get(ConversationOutcome, "conv-a")
        b = session.get(ConversationOutcome, "conv-b")
    assert [(m.conversation_id, m.text_masked, m.intent) for m in messages] == [
        ("conv-a", "hi there", "greet"),
        ("conv-b", "what's the weather", "out_of_scope"),
        ("conv-a", "cancel order #[ORDER], mail me at [EMAIL]", "cancel_order"),
        ("conv-a", "asdfgh", "nlu_fallback"),
    ]
    cancel = messages[2]
    assert cancel.event_key == event_key("conv-a", 9)
    assert cancel.sent_at == _at(T0 + 6)
    assert (cancel.confidence, cancel.runner_up, cancel.runner_up_confidence) == (
        0.91,
        "change_order",
        0.05,
    )
    assert cancel.entities == [
        {"entity": "order_number", "value": "[ORDER]",
         "extractor": "RegexEntityExtractor"},
        {"entity": "email", "value": "[EMAIL]", "extractor": "RegexEntityExtractor"},
    ]  # fmt: skip

    assert a is not None
    assert b is not None
    assert a.customer_id == 12347  # signed metadata
    assert (a.started_at, a.last_event_at) == (_at(T0), _at(T0 + 13))
    assert (a.n_user_messages, a.n_fallbacks) == (3, 1)
    assert a.outcomes == ["order_cancelled", "recommendation_shown"]
    assert a.outcome == "order_cancelled"
    assert b.customer_id is None  # forged signature is not trusted
    assert (b.n_user_messages, b.n_fallbacks) == (1, 1)
    # Idle since 2023 by the fake clock, and nothing achieved.
    assert (b.outcomes, b.outcome) == (["abandoned"], "abandoned")


def test_second_run_and_replay_from_zero_change_nothing(
    make_consumer: MakeConsumer, events_path: Path, sessions: sessionmaker[Session]
) -> None:
    write_event_log(events_path, _conversations())
    make_consumer(batch_size=5).run_once()
    first = _snapshot(sessions)

    again = make_consumer(batch_size=5).run_once()
    with sessions() as session, session.begin():
        # Lose the source offset, as if restored from an old backup.
        session.get(ConsumerOffset, make_consumer().event_log.source).position = 0
    replay = make_consumer(batch_size=5).run_once()

    assert again.rows == 0
    assert (replay.rows, replay.events, replay.skipped) == (17, 0, 17)
    assert _snapshot(sessions) == first


def test_crash_mid_batch_loses_and_doubles_nothing(
    make_consumer: MakeConsumer,
    events_path: Path,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_event_log(events_path, _conversations())
    real_add_message = consumer_module.BatchWriter.add_message
    calls = {"n": 0}

    def failing_add_message(self: Any, *args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # the third message, inside the second batch of 8
            raise OSError("disk full")
        real_add_message(self, *args, **kwargs)

    monkeypatch.setattr(consumer_module.BatchWriter, "add_message", failing_add_message)
    with pytest.raises(OSError, match="disk full"):
        make_consumer(batch_size=8).run_once()
    with sessions() as session:
        committed = session.scalars(select(MessageLog.text_masked)).all()
        offset = session.get(ConsumerOffset, make_consumer().event_log.source)
    assert committed == ["hi there", "what's the weather"]  # the first batch only
    assert offset is not None
    assert offset.position == 8

    monkeypatch.setattr(consumer_module.BatchWriter, "add_message", real_add_message)
    make_consumer(batch_size=8).run_once()
    crashed = _snapshot(sessions)

    # The same log consumed without a crash, into a fresh store.
    clean = FeedbackConsumer.from_settings(
        make_settings(tmp_path, database_url=f"sqlite:///{tmp_path / 'clean.db'}"),
        batch_size=8,
    )
    clean.clock = clock
    seed_customers(clean.sessions)
    clean.run_once()
    assert crashed == _snapshot(clean.sessions)
    assert len(crashed["messages"]) == 4


def test_idle_conversation_without_outcome_is_abandoned_and_reopens(
    make_consumer: MakeConsumer,
    events_path: Path,
    sessions: sessionmaker[Session],
    clock: FakeClock,
) -> None:
    write_event_log(
        events_path,
        [
            ("left", user("where is my parcel", "track_order", ts=T0)),
            ("done", user("recommend a gift", "product_recommendation", ts=T0)),
            ("done", slot("last_outcome", "recommendation_shown", ts=T0 + 1)),
            ("recent", user("hello", "greet", ts=T0 + 20 * 60)),
        ],
    )
    clock.now = _at(T0 + 31 * 60)  # "left" and "done" idle 31 min, "recent" 11 min

    first = make_consumer().run_once()

    with sessions() as session:
        outcomes = {
            c.conversation_id: c.outcome for c in session.scalars(
                select(ConversationOutcome)
            )
        }  # fmt: skip
    assert first.abandoned == 1
    assert outcomes == {
        "left": "abandoned",
        "done": "recommendation_shown",
        "recent": None,
    }

    # The customer comes back: open again, then resolved by the bot.
    write_event_log(
        events_path,
        [
            ("left", user("hello?", "greet", ts=T0 + 40 * 60)),
            ("left", slot("last_outcome", "resolved_by_bot", ts=T0 + 41 * 60)),
        ],
    )
    clock.now = _at(T0 + 42 * 60)
    make_consumer().run_once()

    with sessions() as session:
        left = session.get(ConversationOutcome, "left")
        recent = session.get(ConversationOutcome, "recent")
    assert left is not None
    assert recent is not None
    assert (left.outcomes, left.outcome) == (["resolved_by_bot"], "resolved_by_bot")
    assert recent.outcome is None  # idle 22 minutes: not yet

    clock.now = _at(T0 + 51 * 60)
    assert make_consumer().run_once().abandoned == 1


def test_missing_event_log_reads_as_empty_and_is_not_created(
    make_consumer: MakeConsumer, events_path: Path
) -> None:
    stats = make_consumer().run_once()

    assert (stats.rows, stats.position) == (0, 0)
    assert not events_path.exists()


def test_tracker_store_shaped_table_is_read_too(
    make_consumer: MakeConsumer, events_path: Path, sessions: sessionmaker[Session]
) -> None:
    write_event_log(events_path, _conversations(), shape="tracker")

    stats = make_consumer().run_once()

    assert (stats.events, stats.messages) == (17, 4)


def test_unreadable_row_is_passed_over(
    make_consumer: MakeConsumer, events_path: Path, sessions: sessionmaker[Session]
) -> None:
    write_event_log(events_path, [("c", user("hi", "greet", ts=T0))])
    with sqlite3.connect(events_path) as conn:
        conn.execute("INSERT INTO events (sender_id, data) VALUES ('c', '{not json')")
        conn.execute(
            "INSERT INTO events (sender_id, data) VALUES (?, ?)",
            ("c", json.dumps(user("bye", "goodbye", ts=T0 + 1))),
        )
    conn.close()

    stats = make_consumer().run_once()

    assert (stats.rows, stats.invalid, stats.messages, stats.position) == (3, 1, 2, 3)


def test_verified_id_of_unknown_customer_is_not_kept(
    make_consumer: MakeConsumer, events_path: Path, sessions: sessionmaker[Session]
) -> None:
    metadata = identity_metadata(99999, SECRET)
    write_event_log(events_path, [("c", user("hi", "greet", ts=T0, metadata=metadata))])

    make_consumer().run_once()

    with sessions() as session:
        conversation = session.get(ConversationOutcome, "c")
    assert conversation is not None
    assert conversation.customer_id is None


def test_follow_sleeps_only_when_idle(
    make_consumer: MakeConsumer, events_path: Path
) -> None:
    write_event_log(events_path, [("c", user("hi", "greet", ts=T0))])
    sleeps: list[float] = []

    make_consumer().follow(poll_seconds=0.5, max_passes=2, sleep=sleeps.append)

    assert sleeps == [0.5]  # the first pass found an event, the second none


def test_abandon_window_comes_from_settings(make_consumer: MakeConsumer) -> None:
    assert make_consumer().abandon_after == timedelta(minutes=30)
