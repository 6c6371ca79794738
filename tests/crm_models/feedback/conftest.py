from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pika
import pika.exceptions
import pytest
from sqlalchemy.orm import Session, sessionmaker

from crm_models.feedback.consumer import FeedbackConsumer
from crm_models.settings import Settings
from crm_models.store.db import session_factory
from tests.crm_models.feedback.rabbit_support import AMQP_URL, TestBroker
from tests.crm_models.feedback.support import FakeClock, make_settings, seed_customers


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "rabbitmq: uses the RabbitMQ server on 127.0.0.1:5672 (guest)"
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def sessions(settings: Settings) -> sessionmaker[Session]:
    factory = session_factory(settings.database_url)
    seed_customers(factory)
    return factory


@pytest.fixture
def events_path(settings: Settings) -> Path:
    return Path(settings.event_log_url.removeprefix("sqlite:///"))


@pytest.fixture
def clock() -> FakeClock:
    # Years after the events (T0 is 2023-11-14) unless a test moves it.
    return FakeClock(datetime(2030, 1, 1, tzinfo=timezone.utc))


@pytest.fixture
def make_consumer(
    settings: Settings, sessions: sessionmaker[Session], clock: FakeClock
) -> Callable[..., FeedbackConsumer]:
    def make(batch_size: int = 500) -> FeedbackConsumer:
        consumer = FeedbackConsumer.from_settings(settings, batch_size=batch_size)
        consumer.clock = clock
        return consumer

    return make


@pytest.fixture
def broker(request: pytest.FixtureRequest) -> Iterator[TestBroker]:
    """This test's own exchange and queue, declared as Rasa declares them."""
    try:
        test_broker = TestBroker(request.node.name[:40].replace("[", "-"))
    except pika.exceptions.AMQPError as exc:
        pytest.fail(
            f"RabbitMQ is not reachable at {AMQP_URL.replace(':guest@', ':***@')}: "
            f"{exc!r}. Start it with scripts/check_services.sh, or deselect these "
            "tests with -m 'not rabbitmq'.",
            pytrace=False,
        )
    yield test_broker
    test_broker.delete()


@pytest.fixture
def rabbit_settings(tmp_path: Path, broker: TestBroker) -> Settings:
    """Settings whose event log is ``broker``'s queue; the store under tmp_path."""
    return make_settings(
        tmp_path,
        event_log_url=AMQP_URL,
        event_queue=broker.queue,
        event_exchange=broker.exchange,
    )


@pytest.fixture
def make_rabbit_consumer(
    rabbit_settings: Settings, sessions: sessionmaker[Session], clock: FakeClock
) -> Iterator[Callable[..., FeedbackConsumer]]:
    """Consumers of ``broker``'s queue into the test's store; closed at the end."""
    made: list[FeedbackConsumer] = []

    def make(batch_size: int = 500) -> FeedbackConsumer:
        consumer = FeedbackConsumer.from_settings(
            rabbit_settings, batch_size=batch_size
        )
        consumer.clock = clock
        made.append(consumer)
        return consumer

    yield make
    for consumer in made:
        consumer.event_log.close()
