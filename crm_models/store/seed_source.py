"""Reading and checking the seed's input files (the UCI Online Retail extract).

Two files in the seed directory (see data/crm/SOURCE.md):

- ``products.csv``: stock_code, description, median_unit_price_gbp, ...
- ``transactions.csv.gz``: invoice_no, invoice_date, customer_id, country,
  stock_code, description, quantity, unit_price_gbp, is_cancellation

Every row is checked; the first unusable one raises ``DataError`` naming the file and
line. Quirks of the real data that are *not* errors (empty descriptions, empty or zero
prices, cancellations with negative quantities) pass through unchanged: the seed
decides what to do with them.
"""

from __future__ import annotations

import csv
import gzip
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TextIO

from crm_models.errors import DataError

logger = logging.getLogger(__name__)

PRODUCTS_FILE = "products.csv"
TRANSACTIONS_FILE = "transactions.csv.gz"

_PRODUCT_COLUMNS = ("stock_code", "description", "median_unit_price_gbp")
_TRANSACTION_COLUMNS = (
    "invoice_no",
    "invoice_date",
    "customer_id",
    "country",
    "stock_code",
    "quantity",
    "unit_price_gbp",
    "is_cancellation",
)


@dataclass(frozen=True, slots=True)
class ProductRow:
    """One stock code; ``price`` is None where the source has no price."""

    line: int
    stock_code: str
    description: str
    price: Decimal | None


@dataclass(frozen=True, slots=True)
class TransactionRow:
    """One invoice line; ``invoiced_at`` is naive, as in the source."""

    line: int
    invoice_no: str
    invoiced_at: datetime
    customer_id: int
    country: str
    stock_code: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class SourceData:
    """Both input files, checked."""

    products: list[ProductRow]
    transactions: list[TransactionRow]


def read_source(seed_dir: Path) -> SourceData:
    """Read and check both input files of ``seed_dir``.

    Raises:
        DataError: a file is missing, or a row is malformed (the message names the
            file and line number).
    """
    products = read_products(seed_dir / PRODUCTS_FILE)
    transactions = read_transactions(
        seed_dir / TRANSACTIONS_FILE, known_codes={p.stock_code for p in products}
    )
    logger.info(
        "seed.source.read products=%s transactions=%s", len(products), len(transactions)
    )
    return SourceData(products=products, transactions=transactions)


def read_products(path: Path) -> list[ProductRow]:
    """Read ``products.csv``; stock codes must be unique and prices non-negative."""
    rows: list[ProductRow] = []
    seen: set[str] = set()
    for line, get in _records(path, _PRODUCT_COLUMNS):
        code = get("stock_code").strip()
        if not code:
            raise DataError(f"{path} line {line}: empty stock_code")
        if code in seen:
            raise DataError(f"{path} line {line}: stock_code {code!r} repeated")
        seen.add(code)
        raw_price = get("median_unit_price_gbp").strip()
        price = (
            _decimal(raw_price, path, line, "median_unit_price_gbp")
            if raw_price
            else None
        )
        rows.append(ProductRow(line, code, get("description").strip(), price))
    return rows


def read_transactions(path: Path, *, known_codes: set[str]) -> list[TransactionRow]:
    """Read ``transactions.csv.gz``; every stock code must be in ``known_codes``."""
    rows: list[TransactionRow] = []
    for line, get in _records(path, _TRANSACTION_COLUMNS):
        invoice_no = get("invoice_no").strip()
        if not invoice_no:
            raise DataError(f"{path} line {line}: empty invoice_no")
        code = get("stock_code").strip()
        if code not in known_codes:
            raise DataError(f"{path} line {line}: unknown stock_code {code!r}")
        flag = get("is_cancellation").strip()
        if flag not in ("0", "1"):
            raise DataError(f"{path} line {line}: is_cancellation must be 0 or 1")
        if (flag == "1") != invoice_no.startswith("C"):
            raise DataError(
                f"{path} line {line}: is_cancellation={flag} disagrees with "
                f"invoice {invoice_no!r}"
            )
        country = get("country").strip()
        if not country:
            raise DataError(f"{path} line {line}: empty country")
        rows.append(
            TransactionRow(
                line=line,
                invoice_no=invoice_no,
                invoiced_at=_datetime(get("invoice_date"), path, line),
                customer_id=_int(get("customer_id"), path, line, "customer_id"),
                country=country,
                stock_code=code,
                quantity=_int(get("quantity"), path, line, "quantity"),
                unit_price=_decimal(
                    get("unit_price_gbp"), path, line, "unit_price_gbp"
                ),
            )
        )
    return rows


def _records(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, _Getter]]:
    """Yield (line number, field getter) for each data row of a CSV file."""
    try:
        with _open(path) as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise DataError(f"{path} line 1: empty file, no header")
            missing = [name for name in columns if name not in header]
            if missing:
                raise DataError(f"{path} line 1: missing columns {', '.join(missing)}")
            index = {name: header.index(name) for name in columns}
            width = len(header)
            for row in reader:
                if not row:
                    continue
                if len(row) != width:
                    raise DataError(
                        f"{path} line {reader.line_num}: {len(row)} fields, "
                        f"expected {width}"
                    )
                yield reader.line_num, _Getter(row, index)
    except FileNotFoundError as exc:
        raise DataError(f"{path}: seed file not found") from exc
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot be read ({exc})") from exc


class _Getter:
    """Field access by column name for one CSV row."""

    __slots__ = ("_index", "_row")

    def __init__(self, row: list[str], index: dict[str, int]) -> None:
        self._row = row
        self._index = index

    def __call__(self, name: str) -> str:
        return self._row[self._index[name]]


def _open(path: Path) -> TextIO:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def _int(raw: str, path: Path, line: int, column: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise DataError(
            f"{path} line {line}: {column}={raw!r} is not a whole number"
        ) from None


def _decimal(raw: str, path: Path, line: int, column: str) -> Decimal:
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value < 0:
        raise DataError(f"{path} line {line}: {column}={raw!r} is not a price")
    return value


def _datetime(raw: str, path: Path, line: int) -> datetime:
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise DataError(
            f"{path} line {line}: invoice_date={raw!r} is not 'YYYY-MM-DD HH:MM'"
        ) from None
    if value.tzinfo is not None:
        raise DataError(f"{path} line {line}: invoice_date={raw!r} has a time zone")
    return value
