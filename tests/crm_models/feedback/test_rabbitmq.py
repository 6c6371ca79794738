"""The feedback consumer on a RabbitMQ queue of Rasa's pika event broker.

Every test uses its own exchange and queue on the real broker at 127.0.0.1:5672.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from crm_models.errors import ConfigError
from crm_models.feedback.consumer import (
    CONSUMED_RETENTION,
    FeedbackConsumer,
    content_key,
)
from crm_models.feedback.event_log import EventSourceUnavailable
from crm_models.feedback.rabbitmq import RabbitEventSource, redact_url
from crm_models.settings import ROOT, Settings
from crm_models.store.schema import (
    ConsumedEvent,
    ConversationOutcome,
    MessageLog,
    ParkedEvent,
)
from tests.crm_models.feedback.rabbit_support import (
    AMQP_URL,
    TestBroker,
    close_connections_named,
)
from tests.crm_models.feedback.rasa_events import (
    HANDOFF_NEXT,
    T0,
    action,
    handoff_conversation,
    two_conversations,
    user,
    write_event_log,
)
from tests.crm_models.feedback.support import (
    FakeClock,
    break_message,
    make_settings,
    seed_customers,
)

pytestmark = pytest.mark.rabbitmq

MakeConsumer = Callable[..., FeedbackConsumer]


def _snapshot(sessions: sessionmaker[Session]) -> dict[str, Any]:
    """The feedback rows, without the idempotency keys (they differ by source)."""
    with sessions() as session:
        return {
            "messages": [
                (m.conversation_id, m.sent_at, m.text_masked, m.intent, m.confidence,
                 m.runner_up, m.runner_up_confidence, m.entities, m.next_action)
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


def _sql_snapshot(
    tmp_path: Path, rows: list[tuple[str, dict[str, Any]]], clock: FakeClock
) -> dict[str, Any]:
    """The same events through the SQL event log, into a store of their own."""
    folder = tmp_path / "via-sql"
    folder.mkdir()
    settings = make_settings(folder)
    write_event_log(folder / "events.db", rows)
    consumer = FeedbackConsumer.from_settings(settings)
    consumer.clock = clock
    seed_customers(consumer.sessions)
    consumer.run_once()
    return _snapshot(consumer.sessions)


def _count(sessions: sessionmaker[Session], column: Any) -> int:
    with sessions() as session:
        return session.scalar(select(func.count(column))) or 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_events_from_rabbitmq_land_as_from_the_sql_log(
    make_rabbit_consumer: MakeConsumer,
    broker: TestBroker,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    clock: FakeClock,
) -> None:
    rows = two_conversations()
    broker.publish_all(rows)

    stats = make_rabbit_consumer().run_once()

    assert (stats.rows, stats.events, stats.messages, stats.invalid) == (17, 17, 4, 0)
    assert _snapshot(sessions) == _sql_snapshot(tmp_path, rows, clock)
    expected_keys = {
        content_key(sender, {"sender_id": sender, **e}) for sender, e in rows
    }
    with sessions() as session:
        assert set(session.scalars(select(ConsumedEvent.event_key))) == expected_keys
        message_keys = set(session.scalars(select(MessageLog.event_key)))
    assert len(message_keys) == 4
    assert message_keys < expected_keys
    assert broker.ready() == 0


def test_batch_committed_but_not_acknowledged_is_applied_once(
    make_rabbit_consumer: MakeConsumer,
    broker: TestBroker,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = two_conversations()
    broker.publish_all(rows)
    consumer = make_rabbit_consumer(batch_size=5)
    # The first batch commits, then the acknowledgement is lost (as in a crash
    # between the two) and the connection drops: the broker delivers it again.
    monkeypatch.setattr(consumer.event_log, "acknowledge", lambda rows: None)
    first = consumer.consume_batch()
    consumer.event_log.close()
    monkeypatch.undo()

    again = consumer.run_once()

    assert (first.events, first.messages) == (5, 1)
    assert (again.rows, again.skipped, again.events) == (17, 5, 12)
    assert _count(sessions, ConsumedEvent.event_key) == 17
    assert _snapshot(sessions) == _sql_snapshot(tmp_path, rows, clock)
    assert broker.ready() == 0


def test_consumed_keys_are_forgotten_after_the_retention_and_not_before(
    make_rabbit_consumer: MakeConsumer,
    broker: TestBroker,
    sessions: sessionmaker[Session],
    clock: FakeClock,
) -> None:
    rows = two_conversations()
    broker.publish_all(rows[:5])
    consumer = make_rabbit_consumer()
    consumer.run_once()  # the first pass prunes nothing: nothing is old yet
    clock.now += CONSUMED_RETENTION - timedelta(minutes=1)
    broker.publish_all(rows[5:])
    consumer.run_once()  # its prune finds nothing a week old yet

    assert _count(sessions, ConsumedEvent.event_key) == 17
    assert consumer.prune_consumed() == 0  # still throttled
    clock.now += timedelta(hours=2)  # the first 5 keys are now past the retention
    assert consumer.prune_consumed() == 5
    assert _count(sessions, ConsumedEvent.event_key) == 12
    clock.now += CONSUMED_RETENTION
    consumer.run_once()  # a pass prunes by itself once the hour is over
    assert _count(sessions, ConsumedEvent.event_key) == 0
    assert _count(sessions, MessageLog.id) == 4  # the feedback itself stays


def test_a_message_that_cannot_be_applied_is_parked_acknowledged_and_not_retried(
    make_rabbit_consumer: MakeConsumer,
    broker: TestBroker,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = two_conversations()
    break_message(monkeypatch, "what's the weather")
    broker.publish_all(rows)
    consumer = make_rabbit_consumer(batch_size=8)
    stats = consumer.run_once()
    broker.publish_all(rows[6:7])  # the same message delivered again
    again = consumer.run_once()

    with sessions() as session:
        parked = session.scalars(select(ParkedEvent)).all()
        texts = session.scalars(select(MessageLog.text_masked)).all()
    assert (stats.rows, stats.parked, stats.messages) == (17, 1, 3)
    assert (again.rows, again.skipped, again.parked) == (1, 1, 0)
    assert [json.loads(p.data)["text"] for p in parked] == ["what's the weather"]
    assert "what's the weather" not in texts
    assert _count(sessions, ConsumedEvent.event_key) == 17  # the parked one too
    assert broker.ready() == 0  # acknowledged: the queue is not held up
    monkeypatch.undo()  # the cause is fixed: replaying applies it once
    assert consumer.replay_parked() == (1, 0)
    assert _count(sessions, ParkedEvent.id) == 0
    assert _count(sessions, MessageLog.id) == 4
    assert _count(sessions, ConsumedEvent.event_key) == 17


def test_hand_off_answered_in_later_batches_with_a_lost_ack_lands_as_via_sql(
    make_rabbit_consumer: MakeConsumer,
    broker: TestBroker,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = handoff_conversation()
    broker.publish_all(rows)
    consumer = make_rabbit_consumer(batch_size=3)
    consumer.consume_batch()
    # The second batch ("hello? anyone" among them) commits, its acknowledgement is
    # lost and the connection drops: it comes back and must change nothing.
    monkeypatch.setattr(consumer.event_log, "acknowledge", lambda rows: None)
    consumer.consume_batch()
    consumer.event_log.close()
    monkeypatch.undo()

    again = consumer.run_once()

    assert (again.skipped, again.events) == (3, len(rows) - 6)
    with sessions() as session:
        next_actions = list(
            session.scalars(select(MessageLog.next_action).order_by(MessageLog.sent_at))
        )
    assert next_actions == HANDOFF_NEXT
    assert _snapshot(sessions) == _sql_snapshot(tmp_path, rows, clock)


def test_event_published_twice_counts_once(
    make_rabbit_consumer: MakeConsumer,
    broker: TestBroker,
    sessions: sessionmaker[Session],
) -> None:
    fallback = action("action_default_fallback", ts=T0 + 2)
    rows = [
        ("c", user("where is my parcel", "track_order", ts=T0 + 1)),
        ("c", fallback),
        # Rasa publishes the same event again (e.g. its unpublished-message queue
        # after a reconnect): same JSON, other spacing on the wire.
        ("c", fallback),
    ]
    broker.publish_all(rows)
    broker.publish_raw(
        json.dumps({"sender_id": "c", **fallback}, indent=2, sort_keys=True).encode()
    )

    stats = make_rabbit_consumer().run_once()

    with sessions() as session:
        conversation = session.get(ConversationOutcome, "c")
    assert (stats.rows, stats.events, stats.skipped) == (4, 2, 2)
    assert conversation is not None
    assert (conversation.n_user_messages, conversation.n_fallbacks) == (1, 1)


def test_a_broker_pausing_mid_stream_does_not_end_the_pass_early(
    make_rabbit_consumer: MakeConsumer,
    broker: TestBroker,
) -> None:
    broker.publish_all(("c", user(f"hi {i}", "greet", ts=T0 + i)) for i in range(250))
    consumer = make_rabbit_consumer(batch_size=100)
    # Every pause counts as "quiet" and the batch time is up at once: only the
    # broker's count of ready messages keeps the batches full.
    consumer.event_log.idle_seconds = 0.0
    consumer.event_log.max_wait_seconds = 0.0

    stats = consumer.run_once()

    assert (stats.rows, stats.events) == (250, 250)
    assert broker.ready() == 0


def test_malformed_messages_are_counted_acked_and_not_logged(
    make_rabbit_consumer: MakeConsumer,
    broker: TestBroker,
    sessions: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "card 4111 1111 1111 1111"
    broker.publish_raw(b"\xff\xfe not utf-8")
    broker.publish_raw(f"not json: {secret}".encode())
    broker.publish_raw(json.dumps([secret]).encode())  # JSON, not an object
    broker.publish_raw(json.dumps({"event": "user", "text": secret}).encode())
    broker.publish_raw(json.dumps({"sender_id": 7, "text": secret}).encode())
    # Valid JSON, but a lone surrogate no database column can store.
    broker.publish_raw(b'{"sender_id": "c", "event": "user", "text": "4111 \\ud800"}')
    broker.publish_raw(b"[" * 100_000 + b"]" * 100_000)  # deeper than Python recurses
    broker.publish("c", user("hi", "greet", ts=T0))
    consumer = make_rabbit_consumer()

    with caplog.at_level(logging.DEBUG, logger="crm_models"):
        stats = consumer.run_once()
    consumer.event_log.close()  # anything unacknowledged would be back in the queue

    assert (stats.rows, stats.invalid, stats.events, stats.messages) == (8, 7, 1, 1)
    assert broker.ready() == 0
    invalid = [r for r in caplog.records if "invalid_row" in r.getMessage()]
    assert len(invalid) == 7
    assert all("4111" not in r.getMessage() for r in caplog.records)


def test_unreachable_broker_names_url_without_password() -> None:
    port = _free_port()  # nothing listens there
    source = RabbitEventSource(
        f"amqp://shop:s3cret-pw@127.0.0.1:{port}/%2F", queue="q", exchange="x"
    )

    with pytest.raises(EventSourceUnavailable) as caught:
        source.read_batch(0, 10)

    message = str(caught.value)
    assert f"amqp://shop:***@127.0.0.1:{port}/%2F" in message
    assert "s3cret-pw" not in message
    assert "ConnectionRefused" in message


def test_command_line_exits_with_a_clear_error_when_it_cannot_connect(
    tmp_path: Path,
) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "SHOP_VAR_DIR": str(tmp_path),
        "SHOP_IDENTITY_SECRET": "x",
        "SHOP_RASA_TOKEN": "x",
        "SHOP_EVENT_LOG_URL": f"amqp://shop:s3cret-pw@127.0.0.1:{port}/%2F",
    }

    done = subprocess.run(
        [sys.executable, "-m", "crm_models.feedback.consumer", "--once"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 2
    assert f"cannot reach RabbitMQ at amqp://shop:***@127.0.0.1:{port}/%2F" in (
        done.stderr
    )
    assert "s3cret-pw" not in done.stderr + done.stdout


def test_wrong_password_is_a_config_error_naming_the_user(broker: TestBroker) -> None:
    source = RabbitEventSource(
        AMQP_URL.replace("guest:guest", "guest:wrong-pw"),
        queue=broker.queue,
        exchange=broker.exchange,
    )

    with pytest.raises(
        ConfigError, match="refused the login of user 'guest'"
    ) as caught:
        source.read_batch(0, 10)

    assert "wrong-pw" not in str(caught.value)


def test_queue_declared_differently_is_a_config_error(broker: TestBroker) -> None:
    # The broker knows the exchange as fanout; a direct one of that name is refused.
    source = RabbitEventSource(AMQP_URL, queue=broker.queue, exchange="amq.direct")

    with pytest.raises(ConfigError, match="SHOP_EVENT_EXCHANGE"):
        source.read_batch(0, 10)


def test_follow_reconnects_after_the_broker_drops_the_connection(
    make_rabbit_consumer: MakeConsumer,
    broker: TestBroker,
    sessions: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker.publish_all(
        ("before", user(f"hi {i}", "greet", ts=T0 + i)) for i in range(3)
    )
    consumer = make_rabbit_consumer()
    consumer.run_once()
    closed = close_connections_named(f"shop-feedback-consumer {broker.queue}")
    broker.publish_all(("after", user(f"hi {i}", "greet", ts=T0 + i)) for i in range(3))
    waits: list[float] = []

    with caplog.at_level(logging.INFO, logger="crm_models"):
        # Pass 1 finds the connection gone, pass 2 reconnects and reads.
        consumer.follow(max_passes=2, sleep=waits.append)

    assert closed == 1
    assert _count(sessions, MessageLog.id) == 6
    assert waits == [1.0]  # the first back-off
    errors = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.ERROR and r.name.startswith("crm_models")
    ]
    assert len(errors) == 1
    assert "source_unavailable" in errors[0]
    assert "amqp://guest:***@127.0.0.1:5672/%2F" in errors[0]
    assert any("source_back" in r.getMessage() for r in caplog.records)


def test_endpoints_production_and_consumer_read_the_same_names(tmp_path: Path) -> None:
    # Rasa expands ${VAR} from the environment; the consumer reads the same
    # variables through Settings, so both sides always agree.
    broker_config = yaml.safe_load(
        (ROOT / "endpoints.production.yml").read_text(encoding="utf-8")
    )["event_broker"]
    settings = Settings.from_env(
        {
            "SHOP_VAR_DIR": str(tmp_path),
            "SHOP_EVENT_QUEUE": "q1",
            "SHOP_EVENT_EXCHANGE": "x1",
        }
    )

    assert broker_config["type"] == "pika"
    assert broker_config["exchange_name"] == "${SHOP_EVENT_EXCHANGE}"
    assert broker_config["queues"] == ["${SHOP_EVENT_QUEUE}"]
    assert (settings.event_queue, settings.event_exchange) == ("q1", "x1")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        # password hidden, user kept
        ("amqp://shop:pw@mq:5672/%2F", "amqp://shop:***@mq:5672/%2F"),
        # no password: unchanged
        ("amqp://mq/%2F", "amqp://mq/%2F"),
        # a password with an @ in it (percent-encoded)
        ("amqps://u:p%40ss@mq:5671/v", "amqps://u:***@mq:5671/v"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
