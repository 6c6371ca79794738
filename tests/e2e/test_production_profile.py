"""The production profile run for real: ``endpoints.production.yml`` as shipped.

Rasa serves the promoted model with the file's PostgreSQL tracker store, Redis lock
store and RabbitMQ event broker (the values come from the environment, as in
production); the action server and the feedback consumer use a PostgreSQL CRM store.
Customers talk over the REST channel, the feedback consumer reads the queue, and the
message log, the outcomes and the trackers are checked in the databases.

Everything is this run's own and is removed at the end, whatever happened: two
databases (``shop_prod_e2e_<random>`` for the CRM store and ``..._tracker`` for
Rasa), an exchange and a queue on RabbitMQ, the servers, and the Redis lock keys of
this run's conversations (``lock:<conversation id>`` in the file's db, which nobody
else's conversation ids match). Other helpers' databases, queues and keys are never
touched.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.exceptions
import psycopg
import pytest
import redis
import yaml
from psycopg import sql
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from crm_models.store.db import make_engine
from crm_models.store.schema import (
    ConsumedEvent,
    ConversationOutcome,
    MessageLog,
    Order,
    OrderStatus,
    Ticket,
)
from crm_models.store.seed import seed_store
from tests.conftest import SEED_CUSTOMERS, SEED_DIR, SEED_TODAY
from tests.e2e.servers import ROOT, Stack, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

PRODUCTION_ENDPOINTS = ROOT / "endpoints.production.yml"
PG_HOST, PG_USER = "127.0.0.1", "postgres"
PG_ADMIN = f"host={PG_HOST} port=5432 user={PG_USER} dbname=postgres connect_timeout=5"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
RABBIT_HOST, RABBIT_USER, RABBIT_PASSWORD = "127.0.0.1", "guest", "guest"
AMQP_URL = f"amqp://{RABBIT_USER}:{RABBIT_PASSWORD}@{RABBIT_HOST}:5672/%2F"
LOCK_PREFIX = "lock:"  # Rasa's RedisLockStore key prefix (no key_prefix in the file)
PUBLISH_WAIT_SECONDS = 60
# The consumer's summary line (crm_models.feedback.consumer.FeedbackConsumer.run_once).
PASS_LINE = re.compile(
    r"feedback\.consumer\.pass rows=(?P<rows>\d+) events=(?P<events>\d+) "
    r"messages=(?P<messages>\d+) conversations=(?P<conversations>\d+) "
    r"skipped=(?P<skipped>\d+)"
)


@dataclass(frozen=True)
class PassFigures:
    """What one ``python -m crm_models.feedback.consumer --once`` reported."""

    rows: int = 0
    events: int = 0
    messages: int = 0
    conversations: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class SeededOrder:
    """A seeded order and its customer, as the PostgreSQL CRM store holds them."""

    customer_id: int
    first_name: str
    order_number: str
    tracking_code: str


class LockWatch:
    """Records the commands the Redis server runs on keys starting with ``prefix``.

    Uses ``MONITOR`` on a connection of its own: it only watches, so Rasa's lock
    store (which takes a conversation's lock and deletes it within one message)
    works as it would without it.
    """

    def __init__(self, prefix: str) -> None:
        self._needle = f'"{prefix}'.encode()  # MONITOR quotes every argument
        self.lines: list[str] = []
        self._stop = threading.Event()
        self._sock = socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=0.5)
        self._sock.sendall(b"MONITOR\r\n")
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        pending = b""
        while not self._stop.is_set():
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            *complete, pending = (pending + chunk).split(b"\r\n")
            self.lines.extend(
                line.decode("utf-8", "replace")
                for line in complete
                if self._needle in line
            )

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def commands(self, key: str) -> list[tuple[int, str]]:
        """``(db, command)`` of every command seen on exactly ``key``."""
        # A MONITOR line: +1700000000.123456 [1 127.0.0.1:5555] "SET" "key" "value"
        pattern = re.compile(rf'\[(\d+) [^\]]*\] "(\w+)" "{re.escape(key)}"')
        found = (pattern.search(line) for line in self.lines)
        return [(int(m.group(1)), m.group(2).upper()) for m in found if m]


@dataclass
class Production:
    """The running production profile of this test module and how to inspect it."""

    stack: Stack
    engine: Engine
    run_id: str
    tracker_db: str
    queue: str
    exchange: str
    redis_db: int
    start_seconds: float
    track: SeededOrder
    human: SeededOrder
    sent: dict[str, list[str]] = field(default_factory=dict)
    # The bot's messages in answer to each message sent, per conversation.
    replies: dict[str, list[list[dict[str, Any]]]] = field(default_factory=dict)
    passes: list[PassFigures] = field(default_factory=list)
    lock_watch: LockWatch | None = None

    def sender(self, name: str) -> str:
        """The conversation id of this run's conversation ``name``."""
        return f"prod-e2e-{self.run_id}-{name}"

    def say(self, name: str, text: str, customer: SeededOrder | None = None) -> None:
        """Send ``text`` in conversation ``name`` (signed as ``customer``, if any)."""
        customer_id = customer.customer_id if customer else None
        replies = self.stack.say(self.sender(name), text, customer_id=customer_id)
        self.sent.setdefault(name, []).append(text)
        self.replies.setdefault(name, []).append(replies)

    def session(self) -> Session:
        """A session on the PostgreSQL CRM store."""
        return Session(self.engine)

    def tracker_rows(self) -> list[tuple[str, str, dict[str, Any]]]:
        """``(sender_id, type_name, event)`` of every row of Rasa's tracker store."""
        with psycopg.connect(_pg_dsn(self.tracker_db)) as conn:
            rows = conn.execute(
                "SELECT sender_id, type_name, data FROM events ORDER BY id"
            ).fetchall()
        return [(sender, kind, json.loads(data)) for sender, kind, data in rows]

    def ready(self) -> int:
        """Messages waiting in this run's queue."""
        with pika.BlockingConnection(pika.URLParameters(AMQP_URL)) as connection:
            frame = connection.channel().queue_declare(self.queue, passive=True)
            return int(frame.method.message_count)

    def wait_until_published(self) -> int:
        """Wait until the queue holds every tracker event not consumed yet.

        Rasa publishes a message's events in the background after it answers; the
        events it published are the ones its tracker store saved.
        """
        deadline = time.monotonic() + PUBLISH_WAIT_SECONDS
        while True:
            with self.session() as session:
                consumed = session.scalar(select(func.count(ConsumedEvent.event_key)))
            pending = len(self.tracker_rows()) - consumed
            ready = self.ready()
            if ready == pending:
                return ready
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the queue holds {ready} events, the tracker store has {pending} "
                    f"not consumed yet (after {PUBLISH_WAIT_SECONDS} s)"
                )
            time.sleep(0.5)

    def consume(self) -> PassFigures:
        """Run the feedback consumer once, as an operator would; what it reported."""
        done = subprocess.run(
            [
                str(ROOT / ".venv" / "bin" / "python"),
                "-m",
                "crm_models.feedback.consumer",
                "--once",
            ],
            cwd=ROOT,
            env=self.stack.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        match = PASS_LINE.search(done.stderr)
        # A pass that read nothing logs its summary at DEBUG only.
        figures = (
            PassFigures(**{k: int(v) for k, v in match.groupdict().items()})
            if match
            else PassFigures()
        )
        self.passes.append(figures)
        return figures

    def snapshot(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int]:
        """The message log, the outcomes and the number of consumed events."""
        with self.session() as session:
            messages = session.execute(
                select(
                    MessageLog.event_key,
                    MessageLog.conversation_id,
                    MessageLog.text_masked,
                    MessageLog.intent,
                ).order_by(MessageLog.id)
            ).all()
            outcomes = session.execute(
                select(
                    ConversationOutcome.conversation_id,
                    ConversationOutcome.customer_id,
                    ConversationOutcome.n_user_messages,
                    ConversationOutcome.n_fallbacks,
                    ConversationOutcome.outcomes,
                    ConversationOutcome.outcome,
                ).order_by(ConversationOutcome.conversation_id)
            ).all()
            consumed = session.scalar(select(func.count(ConsumedEvent.event_key)))
        return [tuple(m) for m in messages], [tuple(o) for o in outcomes], consumed


def _pg_dsn(database: str) -> str:
    return f"host={PG_HOST} port=5432 user={PG_USER} dbname={database}"


def _admin(statement: sql.Composable) -> None:
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(statement)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable on {PG_HOST}:5432 (user {PG_USER}, trust "
            f"auth): {exc}. Start it with scripts/check_services.sh, or deselect "
            "these tests with -m 'not postgres'.",
            pytrace=False,
        )


def _create_database(name: str) -> None:
    _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _drop_database(name: str) -> None:
    _admin(
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    )


def _delete_queue_and_exchange(queue: str, exchange: str) -> None:
    """Delete this run's queue and exchange; one that was never declared is fine."""
    with pika.BlockingConnection(pika.URLParameters(AMQP_URL)) as connection:
        # A channel each: the broker closes a channel whose command it refuses.
        with contextlib.suppress(pika.exceptions.ChannelClosedByBroker):
            connection.channel().queue_delete(queue)
        with contextlib.suppress(pika.exceptions.ChannelClosedByBroker):
            connection.channel().exchange_delete(exchange)


def _delete_lock_keys(db: int, prefix: str) -> None:
    """Delete this run's lock keys (``prefix`` is unique to the run)."""
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def _check_broker_and_redis() -> None:
    """Fail with a clear message when RabbitMQ or Redis is down."""
    try:
        pika.BlockingConnection(pika.URLParameters(AMQP_URL)).close()
        with redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_timeout=5) as client:
            client.ping()
    except (pika.exceptions.AMQPError, redis.RedisError) as exc:
        pytest.fail(
            f"RabbitMQ ({RABBIT_HOST}:5672) or Redis ({REDIS_HOST}:{REDIS_PORT}) is "
            f"not reachable: {exc!r}. Start them with scripts/check_services.sh.",
            pytrace=False,
        )


