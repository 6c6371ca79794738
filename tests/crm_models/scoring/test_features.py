"""Features as of a cutoff: exact values on a hand-built store, and no leakage."""

from __future__ import annotations

import math
from datetime import datetime, time, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_models.scoring.dataset import load_events, to_days
from crm_models.scoring.features import (
    FEATURES,
    customer_features,
    features_table,
    load_histories,
)
from crm_models.store.schema import (
    CANCELLATION_SOURCE,
    Order,
    OrderStatus,
    Refund,
    RefundStatus,
)
from tests.conftest import SEED_TODAY
from tests.crm_models.scoring.builders import CUTOFF, StoreBuilder, days


@pytest.fixture
def store(session: Session) -> StoreBuilder:
    """Customer 1 with a rich history around ``CUTOFF``, customer 3 long gone."""
    b = StoreBuilder(session)
    p = [b.product(f"PRODUCT {i}") for i in range(1, 8)]
    for customer_id in (1, 2, 3):
        b.customer(customer_id)

    b.order(1, CUTOFF - days(200), 10_000, products=(p[0], p[1]))
    b.order(1, CUTOFF - days(100), 5_000, products=(p[1], p[2]))
    b.order(1, CUTOFF - days(30), 2_000, products=(p[3],))
    # Cancelled before the cutoff: not a purchase, counts as a cancellation.
    b.order(
        1, CUTOFF - days(20), 3_000, products=(p[4],), cancelled_at=CUTOFF - days(18)
    )
    # Cancelled only after the cutoff: still a purchase as of the cutoff.
    b.order(
        1, CUTOFF - days(10), 4_000, products=(p[5],), cancelled_at=CUTOFF + days(5)
    )
    b.refund(1, CUTOFF - days(50), 1_000)
    b.refund(1, CUTOFF - days(5), 500, status=RefundStatus.REJECTED)

    b.order(2, CUTOFF + days(3), 9_999, products=(p[6],))  # only after the cutoff
    b.order(3, CUTOFF - days(400), 7_000, products=(p[0],))

    # Conversations of customer 1: a complaint rated 1 of 5 a month ago; a hand-off
    # with one reply thumbed down (one up) 100 days ago; an old chat rated 2 (over
    # a year ago); a complaint after the cutoff. An anonymous complaint is nobody's.
    b.conversation(1, CUTOFF - days(30), ticket_reason="complaint", rating=1)
    b.conversation(1, CUTOFF - days(100), ticket_reason="agent_request", thumbs=(1, -1))
    b.conversation(1, CUTOFF - days(400), rating=2)
    b.conversation(1, CUTOFF + days(1), ticket_reason="complaint", rating=1)
    b.conversation(None, CUTOFF - days(3), ticket_reason="complaint", rating=1)
    b.conversation(3, CUTOFF - days(60), rating=5, thumbs=(1,))
    return b


def test_features_of_a_rich_history_are_exact(store: StoreBuilder) -> None:
    table = features_table(load_events(session=store.session), to_days(CUTOFF))

    row = table.loc[1]
    rate_before = 150.0 * 90 / 110  # £150 before the last 90 days, over 110 days
    assert list(table.columns) == list(FEATURES)
    assert row.to_dict() == pytest.approx(
        {
            "recency_days": 10.0,
            "frequency": 4.0,  # the order cancelled after the cutoff still counts
            "orders_365d": 4.0,
            "monetary": 200.0,  # £210 bought minus the £10 paid back
            "mean_order_value": 50.0,
            "tenure_days": 200.0,
            "mean_interval_days": 190.0 / 3,
            "spend_90d": 60.0,
            "spend_trend": math.log(61.0 / (1.0 + rate_before)),
            "n_products": 5.0,
            "n_cancelled": 1.0,
            "n_refunds": 2.0,  # the rejected request counts as a return
            "returns_90d": 3.0,  # two refunds and one cancellation
            "cancelled_share": 4_000 / 24_000,
            "orders_90d": 2.0,
            "active_months": 4.0,  # 200, 100, 30 and 10 days ago: months 6, 3, 1, 0
            "lines_per_order": 1.5,  # 2 + 2 + 1 + 1 lines over 4 purchases
            "mean_quantity": 1.0,
            "chats_90d": 1.0,  # 100 and 400 days ago are out of the 90 days
            "handoffs_365d": 2.0,  # the complaint and the agent request
            "complaints_365d": 1.0,
            "bad_ratings_365d": 2.0,  # the 1 of 5 and the thumbs-down; not 400 days
        }
    )


