"""Engine and session factory for the CRM store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from crm_models.store.schema import Base
from crm_models.store.upgrade import upgrade_schema


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys on and a busy timeout."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def create_schema(engine: Engine) -> None:
    """Create every table that does not exist yet, and add missing columns.

    Every process that opens the store for writing comes through here (the session
    factory, the seed), so a store made by an older version is brought up to the
    model before anything reads or writes it (``crm_models.store.upgrade``).

    Raises:
        SchemaUpgradeError: a missing column cannot be added safely.
    """
    Base.metadata.create_all(engine)
    upgrade_schema(engine)


@lru_cache(maxsize=4)
def _factory(url: str) -> sessionmaker[Session]:
    engine = make_engine(url)
    create_schema(engine)
    return sessionmaker(engine, expire_on_commit=False)


def session_factory(url: str | None = None) -> sessionmaker[Session]:
    """The process-wide session factory for ``url`` (the settings' store by default)."""
    if url is None:
        from crm_models.settings import get_settings

        url = get_settings().database_url
    return _factory(url)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session committed on success and rolled back on any error."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
