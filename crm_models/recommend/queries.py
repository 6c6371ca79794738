"""The store reads the recommender needs (small, indexed queries)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from crm_models.store import repositories
from crm_models.store.schema import Order, OrderLine, OrderStatus, Product


@dataclass(frozen=True)
class CatalogItem:
    """A product as the recommender sees it (name as stored, upper case)."""

    product_id: int
    stock_code: str
    name: str
    price_pence: int


def _item(product: Product) -> CatalogItem:
    return CatalogItem(
        product_id=product.id,
        stock_code=product.stock_code,
        name=product.name,
        price_pence=product.unit_price_pence,
    )


def merchandise(*, session: Session) -> list[CatalogItem]:
    """Every product that may be sold and recommended, by id."""
    return [_item(p) for p in repositories.merchandise_products(session=session)]


def items_by_id(
    *, session: Session, product_ids: Iterable[int], sellable_only: bool = True
) -> dict[int, CatalogItem]:
    """The products among ``product_ids`` by id; only sellable ones by default."""
    ids = sorted({int(i) for i in product_ids})
    if not ids:
        return {}
    query = select(
        Product.id, Product.stock_code, Product.name, Product.unit_price_pence
    ).where(Product.id.in_(ids))
    if sellable_only:
        query = query.where(*repositories.sellable())
    return {
        row.id: CatalogItem(
            product_id=row.id,
            stock_code=row.stock_code,
            name=row.name,
            price_pence=row.unit_price_pence,
        )
        for row in session.execute(query)
    }


def purchase_history(
    *, session: Session, customer_id: int, now: datetime
) -> dict[int, datetime]:
    """Every product the customer bought before ``now`` → when they last bought it.

    Orders that are cancelled now do not count.
    """
    last = func.max(Order.placed_at)
    query = (
        select(OrderLine.product_id, last)
        .join(Order, Order.id == OrderLine.order_id)
        .where(
            Order.customer_id == customer_id,
            Order.status != OrderStatus.CANCELLED,
            Order.placed_at < now,
        )
        .group_by(OrderLine.product_id)
    )
    return {int(product_id): placed for product_id, placed in session.execute(query)}


def bestsellers(
    *, session: Session, now: datetime, days: int = 90, limit: int = 50
) -> list[tuple[int, int]]:
    """``(product_id, n_orders)`` of the most ordered sellable products lately."""
    n_orders = func.count(distinct(Order.id))
    query = (
        select(OrderLine.product_id, n_orders)
        .join(Order, Order.id == OrderLine.order_id)
        .join(Product, Product.id == OrderLine.product_id)
        .where(
            Order.status != OrderStatus.CANCELLED,
            Order.placed_at >= now - timedelta(days=days),
            Order.placed_at < now,
            *repositories.sellable(),
        )
        .group_by(OrderLine.product_id)
        .order_by(n_orders.desc(), OrderLine.product_id)
        .limit(limit)
    )
    return [(int(pid), int(n)) for pid, n in session.execute(query)]