def test_a_lapsed_single_order_customer(store: StoreBuilder) -> None:
    table = features_table(load_events(session=store.session), to_days(CUTOFF))

    row = table.loc[3]
    assert row["recency_days"] == pytest.approx(400.0)
    assert row["orders_365d"] == 0
    assert row["mean_interval_days"] == pytest.approx(400.0)  # tenure for one order
    assert row["spend_90d"] == 0
    assert row["spend_trend"] == pytest.approx(-math.log(1 + 70.0 * 90 / 310))
    assert (row["orders_90d"], row["active_months"], row["lines_per_order"]) == (
        0,
        1,
        1,
    )
    # A good chat is a chat, and nothing else.
    assert row[["chats_90d", "handoffs_365d", "bad_ratings_365d"]].tolist() == [
        1,
        0,
        0,
    ]


def test_customers_without_a_purchase_before_the_cutoff_are_left_out(
    store: StoreBuilder,
) -> None:
    table = features_table(load_events(session=store.session), to_days(CUTOFF))

    assert list(table.index) == [1, 3]


def test_events_after_the_cutoff_change_nothing(store: StoreBuilder) -> None:
    cutoff = to_days(CUTOFF)
    before = features_table(load_events(session=store.session), cutoff)

    # Arrange a future: a new order, a refund, a cancellation, all after the cutoff.
    product = store.product("LATE PRODUCT")
    store.order(1, CUTOFF + days(1), 50_000, products=(product,))
    store.order(3, CUTOFF, 1_000, products=(product,))  # exactly at the cutoff
    store.refund(1, CUTOFF + days(2), 4_000)
    store.order(1, CUTOFF + days(4), 800, cancelled_at=CUTOFF + days(6))
    store.conversation(3, CUTOFF + days(1), ticket_reason="complaint", rating=1)
    after = features_table(load_events(session=store.session), cutoff)

    assert after.equals(before)


def test_money_back_for_a_cancelled_order_is_not_a_return(store: StoreBuilder) -> None:
    cutoff = to_days(CUTOFF)
    before = features_table(load_events(session=store.session), cutoff)
    cancelled = store.session.scalars(
        select(Order).where(
            Order.customer_id == 1, Order.status == OrderStatus.CANCELLED
        )
    ).first()
    store.session.add(
        Refund(
            order_id=cancelled.id,
            customer_id=1,
            amount_pence=3_000,
            status=RefundStatus.APPROVED,
            reason="order cancelled",
            source=CANCELLATION_SOURCE,
            created_at=CUTOFF - days(18),
        )
    )
    store.session.flush()

    after = features_table(load_events(session=store.session), cutoff)
    served = customer_features(session=store.session, customer_id=1, now=CUTOFF)

    assert after.equals(before)  # counted once, as the cancellation
    assert served == pytest.approx(before.loc[1].to_dict())


def test_serving_features_equal_the_training_features(store: StoreBuilder) -> None:
    table = features_table(load_events(session=store.session), to_days(CUTOFF))

    for customer_id in (1, 3):
        served = customer_features(
            session=store.session, customer_id=customer_id, now=CUTOFF
        )
        assert served == pytest.approx(table.loc[customer_id].to_dict())


def test_serving_a_customer_without_purchases_gives_none(store: StoreBuilder) -> None:
    assert customer_features(session=store.session, customer_id=2, now=CUTOFF) is None
    assert customer_features(session=store.session, customer_id=99, now=CUTOFF) is None


def test_both_paths_agree_on_the_real_seed(seeded_session: Session) -> None:
    now = datetime.combine(SEED_TODAY, time(12), tzinfo=timezone.utc)
    table = features_table(load_events(session=seeded_session), to_days(now))

    assert len(table) > 30  # the seed's first 40 customers, nearly all buyers
    for customer_id, row in table.iterrows():
        served = customer_features(
            session=seeded_session, customer_id=customer_id, now=now
        )
        assert served == pytest.approx(row.to_dict()), customer_id


def test_histories_hold_exactly_the_store_rows(store: StoreBuilder) -> None:
    histories = load_histories(session=store.session)
    some = load_histories(session=store.session, customer_ids=[3, 99])

    assert sorted(histories) == [1, 2, 3]
    assert histories[1].placed.size == 5
    assert histories[1].refund_times.size == 2
    assert sorted(histories[1].line_products.tolist()) == [1, 2, 2, 3, 4, 5, 6]
    assert list(some) == [3]  # 99 has no order
    assert load_histories(session=store.session, customer_ids=[]) == {}
