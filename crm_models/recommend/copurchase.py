"""Item-to-item co-purchase counts: which products land in the same orders.

Counted once when the index is built, over all non-cancelled orders of the store,
and kept as the ``top_n`` partners of each product with the number of orders that
held both.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from crm_models.errors import ArtifactMissing, DataError

logger = logging.getLogger(__name__)

COPURCHASE_FILE = "copurchase.npz"


class CoPurchase:
    """The ``top_n`` co-purchased partners of every product.

    Args:
        top_n: partners kept per product.
    """

    def __init__(self, *, top_n: int = 30) -> None:
        self.top_n = top_n
        self._partners: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def fit(self, order_ids: Iterable[int], product_ids: Iterable[int]) -> CoPurchase:
        """Count co-purchases from parallel ``(order_id, product_id)`` sequences."""
        from scipy import sparse

        orders = np.asarray(list(order_ids), dtype=np.int64)
        products = np.asarray(list(product_ids), dtype=np.int64)
        if orders.shape != products.shape:
            raise DataError(f"{len(orders)} order ids for {len(products)} product ids")
        self._partners = {}
        if len(orders) == 0:
            return self

        order_codes, order_pos = np.unique(orders, return_inverse=True)
        product_codes, product_pos = np.unique(products, return_inverse=True)
        basket = sparse.csr_matrix(
            (np.ones(len(orders), dtype=np.int32), (order_pos, product_pos)),
            shape=(len(order_codes), len(product_codes)),
        )
        basket.data[:] = 1  # a product twice in one order still counts once
        counts = (basket.T @ basket).tocsr()
        counts.setdiag(0)
        counts.eliminate_zeros()

        for row in range(counts.shape[0]):
            start, end = counts.indptr[row], counts.indptr[row + 1]
            if start == end:
                continue
            cols, vals = counts.indices[start:end], counts.data[start:end]
            # Most orders first; ties by product id so the result is deterministic.
            order = np.lexsort((product_codes[cols], -vals))[: self.top_n]
            self._partners[int(product_codes[row])] = (
                product_codes[cols[order]].astype(np.int64),
                vals[order].astype(np.int32),
            )
        logger.debug("copurchase.fitted products=%s", len(self._partners))
        return self

    def partners(self, product_id: int) -> list[tuple[int, int]]:
        """``(partner_id, n_orders)`` pairs of ``product_id``, most frequent first."""
        ids, counts = self._partners.get(int(product_id), ((), ()))
        return [(int(i), int(c)) for i, c in zip(ids, counts, strict=True)]

    def scores(self, history: Iterable[int]) -> dict[int, tuple[int, int]]:
        """Summed co-purchase counts over ``history``.

        Returns:
            ``{candidate_id: (total_count, strongest_history_id)}``, where the second
            item is the history product that contributed most (for the reason text).
        """
        totals: dict[int, int] = defaultdict(int)
        best: dict[int, tuple[int, int]] = {}
        for source in history:
            for partner, count in self.partners(source):
                totals[partner] += count
                if count > best.get(partner, (0, 0))[0]:
                    best[partner] = (count, int(source))
        return {pid: (total, best[pid][1]) for pid, total in totals.items()}

    def save(self, folder: Path) -> None:
        """Write ``copurchase.npz`` into ``folder``."""
        keys = np.asarray(sorted(self._partners), dtype=np.int64)
        width = self.top_n
        ids = np.full((len(keys), width), -1, dtype=np.int64)
        counts = np.zeros((len(keys), width), dtype=np.int32)
        for row, key in enumerate(keys):
            p_ids, p_counts = self._partners[int(key)]
            ids[row, : len(p_ids)] = p_ids
            counts[row, : len(p_counts)] = p_counts
        np.savez_compressed(
            folder / COPURCHASE_FILE,
            keys=keys,
            ids=ids,
            counts=counts,
            top_n=np.asarray(width),
        )

    @classmethod
    def load(cls, folder: Path) -> CoPurchase:
        """Read ``copurchase.npz`` from ``folder``.

        Raises:
            ArtifactMissing: the file is not there.
        """
        path = folder / COPURCHASE_FILE
        if not path.is_file():
            raise ArtifactMissing(f"{path} does not exist")
        with np.load(path) as data:
            self = cls(top_n=int(data["top_n"]))
            for key, ids, counts in zip(
                data["keys"], data["ids"], data["counts"], strict=True
            ):
                keep = ids >= 0
                self._partners[int(key)] = (ids[keep], counts[keep])
        return self
