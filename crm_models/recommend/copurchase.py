"""Item-to-item co-purchase: which products land in the same orders.

The similarity of two products is the number of orders holding both over the
geometric mean of their own order counts (the cosine of their basket columns), so
a bestseller is not everybody's neighbour. Kept as each product's ``top_n``
neighbours (``ItemNeighbors``).
"""

from __future__ import annotations

import logging

import numpy as np

from crm_models.recommend.neighbors import ItemNeighbors
from crm_models.recommend.purchases import Purchases

logger = logging.getLogger(__name__)


def basket_matrix(purchases: Purchases) -> tuple[object, np.ndarray]:
    """The binary orders × products matrix and the product id of each column."""
    from scipy import sparse

    orders, order_pos = np.unique(purchases.order, return_inverse=True)
    products, product_pos = np.unique(purchases.product, return_inverse=True)
    matrix = sparse.csr_matrix(
        (np.ones(len(purchases), dtype=np.float64), (order_pos, product_pos)),
        shape=(len(orders), len(products)),
    )
    matrix.data[:] = 1.0  # a product twice in one order still counts once
    return matrix, products


def co_counts(purchases: Purchases) -> tuple[object, np.ndarray, np.ndarray, int]:
    """Co-order counts (sparse), each product's order count, the ids, the #orders."""
    baskets, ids = basket_matrix(purchases)
    counts = (baskets.T @ baskets).tocsr()  # type: ignore[attr-defined]
    own = counts.diagonal().astype(np.float64)
    counts.setdiag(0)
    counts.eliminate_zeros()
    return counts, own, ids, int(baskets.shape[0])  # type: ignore[attr-defined]


def fit_copurchase(purchases: Purchases, *, top_n: int = 50) -> ItemNeighbors:
    """Each product's ``top_n`` co-purchase neighbours by basket cosine."""
    if len(purchases) == 0:
        return ItemNeighbors(np.zeros(0), np.zeros(1), np.zeros(0), np.zeros(0))
    counts, own, ids, _ = co_counts(purchases)
    coo = counts.tocoo()  # type: ignore[attr-defined]
    coo.data = coo.data / np.sqrt(own[coo.row] * own[coo.col])
    neighbors = ItemNeighbors.from_matrix(coo, ids, top_n=top_n)
    logger.debug("copurchase.fitted products=%s", len(neighbors))
    return neighbors
