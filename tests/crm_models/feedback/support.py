"""Shared test helpers of the feedback tests: settings, a fake clock, customers,
and a way to make one event fail."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from crm_models.feedback import consumer as consumer_module
from crm_models.settings import Settings
from crm_models.store.schema import Customer

SECRET = "test-identity-secret"
KNOWN_CUSTOMERS = (12347, 12348)


class FakeClock:
    """A settable clock for the consumer."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_settings(var_dir: Path, **env: str) -> Settings:
    """Settings with everything under ``var_dir``; ``env`` overrides SHOP_* values."""
    return Settings.from_env(
        {
            "SHOP_VAR_DIR": str(var_dir),
            "SHOP_IDENTITY_SECRET": SECRET,
            "SHOP_RASA_TOKEN": "test-token",
            "SHOP_ABANDON_AFTER_MINUTES": "30",
            **{f"SHOP_{name.upper()}": value for name, value in env.items()},
        }
    )


def seed_customers(sessions: sessionmaker[Session]) -> None:
    """Add the known customers to an empty store."""
    with sessions() as session, session.begin():
        for customer_id in KNOWN_CUSTOMERS:
            session.add(
                Customer(
                    id=customer_id,
                    name=f"Customer {customer_id}",
                    email=f"c{customer_id}@example.test",
                    country="United Kingdom",
                    created_at=datetime(2010, 1, 1, tzinfo=timezone.utc),
                )
            )


def break_message(
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    error: Exception | None = None,
) -> None:
    """Make applying the customer message ``text`` fail, as a bug would.

    ``error`` is raised (a ``ValueError`` by default); ``monkeypatch.undo()`` mends.
    """
    real_add_message = consumer_module.BatchWriter.add_message

    def add_message(self: Any, conversation: Any, key: str, event: Any) -> None:
        if event.get("text") == text:
            raise error or ValueError("cannot apply this one")
        real_add_message(self, conversation, key, event)

    monkeypatch.setattr(consumer_module.BatchWriter, "add_message", add_message)
