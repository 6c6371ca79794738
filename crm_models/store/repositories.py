"""Reads and changes of the CRM store for the assistant, one function per need.

Every function takes the ``Session`` as keyword ``session`` and only keyword
arguments, flushes but never commits (the caller's ``session_scope`` does), and raises
the project's errors. Orders come back with their lines (and products), shipment and
refunds loaded, so callers may use them after the session is closed.

An order of another customer raises ``NotAllowedError`` and a missing one
``OrderNotFound``; callers must answer both the same way, so that a guessed order
number tells nothing about whether it exists.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, case, distinct, func, select
from sqlalchemy.orm import Session, selectinload

from crm_models.errors import (
    CustomerNotFound,
    DataError,
    InvalidStateError,
    NotAllowedError,
    OrderNotFound,
    ProductNotFound,
)
from crm_models.store.schema import (
    CANCELLATION_SOURCE,
    Customer,
    Order,
    OrderLine,
    OrderStatus,
    PaymentStatus,
    Product,
    Refund,
    RefundStatus,
    ShipmentStatus,
    Ticket,
    TicketStatus,
)

logger = logging.getLogger(__name__)

_ORDER_LOADS = (
    selectinload(Order.lines).selectinload(OrderLine.product),
    selectinload(Order.shipment),
    selectinload(Order.refunds),
)
# Refunds that count against what an order may still get back.
_COUNTED_REFUNDS = (RefundStatus.REQUESTED, RefundStatus.APPROVED, RefundStatus.PAID)
_MONEY_OUT = (RefundStatus.APPROVED, RefundStatus.PAID)


@dataclass(frozen=True)
class RefundEligibility:
    """Whether an order may be refunded now, and how much of it is left to refund.

    ``reason`` is one of "eligible", "not_delivered_yet", "cancelled",
    "already_refunded", "too_old".
    """

    eligible: bool
    reason: str
    refundable_pence: int


@dataclass(frozen=True)
class CustomerProfile:
    """A customer's history at a moment; cancelled orders are not in ``n_orders``.

    ``lifetime_value_pence`` is what uncancelled orders cost minus approved and paid
    refunds.
    """

    customer_id: int
    name: str
    n_orders: int
    lifetime_value_pence: int
    first_order_at: datetime | None
    last_order_at: datetime | None
    n_refunds: int
    n_cancelled: int


# ---------------------------------------------------------------- customers


def get_customer(*, session: Session, customer_id: int) -> Customer | None:
    """The customer with this id, or None."""
    return session.get(Customer, customer_id)


def set_newsletter(*, session: Session, customer_id: int, subscribed: bool) -> Customer:
    """Subscribe the customer to the newsletter or unsubscribe them.

    Raises:
        CustomerNotFound: no customer with this id.
    """
    customer = _customer(session, customer_id)
    customer.newsletter = subscribed
    session.flush()
    logger.info(
        "customers.newsletter customer=%s subscribed=%s", customer_id, subscribed
    )
    return customer


def customer_profile(
    *, session: Session, customer_id: int, now: datetime
) -> CustomerProfile:
    """The customer's orders, spending and refunds up to ``now``.

    Raises:
        CustomerNotFound: no customer with this id.
    """
    customer = _customer(session, customer_id)
    cancelled = Order.status == OrderStatus.CANCELLED
    orders = session.execute(
        select(
            func.count(Order.id).filter(~cancelled),
            func.coalesce(func.sum(case((cancelled, 0), else_=Order.total_pence)), 0),
            func.min(Order.placed_at).filter(~cancelled),
            func.max(Order.placed_at).filter(~cancelled),
            func.count(Order.id).filter(cancelled),
        ).where(Order.customer_id == customer_id, Order.placed_at <= now)
    ).one()
    refunds = session.execute(
        select(
            func.count(Refund.id).filter(Refund.status != RefundStatus.REJECTED),
            func.coalesce(
                func.sum(Refund.amount_pence).filter(Refund.status.in_(_MONEY_OUT)), 0
            ),
        ).where(
            Refund.customer_id == customer_id,
            Refund.created_at <= now,
            # Money back for a cancelled order: that order counts neither as
            # spent nor as a return.
            Refund.source != CANCELLATION_SOURCE,
        )
    ).one()
    return CustomerProfile(
        customer_id=customer_id,
        name=customer.name,
        n_orders=orders[0],
        lifetime_value_pence=int(orders[1]) - int(refunds[1]),
        first_order_at=orders[2],
        last_order_at=orders[3],
        n_refunds=refunds[0],
        n_cancelled=orders[4],
    )


def purchased_product_ids(*, session: Session, customer_id: int) -> set[int]:
    """Ids of every product on the customer's uncancelled orders."""
    rows = session.scalars(
        select(OrderLine.product_id)
        .join(Order, OrderLine.order_id == Order.id)
        .where(Order.customer_id == customer_id, Order.status != OrderStatus.CANCELLED)
        .distinct()
    )
    return set(rows)


