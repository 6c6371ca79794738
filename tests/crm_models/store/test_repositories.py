from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_models.errors import (
    CustomerNotFound,
    DataError,
    InvalidStateError,
    NotAllowedError,
    NotFoundError,
    OrderNotFound,
)
from crm_models.store import repositories as repo
from crm_models.store.schema import (
    Customer,
    Order,
    OrderLine,
    OrderStatus,
    PaymentStatus,
    Product,
    Refund,
    RefundStatus,
    Shipment,
    ShipmentStatus,
    Ticket,
    TicketStatus,
)

NOW = datetime(2025, 6, 13, 12, 0, tzinfo=timezone.utc)
ALICE, BOB = 1, 2


# ---------------------------------------------------------------- builders


def add_customers_and_products(session: Session) -> dict[str, Product]:
    for customer_id, name in ((ALICE, "Alice Test"), (BOB, "Bob Test")):
        session.add(
            Customer(
                id=customer_id,
                name=name,
                email=f"c{customer_id}@example.com",
                country="United Kingdom",
                created_at=NOW - timedelta(days=400),
            )
        )
    products = {
        "red": Product(stock_code="A1", name="RED RETROSPOT MUG", unit_price_pence=250),
        "blue": Product(
            stock_code="A2", name="BLUE RETROSPOT MUG", unit_price_pence=300
        ),
        "lantern": Product(
            stock_code="A3", name="FRENCH LANTERN", unit_price_pence=995
        ),
        "post": Product(
            stock_code="POST",
            name="POSTAGE",
            unit_price_pence=1800,
            is_merchandise=False,
        ),
        "old": Product(stock_code="A4", name="A4", unit_price_pence=0, active=False),
    }
    session.add_all(products.values())
    session.flush()
    return products


def add_order(
    session: Session,
    number: str,
    lines: list[tuple[Product, int, int]],
    *,
    customer_id: int = ALICE,
    status: OrderStatus = OrderStatus.PROCESSING,
    placed_at: datetime = NOW - timedelta(hours=3),
    payment: PaymentStatus = PaymentStatus.PAID,
) -> Order:
    """An order with a shipment matching its status; lines are (product, qty, pence)."""
    shipped = status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED)
    order = Order(
        order_number=number,
        customer_id=customer_id,
        placed_at=placed_at,
        status=status,
        payment_status=payment,
        total_pence=sum(qty * price for _, qty, price in lines),
        shipping_country="United Kingdom",
        updated_at=placed_at,
        lines=[
            OrderLine(product=product, quantity=qty, unit_price_pence=price)
            for product, qty, price in lines
        ],
        shipment=Shipment(
            carrier="Royal Mail",
            tracking_code="RM000000001GB" if shipped else None,
            status={
                OrderStatus.PROCESSING: ShipmentStatus.PENDING,
                OrderStatus.SHIPPED: ShipmentStatus.IN_TRANSIT,
                OrderStatus.DELIVERED: ShipmentStatus.DELIVERED,
                OrderStatus.CANCELLED: ShipmentStatus.CANCELLED,
            }[status],
            shipped_at=placed_at + timedelta(days=1) if shipped else None,
            expected_delivery=(placed_at + timedelta(days=3)).date(),
            delivered_at=placed_at + timedelta(days=2)
            if status is OrderStatus.DELIVERED
            else None,
        ),
    )
    session.add(order)
    session.flush()
    return order


@pytest.fixture
def products(store_session: Session) -> dict[str, Product]:
    return add_customers_and_products(store_session)


# ---------------------------------------------------------------- featured products


