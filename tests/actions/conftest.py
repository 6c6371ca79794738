"""Fixtures for action tests: the domain, services on a seeded store, fakes, a runner.

Every test works on the session-wide seeded SQLite store inside an outer transaction
that is rolled back afterwards, so actions may commit freely.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Action
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session

from actions.services import Services, use_services
from actions.shop_policy import PolicyFile
from crm_models.errors import ArtifactMissing
from crm_models.settings import ROOT, Settings
from crm_models.store.schema import Order, OrderStatus, PaymentStatus
from tests.actions.builders import build_tracker, load_domain, render

POLICY_PATH = ROOT / "bot" / "shop_policy.yml"


@dataclass(frozen=True)
class FakeScores:
    """What the scorer returns (the fields the actions read)."""

    propensity: float = 0.1
    churn_risk: float = 0.1
    refund_risk: float = 0.1
    high_risk_refund: bool = False
    high_propensity: bool = False
    high_value: bool = False
    segment: str = "regular"
    reasons: dict[str, list[str]] = field(default_factory=dict)


class FakeScorer:
    def __init__(self, scores: FakeScores | None = None) -> None:
        self.scores = scores or FakeScores()
        self.calls: list[int | None] = []

    def score(
        self, *, session: Session, customer_id: int | None, now: Any
    ) -> FakeScores:
        self.calls.append(customer_id)
        return self.scores


@dataclass(frozen=True)
class FakeRecommendation:
    product_id: int
    stock_code: str
    name: str
    price_pence: int
    score: float
    reason: str


class FakeRecommender:
    def __init__(
        self, items: list[FakeRecommendation] | None = None, *, missing: bool = False
    ) -> None:
        self.items = items or []
        self.missing = missing
        self.calls: list[dict[str, Any]] = []

    def recommend(self, *, session: Session, **kwargs: Any) -> list[FakeRecommendation]:
        self.calls.append(kwargs)
        if self.missing:
            raise ArtifactMissing("index not built: run make index")
        return self.items[: kwargs.get("k", 5)]


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    return load_domain()


@pytest.fixture
def store(seeded_engine: Engine) -> Iterator[Connection]:
    """A connection whose outer transaction is rolled back after the test."""
    with seeded_engine.connect() as conn:
        outer = conn.begin()
        try:
            yield conn
        finally:
            outer.rollback()


@pytest.fixture
def db(store: Connection) -> Iterator[Session]:
    """A session for the test's own reads of the store."""
    with Session(bind=store, join_transaction_mode="create_savepoint") as session:
        yield session


@pytest.fixture
def scorer() -> FakeScorer:
    return FakeScorer()


@pytest.fixture
def recommender() -> FakeRecommender:
    return FakeRecommender()


@pytest.fixture
def policy_path() -> Path:
    return POLICY_PATH


@pytest.fixture
def services(
    settings: Settings,
    store: Connection,
    scorer: FakeScorer,
    recommender: FakeRecommender,
    policy_path: Path,
) -> Iterator[Services]:
    @contextmanager
    def session_scope() -> Iterator[Session]:
        session = Session(
            bind=store, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    services = Services(
        settings=settings,
        session_scope=session_scope,
        scorer=lambda: scorer,
        recommender=lambda: recommender,
        policy=PolicyFile(policy_path).get,
    )
    use_services(services)
    yield services
    use_services(None)


@dataclass
class Run:
    """What one action run produced."""

    events: list[dict[str, Any]]
    dispatcher: CollectingDispatcher
    texts: list[str]

    @property
    def responses(self) -> list[str]:
        return [m.get("response") or "" for m in self.dispatcher.messages]

    def message(self, response: str) -> dict[str, Any]:
        return next(
            m for m in self.dispatcher.messages if m.get("response") == response
        )


@pytest.fixture
def run(services: Services, domain: dict[str, Any]):  # type: ignore[no-untyped-def]
    """Run an action on a conversation; every message must render completely."""

    async def _run(
        act: Action, events: list[dict[str, Any]], *, sender_id: str = "conversation-1"
    ) -> Run:
        tracker = build_tracker(events, domain, sender_id=sender_id)
        dispatcher = CollectingDispatcher()
        result = await act.run(dispatcher, tracker, domain)
        slots = dict(tracker.slots)
        texts = [render(m, domain, slots) for m in dispatcher.messages]
        return Run(events=result, dispatcher=dispatcher, texts=texts)

    return _run


# --- finding seeded orders ----------------------------------------------------------


def find_order(
    db: Session,
    status: OrderStatus,
    *,
    now: Any = None,
    recent_days: int | None = None,
    older_days: int | None = None,
    payment: PaymentStatus | None = None,
) -> Order:
    """A seeded order in ``status`` (newest first), optionally by delivery age."""
    query = select(Order).where(Order.status == status).order_by(Order.placed_at.desc())
    if payment is not None:
        query = query.where(Order.payment_status == payment)
    for order in db.scalars(query):
        delivered = order.shipment.delivered_at if order.shipment else None
        if recent_days is not None and (
            delivered is None or now - delivered > timedelta(days=recent_days)
        ):
            continue
        if older_days is not None and (
            delivered is None or now - delivered <= timedelta(days=older_days)
        ):
            continue
        return order
    raise LookupError(f"no seeded {status} order fits")


def other_customer_order(db: Session, customer_id: int) -> Order:
    return db.scalars(
        select(Order).where(Order.customer_id != customer_id).limit(1)
    ).one()