def sellable() -> tuple[ColumnElement[bool], ...]:
    """The conditions under which a product may be sold and recommended."""
    return (
        Product.active.is_(True),
        Product.is_merchandise.is_(True),
        func.length(func.trim(Product.name)) > 0,
    )


def merchandise_products(*, session: Session) -> list[Product]:
    """Every product that may be sold and recommended, by id."""
    return list(
        session.scalars(select(Product).where(*sellable()).order_by(Product.id))
    )


def featured_products(
    *, session: Session, now: datetime, limit: int, days: int = 90
) -> list[Product]:
    """The ``limit`` sellable products most customers bought in the last ``days``.

    Ties go to more units, then to the lower id; products nobody bought lately
    follow in id order, so a new shop still shows something.
    """
    buyers = (
        select(
            OrderLine.product_id,
            func.count(distinct(Order.customer_id)).label("buyers"),
            func.sum(OrderLine.quantity).label("units"),
        )
        .join(Order, Order.id == OrderLine.order_id)
        .where(
            Order.status != OrderStatus.CANCELLED,
            Order.placed_at >= now - timedelta(days=days),
            Order.placed_at <= now,
        )
        .group_by(OrderLine.product_id)
        .subquery()
    )
    return list(
        session.scalars(
            select(Product)
            .outerjoin(buyers, buyers.c.product_id == Product.id)
            .where(*sellable())
            .order_by(
                func.coalesce(buyers.c.buyers, 0).desc(),
                func.coalesce(buyers.c.units, 0).desc(),
                Product.id,
            )
            .limit(limit)
        )
    )


# ---------------------------------------------------------------- orders


def get_order_for_customer(
    *, session: Session, customer_id: int, order_number: str
) -> Order:
    """The customer's order with this number, lines, shipment and refunds loaded.

    Raises:
        OrderNotFound: no order has this number.
        NotAllowedError: the order belongs to another customer.
    """
    return _order(session, customer_id, order_number)


def list_orders(*, session: Session, customer_id: int, limit: int = 5) -> list[Order]:
    """The customer's latest orders, newest first, loaded like a single order."""
    return list(
        session.scalars(
            select(Order)
            .where(Order.customer_id == customer_id)
            .order_by(Order.placed_at.desc(), Order.id.desc())
            .limit(limit)
            .options(*_ORDER_LOADS)
        )
    )


def cancel_order(
    *,
    session: Session,
    customer_id: int,
    order_number: str,
    now: datetime,
    fee_pence: int = 0,
) -> Order:
    """Cancel an order that has not left the warehouse, and book its refund.

    When the payment was taken, what is left of it after earlier refunds (approved
    or paid), less ``fee_pence`` (the shop's cancellation fee), is booked as an
    approved refund (source "cancellation"), and the payment becomes refunded, or
    partially refunded when the fee is kept; it stays paid when the fee takes it
    all. A refund still only requested is rejected: the cancellation's refund
    replaces it. A pending or failed payment becomes failed (there is nothing to
    give back). The shipment is cancelled.

    Raises:
        OrderNotFound, NotAllowedError: as ``get_order_for_customer``.
        InvalidStateError: the order is not processing (shipped, delivered, or
            cancelled already).
        DataError: ``fee_pence`` is negative.
    """
    if fee_pence < 0:
        raise DataError(f"a cancellation fee cannot be negative ({fee_pence}p)")
    order = _order(session, customer_id, order_number, for_update=True)
    _require_processing(order, "cancelled")
    order.status = OrderStatus.CANCELLED
    if order.payment_status in (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED):
        for request in order.refunds:
            if request.status is RefundStatus.REQUESTED:
                request.status = RefundStatus.REJECTED
                request.reason = (request.reason + "; replaced: order cancelled")[:200]
        paid_out = sum(r.amount_pence for r in order.refunds if r.status in _MONEY_OUT)
        left = max(order.total_pence - paid_out, 0)
        back = max(left - fee_pence, 0)
        if back > 0:
            session.add(
                Refund(
                    order=order,
                    customer_id=customer_id,
                    amount_pence=back,
                    status=RefundStatus.APPROVED,
                    reason="order cancelled"
                    + (
                        f", {left - back}p cancellation fee kept" if back < left else ""
                    ),
                    source=CANCELLATION_SOURCE,
                    created_at=now,
                )
            )
        if back == left:
            order.payment_status = PaymentStatus.REFUNDED
        elif back > 0 or paid_out > 0:
            order.payment_status = PaymentStatus.PARTIALLY_REFUNDED
        # else: the fee took all of it; the payment stays as it was (paid).
    elif order.payment_status is PaymentStatus.PENDING:
        order.payment_status = PaymentStatus.FAILED
    if order.shipment is not None:
        order.shipment.status = ShipmentStatus.CANCELLED
        order.shipment.tracking_code = None
    order.updated_at = now
    session.flush()
    logger.info("orders.cancelled order=%s", order.id)
    return order


