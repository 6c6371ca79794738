"""Store builders for the scoring and recommendation tests.

``StoreBuilder`` adds hand-made customers, products, orders and refunds with exact
values; ``synthetic_history`` fills a store with a seeded random purchase process
that has real signal (frequent buyers keep buying, some customers stop).
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import numpy as np
from sqlalchemy import insert
from sqlalchemy.orm import Session

from crm_models.store.schema import (
    ChatFeedback,
    ChatFeedbackKind,
    ConversationOutcome,
    Customer,
    Order,
    OrderLine,
    OrderStatus,
    PaymentStatus,
    Product,
    Refund,
    RefundStatus,
    Ticket,
    TicketStatus,
)

CUTOFF = datetime(2025, 6, 1, tzinfo=timezone.utc)


def days(n: float) -> timedelta:
    return timedelta(days=n)


class StoreBuilder:
    """Adds rows with explicit values and flushes after each one."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._numbers = itertools.count(1)

    def customer(self, customer_id: int) -> int:
        self.session.add(
            Customer(
                id=customer_id,
                name=f"Test Customer {customer_id}",
                email=f"customer.{customer_id}@example.com",
                country="United Kingdom",
                created_at=datetime(2020, 1, 1, tzinfo=timezone.utc),
            )
        )
        self.session.flush()
        return customer_id

    def product(
        self,
        name: str,
        *,
        price_pence: int = 100,
        merchandise: bool = True,
        active: bool = True,
        stock_code: str | None = None,
    ) -> int:
        product = Product(
            stock_code=stock_code or f"T{next(self._numbers):05d}",
            name=name,
            unit_price_pence=price_pence,
            is_merchandise=merchandise,
            active=active,
        )
        self.session.add(product)
        self.session.flush()
        return product.id

    def order(
        self,
        customer_id: int,
        placed_at: datetime,
        total_pence: int,
        *,
        products: tuple[int, ...] = (),
        cancelled_at: datetime | None = None,
    ) -> int:
        """An order; ``cancelled_at`` makes it cancelled then (its ``updated_at``)."""
        order = Order(
            order_number=f"T{next(self._numbers):06d}",
            customer_id=customer_id,
            placed_at=placed_at,
            status=OrderStatus.CANCELLED if cancelled_at else OrderStatus.DELIVERED,
            payment_status=PaymentStatus.REFUNDED
            if cancelled_at
            else PaymentStatus.PAID,
            total_pence=total_pence,
            shipping_country="United Kingdom",
            updated_at=cancelled_at or placed_at,
        )
        self.session.add(order)
        self.session.flush()
        for product_id in products:
            self.session.add(
                OrderLine(
                    order_id=order.id,
                    product_id=product_id,
                    quantity=1,
                    unit_price_pence=100,
                )
            )
        self.session.flush()
        return order.id

    def refund(
        self,
        customer_id: int,
        created_at: datetime,
        amount_pence: int,
        *,
        status: RefundStatus = RefundStatus.PAID,
        order_id: int | None = None,
    ) -> None:
        self.session.add(
            Refund(
                order_id=order_id,
                customer_id=customer_id,
                amount_pence=amount_pence,
                status=status,
                reason="goods returned",
                source="return",
                created_at=created_at,
            )
        )
        self.session.flush()

    def conversation(
        self,
        customer_id: int | None,
        started_at: datetime,
        *,
        ticket_reason: str | None = None,
        rating: int | None = None,
        thumbs: tuple[int, ...] = (),
    ) -> str:
        """A conversation, optionally handed off (a ticket) and rated.

        ``rating`` is the end rating (1-5); ``thumbs`` the +1/-1 marks on replies.
        Everything is stamped at ``started_at``.
        """
        conversation_id = f"conv-{next(self._numbers)}"
        self.session.add(
            ConversationOutcome(
                conversation_id=conversation_id,
                customer_id=customer_id,
                started_at=started_at,
                last_event_at=started_at,
            )
        )
        if ticket_reason is not None:
            self.session.add(
                Ticket(
                    conversation_id=conversation_id,
                    customer_id=customer_id,
                    reason=ticket_reason,
                    priority=2,
                    status=TicketStatus.OPEN,
                    summary="test ticket",
                    created_at=started_at,
                    updated_at=started_at,
                )
            )
        marks = [(ChatFeedbackKind.MESSAGE, t) for t in thumbs]
        if rating is not None:
            marks.append((ChatFeedbackKind.CONVERSATION, rating))
        for seq, (kind, value) in enumerate(marks):
            self.session.add(
                ChatFeedback(
                    conversation_id=conversation_id,
                    kind=kind,
                    message_seq=seq,
                    rating=value,
                    created_at=started_at,
                    updated_at=started_at,
                )
            )
        self.session.flush()
        return conversation_id


def synthetic_history(
    session: Session,
    *,
    n_customers: int = 300,
    n_days: int = 480,
    end: datetime = CUTOFF,
    seed: int = 0,
) -> None:
    """Fill an empty store with a seeded random purchase history ending at ``end``.

    Each customer orders as a Poisson process at their own rate from a start day
    until a random stop day; a customer-specific share of orders brings a return.
    """
    rng = np.random.default_rng(seed)
    start = end - days(n_days)
    session.execute(
        insert(Product),
        [
            {
                "id": i,
                "stock_code": f"S{i:04d}",
                "name": f"SYNTHETIC PRODUCT {i}",
                "unit_price_pence": 100 + 10 * i,
                "is_merchandise": True,
                "active": True,
                "updated_at": start,
            }
            for i in range(1, 31)
        ],
    )
    customers, orders, lines, refunds = [], [], [], []
    for customer_id in range(1, n_customers + 1):
        customers.append(
            {
                "id": customer_id,
                "name": f"Synthetic {customer_id}",
                "email": f"synthetic.{customer_id}@example.com",
                "country": "United Kingdom",
                "created_at": start,
                "newsletter": False,
            }
        )
        rate = rng.lognormal(mean=np.log(1 / 40), sigma=0.9)  # orders per day
        first = rng.uniform(0, n_days * 0.8)
        stop = first + rng.exponential(250)
        return_share = rng.beta(1, 6)
        day = first
        while day < min(stop, n_days):
            placed = start + days(day)
            order_id = len(orders) + 1
            total = int(rng.lognormal(np.log(3000), 0.6))
            orders.append(
                {
                    "id": order_id,
                    "order_number": f"S{order_id:07d}",
                    "customer_id": customer_id,
                    "placed_at": placed,
                    "status": OrderStatus.DELIVERED,
                    "payment_status": PaymentStatus.PAID,
                    "total_pence": total,
                    "currency": "GBP",
                    "shipping_country": "United Kingdom",
                    "updated_at": placed,
                }
            )
            for product_id in rng.choice(30, size=rng.integers(1, 4), replace=False):
                lines.append(
                    {
                        "order_id": order_id,
                        "product_id": int(product_id) + 1,
                        "quantity": 1,
                        "unit_price_pence": 100,
                    }
                )
            if rng.random() < return_share:
                refunds.append(
                    {
                        "order_id": order_id,
                        "customer_id": customer_id,
                        "amount_pence": total // 4,
                        "status": RefundStatus.PAID,
                        "reason": "goods returned",
                        "source": "return",
                        "created_at": placed + days(rng.uniform(3, 20)),
                    }
                )
            day += rng.exponential(1 / rate)
    session.execute(insert(Customer), customers)
    session.execute(insert(Order), orders)
    session.execute(insert(OrderLine), lines)
    if refunds:
        session.execute(insert(Refund), refunds)
    session.flush()
