from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from crm_models.store.schema import (
    OrderStatus,
    PaymentStatus,
    RefundStatus,
    ShipmentStatus,
)
from crm_models.store.seed_plan import (
    SeedPlan,
    build_plan,
    carrier_and_tracking,
    derive_status,
    expected_delivery,
    is_merchandise,
    payment_status,
    pence,
)
from crm_models.store.seed_source import (
    ProductRow,
    SourceData,
    TransactionRow,
    read_source,
)
from tests.conftest import SEED_DIR, SEED_TODAY

TODAY = date(2025, 6, 13)  # a Friday


def at(day: str, clock: str = "10:00") -> datetime:
    return datetime.fromisoformat(f"{day} {clock}").replace(tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("placed", "status"),
    [
        (at("2025-06-13", "23:59"), OrderStatus.PROCESSING),  # today
        (at("2025-06-12", "00:01"), OrderStatus.PROCESSING),  # 1 day old
        (at("2025-06-11", "23:59"), OrderStatus.SHIPPED),  # 2 days old
        (at("2025-06-09", "00:00"), OrderStatus.SHIPPED),  # 4 days old
        (at("2025-06-08", "23:59"), OrderStatus.DELIVERED),  # 5 days old
        (at("2024-01-01"), OrderStatus.DELIVERED),  # long ago
    ],
)
def test_status_follows_the_age_in_days(placed: datetime, status: OrderStatus) -> None:
    assert derive_status(placed, TODAY) is status


@pytest.mark.parametrize(
    ("placed", "country", "expected"),
    [
        (at("2025-06-09"), "United Kingdom", date(2025, 6, 12)),  # Mon → Thu
        (at("2025-06-12"), "United Kingdom", date(2025, 6, 17)),  # Thu → Tue
        (at("2025-06-14"), "United Kingdom", date(2025, 6, 18)),  # Sat → Wed
        (at("2025-06-12"), "Germany", date(2025, 6, 19)),  # seven days abroad
    ],
)
def test_expected_delivery_counts_working_days_in_the_uk(
    placed: datetime, country: str, expected: date
) -> None:
    assert expected_delivery(placed, country) == expected


@pytest.mark.parametrize(
    ("pounds", "expected"),
    [("1.69", 169), ("0.125", 13), ("0.124", 12), ("0.001", 0), ("6880.54", 688054)],
)
def test_pence_rounds_half_up(pounds: str, expected: int) -> None:
    assert pence(Decimal(pounds)) == expected


@pytest.mark.parametrize(
    ("code", "description", "expected"),
    [
        ("84879", "ASSORTED COLOUR BIRD ORNAMENT", True),
        ("23099", "FRENCH CARRIAGE LANTERN", True),  # carriage, but a lantern
        ("22802", "FAUX FUR CHOCOLATE THROW", True),
        ("POST", "POSTAGE", False),
        ("C2", "CARRIAGE", False),
        ("23444", "Next Day Carriage", False),
        ("M", "Manual", False),
        ("gift_0001_10", "Dotcomgiftshop Gift Voucher £10.00", False),
        ("22016", "Dotcomgiftshop Gift Voucher £100.00", False),
        ("72732", "thrown away-can't sell", False),
        ("B", "Adjust bad debt", False),
    ],
)
def test_non_merchandise_is_recognised(
    code: str, description: str, expected: bool
) -> None:
    assert is_merchandise(code, description) is expected


def test_payment_shares_of_processing_orders_are_fixed_by_the_number() -> None:
    numbers = [str(500000 + i) for i in range(4000)]

    shares = Counter(payment_status(n, OrderStatus.PROCESSING) for n in numbers)

    assert 0.08 < shares[PaymentStatus.PENDING] / len(numbers) < 0.12
    assert 0.02 < shares[PaymentStatus.FAILED] / len(numbers) < 0.04
    assert [payment_status(n, OrderStatus.PROCESSING) for n in numbers[:50]] == [
        payment_status(n, OrderStatus.PROCESSING) for n in numbers[:50]
    ]
    assert payment_status("536367", OrderStatus.DELIVERED) is PaymentStatus.PAID
    assert payment_status("536367", OrderStatus.CANCELLED) is PaymentStatus.REFUNDED