def cancellation_refund_pence(order: Order) -> int:
    """The money booked back by ``cancel_order`` for ``order`` (0: none)."""
    return sum(r.amount_pence for r in order.refunds if r.source == CANCELLATION_SOURCE)


def change_order_quantity(
    *,
    session: Session,
    customer_id: int,
    order_number: str,
    product_query: str,
    quantity: int,
    now: datetime,
) -> Order:
    """Set how many of one product a processing order holds; 0 removes the line.

    The line is the one whose product name contains ``product_query`` (any case);
    an exact name wins over names that merely contain it. Lines of the same product
    at different prices become one line at the first line's price.

    Raises:
        OrderNotFound, NotAllowedError: as ``get_order_for_customer``.
        InvalidStateError: the order is not processing, or the change would remove
            its last line (cancel the order instead).
        ProductNotFound: no line matches ``product_query`` (a ``NotFoundError``).
        DataError: ``quantity`` is negative, the query is empty, or it matches lines
            of more than one product.
    """
    if quantity < 0:
        raise DataError(f"quantity must be 0 or more, not {quantity}")
    query = product_query.strip().casefold()
    if not query:
        raise DataError("say which product to change")
    order = _order(session, customer_id, order_number, for_update=True)
    _require_processing(order, "changed")

    matches = [line for line in order.lines if query in line.product.name.casefold()]
    exact = [line for line in matches if line.product.name.casefold() == query]
    matches = exact or matches
    if not matches:
        raise ProductNotFound(f"order {order.order_number} has no such product")
    if len({line.product_id for line in matches}) > 1:
        raise DataError(
            f"{len(matches)} products of order {order.order_number} match; "
            "be more specific"
        )
    if quantity == 0 and len(matches) == len(order.lines):
        raise InvalidStateError(
            f"that would remove the last product of order {order.order_number}; "
            "cancel the order instead"
        )

    keep, *extra = matches
    for line in [*extra, keep] if quantity == 0 else extra:
        order.lines.remove(line)
        session.delete(line)
    if quantity:
        keep.quantity = quantity
    order.total_pence = sum(
        line.quantity * line.unit_price_pence for line in order.lines
    )
    order.updated_at = now
    session.flush()
    logger.info(
        "orders.quantity_changed order=%s product=%s quantity=%s",
        order.id,
        keep.product_id,
        quantity,
    )
    return order


# ---------------------------------------------------------------- refunds


def refund_eligibility(
    *, order: Order, now: datetime, window_days: int
) -> RefundEligibility:
    """Whether ``order`` may get a refund at ``now`` under a ``window_days`` policy.

    Checked in this order: cancelled, not delivered yet, nothing left to refund
    (refunds requested, approved or paid count), delivered more than ``window_days``
    ago. ``refundable_pence`` is the total minus those refunds, never below 0.
    """
    refunded = sum(
        r.amount_pence for r in order.refunds if r.status in _COUNTED_REFUNDS
    )
    refundable = max(order.total_pence - refunded, 0)

    def answer(reason: str) -> RefundEligibility:
        return RefundEligibility(reason == "eligible", reason, refundable)

    if order.status is OrderStatus.CANCELLED:
        return answer("cancelled")
    if order.status is not OrderStatus.DELIVERED:
        return answer("not_delivered_yet")
    if refundable == 0 or order.payment_status is PaymentStatus.REFUNDED:
        return answer("already_refunded")
    delivered_at = order.placed_at
    if order.shipment is not None and order.shipment.delivered_at is not None:
        delivered_at = order.shipment.delivered_at
    if now - delivered_at > timedelta(days=window_days):
        return answer("too_old")
    return answer("eligible")


