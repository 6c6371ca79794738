"""Hand-made purchases for the item-to-item model tests."""

from __future__ import annotations

import numpy as np

from crm_models.recommend.purchases import Purchases


def purchases(rows: list[tuple[int, int, int, float]]) -> Purchases:
    """``Purchases`` from ``(customer, order, product, day)`` rows."""
    array = np.array(rows, dtype=np.float64).reshape(-1, 4)
    return Purchases(
        customer=array[:, 0].astype(np.int64),
        order=array[:, 1].astype(np.int64),
        product=array[:, 2].astype(np.int64),
        placed=array[:, 3],
    )


# Orders 1-3 pair product 10 with 20 (three times) and 30 (once); 40 is alone.
BASKETS = purchases(
    [
        (1, 1, 10, 0.0),
        (1, 1, 20, 0.0),
        (2, 2, 10, 1.0),
        (2, 2, 20, 1.0),
        (3, 3, 10, 2.0),
        (3, 3, 20, 2.0),
        (3, 3, 30, 2.0),
        (4, 4, 40, 3.0),
    ]
)
