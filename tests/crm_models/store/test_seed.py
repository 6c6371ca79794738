from __future__ import annotations

import gzip
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from crm_models.errors import DataError, InvalidStateError
from crm_models.store import seed as seed_module
from crm_models.store.schema import (
    Base,
    Customer,
    Order,
    OrderLine,
    OrderStatus,
    Refund,
    SeedInfo,
    Shipment,
)
from crm_models.store.seed import seed_store
from crm_models.store.seed_plan import TABLES
from crm_models.store.seed_source import PRODUCTS_FILE, TRANSACTIONS_FILE
from tests.conftest import SEED_CUSTOMERS, SEED_DIR, SEED_TODAY, rolled_back_session


def table_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every seeded row of every seeded table, in id order."""
    with engine.connect() as conn:
        return {
            name: [
                tuple(row)
                for row in conn.execute(
                    select(Base.metadata.tables[name]).order_by(
                        Base.metadata.tables[name].c.id
                    )
                )
            ]
            for name in TABLES
        }


def seed_small(engine: Engine, folder: Path, **options: Any) -> seed_module.SeedReport:
    return seed_store(
        engine=engine, seed_dir=folder, today=SEED_TODAY, random_seed=7, **options
    )


# ---------------------------------------------------------------- the seeded store


def test_the_seeded_store_holds_the_planned_rows(seeded_store_session: Session) -> None:
    info = seeded_store_session.scalars(select(SeedInfo)).one()
    counted = {
        name: seeded_store_session.scalar(
            select(func.count()).select_from(Base.metadata.tables[name])
        )
        for name in TABLES
    }

    assert counted == info.row_counts
    assert counted["customers"] == SEED_CUSTOMERS
    assert counted["orders"] == counted["shipments"] > 0
    assert info.today == SEED_TODAY


def test_every_status_occurs_in_the_seeded_store(seeded_store_session: Session) -> None:
    statuses = set(seeded_store_session.scalars(select(Order.status).distinct()))

    assert statuses == set(OrderStatus)


def test_money_is_whole_pence_and_times_are_aware(
    seeded_store_session: Session,
) -> None:
    order = seeded_store_session.scalars(select(Order).order_by(Order.id)).first()
    line = seeded_store_session.scalars(select(OrderLine)).first()
    refund = seeded_store_session.scalars(select(Refund)).first()
    shipment = seeded_store_session.scalars(
        select(Shipment).where(Shipment.delivered_at.is_not(None))
    ).first()
    customer = seeded_store_session.scalars(select(Customer)).first()

    assert order is not None
    assert line is not None
    assert refund is not None
    assert shipment is not None
    assert customer is not None
    assert type(order.total_pence) is int
    assert type(line.unit_price_pence) is int
    assert type(refund.amount_pence) is int
    moments: list[datetime | None] = [
        order.placed_at,
        order.updated_at,
        refund.created_at,
        shipment.delivered_at,
        customer.created_at,
    ]
    assert all(m is not None and m.utcoffset() is not None for m in moments)
    assert order.total_pence == sum(
        li.quantity * li.unit_price_pence for li in order.lines
    )


def test_rerunning_the_same_seed_does_nothing(seeded_store_engine: Engine) -> None:
    before = table_rows(seeded_store_engine)

    report = seed_store(
        engine=seeded_store_engine,
        seed_dir=SEED_DIR,
        today=SEED_TODAY,
        n_customers=SEED_CUSTOMERS,
        random_seed=7,
    )

    assert report.seeded is False
    assert table_rows(seeded_store_engine) == before


# ---------------------------------------------------------------- seed mechanics


def test_a_forced_reseed_gives_identical_rows(
    store_engine: Engine, small_seed_dir: Path
) -> None:
    first = seed_small(store_engine, small_seed_dir)
    rows = table_rows(store_engine)

    second = seed_small(store_engine, small_seed_dir, force=True)

    assert first.seeded
    assert second.seeded
    assert table_rows(store_engine) == rows
    assert first.row_counts == second.row_counts
    with Session(store_engine) as session:
        assert session.scalar(select(func.count()).select_from(SeedInfo)) == 1


def test_other_options_are_refused_without_force(
    store_engine: Engine, small_seed_dir: Path
) -> None:
    first = seed_small(store_engine, small_seed_dir)
    rows = table_rows(store_engine)

    with pytest.raises(InvalidStateError, match="--force"):
        seed_store(
            engine=store_engine,
            seed_dir=small_seed_dir,
            today=date(2025, 6, 14),
            random_seed=7,
        )
    assert table_rows(store_engine) == rows

    report = seed_store(
        engine=store_engine,
        seed_dir=small_seed_dir,
        today=date(2025, 6, 14),
        random_seed=7,
        force=True,
    )
    assert report.seeded
    assert report.shift_days == first.shift_days + 1


def test_a_store_with_unrecorded_data_is_refused(
    store_session: Session, store_engine: Engine, small_seed_dir: Path
) -> None:
    store_session.add(
        Customer(
            id=1,
            name="Test Person",
            email="t@example.com",
            country="United Kingdom",
            created_at=datetime.fromisoformat("2025-01-01T00:00+00:00"),
        )
    )
    store_session.commit()

    with pytest.raises(InvalidStateError, match="no seed recorded"):
        seed_small(store_engine, small_seed_dir)


def test_a_malformed_file_writes_nothing(store_engine: Engine, tmp_path: Path) -> None:
    (tmp_path / PRODUCTS_FILE).write_text(
        "stock_code,description,median_unit_price_gbp\n84879,BIRD,1.69\n"
    )
    with gzip.open(tmp_path / TRANSACTIONS_FILE, "wt") as handle:
        handle.write(
            "invoice_no,invoice_date,customer_id,country,stock_code,description,"
            "quantity,unit_price_gbp,is_cancellation\n"
            "536367,2010-12-01 08:34,13047,United Kingdom,84879,BIRD,32,1.69,0\n"
            "536368,2010-12-01 08:34,13047,United Kingdom,84879,BIRD,lots,1.69,0\n"
        )

    with pytest.raises(DataError, match=r"transactions\.csv\.gz line 3"):
        seed_small(store_engine, tmp_path)

    assert all(not rows for rows in table_rows(store_engine).values())


def test_a_failure_while_writing_leaves_the_earlier_seed(
    store_engine: Engine, small_seed_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_small(store_engine, small_seed_dir)
    rows = table_rows(store_engine)
    real_insert = seed_module._insert_rows

    def failing_insert(conn: Any, table: Any, table_rows: list[Any]) -> None:
        if table.name == "refunds":
            raise RuntimeError("disk full")
        real_insert(conn, table, table_rows)

    monkeypatch.setattr(seed_module, "_insert_rows", failing_insert)

    with pytest.raises(RuntimeError, match="disk full"):
        seed_small(store_engine, small_seed_dir, force=True)

    assert table_rows(store_engine) == rows


def test_seeded_sessions_roll_back_even_a_commit(seeded_store_engine: Engine) -> None:
    first = rolled_back_session(seeded_store_engine)
    session = next(first)
    customer = session.scalars(select(Customer).order_by(Customer.id).limit(1)).one()
    customer_id = customer.id
    customer.name = "Changed Name"
    session.commit()
    first.close()  # the fixture's end: the outer transaction is rolled back

    second = rolled_back_session(seeded_store_engine)
    session = next(second)
    name = session.scalars(
        select(Customer.name).where(Customer.id == customer_id)
    ).one()
    second.close()

    assert name != "Changed Name"


def test_the_command_keeps_a_seeded_store_when_asked_to(tmp_path: Path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    base = ["--database-url", url, "--customers", "3"]

    first = seed_module.main([*base, "--today", "2025-06-13", "--if-unseeded"])
    engine = seed_module.make_engine(url)
    rows = table_rows(engine)
    # Another day: without --if-unseeded this is refused; with it, kept and said so.
    refused = seed_module.main([*base, "--today", "2025-06-20"])
    kept = seed_module.main([*base, "--today", "2025-06-20", "--if-unseeded"])

    assert (first, refused, kept) == (0, 1, 0)
    assert table_rows(engine) == rows
    assert "already holds the seed made for 2025-06-13" in capsys.readouterr().out