def test_tracking_codes_are_fixed_by_the_number_and_country() -> None:
    assert carrier_and_tracking("536367", "Germany")[0] == "DHL"
    assert carrier_and_tracking("536367", "United Kingdom")[0] in {"Royal Mail", "DPD"}
    assert carrier_and_tracking("536367", "France") == carrier_and_tracking(
        "536367", "France"
    )


# ---------------------------------------------------------------- a made-up source


def sale(
    line: int, number: str, when: str, code: str, qty: int, price: str = "2.00"
) -> TransactionRow:
    return TransactionRow(
        line=line,
        invoice_no=number,
        invoiced_at=datetime.fromisoformat(when),
        customer_id=1,
        country="United Kingdom",
        stock_code=code,
        quantity=qty,
        unit_price=Decimal(price),
    )


def tiny_source(*rows: TransactionRow) -> SourceData:
    products = [
        ProductRow(2, "A", "RED MUG", Decimal("2.00")),
        ProductRow(3, "B", "BLUE MUG", Decimal("3.00")),
        ProductRow(4, "POST", "POSTAGE", Decimal("18")),
        ProductRow(5, "X", "", None),
    ]
    return SourceData(products=products, transactions=list(rows))


def orders_by_number(plan: SeedPlan) -> dict[str, dict]:
    return {row["order_number"]: row for row in plan.rows["orders"]}


def test_a_fully_reversed_order_is_cancelled_and_a_partial_return_refunded() -> None:
    source = tiny_source(
        sale(2, "100", "2011-11-01 10:00", "A", 2),
        sale(3, "100", "2011-11-01 10:00", "B", 1, "3.00"),
        sale(4, "C101", "2011-11-02 09:00", "A", -2),  # order 100 undone in full ...
        sale(5, "C101", "2011-11-02 09:00", "B", -1, "3.00"),  # ... within a day
        sale(6, "102", "2011-11-10 10:00", "A", 5),
        sale(7, "C103", "2011-11-20 10:00", "A", -1),  # one of five back: a refund
        sale(8, "104", "2011-12-09 12:00", "B", 1, "3.00"),  # the last day
    )

    plan = build_plan(source, today=date(2011, 12, 9), n_customers=None, random_seed=7)

    orders = orders_by_number(plan)
    assert orders["100"]["status"] is OrderStatus.CANCELLED
    assert orders["100"]["payment_status"] is PaymentStatus.REFUNDED
    assert orders["102"]["status"] is OrderStatus.DELIVERED
    assert orders["102"]["payment_status"] is PaymentStatus.PARTIALLY_REFUNDED
    assert orders["102"]["total_pence"] == 1000
    assert orders["104"]["status"] is OrderStatus.PROCESSING
    [refund] = plan.rows["refunds"]
    assert refund["order_id"] == orders["102"]["id"]
    assert refund["amount_pence"] == 200
    assert refund["status"] is RefundStatus.PAID
    assert refund["source"] == "return"
    shipments = {row["order_id"]: row for row in plan.rows["shipments"]}
    assert shipments[orders["100"]["id"]]["status"] is ShipmentStatus.CANCELLED
    assert shipments[orders["104"]["id"]]["tracking_code"] is None


def test_a_late_or_partial_reversal_is_a_refund_not_a_cancellation() -> None:
    source = tiny_source(
        sale(2, "100", "2011-10-01 10:00", "A", 2),
        sale(3, "C101", "2011-11-15 10:00", "A", -2),  # 45 days later
        sale(4, "102", "2011-11-20 10:00", "A", 1),
        sale(5, "102", "2011-11-20 10:00", "B", 1, "3.00"),
        sale(6, "C103", "2011-11-21 10:00", "A", -1),  # only one of two lines
        sale(7, "C104", "2011-11-22 10:00", "POST", -1, "18"),  # no order has it
        sale(8, "105", "2011-12-09 10:00", "A", -3),  # a sale cannot be negative
    )

    plan = build_plan(source, today=date(2011, 12, 9), n_customers=None, random_seed=7)

    assert {row["status"] for row in plan.rows["orders"]} == {OrderStatus.DELIVERED}
    orders = orders_by_number(plan)
    refunds = {row["reason"][-5:-1]: row for row in plan.rows["refunds"]}
    assert refunds["C101"]["order_id"] == orders["100"]["id"]
    assert refunds["C103"]["order_id"] == orders["102"]["id"]
    assert refunds["C104"]["order_id"] is None
    assert refunds["C104"]["amount_pence"] == 1800
    assert plan.skipped == {"negative_quantity_on_sale": 1}