def test_featured_products_are_the_recent_best_sellers(
    store_session: Session, products: dict[str, Product]
) -> None:
    red, blue, lantern, post = (products[k] for k in ("red", "blue", "lantern", "post"))
    add_order(store_session, "1", [(blue, 1, 300), (post, 1, 1800)])
    add_order(store_session, "2", [(blue, 1, 300)], customer_id=BOB)
    add_order(store_session, "3", [(lantern, 9, 995)])  # one buyer, many units
    add_order(store_session, "4", [(red, 5, 250)], status=OrderStatus.CANCELLED)
    add_order(
        store_session, "5", [(red, 1, 250)], placed_at=NOW - timedelta(days=200)
    )  # too long ago to count
    add_order(store_session, "6", [(red, 1, 250)], placed_at=NOW + timedelta(days=1))

    featured = repo.featured_products(session=store_session, now=NOW, limit=3)
    two = repo.featured_products(session=store_session, now=NOW, limit=2)

    # Two buyers, then one; red sold nothing counted, so it comes last (by id).
    assert [p.name for p in featured] == [
        "BLUE RETROSPOT MUG",
        "FRENCH LANTERN",
        "RED RETROSPOT MUG",
    ]
    assert [p.name for p in two] == ["BLUE RETROSPOT MUG", "FRENCH LANTERN"]


# ---------------------------------------------------------------- reading orders


def test_an_order_comes_with_lines_shipment_and_refunds(
    store_session: Session, products: dict[str, Product]
) -> None:
    add_order(store_session, "1001", [(products["red"], 2, 250)])
    store_session.commit()
    store_session.expunge_all()

    order = repo.get_order_for_customer(
        session=store_session, customer_id=ALICE, order_number=" #1001 "
    )
    store_session.expunge_all()  # detached: only eagerly loaded data is there

    assert order.lines[0].product.name == "RED RETROSPOT MUG"
    assert order.shipment is not None
    assert order.shipment.status is ShipmentStatus.PENDING
    assert order.refunds == []


def test_another_customers_order_is_not_allowed_and_a_missing_one_not_found(
    store_session: Session, products: dict[str, Product]
) -> None:
    add_order(store_session, "1001", [(products["red"], 2, 250)])

    with pytest.raises(NotAllowedError):
        repo.get_order_for_customer(
            session=store_session, customer_id=BOB, order_number="1001"
        )
    with pytest.raises(OrderNotFound):
        repo.get_order_for_customer(
            session=store_session, customer_id=BOB, order_number="9999"
        )


def test_orders_are_listed_newest_first(
    store_session: Session, products: dict[str, Product]
) -> None:
    for days, number in ((30, "1001"), (1, "1003"), (10, "1002")):
        add_order(
            store_session,
            number,
            [(products["red"], 1, 250)],
            placed_at=NOW - timedelta(days=days),
        )
    add_order(store_session, "2001", [(products["red"], 1, 250)], customer_id=BOB)

    orders = repo.list_orders(session=store_session, customer_id=ALICE, limit=2)

    assert [o.order_number for o in orders] == ["1003", "1002"]
    assert repo.list_orders(session=store_session, customer_id=3) == []


# ---------------------------------------------------------------- cancelling


def test_a_processing_order_is_cancelled_with_its_payment_and_shipment(
    store_session: Session, products: dict[str, Product]
) -> None:
    add_order(store_session, "1001", [(products["red"], 2, 250)])

    order = repo.cancel_order(
        session=store_session, customer_id=ALICE, order_number="1001", now=NOW
    )
    store_session.expire_all()
    stored = store_session.scalars(select(Order)).one()

    assert order.status is OrderStatus.CANCELLED
    assert stored.status is OrderStatus.CANCELLED
    assert stored.payment_status is PaymentStatus.REFUNDED
    assert stored.shipment is not None
    assert stored.shipment.status is ShipmentStatus.CANCELLED
    assert stored.updated_at == NOW


def test_cancelling_an_unpaid_order_refunds_nothing(
    store_session: Session, products: dict[str, Product]
) -> None:
    add_order(
        store_session,
        "1001",
        [(products["red"], 2, 250)],
        payment=PaymentStatus.PENDING,
    )

    order = repo.cancel_order(
        session=store_session, customer_id=ALICE, order_number="1001", now=NOW
    )

    assert order.payment_status is PaymentStatus.FAILED


