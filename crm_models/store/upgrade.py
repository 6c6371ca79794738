"""Bring an existing store's tables up to the model: add the columns it lacks.

The store has no migrations. ``create_all`` creates missing tables but leaves an
existing table as it is, so a column added to ``schema.py`` later would be missing
from a store made before. ``upgrade_schema`` adds such columns with ``ALTER TABLE ...
ADD COLUMN``, which is safe for every row already there when the column may be NULL
or has a server default; with it go the column's foreign key (inline) and its
indexes. Anything else is refused with an error naming the table and column, and
needs a hand-written step:

- a NOT NULL column without a server default (existing rows would have no value);
- a primary-key column, or one in a unique constraint (SQLite cannot add either).

Nothing is ever dropped, renamed or retyped. Columns are added one by one, each in
its own transaction; a column another process added meanwhile counts as added.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Column, Engine, Index, MetaData, Table, UniqueConstraint, inspect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateColumn

from crm_models.errors import ShopBotError
from crm_models.store.schema import Base

logger = logging.getLogger(__name__)


class SchemaUpgradeError(ShopBotError):
    """A model column cannot be added to an existing table automatically."""


@dataclass(frozen=True)
class AddedColumn:
    """A column ``upgrade_schema`` added."""

    table: str
    column: str


def _refusal(table: Table, column: Column[object]) -> str | None:
    """Why ``column`` cannot be added to the existing ``table``; None if it can."""
    where = f"table {table.name}, column {column.name}"
    if column.primary_key:
        return f"{where}: a primary-key column cannot be added to an existing table"
    unique = column.unique or any(
        isinstance(constraint, UniqueConstraint) and column.name in constraint.columns
        for constraint in table.constraints
    )
    if unique:
        return f"{where}: a column under a unique constraint needs a hand-written step"
    if not column.nullable and column.server_default is None:
        return (
            f"{where}: NOT NULL without a server default, so the rows already there "
            "would have no value; give it a server_default or make it nullable, or "
            "add it by hand"
        )
    return None


def _column_ddl(engine: Engine, table: Table, column: Column[object]) -> str:
    """``ALTER TABLE ... ADD COLUMN ...`` for ``column``, its foreign key inline."""
    preparer = engine.dialect.identifier_preparer
    ddl = str(CreateColumn(column).compile(dialect=engine.dialect))
    for foreign_key in column.foreign_keys:
        target = foreign_key.column
        ddl += (
            f" REFERENCES {preparer.format_table(target.table)}"
            f" ({preparer.quote(target.name)})"
        )
    return f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN {ddl}"


def _column_names(engine: Engine, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


def missing_columns(
    engine: Engine, metadata: MetaData = Base.metadata
) -> dict[str, list[str]]:
    """The model columns each existing table lacks (tables that lack none left out)."""
    existing = set(inspect(engine).get_table_names())
    missing: dict[str, list[str]] = {}
    for table in metadata.sorted_tables:
        if table.name not in existing:
            continue
        present = _column_names(engine, table.name)
        absent = [c.name for c in table.columns if c.name not in present]
        if absent:
            missing[table.name] = absent
    return missing


def upgrade_schema(
    engine: Engine, metadata: MetaData = Base.metadata
) -> list[AddedColumn]:
    """Add the model's missing columns to the existing tables of the store.

    Tables that do not exist are left to ``create_all``. Every missing column is
    checked before the first is added, so a refusal changes nothing.

    Args:
        engine: the store.
        metadata: the model (the CRM tables by default).

    Returns:
        The columns added, in table order.

    Raises:
        SchemaUpgradeError: a missing column cannot be added safely, or the
            database refused to add it; the message names the table and column.
    """
    missing = missing_columns(engine, metadata)
    if not missing:
        return []

    planned: list[tuple[Table, Column[object]]] = []
    for table in metadata.sorted_tables:
        for name in missing.get(table.name, []):
            column = table.columns[name]
            refusal = _refusal(table, column)
            if refusal is not None:
                raise SchemaUpgradeError(refusal)
            planned.append((table, column))

    added: list[AddedColumn] = []
    for table, column in planned:
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql(_column_ddl(engine, table, column))
        except DBAPIError as exc:
            if column.name in _column_names(engine, table.name):
                # Another process opening the store added it meanwhile.
                continue
            raise SchemaUpgradeError(
                f"table {table.name}, column {column.name}: the database refused to "
                f"add it: {exc.orig}"
            ) from exc
        added.append(AddedColumn(table.name, column.name))
        logger.info("store.upgrade.added table=%s column=%s", table.name, column.name)

    # The indexes of the new columns (create_all made those of new tables only).
    new_columns = {(a.table, a.column) for a in added}
    for table in metadata.sorted_tables:
        for index in table.indexes:
            if any((table.name, c.name) in new_columns for c in index.columns):
                _create_index(engine, table, index)
    return added


def _create_index(engine: Engine, table: Table, index: Index) -> None:
    try:
        index.create(engine, checkfirst=True)
    except DBAPIError as exc:
        if index.name not in {
            i["name"] for i in inspect(engine).get_indexes(table.name)
        }:
            raise SchemaUpgradeError(
                f"table {table.name}: the index {index.name} of the new columns could "
                f"not be made: {exc.orig}"
            ) from exc