def test_dates_move_by_whole_days_and_products_follow_the_quirks() -> None:
    source = tiny_source(
        sale(2, "100", "2011-12-01 08:34", "A", 1),
        sale(3, "101", "2011-12-09 12:50", "A", 1),
    )

    plan = build_plan(source, today=date(2025, 6, 13), n_customers=None, random_seed=7)

    assert plan.shift_days == (date(2025, 6, 13) - date(2011, 12, 9)).days
    placed = [row["placed_at"] for row in plan.rows["orders"]]
    assert placed == [at("2025-06-05", "08:34"), at("2025-06-13", "12:50")]
    products = {row["stock_code"]: row for row in plan.rows["products"]}
    assert products["X"]["name"] == "X"
    assert products["X"]["active"] is False
    assert products["POST"]["is_merchandise"] is False
    assert products["A"]["unit_price_pence"] == 200
    [customer] = plan.rows["customers"]
    assert customer["email"].endswith(".1@example.com")
    assert customer["created_at"] == at("2025-06-05", "08:34")


# ---------------------------------------------------------------- the real data


@pytest.fixture(scope="module")
def real_source() -> SourceData:
    return read_source(SEED_DIR)


@pytest.fixture(scope="module")
def full_plan(real_source: SourceData) -> SeedPlan:
    return build_plan(real_source, today=SEED_TODAY, n_customers=None, random_seed=7)


def test_the_full_data_gives_every_status(full_plan: SeedPlan) -> None:
    statuses = full_plan.order_statuses()

    assert all(statuses[status.value] > 0 for status in OrderStatus), statuses
    assert full_plan.row_counts()["customers"] == 2000
    payments = Counter(row["payment_status"] for row in full_plan.rows["orders"])
    assert payments[PaymentStatus.PENDING] > 0


def test_the_full_data_keeps_every_credit_note(
    real_source: SourceData, full_plan: SeedPlan
) -> None:
    credit_notes = {
        r.invoice_no for r in real_source.transactions if r.invoice_no[0] == "C"
    }
    refunded = {
        row["reason"].rsplit(" ", 1)[-1][:-1] for row in full_plan.rows["refunds"]
    }

    # Each credit note is a refund or went (fully) into cancellations.
    used = full_plan.notes["credit_notes_used_by_cancellations"]
    zero = full_plan.skipped.get("credit_note_of_zero_value", 0)
    assert refunded <= credit_notes
    assert len(refunded) + used + zero == len(credit_notes)


def test_the_full_data_has_whole_pence_and_aware_times(full_plan: SeedPlan) -> None:
    for row in full_plan.rows["orders"]:
        assert type(row["total_pence"]) is int
        assert row["placed_at"].tzinfo is timezone.utc
        assert row["updated_at"] >= row["placed_at"]
    for row in full_plan.rows["order_lines"]:
        assert type(row["unit_price_pence"]) is int
        assert row["quantity"] > 0


def test_a_plan_is_the_same_every_time(real_source: SourceData) -> None:
    first = build_plan(real_source, today=SEED_TODAY, n_customers=60, random_seed=7)
    second = build_plan(real_source, today=SEED_TODAY, n_customers=60, random_seed=7)

    assert first.rows == second.rows
    # The first customers keep their names when more customers are seeded.
    assert (
        first.rows["customers"][:5]
        == build_plan(real_source, today=SEED_TODAY, n_customers=5, random_seed=7).rows[
            "customers"
        ]
    )