def _seeded_order(
    session: Session, status: OrderStatus, skip: int, *, rename: str = ""
) -> SeededOrder:
    """The ``skip``-th order in ``status`` (by id) that has a tracking code.

    ``rename`` replaces its customer's first name in the store (and commits).
    """
    orders = session.scalars(
        select(Order).where(Order.status == status).order_by(Order.id)
    ).all()
    tracked = [o for o in orders if o.shipment and o.shipment.tracking_code]
    assert len(tracked) > skip, f"the seed has too few {status} orders"
    order = tracked[skip]
    if rename:
        order.customer.name = " ".join([rename, *order.customer.name.split()[1:]])
        session.commit()
    return SeededOrder(
        customer_id=order.customer_id,
        first_name=order.customer.name.split()[0],
        order_number=order.order_number,
        tracking_code=order.shipment.tracking_code,
    )


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Production]:
    """The stack on the production profile after three conversations and one pass."""
    _check_broker_and_redis()
    run_id = secrets.token_hex(4)
    crm_db, tracker_db = f"shop_prod_e2e_{run_id}", f"shop_prod_e2e_{run_id}_tracker"
    names = f"shop-prod-e2e-{run_id}"  # the queue and the exchange
    profile = yaml.safe_load(PRODUCTION_ENDPOINTS.read_text(encoding="utf-8"))
    redis_db = int(profile["lock_store"]["db"])

    with contextlib.ExitStack() as cleanup:
        # Registered as soon as each thing exists; undone in reverse order.
        _create_database(crm_db)
        cleanup.callback(_drop_database, crm_db)
        _create_database(tracker_db)
        cleanup.callback(_drop_database, tracker_db)
        cleanup.callback(_delete_queue_and_exchange, names, names)
        cleanup.callback(_delete_lock_keys, redis_db, f"{LOCK_PREFIX}prod-e2e-{run_id}")

        crm_url = f"postgresql+psycopg://{PG_USER}@{PG_HOST}:5432/{crm_db}"
        engine = make_engine(crm_url)
        cleanup.callback(engine.dispose)
        seed_store(
            engine=engine,
            seed_dir=SEED_DIR,
            today=SEED_TODAY,
            n_customers=SEED_CUSTOMERS,
            random_seed=7,
        )
        with Session(engine) as session:
            # A first name that only this database holds, to see where it came from.
            track = _seeded_order(
                session, OrderStatus.SHIPPED, skip=0, rename=f"Pg{run_id}"
            )
            human = _seeded_order(session, OrderStatus.DELIVERED, skip=3)

        env = {
            # endpoints.production.yml, for Rasa
            "SHOP_PG_HOST": PG_HOST,
            "SHOP_PG_USER": PG_USER,
            "SHOP_PG_PASSWORD": "",  # trust authentication
            "SHOP_TRACKER_DB": tracker_db,
            "SHOP_REDIS_HOST": REDIS_HOST,
            "SHOP_RABBITMQ_HOST": RABBIT_HOST,
            "SHOP_RABBITMQ_USER": RABBIT_USER,
            "SHOP_RABBITMQ_PASSWORD": RABBIT_PASSWORD,
            # the same queue and exchange for Rasa and the feedback consumer
            "SHOP_EVENT_QUEUE": names,
            "SHOP_EVENT_EXCHANGE": names,
            "SHOP_EVENT_LOG_URL": AMQP_URL,
            # the CRM store, for the action server, the web app and the consumer
            "SHOP_DATABASE_URL": crm_url,
            "SHOP_TODAY": SEED_TODAY.isoformat(),
        }
        started = time.monotonic()
        stack = start_stack(
            tmp_path_factory.mktemp("production"),
            endpoints=PRODUCTION_ENDPOINTS,
            extra_env=env,
        )
        cleanup.callback(stack.stop)
        prod = Production(
            stack=stack,
            engine=engine,
            run_id=run_id,
            tracker_db=tracker_db,
            queue=names,
            exchange=names,
            redis_db=redis_db,
            start_seconds=time.monotonic() - started,
            track=track,
            human=human,
        )

        watch = LockWatch(f"{LOCK_PREFIX}{prod.sender('')}")
        cleanup.callback(watch.close)
        prod.lock_watch = watch
        prod.say("track", "hi there", customer=track)
        prod.say("track", f"where is my order {track.order_number}?", customer=track)
        prod.say("weather", "will it snow in Manchester on Sunday?")
        prod.say("greet", "good morning")
        published = prod.wait_until_published()
        first = prod.consume()
        print(  # the figures of this run, shown with pytest -s
            f"\nproduction profile: servers up in {prod.start_seconds:.0f} s, "
            f"{published} events published, first pass {first}"
        )
        yield prod
        print(f"\nproduction profile: consumer passes {prod.passes}")


