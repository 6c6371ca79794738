"""Two feedback consumers on one SQLite store and one event log, at the same time.

``make run`` follows the log while ``make retrain`` makes a pass of its own; SQLite
takes no row lock, so both may write the first offset or cursor rows.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from crm_models.feedback import consumer as consumer_module
from crm_models.feedback.consumer import FeedbackConsumer
from crm_models.feedback.event_log import RawEvent
from crm_models.settings import Settings
from crm_models.store.db import make_engine
from crm_models.store.schema import ConversationOutcome, MessageLog
from tests.crm_models.feedback.rasa_events import two_conversations, write_event_log
from tests.crm_models.feedback.support import FakeClock, make_settings, seed_customers


def _state(sessions: sessionmaker[Session]) -> dict[str, Any]:
    with sessions() as session:
        return {
            "messages": sorted(
                (m.event_key, m.conversation_id, m.text_masked, m.next_action)
                for m in session.scalars(select(MessageLog))
            ),
            "outcomes": sorted(
                (c.conversation_id, c.customer_id, c.n_user_messages, c.n_fallbacks,
                 c.outcomes, c.handle_seconds, c.paused_seconds)
                for c in session.scalars(select(ConversationOutcome))
            ),
        }  # fmt: skip


def _own_consumer(settings: Settings, clock: FakeClock, batch_size: int) -> Any:
    """A consumer with its own engine on the store, as another process has."""
    consumer = FeedbackConsumer.from_settings(settings, batch_size=batch_size)
    consumer.sessions = sessionmaker(
        make_engine(settings.database_url), expire_on_commit=False
    )
    consumer.clock = clock
    return consumer


def _clean_state(tmp_path: Path, clock: FakeClock) -> dict[str, Any]:
    """The same log consumed by one consumer alone, into a fresh store."""
    clean = FeedbackConsumer.from_settings(
        make_settings(tmp_path, database_url=f"sqlite:///{tmp_path / 'clean.db'}")
    )
    clean.clock = clock
    seed_customers(clean.sessions)
    clean.run_once()
    return _state(clean.sessions)


@pytest.mark.parametrize("batch_size", [500, 3, 1])
def test_two_consumers_racing_apply_every_event_once(
    settings: Settings,
    sessions: sessionmaker[Session],
    events_path: Path,
    clock: FakeClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    batch_size: int,
) -> None:
    write_event_log(events_path, two_conversations())
    consumers = [_own_consumer(settings, clock, batch_size) for _ in range(2)]
    start_together = threading.Barrier(2, timeout=30)
    errors: list[BaseException] = []
    stats = []

    def run(consumer: FeedbackConsumer) -> None:
        try:
            start_together.wait()
            stats.append(consumer.run_once())
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in consumers]
    with caplog.at_level(logging.INFO, logger=consumer_module.__name__):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    for consumer in consumers:
        consumer.event_log.close()

    assert errors == []
    assert len(stats) == 2
    assert sum(s.events for s in stats) == 17  # each event applied by one of them
    assert "gave_up" not in caplog.text
    assert _state(sessions) == _clean_state(tmp_path, clock)


def test_offset_inserted_by_another_consumer_meanwhile_is_retried(
    settings: Settings,
    sessions: sessionmaker[Session],
    events_path: Path,
    clock: FakeClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The other consumer runs between this one's offset read and its commit.

    As on a store whose row lock cannot guard the missing first offset row
    (PostgreSQL's ``FOR UPDATE`` finds nothing to lock), so the write lock that
    SQLite gets is left out for the first consumer.
    """
    write_event_log(events_path, two_conversations())
    first = _own_consumer(settings, clock, 500)
    other = _own_consumer(settings, clock, 500)
    monkeypatch.setattr(first, "_lock_for_writing", lambda session: None)
    real_read = first.event_log.read_batch
    other_stats = []

    def read_batch(position: int, limit: int) -> list[RawEvent]:
        if not other_stats:  # the first read: the offset row is still missing
            other_stats.append(other.run_once())
        return real_read(position, limit)

    monkeypatch.setattr(first.event_log, "read_batch", read_batch)
    with caplog.at_level(logging.INFO, logger=consumer_module.__name__):
        stats = first.run_once()
    first.event_log.close()
    other.event_log.close()

    assert "feedback.consumer.conflict attempt=1" in caplog.text
    assert "gave_up" not in caplog.text
    assert (other_stats[0].events, stats.events) == (17, 0)
    assert stats.position == 17
    assert _state(sessions) == _clean_state(tmp_path, clock)


def test_a_conflict_that_keeps_coming_ends_the_pass_with_one_log_line(
    make_consumer: Any,
    events_path: Path,
    sessions: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_event_log(events_path, two_conversations())
    attempts = {"n": 0}

    def conflicting(
        self: FeedbackConsumer, rows: Sequence[RawEvent], **kwargs: Any
    ) -> Any:
        attempts["n"] += 1
        raise IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed"))

    monkeypatch.setattr(FeedbackConsumer, "_apply_batch", conflicting)
    with caplog.at_level(logging.INFO, logger=consumer_module.__name__):
        stats = make_consumer().run_once()

    assert (stats.rows, stats.events, stats.parked) == (0, 0, 0)
    # The batch, then its first event alone: nothing read, so nothing to park.
    assert attempts["n"] == 2 * consumer_module.MAX_CONFLICT_ATTEMPTS
    gave_up = [r for r in caplog.records if "feedback.consumer.gave_up" in r.message]
    assert len(gave_up) == 1
    assert gave_up[0].levelno == logging.WARNING
    assert all(r.exc_info is None for r in caplog.records)

    monkeypatch.undo()
    assert make_consumer().run_once().events == 17  # the next pass catches up