def create_refund(
    *,
    session: Session,
    customer_id: int,
    order_number: str,
    amount_pence: int,
    reason: str,
    status: RefundStatus,
    now: datetime,
) -> Refund:
    """Record a refund the assistant agreed or asked for (source "chat").

    An approved or paid refund marks the payment partially refunded, or refunded
    once refunds cover the total. Whether the order qualifies is the caller's
    question (``refund_eligibility``); this only guards the amount.

    Raises:
        OrderNotFound, NotAllowedError: as ``get_order_for_customer``.
        DataError: the amount is not positive or exceeds what is left to refund.
    """
    order = _order(session, customer_id, order_number, for_update=True)
    counted = [r for r in order.refunds if r.status in _COUNTED_REFUNDS]
    refundable = order.total_pence - sum(r.amount_pence for r in counted)
    if not 0 < amount_pence <= refundable:
        raise DataError(
            f"refund of {amount_pence}p for order {order.order_number} must be "
            f"between 1p and the {max(refundable, 0)}p left"
        )

    refund = Refund(
        order=order,
        customer_id=customer_id,
        amount_pence=amount_pence,
        status=status,
        reason=reason[:200],
        source="chat",
        created_at=now,
    )
    session.add(refund)
    if status in _MONEY_OUT:
        paid_out = sum(r.amount_pence for r in order.refunds if r.status in _MONEY_OUT)
        order.payment_status = (
            PaymentStatus.REFUNDED
            if paid_out >= order.total_pence
            else PaymentStatus.PARTIALLY_REFUNDED
        )
        order.updated_at = now
    session.flush()
    logger.info(
        "refunds.created refund=%s order=%s status=%s amount_pence=%s",
        refund.id,
        order.id,
        status.value,
        amount_pence,
    )
    return refund


def list_refunds(
    *, session: Session, customer_id: int, order_number: str | None = None
) -> list[Refund]:
    """The customer's refunds (of one order if given), newest first, order loaded.

    Raises:
        OrderNotFound, NotAllowedError: ``order_number`` is given and is not theirs.
    """
    query = select(Refund).where(Refund.customer_id == customer_id)
    if order_number is not None:
        order = _order(session, customer_id, order_number)
        query = query.where(Refund.order_id == order.id)
    return list(
        session.scalars(
            query.order_by(Refund.created_at.desc(), Refund.id.desc()).options(
                selectinload(Refund.order)
            )
        )
    )


# ---------------------------------------------------------------- tickets


def open_ticket(
    *,
    session: Session,
    conversation_id: str,
    customer_id: int | None,
    reason: str,
    priority: int,
    summary: str,
    now: datetime,
    order_id: int | None = None,
) -> Ticket:
    """Open a ticket for a human agent, or update the conversation's open one.

    Idempotent per conversation: while a ticket of ``conversation_id`` is open or
    claimed, it is returned with the more urgent priority kept, the summary appended
    (unless it already ends with it) and a missing customer or order filled in.

    Args:
        priority: 1 (urgent) to 4 (low).
        reason: a short code such as "refund_review" (at most 40 characters).

    Raises:
        DataError: priority outside 1-4, or reason empty or too long.
    """
    if not 1 <= priority <= 4:
        raise DataError(f"ticket priority must be 1 to 4, not {priority}")
    if not reason or len(reason) > 40:
        raise DataError("a ticket reason is a short code of 1 to 40 characters")

    ticket = session.scalars(
        select(Ticket)
        .where(
            Ticket.conversation_id == conversation_id,
            Ticket.status.in_((TicketStatus.OPEN, TicketStatus.CLAIMED)),
        )
        .order_by(Ticket.id)
        .limit(1)
        .with_for_update()
    ).first()
    if ticket is None:
        ticket = Ticket(
            conversation_id=conversation_id,
            customer_id=customer_id,
            order_id=order_id,
            reason=reason,
            priority=priority,
            status=TicketStatus.OPEN,
            summary=summary,
            created_at=now,
            updated_at=now,
        )
        session.add(ticket)
        session.flush()
        logger.info("tickets.opened ticket=%s priority=%s", ticket.id, priority)
        return ticket

    ticket.priority = min(ticket.priority, priority)
    if summary and not ticket.summary.endswith(summary):
        ticket.summary = f"{ticket.summary}\n{summary}" if ticket.summary else summary
    if ticket.customer_id is None:
        ticket.customer_id = customer_id
    if ticket.order_id is None:
        ticket.order_id = order_id
    ticket.updated_at = now
    session.flush()
    logger.info("tickets.updated ticket=%s priority=%s", ticket.id, ticket.priority)
    return ticket


# ---------------------------------------------------------------- helpers


def _customer(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise CustomerNotFound(f"no customer {customer_id}")
    return customer


def _order(
    session: Session, customer_id: int, order_number: str, *, for_update: bool = False
) -> Order:
    number = order_number.strip().lstrip("#").strip().upper()
    query = select(Order).where(Order.order_number == number).options(*_ORDER_LOADS)
    if for_update:
        query = query.with_for_update(of=Order)
    order = session.scalars(query).first()
    if order is None:
        raise OrderNotFound(f"no order {number}")
    if order.customer_id != customer_id:
        logger.warning("orders.not_allowed customer=%s order=%s", customer_id, order.id)
        raise NotAllowedError(f"order {number} is not this customer's")
    return order


def _require_processing(order: Order, change: str) -> None:
    if order.status is not OrderStatus.PROCESSING:
        raise InvalidStateError(
            f"order {order.order_number} is {order.status.value} and cannot be "
            f"{change} any more"
        )