def test_the_bot_answers_from_the_postgresql_crm_store(production: Production) -> None:
    track = production.track

    greeting, answer = (json.dumps(r) for r in production.replies["track"])

    assert track.first_name in greeting  # only the PostgreSQL store has this name
    assert track.order_number in answer
    assert track.tracking_code in answer


def test_the_trackers_are_in_the_postgresql_tracker_store(
    production: Production,
) -> None:
    rows = production.tracker_rows()

    for name in ("track", "weather", "greet"):
        sender = production.sender(name)
        user_texts = [
            event["text"] for s, kind, event in rows if s == sender and kind == "user"
        ]
        bot_turns = [e for s, kind, e in rows if s == sender and kind == "bot"]
        assert user_texts == production.sent[name], name
        assert bot_turns, name
    assert {s for s, _, _ in rows} <= {
        production.sender(n) for n in ("track", "weather", "greet", "human")
    }


def test_every_message_took_and_released_its_redis_lock(
    production: Production,
) -> None:
    assert production.lock_watch is not None

    with redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=production.redis_db) as db:
        for name in ("track", "weather", "greet"):
            key = f"{LOCK_PREFIX}{production.sender(name)}"
            seen = production.lock_watch.commands(key)
            # Rasa takes a conversation's lock for each message and deletes it when
            # nobody else waits for it.
            assert (production.redis_db, "SET") in seen, (name, seen)
            deleted = seen.count((production.redis_db, "DEL"))
            assert deleted == len(production.sent[name]), (name, seen)
            assert db.exists(key) == 0, name


