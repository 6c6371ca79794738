"""The three targets over the 90 days after a cutoff."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from sqlalchemy.orm import Session

from crm_models.scoring.dataset import load_events, to_days
from crm_models.scoring.labels import labels_table
from tests.crm_models.scoring.builders import CUTOFF, StoreBuilder, days


@pytest.fixture
def labels(session: Session) -> pd.DataFrame:
    b = StoreBuilder(session)
    for customer_id in (1, 2, 3, 4, 5):
        b.customer(customer_id)
    # 1: active, buys again in the window and returns something.
    b.order(1, CUTOFF - days(10), 1_000)
    b.order(1, CUTOFF + days(3), 1_000)
    b.refund(1, CUTOFF + days(1), 200)
    # 2: last bought 400 days ago: outside the churn population.
    b.order(2, CUTOFF - days(400), 1_000)
    # 3: active, next order only after the window: churned.
    b.order(3, CUTOFF - days(30), 1_000)
    b.order(3, CUTOFF + days(100), 1_000)
    # 4: active, orders in the window but cancels that order: churned, and a
    # cancellation counts for the refund risk.
    b.order(4, CUTOFF - days(60), 1_000)
    b.order(4, CUTOFF + days(10), 1_000, cancelled_at=CUTOFF + days(12))
    # 5: an order placed before the cutoff, cancelled inside the window.
    b.order(5, CUTOFF - days(5), 1_000, cancelled_at=CUTOFF + days(2))

    events = load_events(session=session)
    customers = pd.Index([1, 2, 3, 4, 5], name="customer_id")
    return labels_table(events, to_days(CUTOFF), customers)


@pytest.mark.parametrize(
    ("customer_id", "propensity", "churn_risk", "refund_risk"),
    [
        (1, 1.0, 0.0, 1.0),  # bought again, returned something
        (2, 0.0, math.nan, 0.0),  # not active in the 180 days before: no churn label
        (3, 0.0, 1.0, 0.0),  # next order after the 90-day window
        (4, 0.0, 1.0, 1.0),  # the only order in the window was cancelled
        (5, 0.0, 1.0, 1.0),  # an earlier order cancelled inside the window
    ],
)
def test_labels(
    labels: pd.DataFrame,
    customer_id: int,
    propensity: float,
    churn_risk: float,
    refund_risk: float,
) -> None:
    row = labels.loc[customer_id]

    assert row["propensity"] == propensity
    assert row["refund_risk"] == refund_risk
    if math.isnan(churn_risk):
        assert math.isnan(row["churn_risk"])
    else:
        assert row["churn_risk"] == churn_risk
