from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from crm_models.errors import DataError, NotFoundError
from crm_models.feedback import consumer as consumer_module
from crm_models.feedback.consumer import FeedbackConsumer, event_key
from crm_models.identity import identity_metadata
from crm_models.store.schema import (
    ConsumerOffset,
    ConversationOutcome,
    MessageLog,
    ParkedEvent,
)
from tests.crm_models.feedback.rasa_events import (
    HANDOFF_NEXT,
    T0,
    action,
    bot,
    handoff_conversation,
    slot,
    two_conversations,
    user,
    write_event_log,
)
from tests.crm_models.feedback.support import (
    SECRET,
    FakeClock,
    break_message,
    make_settings,
    seed_customers,
)

MakeConsumer = Callable[..., FeedbackConsumer]


def _snapshot(sessions: sessionmaker[Session]) -> dict[str, Any]:
    with sessions() as session:
        return {
            "messages": [
                (m.event_key, m.conversation_id, m.sent_at, m.text_masked, m.intent,
                 m.confidence, m.runner_up, m.runner_up_confidence, m.entities,
                 m.next_action)
                for m in session.scalars(select(MessageLog).order_by(MessageLog.id))
            ],
            "outcomes": [
                (c.conversation_id, c.customer_id, c.started_at, c.last_event_at,
                 c.n_user_messages, c.n_fallbacks, c.outcomes, c.outcome,
                 c.handle_seconds, c.paused_seconds, c.paused_since)
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
    write_event_log(events_path, two_conversations())

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
    write_event_log(events_path, two_conversations())
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
    write_event_log(events_path, two_conversations())
    real_add_message = consumer_module.BatchWriter.add_message
    calls = {"n": 0}

    def failing_add_message(self: Any, *args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # the third message, inside the second batch of 8
            raise OperationalError("INSERT", {}, Exception("database or disk is full"))
        real_add_message(self, *args, **kwargs)

    monkeypatch.setattr(consumer_module.BatchWriter, "add_message", failing_add_message)
    with pytest.raises(OperationalError, match="disk is full"):
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


def test_an_event_that_cannot_be_applied_is_parked_and_the_rest_flows(
    make_consumer: MakeConsumer,
    events_path: Path,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_event_log(events_path, two_conversations())
    break_message(monkeypatch, "what's the weather")  # row 7, a bug's victim
    consumer = make_consumer(batch_size=8)

    stats = consumer.run_once()
    again = consumer.run_once()

    with sessions() as session:
        texts = session.scalars(select(MessageLog.text_masked)).all()
        parked = session.scalars(select(ParkedEvent)).all()
        offset = session.get(ConsumerOffset, consumer.event_log.source)
    assert (stats.rows, stats.parked) == (17, 1)
    assert again.rows == 0  # the parked event is not retried
    assert texts == ["hi there", "cancel order #[ORDER], mail me at [EMAIL]", "asdfgh"]
    assert len(parked) == 1
    assert parked[0].position == 7
    assert parked[0].sender_id == "conv-b"
    assert parked[0].error == "ValueError: cannot apply this one"
    assert json.loads(parked[0].data)["text"] == "what's the weather"
    assert offset is not None
    assert offset.position == 17
    assert "1 parked event(s)" in consumer_module.format_parked(sessions)


def test_an_event_breaking_a_constraint_is_parked_without_its_data(
    make_consumer: MakeConsumer,
    events_path: Path,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_event_log(events_path, two_conversations())
    constraint = IntegrityError(
        "INSERT INTO message_log ...",
        {"text_masked": "jo@example.com"},
        Exception("NOT NULL constraint failed: message_log.intent\nDETAIL: jo"),
    )
    break_message(monkeypatch, "what's the weather", constraint)

    stats = make_consumer(batch_size=8).run_once()

    with sessions() as session:
        parked = session.scalars(select(ParkedEvent)).one()
        n_messages = len(session.scalars(select(MessageLog)).all())
    assert (stats.rows, stats.parked, n_messages) == (17, 1, 3)
    assert parked.error == (
        "IntegrityError: NOT NULL constraint failed: message_log.intent"
    )


def test_a_second_consumer_parking_first_makes_no_healthy_event_parked(
    make_consumer: MakeConsumer,
    events_path: Path,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_event_log(events_path, two_conversations())
    break_message(monkeypatch, "what's the weather")
    first, second = make_consumer(batch_size=8), make_consumer(batch_size=8)
    park = first._park

    def second_goes_first(row: Any, error: Exception) -> bool:
        second.run_once()  # parks row 7 and applies everything after it
        return park(row, error)

    monkeypatch.setattr(first, "_park", second_goes_first)
    stats = first.run_once()

    with sessions() as session:
        parked = [p.position for p in session.scalars(select(ParkedEvent))]
        n_messages = len(session.scalars(select(MessageLog)).all())
    assert parked == [7]
    assert n_messages == 3
    assert stats.parked == 0


@pytest.fixture
def parked_once(
    make_consumer: MakeConsumer, events_path: Path, monkeypatch: pytest.MonkeyPatch
) -> FeedbackConsumer:
    """A consumer that has parked row 7 ("what's the weather"), still broken;
    ``monkeypatch.undo()`` mends it."""
    write_event_log(events_path, two_conversations())
    break_message(monkeypatch, "what's the weather")
    consumer = make_consumer(batch_size=8)
    consumer.run_once()
    return consumer


def test_parked_events_are_replayed_once_their_cause_is_fixed(
    parked_once: FeedbackConsumer,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer = parked_once
    still_broken = consumer.replay_parked()
    with sessions() as session:
        kept = session.scalars(select(ParkedEvent)).one()
    monkeypatch.undo()
    mended = consumer.replay_parked([kept.id])
    again = consumer.replay_parked()

    with sessions() as session:
        texts = session.scalars(select(MessageLog.text_masked)).all()
        left = session.scalars(select(ParkedEvent)).all()
    assert (still_broken, mended, again) == ((0, 1), (1, 0), (0, 0))
    assert kept.error == "ValueError: cannot apply this one"
    assert "what's the weather" in texts
    assert left == []
    assert consumer.run_once().rows == 0  # the log itself is not read again


def test_parked_events_can_be_discarded_and_unknown_ones_are_refused(
    parked_once: FeedbackConsumer, sessions: sessionmaker[Session]
) -> None:
    consumer = parked_once
    with sessions() as session:
        parked_id = session.scalars(select(ParkedEvent.id)).one()

    with pytest.raises(NotFoundError, match="no parked event 999"):
        consumer.replay_parked([parked_id, 999])
    with pytest.raises(NotFoundError, match="no parked event 999"):
        consumer.discard_parked([999])
    assert consumer.discard_parked([parked_id]) == 1
    assert consumer.replay_parked() == (0, 0)


def test_a_busy_store_is_retried_later_not_parked(
    make_consumer: MakeConsumer,
    events_path: Path,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_event_log(events_path, two_conversations())

    def locked(self: Any, *args: Any, **kwargs: Any) -> None:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(consumer_module.BatchWriter, "add_message", locked)
    with pytest.raises(OperationalError):
        make_consumer(batch_size=8).run_once()
    monkeypatch.undo()
    stats = make_consumer(batch_size=8).run_once()

    with sessions() as session:
        assert session.scalars(select(ParkedEvent)).all() == []
    assert (stats.rows, stats.parked, stats.messages) == (17, 0, 4)
    assert consumer_module.format_parked(sessions) == "no parked events"


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
    write_event_log(events_path, two_conversations(), shape="tracker")

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


def test_absurd_events_neither_stop_nor_stall_the_consumer(
    make_consumer: MakeConsumer,
    events_path: Path,
    sessions: sessionmaker[Session],
    clock: FakeClock,
) -> None:
    nested = "[" * 100_000 + "]" * 100_000
    too_early = {**user("when is it coming", "track_order", ts=T0), "timestamp": -1e17}
    long_text = user("x" * 1_000_000 + " mail me at jo@example.com", "greet", ts=T0)
    write_event_log(
        events_path,
        [("c", too_early), ("c", long_text), ("c", user("bye", "goodbye", ts=T0 + 9))],
    )
    with sqlite3.connect(events_path) as conn:
        conn.execute("INSERT INTO events (sender_id, data) VALUES ('c', ?)", (nested,))
    conn.close()

    stats = make_consumer().run_once()

    with sessions() as session:
        logged = session.scalars(select(MessageLog).order_by(MessageLog.id)).all()
    assert (stats.rows, stats.invalid, stats.parked, stats.messages) == (4, 1, 0, 3)
    assert logged[0].sent_at == clock.now  # no usable time of its own
    assert logged[1].text_masked.endswith("x [TRUNCATED]")
    assert len(logged[1].text_masked) < 4100


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


def _next_actions(sessions: sessionmaker[Session], conv_id: str) -> list[str | None]:
    with sessions() as session:
        return list(
            session.scalars(
                select(MessageLog.next_action)
                .where(MessageLog.conversation_id == conv_id)
                .order_by(MessageLog.sent_at, MessageLog.id)
            )
        )


def test_next_action_is_what_followed_each_message(
    make_consumer: MakeConsumer, events_path: Path, sessions: sessionmaker[Session]
) -> None:
    write_event_log(events_path, two_conversations())

    make_consumer().run_once()

    # "hi there" and the weather: a bot message with no action logged before it.
    assert _next_actions(sessions, "conv-a") == [
        "utter_x",
        "action_cancel_order",
        "action_default_fallback",
    ]
    assert _next_actions(sessions, "conv-b") == ["utter_x"]
    with sessions() as session:
        a = session.get(ConversationOutcome, "conv-a")
    assert a is not None
    # Paused at T0 + 12, resumed at T0 + 13.
    assert (a.handle_seconds, a.paused_seconds, a.paused_since) == (13.0, 1.0, None)


@pytest.mark.parametrize(
    "batch_size",
    [
        1,  # every answer in a later batch than its message
        4,  # some in the same batch, some later
        500,  # everything in one batch
    ],
)
def test_hand_off_next_actions_and_paused_time_across_batches(
    make_consumer: MakeConsumer,
    events_path: Path,
    sessions: sessionmaker[Session],
    batch_size: int,
) -> None:
    write_event_log(events_path, handoff_conversation())

    make_consumer(batch_size=batch_size).run_once()

    assert _next_actions(sessions, "conv-h") == HANDOFF_NEXT
    with sessions() as session:
        conversation = session.get(ConversationOutcome, "conv-h")
    assert conversation is not None
    assert conversation.handle_seconds == 601.0
    assert conversation.paused_seconds == 498.0  # T0 + 2 to the resume at T0 + 500
    assert conversation.paused_since is None
    assert conversation.outcome == "ticket_opened"


def test_still_paused_conversation_counts_paused_time_so_far(
    make_consumer: MakeConsumer, events_path: Path, sessions: sessionmaker[Session]
) -> None:
    # The hand-off conversation up to the agent's reply: still with the person.
    write_event_log(events_path, handoff_conversation()[:12])

    make_consumer(batch_size=3).run_once()

    # The agent's reply answered the last message; the one before went unanswered.
    assert _next_actions(sessions, "conv-h") == [
        "action_human_handoff",
        "paused",
        "agent",
    ]
    with sessions() as session:
        conversation = session.get(ConversationOutcome, "conv-h")
    assert conversation is not None
    assert conversation.paused_since == _at(T0 + 2)
    assert conversation.paused_seconds == 318.0  # to the agent's reply at T0 + 320


def test_message_with_no_answer_before_the_next_is_none(
    make_consumer: MakeConsumer, events_path: Path, sessions: sessionmaker[Session]
) -> None:
    write_event_log(
        events_path,
        [
            ("c", user("hi", "greet", ts=T0)),
            # Rasa crashed before it answered; the customer writes again.
            ("c", user("hello?", "greet", ts=T0 + 5)),
            ("c", action("action_extract_slots", ts=T0 + 5)),  # plumbing: not it
            ("c", action("action_listen", ts=T0 + 6)),  # predicted nothing to do
        ],
    )

    make_consumer().run_once()

    assert _next_actions(sessions, "c") == ["none", "action_listen"]


def test_answer_older_than_the_message_is_not_taken(
    make_consumer: MakeConsumer, events_path: Path, sessions: sessionmaker[Session]
) -> None:
    write_event_log(
        events_path,
        [
            ("c", user("hi", "greet", ts=T0 + 10)),
            ("c", bot("stale", ts=T0 + 2)),  # out of order: before the message
            ("c", action("utter_greet", ts=T0 + 11)),
        ],
    )

    make_consumer().run_once()

    assert _next_actions(sessions, "c") == ["utter_greet"]


def test_more_like_this_click_is_an_outcome(
    make_consumer: MakeConsumer, events_path: Path, sessions: sessionmaker[Session]
) -> None:
    click = '/product_recommendation{"product": "WHITE HANGING HEART T-LIGHT HOLDER"}'
    write_event_log(
        events_path,
        [
            ("c", user("a gift for my mum", "product_recommendation", ts=T0)),
            ("c", action("action_recommend_products", ts=T0 + 1)),
            ("c", slot("last_outcome", "recommendation_shown", ts=T0 + 1)),
            # The widget's "More like this" button sends the intent payload.
            ("c", user(click, "product_recommendation", 1.0, ts=T0 + 30)),
            ("c", action("action_recommend_products", ts=T0 + 31)),
            # Typed by the customer: not a click.
            ("d", user("more like the heart holder", "product_recommendation", ts=T0)),
            ("d", slot("last_outcome", "recommendation_shown", ts=T0 + 1)),
        ],
    )

    make_consumer().run_once()

    with sessions() as session:
        clicked = session.get(ConversationOutcome, "c")
        typed = session.get(ConversationOutcome, "d")
    assert clicked is not None
    assert typed is not None
    assert clicked.outcomes == ["recommendation_shown", "recommendation_clicked"]
    assert clicked.outcome == "recommendation_clicked"
    assert typed.outcomes == ["recommendation_shown"]


def test_crash_after_answering_in_a_later_batch_keeps_the_answer_out(
    make_consumer: MakeConsumer,
    events_path: Path,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_event_log(events_path, handoff_conversation())
    # Its batch has just marked "hello? anyone" as paused.
    full = OperationalError("INSERT", {}, Exception("database or disk is full"))
    break_message(monkeypatch, "my order is 536365", full)
    with pytest.raises(OperationalError, match="disk is full"):
        make_consumer(batch_size=2).run_once()

    # "hello? anyone" was committed by the batch before, still waiting.
    assert _next_actions(sessions, "conv-h") == ["action_human_handoff", None]

    monkeypatch.undo()
    make_consumer(batch_size=2).run_once()
    clean = FeedbackConsumer.from_settings(
        make_settings(tmp_path, database_url=f"sqlite:///{tmp_path / 'clean.db'}"),
        batch_size=500,
    )
    clean.clock = clock
    seed_customers(clean.sessions)
    clean.run_once()
    assert _next_actions(sessions, "conv-h") == HANDOFF_NEXT
    assert _snapshot(sessions) == _snapshot(clean.sessions)


@pytest.mark.parametrize(
    "argv",
    [
        ["--batch-size", "-5"],
        ["--batch-size", "0"],
        ["--poll-seconds", "0"],
        ["--batch-size", "x"],
    ],
)
def test_bad_numbers_on_the_command_line_are_refused(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        consumer_module.main(argv)

    assert exited.value.code == 2
    assert argv[0] in capsys.readouterr().err


def test_a_batch_size_below_one_is_refused(settings: Any) -> None:
    with pytest.raises(DataError, match="batch_size"):
        FeedbackConsumer.from_settings(settings, batch_size=0)