def test_the_events_went_through_rabbitmq_to_the_consumer(
    production: Production,
) -> None:
    first = production.passes[0]
    phase_one = {production.sender(n) for n in ("track", "weather", "greet")}

    tracker_events = [r for r in production.tracker_rows() if r[0] in phase_one]

    # Every event the tracker store saved arrived once and was applied once.
    assert first.rows == first.events == len(tracker_events)
    assert (first.messages, first.conversations, first.skipped) == (4, 3, 0)


def test_the_message_log_holds_the_masked_messages(production: Production) -> None:
    track, weather, greet = (
        production.sender(n) for n in ("track", "weather", "greet")
    )

    with production.session() as session:
        rows = session.execute(
            select(
                MessageLog.conversation_id, MessageLog.text_masked, MessageLog.intent
            )
            .where(MessageLog.conversation_id.in_([track, weather, greet]))
            .order_by(MessageLog.conversation_id, MessageLog.sent_at)
        ).all()

    by_conversation: dict[str, list[tuple[str, str | None]]] = {}
    for conversation_id, text, intent in rows:
        by_conversation.setdefault(conversation_id, []).append((text, intent))
    assert by_conversation[track] == [
        ("hi there", "greet"),
        ("where is my order [ORDER]?", "track_order"),
    ]
    assert by_conversation[weather] == [
        ("will it snow in Manchester on Sunday?", "out_of_scope")
    ]
    assert by_conversation[greet] == [("good morning", "greet")]
    assert not any(production.track.order_number in text for _, text, _ in rows)


