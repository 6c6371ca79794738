"""The seed's rules: how source rows become customers, orders, shipments and refunds.

Pure functions, no database: ``build_plan`` returns every row to insert. Every rule
is deterministic (hashes of order numbers and a seeded generator, never ``random()``):

- Dates: every timestamp moves by a whole number of days so that the data's last
  invoice day lands on ``today``. NOTE: the source's local times are taken as UTC.
- Status by age at ``today`` (``derive_status``): under 2 days processing (shipment
  pending, no tracking), under 5 shipped (in transit, tracking code), older
  delivered (2-4 days after placing). Expected delivery: 3 working days in the UK,
  7 days elsewhere.
- Payment: paid; of processing orders about 10% pending and 3% failed. An order with
  a credit note linked is partially refunded (refunded when it covers the total).
- Credit notes ("C" invoices): an order fully reversed by the customer's later credit
  notes within 30 days is cancelled (payment refunded, shipment cancelled); what
  else the credit notes hold becomes paid refunds (source "return") linked to the
  customer's latest earlier uncancelled order with one of its stock codes.
- Repeated lines of one product at one price in an invoice are merged.
- Customers: made-up names, ``first.last.<id>@example.com``, the most frequent
  country (a tie goes to the earliest), created at the first invoice.
- Products: no description → named by stock code and inactive; no price → inactive.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from crm_models.errors import DataError
from crm_models.store.schema import (
    OrderStatus,
    PaymentStatus,
    RefundStatus,
    ShipmentStatus,
)
from crm_models.store.seed_source import TRANSACTIONS_FILE, SourceData

# Bump when a rule here changes: the seed checksum changes and old seeds are refused.
SEED_RULES_VERSION = 1

UK = "United Kingdom"
CANCEL_WINDOW = timedelta(days=30)
PENDING_PAYMENT_PERCENT = 10
FAILED_PAYMENT_PERCENT = 3
NEWSLETTER_SHARE = 0.3

TABLES = ("products", "customers", "orders", "order_lines", "shipments", "refunds")

_NON_MERCHANDISE_CODES = frozenset((
    "POST", "DOT", "M", "D", "C2", "CRUK", "BANK CHARGES", "AMAZONFEE", "PADS", "S",
    "B",
))  # fmt: skip
# Fees, postage, adjustments and the warehouse's stock notes ("thrown away").
# "carriage" only at the end, so "FRENCH CARRIAGE LANTERN" stays merchandise.
_NON_MERCHANDISE_TEXT = re.compile(
    r"postage|carriage\s*$|\bmanual\b|discount|adjust|voucher|\bfees?\b|commission"
    r"|bank charges?|packing charge|\bsamples?\b|thrown|throw away|\bdamages?\b"
    r"|unsaleable|destroyed|\bfound\b|\bebay\b|high resolution image",
    re.IGNORECASE,
)

FIRST_NAMES = (
    "Amira", "Ben", "Chloe", "Dmitri", "Elena", "Farah", "George", "Hana", "Ibrahim",
    "Jade", "Kofi", "Lena", "Mateo", "Nadia", "Oliver", "Priya", "Quentin", "Rosa",
    "Samuel", "Tara", "Umar", "Vera", "William", "Ximena", "Yusuf", "Zoe", "Aisha",
    "Bruno", "Clara", "Daniel", "Emma", "Felix", "Grace", "Hugo", "Isla", "Jonas",
)  # fmt: skip
LAST_NAMES = (
    "Adeyemi", "Bauer", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hughes",
    "Ivanova", "Jensen", "Kowalski", "Larsen", "Moreau", "Nakamura", "Okafor", "Patel",
    "Quinn", "Rossi", "Schmidt", "Tanaka", "Usman", "Varga", "Walsh", "Xu", "Yilmaz",
    "Zhang", "Andersen", "Brennan", "Chen", "Doyle", "Ferreira", "Hansen", "Murphy",
)  # fmt: skip

Row = dict[str, Any]


# ---------------------------------------------------------------- rules


def pence(amount: Decimal) -> int:
    """Pounds to whole pence, rounding half up (0.125 → 13)."""
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def is_merchandise(stock_code: str, description: str) -> bool:
    """False for postage, fees, vouchers, manual adjustments and stock notes."""
    if stock_code.upper() in _NON_MERCHANDISE_CODES:
        return False
    if stock_code.lower().startswith("gift_"):
        return False
    return _NON_MERCHANDISE_TEXT.search(description) is None


def derive_status(placed_at: datetime, today: date) -> OrderStatus:
    """An uncancelled order's status from its age in whole days at ``today``."""
    age = (today - placed_at.date()).days
    if age < 2:
        return OrderStatus.PROCESSING
    if age < 5:
        return OrderStatus.SHIPPED
    return OrderStatus.DELIVERED