@pytest.mark.parametrize(
    ("fee", "back", "payment"),
    [
        (0, 500, PaymentStatus.REFUNDED),
        (120, 380, PaymentStatus.PARTIALLY_REFUNDED),
        (900, None, PaymentStatus.PAID),  # the fee eats it all: nothing goes back
    ],
)
def test_a_paid_cancellation_books_its_refund_less_the_fee(
    store_session: Session,
    products: dict[str, Product],
    fee: int,
    back: int | None,
    payment: PaymentStatus,
) -> None:
    add_order(store_session, "1001", [(products["red"], 2, 250)])
    before = repo.customer_profile(session=store_session, customer_id=ALICE, now=NOW)

    order = repo.cancel_order(
        session=store_session,
        customer_id=ALICE,
        order_number="1001",
        now=NOW,
        fee_pence=fee,
    )
    store_session.expire_all()
    refunds = store_session.scalars(select(Refund)).all()
    after = repo.customer_profile(session=store_session, customer_id=ALICE, now=NOW)

    assert order.payment_status is payment
    assert repo.cancellation_refund_pence(order) == (back or 0)
    assert [(r.amount_pence, r.status, r.source) for r in refunds] == (
        [(back, RefundStatus.APPROVED, "cancellation")] if back else []
    )
    # Not a return, and the cancelled order is not spending either.
    assert (after.n_refunds, after.lifetime_value_pence) == (0, 0)
    assert (before.n_refunds, before.lifetime_value_pence) == (0, 500)


def _earlier_refund(
    session: Session, order: Order, pence: int, status: RefundStatus
) -> None:
    """A chat refund of ``order`` an hour before ``NOW``."""
    session.add(
        Refund(
            order=order,
            customer_id=order.customer_id,
            amount_pence=pence,
            status=status,
            reason="damaged",
            source="chat",
            created_at=NOW - timedelta(hours=1),
        )
    )
    session.flush()


def test_a_refund_only_requested_is_replaced_by_the_cancellation_refund(
    store_session: Session, products: dict[str, Product]
) -> None:
    order = add_order(store_session, "1001", [(products["red"], 2, 250)])
    _earlier_refund(store_session, order, 200, RefundStatus.REQUESTED)

    cancelled = repo.cancel_order(
        session=store_session, customer_id=ALICE, order_number="1001", now=NOW
    )

    by_source = {r.source: (r.status, r.amount_pence) for r in cancelled.refunds}
    assert by_source == {
        "chat": (RefundStatus.REJECTED, 200),
        "cancellation": (RefundStatus.APPROVED, 500),  # all of it, once
    }
    assert cancelled.payment_status is PaymentStatus.REFUNDED


def test_an_earlier_partial_refund_is_not_paid_back_twice(
    store_session: Session, products: dict[str, Product]
) -> None:
    order = add_order(
        store_session,
        "1001",
        [(products["red"], 2, 250)],
        payment=PaymentStatus.PARTIALLY_REFUNDED,
    )
    _earlier_refund(store_session, order, 100, RefundStatus.PAID)

    cancelled = repo.cancel_order(
        session=store_session, customer_id=ALICE, order_number="1001", now=NOW
    )

    assert repo.cancellation_refund_pence(cancelled) == 400
    assert cancelled.payment_status is PaymentStatus.REFUNDED


def test_a_negative_cancellation_fee_is_refused(
    store_session: Session, products: dict[str, Product]
) -> None:
    add_order(store_session, "1001", [(products["red"], 2, 250)])

    with pytest.raises(DataError, match="negative"):
        repo.cancel_order(
            session=store_session,
            customer_id=ALICE,
            order_number="1001",
            now=NOW,
            fee_pence=-1,
        )
    assert store_session.scalars(select(Order.status)).one() is OrderStatus.PROCESSING


