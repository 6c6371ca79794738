"""EASE: a closed-form linear item-to-item model of customers' purchase sets.

Steck's "Embarrassingly Shallow Autoencoder" (2019) learns item weights ``B`` that
rebuild each customer's row from the other items: with the Gram matrix
``G = XᵀX + λI`` and ``P = G⁻¹``, ``B = -P / diag(P)`` with a zero diagonal. Rows
of ``X`` weigh recent purchases more (``floor + exp(-age / tau)``), the same weights
serving uses for a customer's history, so the model learns what recent baskets
lead to. Kept as each product's ``top_n`` strongest positive weights.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from crm_models.recommend.neighbors import ItemNeighbors
from crm_models.recommend.purchases import Purchases

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EaseConfig:
    """Regularisation, recency weighting and size of the kept table."""

    l2: float = 300.0
    tau_days: float = 30.0
    floor: float = 0.5
    top_n: int = 100
    # The dense Gram matrix grows with the square of the products (8,000 products:
    # 512 MB in float64). Past this many, EASE is fitted on the best sellers only;
    # the other products are still reached through co-purchase, association rules
    # and the embeddings, which the ranker blends.
    max_items: int = 8000


def recency_weight(
    age_days: np.ndarray | float, config: EaseConfig
) -> np.ndarray | float:
    """``floor + exp(-age / tau)``: 1.5 for today's purchase, ``floor`` long after."""
    return config.floor + np.exp(
        -np.asarray(age_days, dtype=np.float64) / config.tau_days
    )


def fit_ease(
    purchases: Purchases, *, now: float, config: EaseConfig | None = None
) -> ItemNeighbors:
    """Fit EASE on ``purchases`` as of ``now`` (days) and keep the top weights.

    Only the ``max_items`` most bought products take part when there are more.
    """
    config = config or EaseConfig()
    from scipy import sparse

    if len(purchases) == 0:
        return ItemNeighbors(np.zeros(0), np.zeros(1), np.zeros(0), np.zeros(0))
    started = time.perf_counter()
    ids, counts = np.unique(purchases.product, return_counts=True)
    if len(ids) > config.max_items:
        ids = np.sort(ids[np.argsort(-counts, kind="stable")[: config.max_items]])
    column = {int(p): i for i, p in enumerate(ids)}
    # The latest purchase of each (customer, product) sets the weight.
    latest: dict[tuple[int, int], float] = {}
    for c, p, t in zip(
        purchases.customer, purchases.product, purchases.placed, strict=True
    ):
        key = (int(c), int(p))
        if key[1] in column and t > latest.get(key, -np.inf):
            latest[key] = float(t)
    customers = sorted({c for c, _ in latest})
    row = {c: i for i, c in enumerate(customers)}
    keys = list(latest)
    X = sparse.csr_matrix(
        (
            recency_weight(now - np.array([latest[k] for k in keys]), config),
            ([row[c] for c, _ in keys], [column[p] for _, p in keys]),
        ),
        shape=(len(customers), len(ids)),
    )
    gram = (X.T @ X).toarray()
    gram[np.diag_indices_from(gram)] += config.l2
    P = np.linalg.inv(gram)
    B = P / -np.diag(P)
    np.fill_diagonal(B, 0.0)
    table = ItemNeighbors.from_matrix(B, ids, top_n=config.top_n)
    logger.info(
        "recommend.ease.fitted items=%s customers=%s seconds=%.1f",
        len(ids),
        len(customers),
        time.perf_counter() - started,
    )
    return table
