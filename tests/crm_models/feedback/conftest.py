from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from crm_models.feedback.consumer import FeedbackConsumer
from crm_models.settings import Settings
from crm_models.store.db import session_factory
from tests.crm_models.feedback.support import FakeClock, make_settings, seed_customers


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def sessions(settings: Settings) -> sessionmaker[Session]:
    factory = session_factory(settings.database_url)
    seed_customers(factory)
    return factory


@pytest.fixture
def events_path(settings: Settings) -> Path:
    return Path(settings.event_log_url.removeprefix("sqlite:///"))


@pytest.fixture
def clock() -> FakeClock:
    # Years after the events (T0 is 2023-11-14) unless a test moves it.
    return FakeClock(datetime(2030, 1, 1, tzinfo=timezone.utc))


@pytest.fixture
def make_consumer(
    settings: Settings, sessions: sessionmaker[Session], clock: FakeClock
) -> Callable[..., FeedbackConsumer]:
    def make(batch_size: int = 500) -> FeedbackConsumer:
        consumer = FeedbackConsumer.from_settings(settings, batch_size=batch_size)
        consumer.clock = clock
        return consumer

    return make