@pytest.mark.parametrize(
    "status",
    [OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.CANCELLED],
)
def test_an_order_that_left_processing_cannot_be_cancelled(
    store_session: Session, products: dict[str, Product], status: OrderStatus
) -> None:
    add_order(store_session, "1001", [(products["red"], 2, 250)], status=status)

    with pytest.raises(InvalidStateError, match=status.value):
        repo.cancel_order(
            session=store_session, customer_id=ALICE, order_number="1001", now=NOW
        )


def test_nobody_cancels_another_customers_order(
    store_session: Session, products: dict[str, Product]
) -> None:
    add_order(store_session, "1001", [(products["red"], 2, 250)])

    with pytest.raises(NotAllowedError):
        repo.cancel_order(
            session=store_session, customer_id=BOB, order_number="1001", now=NOW
        )

    assert store_session.scalars(select(Order.status)).one() is OrderStatus.PROCESSING


# ---------------------------------------------------------------- quantities


def test_a_quantity_change_recomputes_the_total(
    store_session: Session, products: dict[str, Product]
) -> None:
    add_order(
        store_session,
        "1001",
        [(products["red"], 2, 250), (products["lantern"], 1, 995)],
    )

    order = repo.change_order_quantity(
        session=store_session,
        customer_id=ALICE,
        order_number="1001",
        product_query="lantern",
        quantity=3,
        now=NOW,
    )

    assert order.total_pence == 2 * 250 + 3 * 995
    assert store_session.scalars(select(Order.total_pence)).one() == 3485


def test_quantity_zero_removes_the_line(
    store_session: Session, products: dict[str, Product]
) -> None:
    add_order(
        store_session,
        "1001",
        [(products["red"], 2, 250), (products["lantern"], 1, 995)],
    )

    order = repo.change_order_quantity(
        session=store_session,
        customer_id=ALICE,
        order_number="1001",
        product_query="Red Retrospot",
        quantity=0,
        now=NOW,
    )
    store_session.expire_all()

    assert [line.product.name for line in order.lines] == ["FRENCH LANTERN"]
    assert order.total_pence == 995
    assert store_session.scalar(select(func.count()).select_from(OrderLine)) == 1


def test_the_last_line_is_not_removed(
    store_session: Session, products: dict[str, Product]
) -> None:
    add_order(store_session, "1001", [(products["red"], 2, 250)])

    with pytest.raises(InvalidStateError, match="cancel"):
        repo.change_order_quantity(
            session=store_session,
            customer_id=ALICE,
            order_number="1001",
            product_query="mug",
            quantity=0,
            now=NOW,
        )


@pytest.mark.parametrize(
    ("query", "quantity", "error"),
    [
        ("teapot", 1, NotFoundError),  # no such line
        ("retrospot mug", 1, DataError),  # red and blue both match
        ("lantern", -1, DataError),  # negative
        ("  ", 1, DataError),  # nothing asked for
    ],
)
def test_unclear_quantity_changes_are_refused(
    store_session: Session,
    products: dict[str, Product],
    query: str,
    quantity: int,
    error: type[Exception],
) -> None:
    add_order(
        store_session,
        "1001",
        [(products["red"], 2, 250), (products["blue"], 1, 300)],
    )

    with pytest.raises(error):
        repo.change_order_quantity(
            session=store_session,
            customer_id=ALICE,
            order_number="1001",
            product_query=query,
            quantity=quantity,
            now=NOW,
        )


def test_an_exact_name_wins_and_repeated_lines_become_one(
    store_session: Session, products: dict[str, Product]
) -> None:
    longer = Product(
        stock_code="A5", name="RED RETROSPOT MUG SET", unit_price_pence=900
    )
    store_session.add(longer)
    add_order(
        store_session,
        "1001",
        [(products["red"], 2, 250), (products["red"], 1, 240), (longer, 1, 900)],
    )

    order = repo.change_order_quantity(
        session=store_session,
        customer_id=ALICE,
        order_number="1001",
        product_query="red retrospot mug",
        quantity=5,
        now=NOW,
    )

    assert [(line.product.stock_code, line.quantity) for line in order.lines] == [
        ("A1", 5),
        ("A5", 1),
    ]
    assert order.total_pence == 5 * 250 + 900


