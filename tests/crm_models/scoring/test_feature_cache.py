"""The in-memory feature cache: same features as training, incremental refresh."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from crm_models.scoring.dataset import load_events, to_days
from crm_models.scoring.feature_cache import FeatureCache
from crm_models.scoring.features import features_table
from crm_models.store.schema import Order, OrderStatus, Refund, RefundStatus
from tests.crm_models.scoring.builders import (
    CUTOFF,
    StoreBuilder,
    days,
    synthetic_history,
)


class Clock:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cached_features_equal_the_training_features(session: Session) -> None:
    synthetic_history(session, n_customers=40, n_days=200, seed=3)
    cache = FeatureCache()
    table = features_table(load_events(session=session), to_days(CUTOFF))

    for customer_id, row in table.iterrows():
        served = cache.features(session=session, customer_id=customer_id, now=CUTOFF)
        assert served == pytest.approx(row.to_dict()), customer_id
    assert len(cache) >= len(table)


@pytest.fixture
def store(session: Session) -> StoreBuilder:
    b = StoreBuilder(session)
    product = b.product("MUG")
    for customer_id in (1, 2, 3):
        b.customer(customer_id)
    b.order(1, CUTOFF - days(40), 1_000, products=(product,))
    b.order(2, CUTOFF - days(20), 2_000, products=(product,))
    return b


def test_changes_show_after_a_refresh_and_only_then(store: StoreBuilder) -> None:
    clock = Clock()
    cache = FeatureCache(refresh_seconds=30, clock=clock)
    session = store.session
    first = cache.features(session=session, customer_id=1, now=CUTOFF)

    store.order(1, CUTOFF - days(1), 5_000)  # a new order
    order_2 = session.query(Order).filter_by(customer_id=2).one()
    order_2.status, order_2.updated_at = OrderStatus.CANCELLED, CUTOFF  # cancelled
    store.refund(1, CUTOFF - days(2), 100)  # and a refund
    session.flush()
    not_yet = cache.features(session=session, customer_id=1, now=CUTOFF)
    clock.now += 31
    refreshed = cache.features(session=session, customer_id=1, now=CUTOFF)

    assert not_yet == first  # within the refresh interval: the cached history
    assert first["frequency"] == 1
    assert refreshed["frequency"] == 2
    assert refreshed["recency_days"] == pytest.approx(1.0)
    assert refreshed["n_refunds"] == 1
    after = days(1)
    cancelled = cache.features(session=session, customer_id=2, now=CUTOFF + after)
    assert cancelled is None  # its only order is cancelled: no purchase left


def test_a_refresh_reloads_only_the_changed_customers(store: StoreBuilder) -> None:
    cache = FeatureCache(refresh_seconds=0)
    cache.ensure_fresh(session=store.session, now=CUTOFF)
    untouched = cache.history(2)

    store.order(1, CUTOFF - days(1), 5_000)
    changed = cache.refresh(session=store.session, now=CUTOFF)

    assert changed == 1
    assert cache.history(2) is untouched
    assert cache.refresh(session=store.session, now=CUTOFF) == 0  # nothing new


def test_a_new_conversation_signal_reloads_its_customer(store: StoreBuilder) -> None:
    cache = FeatureCache(refresh_seconds=0)
    cache.ensure_fresh(session=store.session, now=CUTOFF)
    untouched = cache.history(1)

    store.conversation(2, CUTOFF, ticket_reason="complaint", rating=1)
    changed = cache.refresh(session=store.session, now=CUTOFF)
    served = cache.features(session=store.session, customer_id=2, now=CUTOFF + days(1))

    assert changed == 1
    assert cache.history(1) is untouched
    assert (served["complaints_365d"], served["bad_ratings_365d"]) == (1, 1)


def test_conversations_seen_before_are_not_reloaded_on_every_refresh(
    store: StoreBuilder,
) -> None:
    # The shop's clock is fixed in the past (a demo's SHOP_TODAY); conversation
    # rows carry the real time, and must be compared with the real clock.
    store.conversation(2, CUTOFF - days(3), ticket_reason="complaint")
    cache = FeatureCache(refresh_seconds=0, margin=timedelta(0))
    cache.ensure_fresh(session=store.session, now=CUTOFF)

    assert cache.refresh(session=store.session, now=CUTOFF) == 0
    store.conversation(2, CUTOFF - days(1), rating=1)
    assert cache.refresh(session=store.session, now=CUTOFF) == 1


def test_a_refund_approved_later_reloads_its_customer(store: StoreBuilder) -> None:
    store.refund(1, CUTOFF - days(5), 400, status=RefundStatus.REQUESTED)
    cache = FeatureCache(refresh_seconds=0)
    before = cache.features(session=store.session, customer_id=1, now=CUTOFF)

    refund = store.session.query(Refund).filter_by(customer_id=1).one()
    refund.status = RefundStatus.APPROVED  # e.g. by the shop's back office
    store.session.flush()
    changed = cache.refresh(session=store.session, now=CUTOFF)
    after = cache.features(session=store.session, customer_id=1, now=CUTOFF)

    assert changed == 1
    assert before["monetary"] == pytest.approx(10.0)  # nothing paid back yet
    assert after["monetary"] == pytest.approx(6.0)  # £4 of £10 paid back


def test_customers_are_known_without_asking_the_store_twice(
    store: StoreBuilder,
) -> None:
    cache = FeatureCache()
    cache.ensure_fresh(session=store.session, now=CUTOFF)

    assert cache.known_customer(session=store.session, customer_id=3)  # no orders
    assert not cache.known_customer(session=store.session, customer_id=99)
    store.customer(99)
    assert not cache.known_customer(session=store.session, customer_id=99)  # cached
    cache.refresh(session=store.session, now=CUTOFF)
    assert cache.known_customer(session=store.session, customer_id=99)
