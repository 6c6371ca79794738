"""Where the feedback consumer reads Rasa's events: the sources and their interface.

Two sources, chosen by the scheme of ``SHOP_EVENT_LOG_URL`` (``open_event_source``):

- a database URL: Rasa's SQL event log, read in order (``EventLog``, here);
- ``amqp://`` or ``amqps://``: a queue of Rasa's ``pika`` event broker on RabbitMQ
  (``crm_models.feedback.rabbitmq``).

Rasa 3.6's ``SQLEventBroker`` writes each tracker event as one row of table
``events``: ``id`` (autoincrement), ``sender_id`` and ``data`` (the event as JSON,
``sender_id`` included). Rasa's SQL *tracker store* also names its table ``events`` and
adds ``type_name``, ``timestamp``, ``intent_name`` and ``action_name``; only the three
shared columns are read here, so either shape works.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine, column, create_engine, inspect, select, table
from sqlalchemy.engine import make_url

from crm_models.errors import ShopBotError
from crm_models.settings import AMQP_SCHEMES

logger = logging.getLogger(__name__)

EVENTS_TABLE = table("events", column("id"), column("sender_id"), column("data"))
_MAX_SOURCE_KEY = 200  # ConsumerOffset.source


class EventSourceUnavailable(ShopBotError, ConnectionError):
    """The event source cannot be reached just now; the message names it (no password).

    What was read but not acknowledged is delivered again once it is back.
    """


@dataclass(frozen=True)
class RawEvent:
    """One event as the source hands it out; ``data`` is still JSON text.

    ``id`` is the row id for the SQL event log (increasing) and the delivery tag for
    RabbitMQ (only meaningful to the source that handed it out). ``sender_id`` is
    empty when the source could not tell it; such an event is counted invalid.
    """

    id: int
    sender_id: str
    data: str


class EventSource(Protocol):
    """What the feedback consumer needs from an event source.

    An *ordered* source numbers its events with increasing ids: the consumer keeps
    the last applied id in the store (``ConsumerOffset``) and reads the events after
    it. A source that is not ordered hands out each event until it is acknowledged
    and may hand it out again (after a crash or a lost connection); the consumer
    recognises a repeat by its content key (``ConsumedEvent``). Either way the
    consumer acknowledges a batch only after the store has committed it.
    """

    source: str  # a stable name for logs and offsets; never holds a password
    ordered: bool

    def read_batch(self, position: int, limit: int) -> list[RawEvent]:
        """Up to ``limit`` events; an ordered source reads those after ``position``."""
        ...

    def acknowledge(self, rows: Sequence[RawEvent]) -> None:
        """The store has committed ``rows``: they need not be handed out again."""
        ...

    def release(self, rows: Sequence[RawEvent]) -> None:
        """``rows`` were not applied: hand them out again later."""
        ...

    def wait(self, seconds: float) -> None:
        """Idle for up to ``seconds`` (keeping a connection alive meanwhile)."""
        ...

    def close(self) -> None:
        """Let go of connections; the next read opens them again."""
        ...


def open_event_source(url: str, *, queue: str, exchange: str) -> EventSource:
    """The source at ``url``: RabbitMQ for ``amqp://``, else the SQL event log.

    Args:
        url: ``SHOP_EVENT_LOG_URL``.
        queue: the RabbitMQ queue to read (ignored for the SQL event log).
        exchange: the exchange Rasa publishes to (ignored for the SQL event log).
    """
    if url.split(":", 1)[0].lower() in AMQP_SCHEMES:
        from crm_models.feedback.rabbitmq import RabbitEventSource

        return RabbitEventSource(url, queue=queue, exchange=exchange)
    return EventLog(url)


def source_key(url: str) -> str:
    """A stable name for an event source, without its password, at most 200 chars."""
    key = make_url(url).render_as_string(hide_password=True)
    if len(key) > _MAX_SOURCE_KEY:
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        key = f"{key[: _MAX_SOURCE_KEY - 17]}#{digest}"
    return key


class EventLog:
    """Read-only access to the ``events`` table at ``url``, connected on first use.

    An ordered ``EventSource``: row ids increase, nothing needs acknowledging.
    """

    ordered = True

    def __init__(self, url: str) -> None:
        self.url = url
        self.source = source_key(url)
        self._engine: Engine | None = None
        self._has_table = False

    def _sqlite_path(self) -> Path | None:
        parsed = make_url(self.url)
        if parsed.get_backend_name() != "sqlite" or not parsed.database:
            return None
        return Path(parsed.database)

    def _connect(self) -> Engine | None:
        if self._engine is not None:
            return self._engine
        path = self._sqlite_path()
        if path is not None:
            if not path.exists():
                return None  # Rasa has not written anything yet
            # Read-only: never create the file or change its journal mode.
            self._engine = create_engine(
                f"sqlite:///file:{path.resolve()}?mode=ro&uri=true",
                connect_args={"timeout": 30},
            )
        else:
            self._engine = create_engine(self.url, pool_pre_ping=True)
        return self._engine

    def read_batch(self, position: int, limit: int) -> list[RawEvent]:
        """Up to ``limit`` events with ``id > position``, in id order.

        An event log that does not exist yet reads as empty.
        """
        engine = self._connect()
        if engine is None:
            return []
        if not self._has_table:
            self._has_table = inspect(engine).has_table("events")
            if not self._has_table:
                logger.debug("feedback.event_log.no_table source=%s", self.source)
                return []
        query = (
            select(EVENTS_TABLE.c.id, EVENTS_TABLE.c.sender_id, EVENTS_TABLE.c.data)
            .where(EVENTS_TABLE.c.id > position)
            .order_by(EVENTS_TABLE.c.id)
            .limit(limit)
        )
        with engine.connect() as conn:
            return [
                RawEvent(id=row.id, sender_id=row.sender_id or "", data=row.data or "")
                for row in conn.execute(query)
            ]

    def acknowledge(self, rows: Sequence[RawEvent]) -> None:
        """Nothing to do: the committed offset is the acknowledgement."""

    def release(self, rows: Sequence[RawEvent]) -> None:
        """Nothing to do: rows after the committed offset are read again anyway."""

    def wait(self, seconds: float) -> None:
        """Sleep; the event log is polled."""
        time.sleep(seconds)

    def close(self) -> None:
        """Close pooled connections."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
            self._has_table = False
