"""What the storefront page shows: the shop's name, a few products, demo customers.

Everything is read through ``crm_models`` repository functions and cached for a few
minutes, so a page view costs no database work most of the time.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from crm_models.store import repositories

logger = logging.getLogger(__name__)

# Seeded customers a demo visitor may act as (those missing from the store are left
# out): one from abroad with a few orders, and UK and EU customers with recent ones.
# TODO(#3): replace the demo selector with the shop's own login when embedding.
DEMO_CUSTOMER_IDS = (12347, 12680, 13113, 14422)
DEFAULT_SHOP_NAME = "Our shop"
_WORD = re.compile(r"(?<!')[^\W\d_]+")  # a run of letters, not after an apostrophe


@dataclass(frozen=True)
class ProductCard:
    """A product as the page shows it."""

    stock_code: str
    name: str
    price_pence: int

    @property
    def price(self) -> str:
        """The price as the shop writes it, e.g. ``£3.99``."""
        return f"£{self.price_pence // 100}.{self.price_pence % 100:02d}"


@dataclass(frozen=True)
class DemoCustomer:
    """A customer the demo visitor can sign in as."""

    id: int
    name: str


def display_name(name: str) -> str:
    """A catalogue name (upper case in the source) as a title: "Poppy's Playhouse"."""
    return _WORD.sub(lambda m: m.group(0).capitalize(), name.strip().lower())


def shop_name(policy_file: Path) -> str:
    """``shop.name`` from the shop's policy file, or a neutral default."""
    try:
        policy: Any = yaml.safe_load(policy_file.read_text(encoding="utf-8"))
        name = policy["shop"]["name"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        logger.warning("web.storefront.no_shop_name file=%s", policy_file)
        return DEFAULT_SHOP_NAME
    return str(name) if name else DEFAULT_SHOP_NAME


class Storefront:
    """Cached storefront content from the CRM store.

    Args:
        sessions: session factory of the CRM store.
        n_products: how many products the page shows.
        ttl_seconds: how long a read is reused.
        clock: monotonic seconds (tests pass a fake).
        now: the shop's current time (``Settings.now``), for what sells lately.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        n_products: int = 8,
        ttl_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.sessions = sessions
        self.n_products = n_products
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self.now = now
        self._lock = threading.Lock()
        self._cached_at: float | None = None
        self._products: list[ProductCard] = []
        self._by_code: dict[str, ProductCard] = {}
        self._customers: list[DemoCustomer] = []

    def products(self) -> list[ProductCard]:
        """The shop's best sellers of the last 90 days (see ``featured_products``)."""
        self._refresh()
        return self._products

    def product(self, stock_code: str) -> ProductCard | None:
        """The merchandise product with ``stock_code``, if the shop sells it."""
        self._refresh()
        return self._by_code.get(stock_code)

    def demo_customers(self) -> list[DemoCustomer]:
        """The demo customers that exist in the store."""
        self._refresh()
        return self._customers

    def is_demo_customer(self, customer_id: int) -> bool:
        """Whether the demo selector may sign in as ``customer_id``."""
        return any(c.id == customer_id for c in self.demo_customers())

    def _refresh(self) -> None:
        with self._lock:
            now = self.clock()
            if self._cached_at is not None and now - self._cached_at < self.ttl_seconds:
                return
            try:
                with self.sessions() as session:
                    self._products = self._read_products(session)
                    self._customers = self._read_customers(session)
            except SQLAlchemyError:
                logger.exception("web.storefront.store_unavailable")
                self._products, self._customers, self._by_code = [], [], {}
            self._cached_at = now
            if not self._products:
                logger.warning("web.storefront.no_products (is the store seeded?)")

    def _read_products(self, session: Session) -> list[ProductCard]:
        products = repositories.merchandise_products(session=session)
        self._by_code = {
            p.stock_code: ProductCard(
                p.stock_code, display_name(p.name), p.unit_price_pence
            )
            for p in products
        }
        featured = repositories.featured_products(
            session=session, now=self.now(), limit=self.n_products
        )
        return [
            ProductCard(p.stock_code, display_name(p.name), p.unit_price_pence)
            for p in featured
        ]

    def _read_customers(self, session: Session) -> list[DemoCustomer]:
        customers = []
        for customer_id in DEMO_CUSTOMER_IDS:
            customer = repositories.get_customer(
                session=session, customer_id=customer_id
            )
            if customer is not None:
                customers.append(DemoCustomer(customer.id, customer.name))
        return customers
