"""Reading Rasa's tracker events from RabbitMQ, where Rasa's ``pika`` broker sends them.

What Rasa 3.6 (``rasa.core.brokers.pika.PikaEventBroker``) does, and so what this
source expects:

- it declares a *fanout* exchange, ``rasa-exchange`` unless the endpoint sets
  ``exchange_name``, with the library defaults (not durable, not auto-deleted);
- it declares every queue listed under ``queues:`` *durable*, without arguments, and
  binds it to the exchange with an empty routing key;
- it publishes each tracker event as one persistent message (delivery mode 2) with an
  empty routing key: the UTF-8 JSON of ``{"sender_id": ..., **event.as_dict()}``, no
  message id, no sequence number (``rasa export`` adds a header; nothing else does).

The consumer declares the same exchange, queue and binding with the same arguments
(RabbitMQ refuses a second declaration that differs, so they must match Rasa's
exactly), so either side may start first. It consumes with manual acknowledgement and
a prefetch of one batch, and acknowledges a batch only after the store has committed
it; a batch that was committed but not acknowledged comes back after a crash and is
recognised by the events' content keys (``crm_models.feedback.consumer``).
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

from crm_models.errors import ConfigError
from crm_models.feedback.event_log import EventSourceUnavailable, RawEvent

logger = logging.getLogger(__name__)
_IN_FLIGHT_GRACE_SECONDS = 0.25

RASA_EXCHANGE = "rasa-exchange"  # PikaEventBroker's default exchange_name
_MAX_PREFETCH = 65_535  # prefetch_count is an unsigned short
_LOGIN_ERRORS = (
    pika.exceptions.ProbableAuthenticationError,
    pika.exceptions.AuthenticationError,
    pika.exceptions.ProbableAccessDeniedError,
)
_REFUSED = frozenset({403, 404, 406})  # access refused, not found, precondition failed


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***``, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))


class RabbitEventSource:
    """One queue of Rasa's event exchange on RabbitMQ, as an unordered event source.

    Connects on the first read and again after the connection is lost.

    Args:
        url: the broker, e.g. ``amqp://user:password@127.0.0.1:5672/%2F``.
        queue: the queue to consume (one of the endpoint's ``queues:``).
        exchange: the exchange Rasa publishes to.
        idle_seconds: a batch is handed out when no message came for this long...
        max_wait_seconds: ...or when it has been filling for this long, provided
            the broker has no message ready for it (a busy broker may pause longer
            than ``idle_seconds`` mid-stream; a short batch means "caught up")...
        drain_wait_seconds: ...and in any case after this long.
    """

    ordered = False

    def __init__(
        self,
        url: str,
        *,
        queue: str,
        exchange: str = RASA_EXCHANGE,
        idle_seconds: float = 0.2,
        max_wait_seconds: float = 1.0,
        drain_wait_seconds: float = 5.0,
    ) -> None:
        self.url = url
        self.queue = queue
        self.exchange = exchange
        self.idle_seconds = idle_seconds
        self.max_wait_seconds = max_wait_seconds
        self.drain_wait_seconds = drain_wait_seconds
        self.display_url = redact_url(url)
        self.source = f"{self.display_url}#{queue}"
        self._password = urlsplit(url).password
        self._connection: BlockingConnection | None = None
        self._channel: BlockingChannel | None = None
        self._prefetch = 0
        self._buffer: deque[tuple[int, bytes]] = deque()
        # The channel the last batch came from: delivery tags belong to it alone.
        self._handed_out_on: BlockingChannel | None = None

    def read_batch(self, position: int, limit: int) -> list[RawEvent]:
        """Up to ``limit`` delivered messages (``position`` is ignored).

        Raises:
            EventSourceUnavailable: the broker cannot be reached.
            ConfigError: the broker refuses the login, the queue or the exchange.
        """
        channel = self._open(min(limit, _MAX_PREFETCH))
        started = time.monotonic()
        deadline = started + self.max_wait_seconds
        try:
            while len(self._buffer) < limit:
                before = len(self._buffer)
                in_time = time.monotonic() < deadline
                # Returns as soon as something arrived, or after idle_seconds.
                channel.connection.process_data_events(time_limit=self.idle_seconds)
                if in_time and len(self._buffer) > before:
                    continue
                # Quiet for idle_seconds, or past max_wait_seconds: hand out a short
                # batch only if nothing is ready at the broker.
                waited = time.monotonic() - started
                if waited >= self.drain_wait_seconds:
                    break
                if not self._ready(channel):
                    # Messages the broker has already sent are neither "ready" there
                    # nor here yet: give them a moment to land before calling the
                    # queue drained.
                    held = len(self._buffer)
                    channel.connection.process_data_events(
                        time_limit=_IN_FLIGHT_GRACE_SECONDS
                    )
                    if len(self._buffer) == held:
                        break
        except (pika.exceptions.AMQPError, OSError) as exc:
            self._drop()
            raise self._unavailable(exc) from exc
        if not channel.is_open or self._channel is not channel:
            # Closed (or the consumer cancelled) while reading: whatever came with it
            # is the broker's again.
            self._drop()
            raise self._unavailable(None)

        taken = min(limit, len(self._buffer))
        rows = [self._decode(*self._buffer.popleft()) for _ in range(taken)]
        self._handed_out_on = channel
        return rows

    def acknowledge(self, rows: Sequence[RawEvent]) -> None:
        """Acknowledge ``rows`` (and everything delivered before them).

        A lost acknowledgement is not an error: the broker delivers the messages
        again and the consumer recognises them as applied.
        """
        if rows:
            self._settle(rows, ack=True)

    def release(self, rows: Sequence[RawEvent]) -> None:
        """Give ``rows`` back to the queue, to be delivered again."""
        if rows:
            self._settle(rows, ack=False)

    def wait(self, seconds: float) -> None:
        """Idle, serving the connection (heartbeats, prefetched deliveries)."""
        connection = self._connection
        if connection is None or not connection.is_open:
            time.sleep(seconds)
            return
        try:
            connection.process_data_events(time_limit=seconds)
        except (pika.exceptions.AMQPError, OSError) as exc:
            logger.warning(
                "feedback.rabbitmq.connection_lost source=%s error=%s",
                self.source,
                self._reason(exc),
            )
            self._drop()

    def close(self) -> None:
        """Close the connection; unacknowledged messages go back to the queue."""
        self._drop()

    def _open(self, prefetch: int) -> BlockingChannel:
        """The open channel, consuming the queue; connect and declare if needed."""
        channel = self._channel
        if channel is not None and channel.is_open:
            if prefetch != self._prefetch:
                channel.basic_qos(prefetch_count=prefetch)
                self._prefetch = prefetch
            return channel
        self._drop()

        parameters = pika.URLParameters(self.url)
        parameters.client_properties = {
            "connection_name": f"shop-feedback-consumer {self.queue}"
        }
        connection: BlockingConnection | None = None
        try:
            connection = pika.BlockingConnection(parameters)
            channel = connection.channel()
            # Exactly Rasa's declarations: a different argument would be refused.
            channel.exchange_declare(
                self.exchange, exchange_type="fanout", durable=False
            )
            channel.queue_declare(self.queue, durable=True)
            channel.queue_bind(self.queue, self.exchange, routing_key="")
            channel.basic_qos(prefetch_count=prefetch)
            channel.add_on_cancel_callback(self._on_cancel)
            channel.basic_consume(self.queue, self._on_message)
        except _LOGIN_ERRORS as exc:
            _close_quietly(connection)
            user = urlsplit(self.url).username or "guest"
            raise ConfigError(
                f"RabbitMQ at {self.display_url} refused the login of user {user!r}; "
                "check SHOP_EVENT_LOG_URL"
            ) from exc
        except pika.exceptions.ChannelClosedByBroker as exc:
            _close_quietly(connection)
            if exc.reply_code not in _REFUSED:
                raise self._unavailable(exc) from exc
            raise ConfigError(
                f"RabbitMQ at {self.display_url} refused queue {self.queue!r} on "
                f"exchange {self.exchange!r}: {exc.reply_text}; check SHOP_EVENT_QUEUE"
                " and SHOP_EVENT_EXCHANGE against the event broker in the endpoints"
            ) from exc
        except (pika.exceptions.AMQPError, OSError) as exc:
            _close_quietly(connection)
            raise self._unavailable(exc) from exc

        self._connection, self._channel, self._prefetch = connection, channel, prefetch
        logger.info(
            "feedback.rabbitmq.connected source=%s exchange=%s prefetch=%d",
            self.source,
            self.exchange,
            prefetch,
        )
        return channel

    def _ready(self, channel: BlockingChannel) -> int:
        """How many messages of the queue wait for delivery (not counting ours)."""
        frame = channel.queue_declare(self.queue, passive=True)
        return int(frame.method.message_count)

    def _on_message(
        self,
        channel: BlockingChannel,
        method: Any,
        properties: pika.BasicProperties,
        body: bytes,
    ) -> None:
        self._buffer.append((method.delivery_tag, body))

    def _on_cancel(self, frame: Any) -> None:
        # The broker cancelled the consumer (the queue was deleted): forget the
        # channel, so that the next read declares the queue again.
        logger.warning("feedback.rabbitmq.consumer_cancelled source=%s", self.source)
        self._channel = None

    def _decode(self, delivery_tag: int, body: bytes) -> RawEvent:
        """The message as a raw event; an unreadable one keeps no content."""
        try:
            text = body.decode("utf-8")
            event = json.loads(text)
        except (ValueError, RecursionError):  # bad text or JSON, absurd nesting
            return RawEvent(id=delivery_tag, sender_id="", data="")
        sender_id = event.get("sender_id") if isinstance(event, dict) else None
        if not isinstance(sender_id, str):
            return RawEvent(id=delivery_tag, sender_id="", data="")
        return RawEvent(id=delivery_tag, sender_id=sender_id, data=text)

    def _settle(self, rows: Sequence[RawEvent], *, ack: bool) -> None:
        channel = self._handed_out_on
        last = max(row.id for row in rows)
        if channel is None or channel is not self._channel or not channel.is_open:
            logger.warning(
                "feedback.rabbitmq.settle_lost ack=%s count=%d source=%s",
                ack,
                len(rows),
                self.source,
            )
            return
        try:
            if ack:
                channel.basic_ack(delivery_tag=last, multiple=True)
            else:
                channel.basic_nack(delivery_tag=last, multiple=True, requeue=True)
        except (pika.exceptions.AMQPError, OSError) as exc:
            logger.warning(
                "feedback.rabbitmq.settle_lost ack=%s count=%d source=%s error=%s",
                ack,
                len(rows),
                self.source,
                self._reason(exc),
            )
            self._drop()

    def _drop(self) -> None:
        connection = self._connection
        self._connection = self._channel = self._handed_out_on = None
        self._buffer.clear()
        _close_quietly(connection)

    def _reason(self, exc: BaseException | None) -> str:
        """A short description of ``exc`` that never holds the password."""
        if exc is None:
            return "the channel was closed"
        text = str(exc) or "; ".join(repr(arg) for arg in exc.args)
        reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        if self._password:
            reason = reason.replace(self._password, "***")
        return reason

    def _unavailable(self, exc: BaseException | None) -> EventSourceUnavailable:
        return EventSourceUnavailable(
            f"cannot reach RabbitMQ at {self.display_url} (queue {self.queue!r}): "
            f"{self._reason(exc)}"
        )


def _close_quietly(connection: BlockingConnection | None) -> None:
    if connection is None or not connection.is_open:
        return
    try:
        connection.close()
    except (pika.exceptions.AMQPError, OSError):
        logger.debug("feedback.rabbitmq.close_failed")