def expected_delivery(placed_at: datetime, country: str) -> date:
    """Three working days (Mon-Fri) after placing in the UK, seven days elsewhere."""
    day = placed_at.date()
    if country != UK:
        return day + timedelta(days=7)
    working_days = 0
    while working_days < 3:
        day += timedelta(days=1)
        if day.weekday() < 5:
            working_days += 1
    return day


def payment_status(order_number: str, status: OrderStatus) -> PaymentStatus:
    """Paid, except a fixed share of processing orders (pending or failed)."""
    if status is OrderStatus.CANCELLED:
        return PaymentStatus.REFUNDED
    if status is not OrderStatus.PROCESSING:
        return PaymentStatus.PAID
    bucket = _hash(order_number, "payment") % 100
    if bucket < FAILED_PAYMENT_PERCENT:
        return PaymentStatus.FAILED
    if bucket < FAILED_PAYMENT_PERCENT + PENDING_PAYMENT_PERCENT:
        return PaymentStatus.PENDING
    return PaymentStatus.PAID


def carrier_and_tracking(order_number: str, country: str) -> tuple[str, str]:
    """The carrier of an order and the tracking code it gets once shipped."""
    value = _hash(order_number, "tracking")
    if country != UK:
        return "DHL", f"JD{value % 10**18:018d}"
    if value % 2 == 0:
        return "Royal Mail", f"RM{value % 10**9:09d}GB"
    return "DPD", f"{value % 10**14:014d}"


