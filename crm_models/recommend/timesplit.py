"""A time split of the purchases for next-purchase evaluation and ranker training.

At a cutoff, each customer's history is what they bought before it; their truth
is the products they bought from the cutoff on (until ``end``) that they had never
bought before: repeat purchases are not recommendations. Customers with no history
or no new product are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crm_models.recommend.purchases import Purchases


@dataclass(frozen=True)
class TimeSplit:
    """History before ``cutoff`` and new products bought in ``[cutoff, end)``."""

    cutoff: float
    end: float | None
    train: Purchases  # every purchase before the cutoff
    history: dict[int, dict[int, float]]  # customer → product → last time bought
    truth: dict[int, set[int]]  # customer → new products bought after the cutoff

    @property
    def customers(self) -> list[int]:
        """The evaluated customers, ascending."""
        return sorted(self.truth)


def time_split(
    purchases: Purchases, cutoff: float, end: float | None = None
) -> TimeSplit:
    """Split ``purchases`` at ``cutoff`` (days); the test window ends at ``end``."""
    train = purchases.before(cutoff)
    history = train.histories()
    later = purchases.between(cutoff, end)
    truth: dict[int, set[int]] = {}
    for customer in np.unique(later.customer):
        past = history.get(int(customer))
        if not past:
            continue
        bought = set(later.product[later.customer == customer].tolist())
        new = {int(p) for p in bought} - set(past)
        if new:
            truth[int(customer)] = new
    return TimeSplit(cutoff=cutoff, end=end, train=train, history=history, truth=truth)
