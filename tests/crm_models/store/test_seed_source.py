from __future__ import annotations

import gzip
from decimal import Decimal
from pathlib import Path

import pytest

from crm_models.errors import DataError
from crm_models.store.seed_source import (
    PRODUCTS_FILE,
    TRANSACTIONS_FILE,
    read_source,
)

PRODUCTS_HEADER = "stock_code,description,median_unit_price_gbp,n_lines\n"
PRODUCTS = (
    PRODUCTS_HEADER + "84879,ASSORTED COLOUR BIRD ORNAMENT,1.69,10\nPOST,POSTAGE,18,3\n"
)
SALES_HEADER = (
    "invoice_no,invoice_date,customer_id,country,stock_code,description,quantity,"
    "unit_price_gbp,is_cancellation\n"
)
GOOD_LINE = "536367,2010-12-01 08:34,13047,United Kingdom,84879,BIRD,32,1.69,0\n"


def write_seed_dir(
    folder: Path, *, products: str = PRODUCTS, sales: str = SALES_HEADER + GOOD_LINE
) -> Path:
    (folder / PRODUCTS_FILE).write_text(products, encoding="utf-8")
    with gzip.open(folder / TRANSACTIONS_FILE, "wt", encoding="utf-8") as handle:
        handle.write(sales)
    return folder


def test_a_well_formed_directory_is_read_with_exact_types(tmp_path: Path) -> None:
    source = read_source(write_seed_dir(tmp_path))

    assert [p.stock_code for p in source.products] == ["84879", "POST"]
    [row] = source.transactions
    assert row.line == 2
    assert row.quantity == 32
    assert row.unit_price == Decimal("1.69")
    assert row.customer_id == 13047
    assert row.invoiced_at.isoformat() == "2010-12-01T08:34:00"


def test_cancellation_lines_and_missing_prices_are_not_errors(tmp_path: Path) -> None:
    products = PRODUCTS + "10134,,,0\n"  # no description, no price: a real quirk
    sales = (
        SALES_HEADER
        + GOOD_LINE
        + "C536379,2010-12-01 09:41,13047,United Kingdom,84879,BIRD,-1,1.69,1\n"
    )

    source = read_source(write_seed_dir(tmp_path, products=products, sales=sales))

    assert source.products[-1].price is None
    assert source.transactions[-1].quantity == -1


@pytest.mark.parametrize(
    ("bad_line", "problem"),
    [
        # quantity is not a number
        (
            "536367,2010-12-01 08:34,13047,United Kingdom,84879,BIRD,many,1.69,0",
            "quantity",
        ),
        # date in the wrong format
        (
            "536367,01/12/2010 08:34,13047,United Kingdom,84879,BIRD,32,1.69,0",
            "invoice_date",
        ),
        # a price that is not a price
        (
            "536367,2010-12-01 08:34,13047,United Kingdom,84879,BIRD,32,-1.69,0",
            "unit_price_gbp",
        ),
        # a stock code products.csv does not know
        (
            "536367,2010-12-01 08:34,13047,United Kingdom,99999,X,32,1.69,0",
            "unknown stock_code",
        ),
        # a field missing
        ("536367,2010-12-01 08:34,13047,United Kingdom,84879,32,1.69,0", "fields"),
        # the flag disagrees with the invoice number
        (
            "536367,2010-12-01 08:34,13047,United Kingdom,84879,BIRD,32,1.69,1",
            "disagrees",
        ),
        # customer id missing
        ("536367,2010-12-01 08:34,,United Kingdom,84879,BIRD,32,1.69,0", "customer_id"),
    ],
)
def test_a_malformed_transaction_names_the_file_and_line(
    tmp_path: Path, bad_line: str, problem: str
) -> None:
    write_seed_dir(
        tmp_path, sales=SALES_HEADER + GOOD_LINE + GOOD_LINE + bad_line + "\n"
    )

    with pytest.raises(DataError, match=problem) as caught:
        read_source(tmp_path)

    assert TRANSACTIONS_FILE in str(caught.value)
    assert "line 4" in str(caught.value)


@pytest.mark.parametrize(
    ("products", "problem"),
    [
        # a price that is not a number
        (PRODUCTS_HEADER + "84879,BIRD,cheap,1\n", "line 2: median_unit_price_gbp"),
        # the same stock code twice
        (PRODUCTS + "POST,POSTAGE AGAIN,18,1\n", "line 4: stock_code 'POST' repeated"),
        # a required column missing
        ("stock_code,description\n84879,BIRD\n", "line 1: missing columns"),
    ],
)
def test_a_malformed_product_names_the_file_and_line(
    tmp_path: Path, products: str, problem: str
) -> None:
    write_seed_dir(tmp_path, products=products)

    with pytest.raises(DataError, match=problem) as caught:
        read_source(tmp_path)

    assert PRODUCTS_FILE in str(caught.value)


def test_a_missing_or_unreadable_file_is_a_data_error(tmp_path: Path) -> None:
    write_seed_dir(tmp_path)
    (tmp_path / TRANSACTIONS_FILE).write_bytes(b"not gzip at all")

    with pytest.raises(DataError, match="cannot be read"):
        read_source(tmp_path)
    (tmp_path / TRANSACTIONS_FILE).unlink()
    with pytest.raises(DataError, match="not found"):
        read_source(tmp_path)
