"""Fixtures of the web app: settings, a small store, a fake Rasa HTTP API, a client."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from crm_models.settings import Settings
from crm_models.store.db import session_factory
from crm_models.store.schema import Customer, Product
from web.app import create_app
from web.rasa_api import RasaClient

SECRET = "web-test-secret"
TOKEN = "t"
RASA_URL = "http://127.0.0.1:5999"


class FakeRasa:
    """Rasa's HTTP API in memory: trackers by conversation, and what was posted."""

    def __init__(self) -> None:
        self.trackers: dict[str, dict[str, Any]] = {}
        self.posted: list[tuple[str, dict[str, str], list[dict[str, Any]]]] = []
        self.down = False
        self.transport = httpx.MockTransport(self.handle)

    def tracker(self, conversation_id: str) -> dict[str, Any]:
        return self.trackers.setdefault(
            conversation_id,
            {"sender_id": conversation_id, "events": [], "paused": False},
        )

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        params = dict(request.url.params)
        if params.pop("token", None) != TOKEN:
            return httpx.Response(401, json={"message": "bad token"})
        parts = request.url.raw_path.decode().split("?")[0].split("/")
        conversation_id = unquote(parts[2])
        tracker = self.tracker(conversation_id)
        if request.method == "POST":
            events = json.loads(request.content)
            self.posted.append((conversation_id, params, events))
            for event in events:
                if event["event"] == "pause":
                    tracker["paused"] = True
                elif event["event"] == "resume":
                    tracker["paused"] = False
                tracker["events"].append(event)
        return httpx.Response(200, json=tracker)


@dataclass(frozen=True)
class FakeScores:
    propensity: float = 0.42
    churn_risk: float = 0.2
    refund_risk: float = 0.05
    high_risk_refund: bool = False
    high_propensity: bool = False
    high_value: bool = True
    segment: str = "loyal"
    reasons: dict[str, list[str]] = field(
        default_factory=lambda: {"propensity": ["bought 3 times this year"]}
    )


class FakeScorer:
    def score(self, **kwargs: Any) -> FakeScores:
        return FakeScores()


class Clock:
    """Wall-clock seconds that tests move by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    policy = tmp_path / "policy.yml"
    policy.write_text('shop:\n  name: "Test & Sons Gifts"\n', encoding="utf-8")
    return Settings.from_env(
        {
            "SHOP_VAR_DIR": str(tmp_path),
            "SHOP_IDENTITY_SECRET": SECRET,
            "SHOP_RASA_TOKEN": TOKEN,
            "SHOP_SESSION_SECRET": "session-test-secret",
            "SHOP_POLICY_FILE": str(policy),
            "SHOP_RASA_URL": f"{RASA_URL}/",
            "SHOP_TODAY": "2025-06-13",
        }
    )


@pytest.fixture
def sessions(settings: Settings) -> sessionmaker[Session]:
    factory = session_factory(settings.database_url)
    with factory() as session, session.begin():
        session.add(
            Customer(
                id=12347,
                name="Ada <Lovelace>",
                email="ada@example.test",
                country="Iceland",
                created_at=datetime(2010, 12, 7, tzinfo=timezone.utc),
            )
        )
        session.add_all(
            [
                Product(stock_code="85123A", name="WHITE HANGING HEART T-LIGHT HOLDER",
                        unit_price_pence=295),
                Product(stock_code="22423", name="REGENCY CAKESTAND 3 TIER",
                        unit_price_pence=1275),
                Product(stock_code="POST", name="POSTAGE", unit_price_pence=1800,
                        is_merchandise=False),
            ]
        )  # fmt: skip
    return factory


@pytest.fixture
def rasa() -> FakeRasa:
    return FakeRasa()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(
    settings: Settings, sessions: sessionmaker[Session], rasa: FakeRasa, clock: Clock
) -> Any:
    return create_app(
        settings,
        sessions=sessions,
        rasa=RasaClient(RASA_URL, TOKEN, transport=rasa.transport),
        scorer=FakeScorer,
        recommender=lambda: None,
        clock=clock,
    )


@pytest.fixture
def client(app: Any) -> TestClient:
    return TestClient(app)
