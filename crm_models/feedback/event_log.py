"""Reading Rasa's SQL event log (the ``SQL`` event broker) in order.

Rasa 3.6's ``SQLEventBroker`` writes each tracker event as one row of table
``events``: ``id`` (autoincrement), ``sender_id`` and ``data`` (the event as JSON,
``sender_id`` included). Rasa's SQL *tracker store* also names its table ``events`` and
adds ``type_name``, ``timestamp``, ``intent_name`` and ``action_name``; only the three
shared columns are read here, so either shape works.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, column, create_engine, inspect, select, table
from sqlalchemy.engine import make_url

logger = logging.getLogger(__name__)

EVENTS_TABLE = table("events", column("id"), column("sender_id"), column("data"))
_MAX_SOURCE_KEY = 200  # ConsumerOffset.source


@dataclass(frozen=True)
class RawEvent:
    """One row of the event log; ``data`` is still JSON text."""

    id: int
    sender_id: str
    data: str


def source_key(url: str) -> str:
    """A stable name for an event source, without its password, at most 200 chars."""
    key = make_url(url).render_as_string(hide_password=True)
    if len(key) > _MAX_SOURCE_KEY:
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        key = f"{key[: _MAX_SOURCE_KEY - 17]}#{digest}"
    return key


# TODO(#4): a RabbitMQ (pika) source with the same read_after/source interface for
# the production event broker; until then production needs the SQL broker too.
class EventLog:
    """Read-only access to the ``events`` table at ``url``, connected on first use."""

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

    def read_after(self, position: int, limit: int) -> list[RawEvent]:
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

    def dispose(self) -> None:
        """Close pooled connections."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
            self._has_table = False
