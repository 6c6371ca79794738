"""Command line of the CRM store.

    python -m crm_models.store seed [--database-url URL] [--today D] [--customers N]
                                    [--force]
    python -m crm_models.store stats [--database-url URL]

``seed`` is ``python -m crm_models.store.seed``; ``stats`` prints the row count of
every table and the orders by status.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sqlalchemy import func, inspect, select

from crm_models.errors import ShopBotError
from crm_models.store import seed
from crm_models.store.db import make_engine
from crm_models.store.schema import Base, Order


def stats(database_url: str) -> dict[str, dict[str, int]]:
    """Row counts per table and orders per status of the store at ``database_url``."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            present = inspect(conn)
            tables = {
                table.name: conn.scalar(select(func.count()).select_from(table)) or 0
                for table in Base.metadata.sorted_tables
                if present.has_table(table.name)
            }
            statuses: dict[str, int] = {}
            if "orders" in tables:
                statuses = {
                    str(status): count
                    for status, count in conn.execute(
                        select(Order.status, func.count()).group_by(Order.status)
                    )
                }
    finally:
        engine.dispose()
    return {"tables": tables, "order_statuses": statuses}


def main(argv: Sequence[str] | None = None) -> int:
    """Run a store command; 0 on success."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["seed"]:
        return seed.main(args[1:])

    parser = argparse.ArgumentParser(prog="python -m crm_models.store")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("seed", help="seed the store (see --help of that command)")
    show = commands.add_parser("stats", help="row counts and orders by status")
    show.add_argument("--database-url", help="the store (default: SHOP_DATABASE_URL)")
    parsed = parser.parse_args(args)

    from crm_models.settings import get_settings

    try:
        figures = stats(parsed.database_url or get_settings().database_url)
    except ShopBotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, count in figures["tables"].items():
        print(f"{name:24} {count:>9}")
    print()
    for status, count in sorted(figures["order_statuses"].items()):
        print(f"orders {status:17} {count:>9}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