def test_a_shipped_order_keeps_its_quantities(
    store_session: Session, products: dict[str, Product]
) -> None:
    add_order(
        store_session,
        "1001",
        [(products["red"], 2, 250)],
        status=OrderStatus.SHIPPED,
    )

    with pytest.raises(InvalidStateError):
        repo.change_order_quantity(
            session=store_session,
            customer_id=ALICE,
            order_number="1001",
            product_query="red",
            quantity=1,
            now=NOW,
        )


# ---------------------------------------------------------------- refunds


@pytest.mark.parametrize(
    ("status", "delivered_days_ago", "refunded", "reason"),
    [
        (OrderStatus.DELIVERED, 5, 0, "eligible"),
        (OrderStatus.PROCESSING, None, 0, "not_delivered_yet"),
        (OrderStatus.SHIPPED, None, 0, "not_delivered_yet"),
        (OrderStatus.CANCELLED, None, 0, "cancelled"),
        (OrderStatus.DELIVERED, 5, 500, "already_refunded"),  # all of it back
        (OrderStatus.DELIVERED, 31, 0, "too_old"),
        (OrderStatus.DELIVERED, 29, 200, "eligible"),  # 300 left
    ],
)
def test_refund_eligibility(
    store_session: Session,
    products: dict[str, Product],
    status: OrderStatus,
    delivered_days_ago: int | None,
    refunded: int,
    reason: str,
) -> None:
    placed = NOW - timedelta(days=(delivered_days_ago or 0) + 2)
    order = add_order(
        store_session,
        "1001",
        [(products["red"], 2, 250)],
        status=status,
        placed_at=placed,
    )
    if refunded:
        order.refunds.append(
            Refund(
                customer_id=ALICE,
                amount_pence=refunded,
                status=RefundStatus.PAID,
                reason="return",
                source="return",
                created_at=NOW - timedelta(days=1),
            )
        )
        store_session.flush()

    answer = repo.refund_eligibility(order=order, now=NOW, window_days=30)

    assert answer.reason == reason
    assert answer.eligible is (reason == "eligible")
    assert answer.refundable_pence == 500 - refunded


def test_refunds_move_the_payment_status(
    store_session: Session, products: dict[str, Product]
) -> None:
    add_order(
        store_session,
        "1001",
        [(products["red"], 2, 250)],
        status=OrderStatus.DELIVERED,
        placed_at=NOW - timedelta(days=5),
    )

    def refund(amount: int, status: RefundStatus) -> Refund:
        return repo.create_refund(
            session=store_session,
            customer_id=ALICE,
            order_number="1001",
            amount_pence=amount,
            reason="damaged",
            status=status,
            now=NOW,
        )

    requested = refund(100, RefundStatus.REQUESTED)
    order = store_session.scalars(select(Order)).one()
    assert order.payment_status is PaymentStatus.PAID
    refund(150, RefundStatus.APPROVED)
    assert order.payment_status is PaymentStatus.PARTIALLY_REFUNDED
    refund(250, RefundStatus.PAID)
    assert order.payment_status is PaymentStatus.PARTIALLY_REFUNDED  # 400 of 500 out
    assert requested.source == "chat"
    assert requested.id is not None


@pytest.mark.parametrize("amount", [0, -5, 501])
def test_a_refund_must_fit_what_is_left(
    store_session: Session, products: dict[str, Product], amount: int
) -> None:
    add_order(
        store_session, "1001", [(products["red"], 2, 250)], status=OrderStatus.DELIVERED
    )

    with pytest.raises(DataError):
        repo.create_refund(
            session=store_session,
            customer_id=ALICE,
            order_number="1001",
            amount_pence=amount,
            reason="damaged",
            status=RefundStatus.APPROVED,
            now=NOW,
        )


