"""Fixtures shared by every test: settings from a dict and CRM store sessions.

- ``settings``: everything under the test's ``tmp_path``; today is ``SEED_TODAY``.
- ``session``: a SQLite store with a fresh, empty schema per test.
- ``seeded_session``: the store seeded once per test session with the first
  ``SEED_CUSTOMERS`` customers of data/crm; what a test changes is rolled back.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from crm_models.settings import ROOT, Settings
from crm_models.store.db import create_schema, make_engine
from crm_models.store.seed import seed_store

# A Friday; the data's last invoice day (Friday 2011-12-09) moves to it.
SEED_TODAY = date(2025, 6, 13)
# The first 40 customers by id have orders in every status at SEED_TODAY.
SEED_CUSTOMERS = 40
SEED_DIR = ROOT / "data" / "crm"


def make_test_settings(tmp_path: Path, **overrides: str) -> Settings:
    """Settings that keep every file under ``tmp_path``; ``overrides`` are SHOP_*."""
    env = {
        "SHOP_VAR_DIR": str(tmp_path / "var"),
        "SHOP_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.db'}",
        "SHOP_EVENT_LOG_URL": f"sqlite:///{tmp_path / 'events.db'}",
        "SHOP_MODELS_DIR": str(tmp_path / "models"),
        "SHOP_SEED_DIR": str(SEED_DIR),
        "SHOP_TODAY": SEED_TODAY.isoformat(),
        "SHOP_RASA_TOKEN": "test-rasa-token",
        "SHOP_IDENTITY_SECRET": "test-identity-secret",
    }
    env.update({f"SHOP_{name.upper()}": value for name, value in overrides.items()})
    return Settings.from_env(env)


def use_real_sqlite_transactions(engine: Engine) -> None:
    """Let SQLAlchemy, not pysqlite, begin transactions, so savepoints nest properly.

    The recipe from SQLAlchemy's SQLite dialect notes; without it a test's
    ``session.commit()`` inside the outer transaction could write for good.
    """

    @event.listens_for(engine, "connect")
    def _no_driver_transactions(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")


def rolled_back_session(engine: Engine) -> Iterator[Session]:
    """A session inside an outer transaction that is rolled back at the end."""
    with engine.connect() as conn:
        outer = conn.begin()
        session = Session(bind=conn, join_transaction_mode="create_savepoint")
        try:
            yield session
        finally:
            session.close()
            outer.rollback()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_test_settings(tmp_path)


@pytest.fixture
def session(settings: Settings) -> Iterator[Session]:
    """A session on a SQLite store with a fresh, empty schema."""
    engine = make_engine(settings.database_url)
    create_schema(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()


@pytest.fixture(scope="session")
def seeded_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A SQLite store seeded once per test session (SEED_CUSTOMERS, SEED_TODAY)."""
    path = tmp_path_factory.mktemp("seeded") / "crm.db"
    engine = make_engine(f"sqlite:///{path}")
    use_real_sqlite_transactions(engine)
    seed_store(
        engine=engine,
        seed_dir=SEED_DIR,
        today=SEED_TODAY,
        n_customers=SEED_CUSTOMERS,
        random_seed=7,
    )
    yield engine
    engine.dispose()


@pytest.fixture
def seeded_session(seeded_engine: Engine) -> Iterator[Session]:
    """A session on the seeded store; whatever the test changes is rolled back."""
    yield from rolled_back_session(seeded_engine)