def _hash(order_number: str, purpose: str) -> int:
    digest = hashlib.sha256(f"{purpose}:{order_number}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


# ---------------------------------------------------------------- plan


@dataclass
class SeedPlan:
    """Every row the seed will insert, per table, plus what it left out and why."""

    today: date
    shift_days: int
    rows: dict[str, list[Row]]
    skipped: Counter[str]  # source rows not used, by reason
    notes: Counter[str]  # how the rules were applied, for the log

    def row_counts(self) -> dict[str, int]:
        return {name: len(self.rows[name]) for name in TABLES}

    def order_statuses(self) -> dict[str, int]:
        counts = Counter(row["status"] for row in self.rows["orders"])
        return {status.value: counts[status] for status in OrderStatus}


@dataclass
class _Invoice:
    number: str
    customer_id: int
    country: str
    placed: datetime  # naive source time of its earliest line
    is_return: bool
    # (stock code, unit pence) -> quantity; positive on credit notes too
    lines: dict[tuple[str, int], int] = field(default_factory=dict)

    @property
    def key(self) -> tuple[datetime, str]:
        return (self.placed, self.number)

    def codes(self) -> set[str]:
        return {code for code, _ in self.lines}


@dataclass
class _Refund:
    credit: _Invoice
    amount_pence: int
    order_number: str | None


class _Planner:
    """Holds the shared state of one ``build_plan`` call."""

    def __init__(self, source: SourceData, today: date) -> None:
        self.source = source
        self.today = today
        last_day = max(row.invoiced_at for row in source.transactions).date()
        self.shift = timedelta(days=(today - last_day).days)
        self.skipped: Counter[str] = Counter()
        self.notes: Counter[str] = Counter()
        self.product_ids = {
            p.stock_code: i for i, p in enumerate(source.products, start=1)
        }
        self.first_seen: dict[int, datetime] = {}
        self.cancelled_at: dict[str, datetime] = {}  # order number -> source time

    def shifted(self, moment: datetime) -> datetime:
        return (moment + self.shift).replace(tzinfo=timezone.utc)

    def product_rows(self) -> list[Row]:
        start_of_today = datetime.combine(self.today, time(0), tzinfo=timezone.utc)
        return [
            {
                "id": self.product_ids[p.stock_code],
                "stock_code": p.stock_code,
                "name": p.description or p.stock_code,
                "unit_price_pence": pence(p.price) if p.price is not None else 0,
                "is_merchandise": is_merchandise(p.stock_code, p.description),
                # No description or no price: nothing we could sell.
                "active": bool(p.description) and p.price is not None,
                "updated_at": start_of_today,
            }
            for p in self.source.products
        ]

    def invoices(self, chosen: set[int]) -> list[_Invoice]:
        """The chosen customers' usable rows grouped into invoices, in time order."""
        invoices: dict[str, _Invoice] = {}
        for row in self.source.transactions:
            if row.customer_id not in chosen:
                continue
            seen = self.first_seen.get(row.customer_id)
            if seen is None or row.invoiced_at < seen:
                self.first_seen[row.customer_id] = row.invoiced_at
            is_return = row.invoice_no.startswith("C")
            if not row.invoice_no[int(is_return) :].isdigit():
                self.skipped["unknown_invoice_type"] += 1
                continue
            if row.quantity == 0:
                self.skipped["zero_quantity"] += 1
                continue
            if is_return and row.quantity > 0:
                self.skipped["positive_quantity_on_credit_note"] += 1
                continue
            if not is_return and row.quantity < 0:
                self.skipped["negative_quantity_on_sale"] += 1
                continue

            invoice = invoices.get(row.invoice_no)
            if invoice is None:
                invoice = invoices[row.invoice_no] = _Invoice(
                    row.invoice_no,
                    row.customer_id,
                    row.country,
                    row.invoiced_at,
                    is_return,
                )
            elif invoice.customer_id != row.customer_id:
                raise DataError(
                    f"{TRANSACTIONS_FILE} line {row.line}: invoice {row.invoice_no} "
                    "belongs to two customers"
                )
            invoice.placed = min(invoice.placed, row.invoiced_at)
            key = (row.stock_code, pence(row.unit_price))
            if key in invoice.lines:
                self.notes["repeated_lines_merged"] += 1
            invoice.lines[key] = invoice.lines.get(key, 0) + abs(row.quantity)
        return sorted(invoices.values(), key=lambda invoice: invoice.key)

    def customer_rows(
        self, chosen: list[int], by_customer: dict[int, list[_Invoice]], seed: int
    ) -> list[Row]:
        """Customers in id order, with made-up names from a seeded generator."""
        rng = random.Random(seed)
        rows = []
        for customer_id in chosen:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            newsletter = rng.random() < NEWSLETTER_SHARE
            countries = Counter(inv.country for inv in by_customer[customer_id])
            rows.append(
                {
                    "id": customer_id,
                    "name": f"{first} {last}",
                    "email": f"{first}.{last}.{customer_id}@example.com".lower(),
                    "country": countries.most_common(1)[0][0] if countries else UK,
                    "created_at": self.shifted(self.first_seen[customer_id]),
                    "newsletter": newsletter,
                }
            )
        return rows

    def settle_credit_notes(self, invoices: list[_Invoice]) -> list[_Refund]:
        """One customer's credit notes: cancel what they reverse, refund the rest."""
        sales = [inv for inv in invoices if not inv.is_return]
        credits = [inv for inv in invoices if inv.is_return]
        remaining = self._cancel_reversed_orders(sales, credits)
        refunds = []
        for credit in credits:
            left = {key: qty for key, qty in remaining[credit.number].items() if qty}
            if not left:
                self.notes["credit_notes_used_by_cancellations"] += 1
                continue
            if left != credit.lines:
                self.notes["credit_notes_partly_used_by_cancellations"] += 1
            amount = sum(qty * unit for (_, unit), qty in left.items())
            if amount == 0:
                self.skipped["credit_note_of_zero_value"] += 1
                continue
            order = self._latest_order_with(sales, credit, {c for c, _ in left})
            if order is None:
                self.notes["refunds_without_order"] += 1
            refunds.append(_Refund(credit, amount, order.number if order else None))
        return refunds

    def _cancel_reversed_orders(
        self, sales: list[_Invoice], credits: list[_Invoice]
    ) -> dict[str, dict[tuple[str, int], int]]:
        """Cancel orders fully reversed within 30 days; return what each note has left.

        Orders are tried newest first, so a credit note goes to the latest order
        before it; the quantities a cancellation takes are used up.
        """
        remaining = {credit.number: dict(credit.lines) for credit in credits}
        for sale in reversed(sales):
            window = [
                credit
                for credit in credits
                if sale.placed <= credit.placed <= sale.placed + CANCEL_WINDOW
            ]
            needed: Counter[str] = Counter()
            for (code, _), qty in sale.lines.items():
                needed[code] += qty
            available: Counter[str] = Counter()
            for credit in window:
                for (code, _), qty in remaining[credit.number].items():
                    available[code] += qty
            if not window or any(available[c] < qty for c, qty in needed.items()):
                continue

            last_used = sale.placed
            for code, wanted in needed.items():
                for credit in window:
                    left = remaining[credit.number]
                    for key in [k for k in left if k[0] == code and left[k]]:
                        taken = min(wanted, left[key])
                        left[key] -= taken
                        wanted -= taken
                        last_used = max(last_used, credit.placed)
                        if wanted == 0:
                            break
                    if wanted == 0:
                        break
            self.cancelled_at[sale.number] = last_used
            self.notes["orders_cancelled_by_credit_notes"] += 1
        return remaining

    def _latest_order_with(
        self, sales: list[_Invoice], credit: _Invoice, codes: set[str]
    ) -> _Invoice | None:
        """The latest uncancelled order before ``credit`` holding one of ``codes``."""
        for sale in reversed(sales):
            if sale.placed > credit.placed or sale.number in self.cancelled_at:
                continue
            if codes & sale.codes():
                return sale
        return None

    def order_rows(
        self, sales: list[_Invoice], refunds: list[_Refund]
    ) -> tuple[list[Row], list[Row], list[Row]]:
        """Orders (numbered in time order), their lines and their shipments."""
        refunds_of: dict[str, list[_Refund]] = defaultdict(list)
        for refund in refunds:
            if refund.order_number is not None:
                refunds_of[refund.order_number].append(refund)
        orders: list[Row] = []
        lines: list[Row] = []
        shipments: list[Row] = []
        for order_id, sale in enumerate(sales, start=1):
            placed_at = self.shifted(sale.placed)
            total = 0
            for (code, unit), qty in sale.lines.items():
                total += qty * unit
                lines.append(
                    {
                        "id": len(lines) + 1,
                        "order_id": order_id,
                        "product_id": self.product_ids[code],
                        "quantity": qty,
                        "unit_price_pence": unit,
                    }
                )

            events = [placed_at]
            if sale.number in self.cancelled_at:
                status = OrderStatus.CANCELLED
                events.append(self.shifted(self.cancelled_at[sale.number]))
            else:
                status = derive_status(placed_at, self.today)
            payment = payment_status(sale.number, status)
            linked = refunds_of.get(sale.number, [])
            if linked and payment is PaymentStatus.PAID:
                refunded = sum(refund.amount_pence for refund in linked)
                payment = (
                    PaymentStatus.REFUNDED
                    if refunded >= total
                    else PaymentStatus.PARTIALLY_REFUNDED
                )
            events += [self.shifted(refund.credit.placed) for refund in linked]
            shipment = _shipment_row(order_id, sale, placed_at, status)
            events += [shipment["shipped_at"], shipment["delivered_at"]]

            orders.append(
                {
                    "id": order_id,
                    "order_number": sale.number,
                    "customer_id": sale.customer_id,
                    "placed_at": placed_at,
                    "status": status,
                    "payment_status": payment,
                    "total_pence": total,
                    "currency": "GBP",
                    "shipping_country": sale.country,
                    "updated_at": max(event for event in events if event is not None),
                }
            )
            shipments.append(shipment)
        return orders, lines, shipments

    def refund_rows(
        self, refunds: list[_Refund], order_ids: dict[str, int]
    ) -> list[Row]:
        ordered = sorted(refunds, key=lambda refund: refund.credit.key)
        return [
            {
                "id": refund_id,
                "order_id": order_ids[r.order_number] if r.order_number else None,
                "customer_id": r.credit.customer_id,
                "amount_pence": r.amount_pence,
                "status": RefundStatus.PAID,
                "reason": f"goods returned (credit note {r.credit.number})",
                "source": "return",
                "created_at": self.shifted(r.credit.placed),
            }
            for refund_id, r in enumerate(ordered, start=1)
        ]


def build_plan(
    source: SourceData, *, today: date, n_customers: int | None, random_seed: int
) -> SeedPlan:
    """Turn the source rows into table rows; pure, no database involved.

    Args:
        source: both input files, checked.
        today: the day the data's last invoice day moves to.
        n_customers: only the first N customers by id (all when None).
        random_seed: seed of the made-up names.

    Raises:
        DataError: there are no transactions, or an invoice mixes customers.
    """
    if not source.transactions:
        raise DataError(f"{TRANSACTIONS_FILE}: no transactions")
    planner = _Planner(source, today)

    chosen = sorted({row.customer_id for row in source.transactions})
    if n_customers is not None:
        chosen = chosen[:n_customers]
    invoices = planner.invoices(set(chosen))
    by_customer: dict[int, list[_Invoice]] = {customer: [] for customer in chosen}
    for invoice in invoices:
        by_customer[invoice.customer_id].append(invoice)

    customers = planner.customer_rows(chosen, by_customer, random_seed)
    refunds = [
        refund
        for customer_invoices in by_customer.values()
        for refund in planner.settle_credit_notes(customer_invoices)
    ]
    sales = [invoice for invoice in invoices if not invoice.is_return]
    orders, lines, shipments = planner.order_rows(sales, refunds)
    order_ids = {row["order_number"]: row["id"] for row in orders}

    return SeedPlan(
        today=today,
        shift_days=planner.shift.days,
        rows={
            "products": planner.product_rows(),
            "customers": customers,
            "orders": orders,
            "order_lines": lines,
            "shipments": shipments,
            "refunds": planner.refund_rows(refunds, order_ids),
        },
        skipped=planner.skipped,
        notes=planner.notes,
    )


def _shipment_row(
    order_id: int, sale: _Invoice, placed_at: datetime, status: OrderStatus
) -> Row:
    carrier, tracking = carrier_and_tracking(sale.number, sale.country)
    row: Row = {
        "id": order_id,
        "order_id": order_id,
        "carrier": carrier,
        "tracking_code": None,
        "status": ShipmentStatus.PENDING,
        "shipped_at": None,
        "expected_delivery": expected_delivery(placed_at, sale.country),
        "delivered_at": None,
    }
    if status is OrderStatus.CANCELLED:
        row["status"] = ShipmentStatus.CANCELLED
    if status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED):
        row["tracking_code"] = tracking
        row["shipped_at"] = placed_at + timedelta(days=1)
        row["status"] = ShipmentStatus.IN_TRANSIT
    if status is OrderStatus.DELIVERED:
        days = 2 + _hash(sale.number, "delivery") % 3
        row["delivered_at"] = placed_at + timedelta(days=days)
        row["status"] = ShipmentStatus.DELIVERED
    return row
