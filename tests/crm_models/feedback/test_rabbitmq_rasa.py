"""Rasa's own pika event broker, run from .venv-bot, against the consumer's queue.

``rasa export`` connects Rasa 3.6's ``PikaEventBroker`` with the event broker section
of endpoints.production.yml (only the names made unique), which declares the
exchange and the queue as a running Rasa server does. RabbitMQ refuses a declaration
that differs from an existing one, so the export only gets through if the consumer's
declarations are exactly Rasa's.

NOTE: ``rasa export`` 3.6 closes the broker before its publishing tasks run, so
nothing arrives from it; message bodies are checked against Rasa's source instead
(see ``crm_models.feedback.rabbitmq``).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from crm_models.feedback.consumer import FeedbackConsumer
from crm_models.settings import ROOT
from tests.crm_models.feedback.rabbit_support import AMQP_URL, TestBroker
from tests.crm_models.feedback.rasa_events import two_conversations, write_event_log
from tests.crm_models.feedback.support import make_settings

pytestmark = [pytest.mark.rabbitmq, pytest.mark.rasa]

RASA = ROOT / ".venv-bot" / "bin" / "rasa"


def _export(tmp_path: Path, broker: TestBroker) -> subprocess.CompletedProcess[str]:
    """Run ``rasa export`` with the production broker section on ``broker``'s names."""
    production = yaml.safe_load(
        (ROOT / "endpoints.production.yml").read_text(encoding="utf-8")
    )
    event_broker = {
        **production["event_broker"],
        "exchange_name": broker.exchange,
        "queues": [broker.queue],
    }
    write_event_log(tmp_path / "tracker.db", two_conversations(), shape="tracker")
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(
        yaml.safe_dump(
            {
                "tracker_store": {
                    "type": "SQL",
                    "dialect": "sqlite",
                    "db": str(tmp_path / "tracker.db"),
                },
                "event_broker": event_broker,
            }
        ),
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "RASA_TELEMETRY_ENABLED": "false",
        "SHOP_RABBITMQ_HOST": "127.0.0.1",
        "SHOP_RABBITMQ_USER": "guest",
        "SHOP_RABBITMQ_PASSWORD": "guest",
    }
    return subprocess.run(
        [str(RASA), "export", "--endpoints", str(endpoints)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def undeclared_broker() -> Iterator[TestBroker]:
    if not RASA.exists():
        pytest.skip(f"no Rasa environment at {RASA}: run `make setup`")
    broker = TestBroker("rasa-export", declare=False)
    yield broker
    broker.delete()


def test_rasa_accepts_the_exchange_and_queue_the_consumer_declared(
    tmp_path: Path, undeclared_broker: TestBroker
) -> None:
    settings = make_settings(
        tmp_path,
        event_log_url=AMQP_URL,
        event_queue=undeclared_broker.queue,
        event_exchange=undeclared_broker.exchange,
    )
    consumer = FeedbackConsumer.from_settings(settings)
    consumer.run_once()  # declares the exchange, the queue and the binding
    consumer.event_log.close()

    done = _export(tmp_path, undeclared_broker)

    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Successfully published 17 events" in done.stdout


def test_rasa_refuses_an_exchange_declared_otherwise(
    tmp_path: Path, undeclared_broker: TestBroker
) -> None:
    # What a consumer declaring the exchange durable would leave behind.
    undeclared_broker.declare_exchange(durable=True)

    done = _export(tmp_path, undeclared_broker)

    assert done.returncode != 0
    assert "Cannot connect to event broker" in done.stdout + done.stderr
