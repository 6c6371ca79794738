"""Association rules from real baskets: support, confidence and lift.

A rule ``A -> B`` says that orders with A often hold B. Its support is the share
of orders holding both, its confidence the share of A's orders that hold B, its
lift the confidence over B's own share (above 1: more often than chance). Rules
need a minimum number of orders behind them; each product keeps its ``top_n``
rules by confidence.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from crm_models.recommend.copurchase import co_counts
from crm_models.recommend.neighbors import ItemNeighbors
from crm_models.recommend.purchases import Purchases

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AssociationRules:
    """The kept rules: ``confidence`` and ``lift`` tables over the same pairs."""

    confidence: ItemNeighbors
    lift: ItemNeighbors
    n_baskets: int
    min_count: int


def fit_rules(
    purchases: Purchases,
    *,
    min_count: int = 5,
    min_confidence: float = 0.05,
    min_lift: float = 1.0,
    top_n: int = 50,
) -> AssociationRules:
    """Rules with at least ``min_count`` orders, confidence and lift above the floors.

    Args:
        purchases: the baskets.
        min_count: orders holding both products (support × number of orders).
        min_confidence: P(B in the order | A in the order).
        min_lift: confidence over P(B).
        top_n: rules kept per antecedent product, by confidence.
    """
    from scipy import sparse

    empty = ItemNeighbors(np.zeros(0), np.zeros(1), np.zeros(0), np.zeros(0))
    if len(purchases) == 0:
        return AssociationRules(empty, empty, 0, min_count)
    counts, own, ids, n_baskets = co_counts(purchases)
    coo = counts.tocoo()  # type: ignore[attr-defined]
    both = coo.data
    confidence = both / own[coo.row]
    lift = confidence / (own[coo.col] / n_baskets)
    keep = (both >= min_count) & (confidence >= min_confidence) & (lift > min_lift)
    rows, cols = coo.row[keep], coo.col[keep]
    shape = counts.shape  # type: ignore[attr-defined]
    conf_table = ItemNeighbors.from_matrix(
        sparse.coo_matrix((confidence[keep], (rows, cols)), shape=shape),
        ids,
        top_n=top_n,
    )
    # The lift table keeps exactly the pairs the confidence table kept.
    lift_values = dict(zip(zip(rows, cols, strict=True), lift[keep], strict=True))
    position = {int(p): i for i, p in enumerate(ids)}
    lift_weights = np.array(
        [
            lift_values[(position[int(a)], position[int(b)])]
            for a, start, end in zip(
                conf_table.keys,
                conf_table.indptr[:-1],
                conf_table.indptr[1:],
                strict=True,
            )
            for b in conf_table.neighbors[start:end]
        ],
        dtype=np.float32,
    )
    lift_table = ItemNeighbors(
        conf_table.keys, conf_table.indptr, conf_table.neighbors, lift_weights
    )
    logger.debug("rules.fitted rules=%s", len(conf_table.neighbors))
    return AssociationRules(conf_table, lift_table, n_baskets, min_count)