def test_each_conversation_has_its_outcome(production: Production) -> None:
    with production.session() as session:
        outcomes = {
            o.conversation_id: o
            for o in session.scalars(
                select(ConversationOutcome).where(
                    ConversationOutcome.conversation_id.like(
                        f"prod-e2e-{production.run_id}-%"
                    )
                )
            )
        }

    track = outcomes[production.sender("track")]
    assert track.outcome == "resolved_by_bot"
    assert track.customer_id == production.track.customer_id  # signed identity
    assert (track.n_user_messages, track.n_fallbacks) == (2, 0)
    weather = outcomes[production.sender("weather")]
    assert weather.outcome == "out_of_scope"
    assert weather.customer_id is None
    assert (weather.n_user_messages, weather.n_fallbacks) == (1, 1)
    greet = outcomes[production.sender("greet")]
    # Nothing achieved; abandoned only after 30 idle minutes of the consumer's clock.
    assert greet.outcome is None
    assert (greet.n_user_messages, greet.n_fallbacks) == (1, 0)


def test_later_passes_count_nothing_twice(production: Production) -> None:
    before_messages, before_outcomes, before_consumed = production.snapshot()

    idle = production.consume()
    after_idle = production.snapshot()

    production.say("human", "I want to talk to a real person", production.human)
    published = production.wait_until_published()
    second = production.consume()
    messages, outcomes, consumed = production.snapshot()
    third = production.consume()

    assert idle == PassFigures()
    assert after_idle == (before_messages, before_outcomes, before_consumed)
    human = production.sender("human")
    # Only the new conversation's events were read and applied, each once.
    assert second.rows == second.events == published > 0
    assert second.skipped == 0
    assert consumed == before_consumed + published
    assert messages[: len(before_messages)] == before_messages
    assert [(m[1], m[3]) for m in messages[len(before_messages) :]] == [
        (human, "contact_human_agent")
    ]
    assert len({m[0] for m in messages}) == len(messages)  # no event key twice
    assert [o for o in outcomes if o[0] != human] == before_outcomes
    assert [o[1:] for o in outcomes if o[0] == human] == [
        (production.human.customer_id, 1, 0, ["ticket_opened"], "ticket_opened")
    ]
    with production.session() as session:
        tickets = session.scalars(
            select(Ticket).where(Ticket.conversation_id == human)
        ).all()
    assert [t.customer_id for t in tickets] == [production.human.customer_id]
    assert third == PassFigures()
    assert production.snapshot() == (messages, outcomes, consumed)
