"""Seed the CRM store from the UCI Online Retail extract in ``data/crm``.

    python -m crm_models.store.seed [--database-url URL] [--today YYYY-MM-DD]
                                    [--customers N] [--force]

The rules that turn invoices into customers, orders, shipments and refunds live in
``seed_plan``; the reading and checking of the files in ``seed_source``. Here: the
whole seed is written in one transaction with Core bulk inserts, and a ``seed_info``
row records a checksum of the inputs and options, so that a rerun with the same ones
does nothing and other ones are refused unless ``force`` (which empties every CRM
table first).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import time as timer
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Row, Table, delete, func, insert, select

from crm_models.errors import DataError, InvalidStateError, ShopBotError
from crm_models.store.db import create_schema, make_engine
from crm_models.store.schema import Base, Customer, SeedInfo
from crm_models.store.seed_plan import SEED_RULES_VERSION, TABLES, SeedPlan, build_plan
from crm_models.store.seed_source import PRODUCTS_FILE, TRANSACTIONS_FILE, read_source

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeedReport:
    """What a seed run did (``seeded`` is False when the store already held it)."""

    seeded: bool
    checksum: str
    today: date
    shift_days: int
    row_counts: dict[str, int]
    order_statuses: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def inputs_checksum(
    seed_dir: Path, *, today: date, n_customers: int | None, random_seed: int
) -> str:
    """sha256 of both input files and every option that shapes the rows."""
    digest = hashlib.sha256()
    options = f"rules={SEED_RULES_VERSION};today={today.isoformat()};"
    options += f"customers={n_customers if n_customers is not None else 'all'};"
    options += f"random_seed={random_seed}\n"
    digest.update(options.encode())
    for name in (PRODUCTS_FILE, TRANSACTIONS_FILE):
        path = seed_dir / name
        try:
            digest.update(path.read_bytes())
        except FileNotFoundError as exc:
            raise DataError(f"{path}: seed file not found") from exc
    return digest.hexdigest()


def seed_store(
    *,
    engine: Engine,
    seed_dir: Path,
    today: date,
    n_customers: int | None = None,
    random_seed: int = 7,
    force: bool = False,
) -> SeedReport:
    """Seed the store behind ``engine`` in one transaction.

    Args:
        engine: the CRM store; missing tables are created.
        seed_dir: folder holding ``products.csv`` and ``transactions.csv.gz``.
        today: the day the data's last invoice day is moved to.
        n_customers: seed only the first N customers by id (all by default).
        random_seed: seed of the made-up names.
        force: empty every CRM table and seed again, whatever is there.

    Returns:
        What was done; ``seeded`` is False when the same seed was already there.

    Raises:
        DataError: an input file is missing or malformed (nothing is written).
        InvalidStateError: the store holds other data and ``force`` is not set.
    """
    started = timer.perf_counter()
    if n_customers is not None and n_customers < 1:
        raise DataError("the number of customers must be at least 1")
    create_schema(engine)
    checksum = inputs_checksum(
        seed_dir, today=today, n_customers=n_customers, random_seed=random_seed
    )
    with engine.connect() as conn:
        previous = _check_store(conn, checksum, force=force)
    if previous is not None:
        logger.info("seed.skip checksum=%s", checksum[:12])
        return SeedReport(
            seeded=False,
            checksum=checksum,
            today=previous.today,
            shift_days=previous.shift_days,
            row_counts=dict(previous.row_counts),
        )

    plan = build_plan(
        read_source(seed_dir),
        today=today,
        n_customers=n_customers,
        random_seed=random_seed,
    )
    logger.info("seed.rows.skipped %s", dict(sorted(plan.skipped.items())) or "none")
    logger.info("seed.rows.rules %s", dict(sorted(plan.notes.items())))

    with engine.begin() as conn:
        # Checked again inside the transaction: another seed may have run meanwhile.
        seeded = _check_store(conn, checksum, force=force) is None
        if seeded:
            _write(conn, plan, checksum=checksum, random_seed=random_seed, force=force)

    report = SeedReport(
        seeded=seeded,
        checksum=checksum,
        today=today,
        shift_days=plan.shift_days,
        row_counts=plan.row_counts(),
        order_statuses=plan.order_statuses(),
        skipped=dict(plan.skipped),
        seconds=timer.perf_counter() - started,
    )
    logger.info(
        "seed.done seconds=%.1f shift_days=%s rows=%s statuses=%s",
        report.seconds,
        report.shift_days,
        report.row_counts,
        report.order_statuses,
    )
    return report


def _check_store(conn: Connection, checksum: str, *, force: bool) -> Row[Any] | None:
    """The matching earlier seed, None when seeding may go ahead, else refuse."""
    if force:
        return None
    latest = conn.execute(
        select(SeedInfo.__table__).order_by(SeedInfo.id.desc()).limit(1)
    ).first()
    if latest is not None and latest.checksum == checksum:
        return latest
    if latest is not None:
        raise InvalidStateError(
            f"the store was seeded for {latest.today} with {latest.n_customers} "
            "customers from other inputs or options; use --force to empty it and "
            "seed again"
        )
    if conn.execute(select(Customer.id).limit(1)).first() is not None:
        raise InvalidStateError(
            "the store already holds customers that no seed recorded; use --force to "
            "empty it and seed again"
        )
    return None


def _write(
    conn: Connection, plan: SeedPlan, *, checksum: str, random_seed: int, force: bool
) -> None:
    if force:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(delete(table))
        logger.info("seed.store.emptied")
    for name in TABLES:
        _insert_rows(conn, Base.metadata.tables[name], plan.rows[name])
    if conn.dialect.name == "postgresql":
        # Ids were given explicitly: move each id sequence past them (a table
        # without one gets NULL from pg_get_serial_sequence, which setval ignores).
        for name in TABLES:
            top = conn.execute(select(func.max(Base.metadata.tables[name].c.id)))
            sequence = func.pg_get_serial_sequence(name, "id")
            conn.execute(select(func.setval(sequence, (top.scalar() or 0) + 1, False)))
    conn.execute(
        insert(SeedInfo.__table__).values(
            checksum=checksum,
            today=plan.today,
            shift_days=plan.shift_days,
            n_customers=len(plan.rows["customers"]),
            random_seed=random_seed,
            row_counts=plan.row_counts(),
            seeded_at=datetime.now(timezone.utc),
        )
    )


def _insert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """One executemany per table (Core bulk insert)."""
    if rows:
        conn.execute(insert(table), rows)


# ---------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: seed the configured store; 0 on success, 1 on refusal."""
    from crm_models.settings import get_settings

    parser = argparse.ArgumentParser(
        prog="python -m crm_models.store.seed", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--database-url", help="the store (default: SHOP_DATABASE_URL)")
    parser.add_argument(
        "--today",
        type=date.fromisoformat,
        help="the day the last invoice day moves to (default: SHOP_TODAY, else today)",
    )
    parser.add_argument("--customers", type=int, help="seed only the first N customers")
    parser.add_argument(
        "--force", action="store_true", help="empty the store and seed again"
    )
    parser.add_argument(
        "--if-unseeded",
        action="store_true",
        help="seed only a store that holds no seed yet; otherwise say what it holds",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")

    try:
        settings = get_settings()
        engine = make_engine(args.database_url or settings.database_url)
        today = args.today or settings.today or datetime.now(timezone.utc).date()
        try:
            if args.if_unseeded and not args.force:
                create_schema(engine)
                with engine.connect() as conn:
                    latest = conn.execute(
                        select(SeedInfo.__table__).order_by(SeedInfo.id.desc()).limit(1)
                    ).first()
                if latest is not None:
                    print(  # noqa: T201 (the command's answer)
                        f"seed: the store already holds the seed made for "
                        f"{latest.today} ({latest.n_customers or 'all'} customers); "
                        "order states are as of that day. `make reseed` starts over."
                    )
                    return 0
            seed_store(
                engine=engine,
                seed_dir=settings.seed_dir,
                today=today,
                n_customers=args.customers,
                random_seed=settings.random_seed,
                force=args.force,
            )
        finally:
            engine.dispose()
    except ShopBotError as exc:
        logger.error("seed.failed %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    # Imported by name so that the log shows crm_models.store.seed, not __main__.
    from crm_models.store.seed import main as _main

    raise SystemExit(_main())
