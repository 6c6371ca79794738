"""Who bought which product when: the input of every item-to-item model.

One row per distinct (order, product) of the orders that were not cancelled, for
sellable products only (postage, fees and inactive products say nothing about
taste). Times are float days since the epoch, as in ``scoring.dataset``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_models.recommend import queries
from crm_models.scoring.dataset import to_days
from crm_models.store.schema import Order, OrderLine, OrderStatus

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Purchases:
    """Parallel arrays, one entry per distinct (order, product)."""

    customer: np.ndarray  # int64
    product: np.ndarray  # int64
    order: np.ndarray  # int64
    placed: np.ndarray  # float days

    def __len__(self) -> int:
        return len(self.product)

    def where(self, mask: np.ndarray) -> Purchases:
        """The rows where ``mask`` holds."""
        return Purchases(
            customer=self.customer[mask],
            product=self.product[mask],
            order=self.order[mask],
            placed=self.placed[mask],
        )

    def before(self, cutoff: float) -> Purchases:
        """Purchases strictly before ``cutoff``."""
        return self.where(self.placed < cutoff)

    def between(self, start: float, end: float | None = None) -> Purchases:
        """Purchases at or after ``start`` and (if given) before ``end``."""
        mask = self.placed >= start
        if end is not None:
            mask &= self.placed < end
        return self.where(mask)

    @property
    def last_day(self) -> float:
        """The latest purchase time (days)."""
        return float(self.placed.max()) if len(self) else 0.0

    def histories(self) -> dict[int, dict[int, float]]:
        """customer → {product: time of the latest purchase}."""
        order = np.lexsort((self.placed, self.customer))
        result: dict[int, dict[int, float]] = {}
        for c, p, t in zip(
            self.customer[order], self.product[order], self.placed[order], strict=True
        ):
            result.setdefault(int(c), {})[int(p)] = float(t)  # later rows win
        return result


def load_purchases(*, session: Session) -> Purchases:
    """Every sellable product in every order not cancelled (two queries)."""
    sellable = {item.product_id for item in queries.merchandise(session=session)}
    rows = session.execute(
        select(Order.customer_id, OrderLine.product_id, Order.id, Order.placed_at)
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.status != OrderStatus.CANCELLED)
        .distinct()
    ).all()
    keep = [r for r in rows if r[1] in sellable]
    columns = list(zip(*keep, strict=True)) if keep else [[], [], [], []]
    purchases = Purchases(
        customer=np.asarray(columns[0], dtype=np.int64),
        product=np.asarray(columns[1], dtype=np.int64),
        order=np.asarray(columns[2], dtype=np.int64),
        placed=np.asarray([to_days(t) for t in columns[3]], dtype=np.float64),
    )
    logger.info(
        "recommend.purchases.loaded rows=%s customers=%s products=%s",
        len(purchases),
        len(np.unique(purchases.customer)),
        len(np.unique(purchases.product)),
    )
    return purchases
