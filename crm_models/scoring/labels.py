"""What happened in the 90 days after a cutoff: the three training targets.

- ``propensity``: the customer placed an order that was never cancelled.
- ``churn_risk``: among customers who bought in the 180 days before the cutoff, no
  such order (missing, i.e. NaN, for everybody else).
- ``refund_risk``: a refund (return) was created or an order was cancelled.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_models.scoring.dataset import Events

TARGETS: tuple[str, ...] = ("propensity", "churn_risk", "refund_risk")
HORIZON_DAYS = 90.0
ACTIVE_DAYS = 180.0


def labels_table(
    events: Events, cutoff: float, customers: pd.Index, *, horizon: float = HORIZON_DAYS
) -> pd.DataFrame:
    """The targets for ``customers`` (usually a ``features_table`` index).

    Args:
        events: the store's events.
        cutoff: start of the label window (days since the epoch).
        customers: whom to label.
        horizon: window length in days.

    Returns:
        Index ``customer_id`` (as given), columns ``TARGETS`` as floats 0/1;
        ``churn_risk`` is NaN outside the churn population.
    """
    orders, refunds = events.orders, events.refunds
    end = cutoff + horizon
    in_window = (orders["placed"] >= cutoff) & (orders["placed"] < end)
    kept = orders["cancelled_at"] == np.inf
    buyers = set(orders.loc[in_window & kept, "customer_id"])

    # Active = a purchase (not cancelled as of the cutoff) in the 180 days before.
    active_rows = (
        (orders["placed"] >= cutoff - ACTIVE_DAYS)
        & (orders["placed"] < cutoff)
        & ~(orders["cancelled_at"] < cutoff)
    )
    active = set(orders.loc[active_rows, "customer_id"])

    refunded = set(
        refunds.loc[
            (refunds["created"] >= cutoff) & (refunds["created"] < end), "customer_id"
        ]
    )
    cancelled = set(
        orders.loc[
            (orders["cancelled_at"] >= cutoff) & (orders["cancelled_at"] < end),
            "customer_id",
        ]
    )

    ids = customers.to_numpy()
    bought = np.array([c in buyers for c in ids], dtype=float)
    churn = np.where([c in active for c in ids], 1.0 - bought, np.nan)
    returned = np.array([c in refunded or c in cancelled for c in ids], dtype=float)
    return pd.DataFrame(
        {"propensity": bought, "churn_risk": churn, "refund_risk": returned},
        index=customers,
    )
