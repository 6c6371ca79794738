"""Customer histories kept in memory, so that scoring needs no query and no frame.

The scorer builds one ``FeatureCache`` on its first call (three queries over the
whole store) and from then on computes a customer's features from the cached
``History`` in well under a millisecond. The cache refreshes itself incrementally:
at most every ``refresh_seconds`` it asks the store which customers have a new
order, a changed order (``updated_at`` since the last refresh), a new or changed
refund, or a new conversation signal (a conversation, ticket or rating stamped since
the last refresh), and reloads only those customers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, or_, select, union
from sqlalchemy.orm import Session

from crm_models.scoring.dataset import to_days
from crm_models.scoring.features import History, compute_features, load_histories
from crm_models.store.schema import (
    ChatFeedback,
    ConversationOutcome,
    Customer,
    Order,
    Refund,
    Ticket,
)

logger = logging.getLogger(__name__)

# Writers stamp changes with their own clock: look back a little before the last
# refresh so that a change stamped a moment "earlier" is not missed.
CLOCK_MARGIN = timedelta(minutes=1)


class FeatureCache:
    """Every customer's ``History``, refreshed incrementally from the store.

    Args:
        refresh_seconds: how often (at most) to look for changed customers; 0
            checks on every call.
        clock: monotonic seconds (injected by tests).
        wall: the real time. Refunds and conversation rows are stamped with it by
            their writers, orders and tickets with the shop's time (``now``, which
            ``SHOP_TODAY`` may fix): each is compared with its own clock.
        margin: how far before the last check to look again (writers' clocks and
            transactions lag a little).
    """

    def __init__(
        self,
        *,
        refresh_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        margin: timedelta = CLOCK_MARGIN,
    ) -> None:
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self.wall = wall
        self.margin = margin
        self._histories: dict[int, History] = {}
        self._customers: set[int] = set()
        self._strangers: set[int] = set()  # ids found unknown since the last refresh
        self._loaded = False
        self._checked_at = 0.0
        self._max_order_id = 0
        self._max_refund_id = 0
        self._since: datetime | None = None
        self._real_since: datetime | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the first full load has happened."""
        return self._loaded

    def __len__(self) -> int:
        return len(self._histories)

    def history(self, customer_id: int) -> History | None:
        """The cached history of ``customer_id`` (``None``: no order in the store)."""
        return self._histories.get(int(customer_id))

    def known_customer(self, *, session: Session, customer_id: int) -> bool:
        """Whether ``customer_id`` is a customer of the store (asked once per refresh).

        Customers loaded with the cache are answered from memory; another id is
        looked up once and remembered until the next refresh.
        """
        customer_id = int(customer_id)
        if customer_id in self._customers:
            return True
        if customer_id in self._strangers:
            return False
        if session.get(Customer, customer_id) is None:
            self._strangers.add(customer_id)
            return False
        self._customers.add(customer_id)
        return True

    def features(
        self, *, session: Session, customer_id: int, now: datetime
    ) -> dict[str, float] | None:
        """``FEATURES`` of ``customer_id`` as of ``now``; ``None`` without a purchase.

        Loads the store on the first call, refreshes changed customers when
        ``refresh_seconds`` have passed since the last check.
        """
        self.ensure_fresh(session=session, now=now)
        history = self._histories.get(int(customer_id))
        if history is None:
            return None
        return compute_features(history, cutoff=to_days(now))

    def ensure_fresh(self, *, session: Session, now: datetime) -> None:
        """Load everything (first call) or reload changed customers (when due)."""
        if self._loaded and self.clock() - self._checked_at < self.refresh_seconds:
            return
        with self._lock:
            if not self._loaded:
                self._load_all(session=session, now=now)
            elif self.clock() - self._checked_at >= self.refresh_seconds:
                self.refresh(session=session, now=now)

    def _load_all(self, *, session: Session, now: datetime) -> None:
        started = time.perf_counter()
        real_now = self.wall()
        marks = self._watermarks(session)
        self._histories = load_histories(session=session)
        self._customers = set(session.scalars(select(Customer.id)))
        self._strangers = set()
        self._max_order_id, self._max_refund_id = marks
        self._since = now - self.margin
        self._real_since = real_now - self.margin
        self._checked_at = self.clock()
        self._loaded = True
        logger.info(
            "scoring.cache.loaded customers=%s ms=%.0f",
            len(self._histories),
            (time.perf_counter() - started) * 1000,
        )

    def refresh(self, *, session: Session, now: datetime) -> int:
        """Reload the customers whose orders or refunds changed; returns how many."""
        real_now = self.wall()
        marks = self._watermarks(session)
        changed = self.changed_customers(session)
        if changed:
            fresh = load_histories(session=session, customer_ids=changed)
            for customer_id in changed:
                history = fresh.get(customer_id)
                if history is None:
                    self._histories.pop(customer_id, None)
                else:
                    self._histories[customer_id] = history
        self._max_order_id, self._max_refund_id = marks
        self._since = now - self.margin
        self._real_since = real_now - self.margin
        self._checked_at = self.clock()
        self._strangers = set()  # a new customer may have arrived since
        if changed:
            logger.info("scoring.cache.refreshed customers=%s", len(changed))
        return len(changed)

    def changed_customers(self, session: Session) -> list[int]:
        """Customers whose orders, refunds or conversations changed since the last
        load or refresh."""
        earliest = datetime.min.replace(tzinfo=timezone.utc)
        since = self._since or earliest  # the shop's clock
        real_since = self._real_since or earliest  # the real clock
        orders = select(Order.customer_id).where(
            or_(Order.id > self._max_order_id, Order.updated_at >= since)
        )
        refunds = select(Refund.customer_id).where(
            or_(Refund.id > self._max_refund_id, Refund.updated_at >= real_since)
        )
        outcome = ConversationOutcome
        chats = select(outcome.customer_id).where(
            outcome.customer_id.is_not(None), outcome.updated_at >= real_since
        )
        tickets = select(Ticket.customer_id).where(
            Ticket.customer_id.is_not(None), Ticket.updated_at >= since
        )
        ratings = (
            select(outcome.customer_id)
            .join(ChatFeedback, ChatFeedback.conversation_id == outcome.conversation_id)
            .where(outcome.customer_id.is_not(None), ChatFeedback.updated_at >= since)
        )
        rows = session.execute(union(orders, refunds, chats, tickets, ratings))
        return sorted({int(c) for c in rows.scalars()})

    @staticmethod
    def _watermarks(session: Session) -> tuple[int, int]:
        max_order = session.scalar(select(func.max(Order.id))) or 0
        max_refund = session.scalar(select(func.max(Refund.id))) or 0
        return int(max_order), int(max_refund)
