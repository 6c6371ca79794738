"""Per-product purchase statistics: popularity overall and lately, and age."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crm_models.errors import ArtifactMissing
from crm_models.recommend.purchases import Purchases

RECENT_DAYS = 30.0


@dataclass(frozen=True)
class ItemStats:
    """Buyers of each product, overall and in the last ``RECENT_DAYS``, and since when.

    Attributes:
        ids: product ids, ascending.
        buyers: distinct customers who bought it.
        recent_buyers: distinct customers who bought it in the last 30 days.
        first_sold: time of its first sale (days).
        as_of: the moment the statistics describe (days).
    """

    ids: np.ndarray
    buyers: np.ndarray
    recent_buyers: np.ndarray
    first_sold: np.ndarray
    as_of: float

    def lookup(self, product_ids: np.ndarray) -> tuple[np.ndarray, ...]:
        """``(buyers, recent_buyers, age_days)`` of ``product_ids`` (0 if unknown)."""
        product_ids = np.asarray(product_ids, dtype=np.int64)
        pos = np.searchsorted(self.ids, product_ids)
        pos = np.clip(pos, 0, max(len(self.ids) - 1, 0))
        known = (
            (self.ids[pos] == product_ids)
            if len(self.ids)
            else np.zeros(len(product_ids), bool)
        )
        zeros = np.zeros(len(product_ids))
        if not len(self.ids):
            return zeros, zeros, zeros
        buyers = np.where(known, self.buyers[pos], 0.0)
        recent = np.where(known, self.recent_buyers[pos], 0.0)
        age = np.where(known, self.as_of - self.first_sold[pos], 0.0)
        return buyers, recent, age

    def most_popular(self, n: int, *, recent: bool = False) -> np.ndarray:
        """The ``n`` products with the most buyers (lately, with ``recent``)."""
        counts = self.recent_buyers if recent else self.buyers
        order = np.lexsort((self.ids, -counts))
        return self.ids[order[:n]]

    def save(self, path: Path) -> None:
        """Write to ``path`` (``.npz``)."""
        np.savez_compressed(
            path,
            ids=self.ids,
            buyers=self.buyers,
            recent_buyers=self.recent_buyers,
            first_sold=self.first_sold,
            as_of=np.asarray(self.as_of),
        )

    @classmethod
    def load(cls, path: Path) -> ItemStats:
        """Read what ``save`` wrote.

        Raises:
            ArtifactMissing: the file is not there.
        """
        if not path.is_file():
            raise ArtifactMissing(f"{path} does not exist")
        with np.load(path) as data:
            return cls(
                ids=data["ids"],
                buyers=data["buyers"],
                recent_buyers=data["recent_buyers"],
                first_sold=data["first_sold"],
                as_of=float(data["as_of"]),
            )


def fit_stats(purchases: Purchases, *, now: float) -> ItemStats:
    """Statistics of every product in ``purchases`` as of ``now`` (days)."""
    pairs = np.unique(np.column_stack([purchases.product, purchases.customer]), axis=0)
    ids, buyers = (
        np.unique(pairs[:, 0], return_counts=True)
        if len(pairs)
        else (
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
        )
    )
    recent = purchases.placed >= now - RECENT_DAYS
    recent_pairs = np.unique(
        np.column_stack([purchases.product[recent], purchases.customer[recent]]), axis=0
    )
    recent_ids, recent_counts = np.unique(recent_pairs[:, 0], return_counts=True)
    recent_buyers = np.zeros(len(ids))
    recent_buyers[np.searchsorted(ids, recent_ids)] = recent_counts
    first_sold = np.full(len(ids), now)
    np.minimum.at(first_sold, np.searchsorted(ids, purchases.product), purchases.placed)
    return ItemStats(
        ids=ids.astype(np.int64),
        buyers=buyers.astype(np.float64),
        recent_buyers=recent_buyers,
        first_sold=first_sold,
        as_of=float(now),
    )