def test_a_full_refund_marks_the_order_refunded(
    store_session: Session, products: dict[str, Product]
) -> None:
    order = add_order(
        store_session, "1001", [(products["red"], 2, 250)], status=OrderStatus.DELIVERED
    )

    repo.create_refund(
        session=store_session,
        customer_id=ALICE,
        order_number="1001",
        amount_pence=500,
        reason="never arrived",
        status=RefundStatus.APPROVED,
        now=NOW,
    )

    assert order.payment_status is PaymentStatus.REFUNDED
    assert repo.refund_eligibility(order=order, now=NOW, window_days=30).reason == (
        "already_refunded"
    )


def test_refunds_are_listed_newest_first_and_per_order(
    store_session: Session, products: dict[str, Product]
) -> None:
    for number in ("1001", "1002"):
        add_order(
            store_session,
            number,
            [(products["red"], 2, 250)],
            status=OrderStatus.DELIVERED,
        )
    add_order(store_session, "2001", [(products["red"], 1, 250)], customer_id=BOB)
    for hours, number in ((3, "1001"), (1, "1002"), (2, "1001")):
        repo.create_refund(
            session=store_session,
            customer_id=ALICE,
            order_number=number,
            amount_pence=100,
            reason="damaged",
            status=RefundStatus.REQUESTED,
            now=NOW - timedelta(hours=hours),
        )

    every = repo.list_refunds(session=store_session, customer_id=ALICE)
    one = repo.list_refunds(
        session=store_session, customer_id=ALICE, order_number="1001"
    )

    assert [r.created_at for r in every] == sorted(
        (r.created_at for r in every), reverse=True
    )
    assert len(every) == 3
    assert [r.order.order_number for r in one if r.order] == ["1001", "1001"]
    with pytest.raises(NotAllowedError):
        repo.list_refunds(session=store_session, customer_id=ALICE, order_number="2001")


# ---------------------------------------------------------------- tickets


def test_a_conversation_keeps_one_open_ticket(
    store_session: Session, products: dict[str, Product]
) -> None:
    def open_(priority: int, summary: str, customer_id: int | None = None) -> Ticket:
        return repo.open_ticket(
            session=store_session,
            conversation_id="conv-1",
            customer_id=customer_id,
            reason="refund_review",
            priority=priority,
            summary=summary,
            now=NOW,
        )

    first = open_(3, "asked for a refund")
    again = open_(1, "wants a human now", customer_id=ALICE)
    retried = open_(2, "wants a human now")

    assert again.id == first.id == retried.id
    assert store_session.scalar(select(func.count()).select_from(Ticket)) == 1
    assert retried.priority == 1
    assert retried.summary == "asked for a refund\nwants a human now"
    assert retried.customer_id == ALICE

    first.status = TicketStatus.CLOSED
    assert open_(4, "back again").id != first.id


@pytest.mark.parametrize(
    ("priority", "reason"), [(0, "x"), (5, "x"), (2, ""), (2, "r" * 41)]
)
def test_a_ticket_needs_a_priority_and_a_short_reason(
    store_session: Session, priority: int, reason: str
) -> None:
    with pytest.raises(DataError):
        repo.open_ticket(
            session=store_session,
            conversation_id="conv-1",
            customer_id=None,
            reason=reason,
            priority=priority,
            summary="s",
            now=NOW,
        )


# ---------------------------------------------------------------- customers


