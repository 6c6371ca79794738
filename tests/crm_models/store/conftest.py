"""Store fixtures run on both backends: SQLite and PostgreSQL (127.0.0.1:5432).

Every fixture here is parametrized over the backend, so the same test bodies run on
both; the PostgreSQL runs carry the ``postgres`` marker. Each PostgreSQL database is
created for the test session (``shop_test_<random>``) and dropped at its end. When
the server is down those tests fail, saying so: CI starts it.
"""

from __future__ import annotations

import csv
import gzip
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from crm_models.store.db import create_schema, make_engine
from crm_models.store.schema import Base
from crm_models.store.seed import seed_store
from crm_models.store.seed_source import PRODUCTS_FILE, TRANSACTIONS_FILE
from tests.conftest import (
    SEED_CUSTOMERS,
    SEED_DIR,
    SEED_TODAY,
    rolled_back_session,
)

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=5"
# Customers in the small seed directory used by the seed-mechanics tests.
SMALL_SEED_CUSTOMERS = 12


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def new_database(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], str]]:
    """Make empty databases on the backend; PostgreSQL ones are dropped at the end."""
    created: list[str] = []

    def make() -> str:
        if backend == "sqlite":
            path = tmp_path_factory.mktemp("store") / "crm.db"
            return f"sqlite:///{path}"
        name = f"shop_test_{secrets.token_hex(6)}"
        with _pg_admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"

    yield make
    if created:
        with _pg_admin() as conn:
            for name in created:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(name)
                    )
                )


@pytest.fixture(scope="session")
def store_url(new_database: Callable[[], str]) -> str:
    """One database per backend for the tests that want an empty schema."""
    return new_database()


@pytest.fixture
def store_engine(store_url: str) -> Iterator[Engine]:
    """An engine on a store with every table there and empty.

    Configured as in production (``make_engine``), so the seed's transaction is
    tested as it runs for real.
    """
    engine = make_engine(store_url)
    create_schema(engine)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(delete(table))
    yield engine
    engine.dispose()


@pytest.fixture
def store_session(store_engine: Engine) -> Iterator[Session]:
    """A session on an empty store (fresh schema)."""
    with Session(store_engine) as session:
        yield session


@pytest.fixture(scope="session")
def seeded_store_engine(
    backend: str, new_database: Callable[[], str], request: pytest.FixtureRequest
) -> Iterator[Engine]:
    """The store seeded once per backend with the first SEED_CUSTOMERS customers."""
    if backend == "sqlite":
        yield request.getfixturevalue("seeded_engine")
        return
    engine = make_engine(new_database())
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
def seeded_store_session(seeded_store_engine: Engine) -> Iterator[Session]:
    """A session on the seeded store; whatever the test changes is rolled back."""
    yield from rolled_back_session(seeded_store_engine)


@pytest.fixture(scope="session")
def small_seed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seed directory with the rows of the first few customers only (fast seeds)."""
    folder = tmp_path_factory.mktemp("small_seed")
    (folder / PRODUCTS_FILE).write_bytes((SEED_DIR / PRODUCTS_FILE).read_bytes())
    with gzip.open(SEED_DIR / TRANSACTIONS_FILE, "rt", newline="") as source:
        rows = list(csv.reader(source))
    header, body = rows[0], rows[1:]
    column = header.index("customer_id")
    keep = set(sorted({int(row[column]) for row in body})[:SMALL_SEED_CUSTOMERS])
    with gzip.open(folder / TRANSACTIONS_FILE, "wt", newline="") as target:
        writer = csv.writer(target)
        writer.writerow(header)
        writer.writerows(row for row in body if int(row[column]) in keep)
    return folder


def _pg_admin() -> psycopg.Connection:
    """An autocommit connection to the server's ``postgres`` database."""
    try:
        return psycopg.connect(PG_ADMIN, autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.fail(
            "PostgreSQL is not reachable on 127.0.0.1:5432 (user postgres, trust "
            f"auth): {exc}. Start it with scripts/check_services.sh, or deselect "
            "these tests with -m 'not postgres'.",
            pytrace=False,
        )
