"""Segments: k-means on scaled RFM with stable marketer names, stored per customer."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_models.scoring import segments as seg
from crm_models.store.schema import CustomerSegment
from tests.crm_models.scoring.builders import StoreBuilder


def _customers(seed: int = 0) -> np.ndarray:
    """Rows of (recency_days, frequency, monetary) in five clear groups of 40."""
    rng = np.random.default_rng(seed)
    groups = [
        (5, 40, 20_000),  # champions: recent, frequent, big spenders
        (30, 8, 2_000),  # loyal
        (20, 1, 150),  # promising newcomers: recent, one order
        (250, 7, 2_500),  # at risk: used to buy, not lately
        (330, 1, 80),  # hibernating
    ]
    rows = [
        (
            r * rng.uniform(0.8, 1.2),
            max(1, round(f * rng.uniform(0.8, 1.2))),
            m * rng.uniform(0.8, 1.2),
        )
        for r, f, m in groups
        for _ in range(40)
    ]
    return np.array(rows)


EXPECTED = [seg.CHAMPIONS, seg.LOYAL, seg.PROMISING, seg.AT_RISK, seg.HIBERNATING]


def test_each_group_gets_the_name_a_marketer_would_give_it() -> None:
    rfm = _customers()

    names = seg.fit_segments(rfm, random_state=0).assign(rfm)

    for group, expected in enumerate(EXPECTED):
        assert set(names[group * 40 : (group + 1) * 40]) == {expected}


@pytest.mark.parametrize("random_state", [1, 2, 3])
def test_names_do_not_depend_on_the_seed_or_the_row_order(random_state: int) -> None:
    rfm = _customers()
    reference = seg.fit_segments(rfm, random_state=0).assign(rfm)
    order = np.random.default_rng(random_state).permutation(len(rfm))

    shuffled = seg.fit_segments(rfm[order], random_state=random_state)

    assert shuffled.assign(rfm) == reference
    assert sorted(shuffled.names) == sorted(seg.PROTOTYPES)


def test_the_model_survives_its_json_form() -> None:
    rfm = _customers()
    model = seg.fit_segments(rfm, random_state=0)

    again = seg.SegmentModel.from_dict(model.as_dict())

    assert again == model
    assert again.segment({"recency_days": 3, "frequency": 50, "monetary": 25_000}) == (
        seg.CHAMPIONS
    )


def test_too_few_customers_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot make"):
        seg.fit_segments(_customers()[:3], random_state=0)


def test_segments_are_stored_per_customer(session: Session) -> None:
    b = StoreBuilder(session)
    for customer_id in (1, 2):
        b.customer(customer_id)
    now = datetime(2025, 6, 1, tzinfo=timezone.utc)

    seg.store_segments(session=session, segments={1: "x"}, version="v0", now=now)
    written = seg.store_segments(
        session=session,
        segments={1: seg.CHAMPIONS, 2: seg.HIBERNATING},
        version="v1",
        now=now,
    )
    rows = session.execute(
        select(
            CustomerSegment.customer_id,
            CustomerSegment.segment,
            CustomerSegment.model_version,
        )
    ).all()

    assert written == 2
    assert sorted(map(tuple, rows)) == [
        (1, seg.CHAMPIONS, "v1"),  # the earlier run is replaced
        (2, seg.HIBERNATING, "v1"),
    ]
