"""The wide leaky ceiling's extra views: product mix and 30-day activity profile."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy.orm import Session

from crm_models.bench import scoring_bench
from crm_models.bench.scoring_bench import PROFILE_PERIODS, wide_views
from crm_models.scoring.dataset import load_events, to_days
from tests.crm_models.scoring.builders import CUTOFF, StoreBuilder, days


def test_views_count_orders_per_period_and_keep_common_products(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scoring_bench, "MIN_PRODUCT_CUSTOMERS", 2)
    b = StoreBuilder(session)
    common, rare = b.product("COMMON"), b.product("RARE")
    for customer_id in (1, 2):
        b.customer(customer_id)
    b.order(1, CUTOFF - days(5), 1_000, products=(common, rare))  # period 0
    b.order(1, CUTOFF - days(40), 1_000, products=(common,))  # period 1
    b.order(1, CUTOFF - days(45), 1_000, products=(common,))  # period 1
    b.order(1, CUTOFF - days(500), 1_000, products=(common,))  # beyond 12 periods
    b.order(1, CUTOFF - days(3), 1_000, cancelled_at=CUTOFF - days(1))  # no purchase
    b.order(1, CUTOFF + days(2), 1_000, products=(rare,))  # after the cutoff
    b.order(2, CUTOFF - days(70), 1_000, products=(common,))  # period 2

    X = wide_views(load_events(session=session), to_days(CUTOFF), np.array([1, 2]))

    # Scaled log counts per period, then one TF-IDF column: only COMMON (2 buyers).
    assert X.shape == (2, PROFILE_PERIODS + 1)
    profile = X[:, :PROFILE_PERIODS].toarray()
    active = profile != profile.min(axis=0)  # above the column's lower value
    assert active[0].nonzero()[0].tolist() == [0, 1]
    assert active[1].nonzero()[0].tolist() == [2]
    assert X[:, PROFILE_PERIODS].toarray().ravel() == pytest.approx([1.0, 1.0])
