from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from crm_models.settings import Settings
from crm_models.store.db import session_factory
from crm_models.store.schema import Customer, Product
from web.app import create_app

SECRET = "web-test-secret"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    policy = tmp_path / "policy.yml"
    policy.write_text('shop:\n  name: "Test & Sons Gifts"\n', encoding="utf-8")
    return Settings.from_env(
        {
            "SHOP_VAR_DIR": str(tmp_path),
            "SHOP_IDENTITY_SECRET": SECRET,
            "SHOP_RASA_TOKEN": "t",
            "SHOP_POLICY_FILE": str(policy),
            "SHOP_RASA_URL": "http://127.0.0.1:5999/",
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
def client(settings: Settings, sessions: sessionmaker[Session]) -> TestClient:
    return TestClient(create_app(settings, sessions=sessions))
