"""A test's own exchange and queue on the local RabbitMQ, used as Rasa 3.6 uses them.

``TestBroker`` declares a fanout exchange (not durable) and a durable queue bound to
it, as Rasa's ``PikaEventBroker`` does, and publishes events as Rasa does: persistent
messages, empty routing key, body ``json.dumps({"sender_id": ..., **event})`` in UTF-8.
Every name carries a random suffix, so tests never meet another's queue.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import pika
import pika.exceptions

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


class TestBroker:
    """One exchange and one queue of the local broker, deleted by ``delete``."""

    __test__ = False  # not a test class, whatever pytest makes of the name

    def __init__(self, label: str, *, declare: bool = True) -> None:
        suffix = uuid.uuid4().hex[:12]
        self.exchange = f"test-{label}-{suffix}"
        self.queue = f"test-{label}-{suffix}"
        self._connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        self._channel = self._connection.channel()
        if declare:
            self._channel.exchange_declare(
                self.exchange, exchange_type="fanout", durable=False
            )
            self._channel.queue_declare(self.queue, durable=True)
            self._channel.queue_bind(self.queue, self.exchange, routing_key="")

    def publish(self, sender_id: str, event: Mapping[str, Any]) -> None:
        """Publish one tracker event the way Rasa's pika broker does."""
        body = json.dumps({"sender_id": sender_id, **event})
        self.publish_raw(body.encode("utf-8"))

    def publish_all(self, rows: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        """Publish ``(sender_id, event)`` rows in order."""
        for sender_id, event in rows:
            self.publish(sender_id, event)

    def publish_raw(self, body: bytes) -> None:
        """Publish any body, e.g. a malformed one."""
        self._channel.basic_publish(
            self.exchange,
            routing_key="",
            body=body,
            properties=pika.BasicProperties(delivery_mode=2),
        )

    def declare_exchange(self, *, durable: bool) -> None:
        """Declare the exchange as fanout, durable or not."""
        self._channel.exchange_declare(
            self.exchange, exchange_type="fanout", durable=durable
        )

    def ready(self) -> int:
        """Messages waiting in the queue (not counting delivered, unacknowledged)."""
        frame = self._channel.queue_declare(self.queue, passive=True)
        return frame.method.message_count

    def delete(self) -> None:
        """Delete the queue and the exchange and disconnect (on a new connection)."""
        # The broker may have dropped this one already (e.g. missed heartbeats).
        with contextlib.suppress(pika.exceptions.AMQPError):
            if self._connection.is_open:
                self._connection.close()
        with pika.BlockingConnection(pika.URLParameters(AMQP_URL)) as connection:
            channel = connection.channel()
            channel.queue_delete(self.queue)
            channel.exchange_delete(self.exchange)


def close_connections_named(name: str) -> int:
    """Have the broker close the connections whose client named itself ``name``.

    What a consumer sees when the broker restarts (``CONNECTION_FORCED``), without
    restarting a server other tests share. Returns how many were closed.
    """
    rabbitmqctl = shutil.which("rabbitmqctl")
    if rabbitmqctl is None:
        raise RuntimeError("rabbitmqctl is not on PATH")
    listing = subprocess.run(
        [rabbitmqctl, "-q", "list_connections", "pid", "client_properties"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    pids = [
        line.split("\t", 1)[0]
        for line in listing.splitlines()
        if line.startswith("<") and f'"{name}"' in line
    ]
    for pid in pids:
        subprocess.run(
            [rabbitmqctl, "-q", "close_connection", pid, "test: broker going away"],
            capture_output=True,
            timeout=60,
            check=True,
        )
    return len(pids)