def test_the_profile_counts_orders_money_and_refunds_up_to_now(
    store_session: Session, products: dict[str, Product]
) -> None:
    add_order(
        store_session,
        "1001",
        [(products["red"], 2, 250)],
        status=OrderStatus.DELIVERED,
        placed_at=NOW - timedelta(days=60),
    )
    add_order(
        store_session,
        "1002",
        [(products["lantern"], 1, 995)],
        status=OrderStatus.CANCELLED,
        placed_at=NOW - timedelta(days=20),
    )
    add_order(store_session, "1003", [(products["blue"], 1, 300)])
    add_order(
        store_session,
        "1004",
        [(products["blue"], 9, 300)],
        placed_at=NOW + timedelta(days=1),  # after "now": not counted
    )
    repo.create_refund(
        session=store_session,
        customer_id=ALICE,
        order_number="1001",
        amount_pence=200,
        reason="damaged",
        status=RefundStatus.PAID,
        now=NOW - timedelta(days=50),
    )

    profile = repo.customer_profile(session=store_session, customer_id=ALICE, now=NOW)

    assert profile.name == "Alice Test"
    assert profile.n_orders == 2
    assert profile.n_cancelled == 1
    assert profile.lifetime_value_pence == 500 + 300 - 200
    assert profile.n_refunds == 1
    assert profile.first_order_at == NOW - timedelta(days=60)
    assert profile.last_order_at == NOW - timedelta(hours=3)


def test_a_customer_without_orders_has_an_empty_profile(
    store_session: Session, products: dict[str, Product]
) -> None:
    profile = repo.customer_profile(session=store_session, customer_id=BOB, now=NOW)

    assert (profile.n_orders, profile.lifetime_value_pence) == (0, 0)
    assert profile.first_order_at is None
    with pytest.raises(CustomerNotFound):
        repo.customer_profile(session=store_session, customer_id=99, now=NOW)


def test_purchases_leave_out_cancelled_orders(
    store_session: Session, products: dict[str, Product]
) -> None:
    add_order(store_session, "1001", [(products["red"], 2, 250)])
    add_order(
        store_session,
        "1002",
        [(products["lantern"], 1, 995)],
        status=OrderStatus.CANCELLED,
    )

    bought = repo.purchased_product_ids(session=store_session, customer_id=ALICE)

    assert bought == {products["red"].id}


def test_only_active_merchandise_is_for_sale(
    store_session: Session, products: dict[str, Product]
) -> None:
    names = [p.name for p in repo.merchandise_products(session=store_session)]

    assert names == ["RED RETROSPOT MUG", "BLUE RETROSPOT MUG", "FRENCH LANTERN"]


def test_newsletter_and_customer_lookups(
    store_session: Session, products: dict[str, Product]
) -> None:
    customer = repo.set_newsletter(
        session=store_session, customer_id=ALICE, subscribed=True
    )

    assert customer.newsletter is True
    assert repo.get_customer(session=store_session, customer_id=ALICE) is customer
    assert repo.get_customer(session=store_session, customer_id=99) is None
    with pytest.raises(CustomerNotFound):
        repo.set_newsletter(session=store_session, customer_id=99, subscribed=False)


# ---------------------------------------------------------------- on the seeded store


def test_the_seeded_store_answers_a_customer(seeded_store_session: Session) -> None:
    order = seeded_store_session.scalars(
        select(Order).where(Order.status == OrderStatus.PROCESSING).limit(1)
    ).one()

    orders = repo.list_orders(
        session=seeded_store_session, customer_id=order.customer_id, limit=100
    )
    profile = repo.customer_profile(
        session=seeded_store_session, customer_id=order.customer_id, now=NOW
    )
    cancelled = repo.cancel_order(
        session=seeded_store_session,
        customer_id=order.customer_id,
        order_number=order.order_number,
        now=NOW,
    )

    assert order.order_number in [o.order_number for o in orders]
    assert profile.n_orders + profile.n_cancelled == len(orders)
    assert cancelled.status is OrderStatus.CANCELLED


def test_new_rows_get_fresh_ids_after_the_seed(seeded_store_session: Session) -> None:
    order = seeded_store_session.scalars(
        select(Order).where(Order.status == OrderStatus.DELIVERED).limit(1)
    ).one()
    highest = seeded_store_session.scalar(select(func.max(Refund.id))) or 0

    refund = repo.create_refund(
        session=seeded_store_session,
        customer_id=order.customer_id,
        order_number=order.order_number,
        amount_pence=1,
        reason="test",
        status=RefundStatus.REQUESTED,
        now=NOW,
    )

    assert refund.id > highest
