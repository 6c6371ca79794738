"""Console fixtures: agents in the store and logged-in clients."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from crm_models.handoff import agents
from crm_models.store import repositories as repo
from tests.web.conftest import FakeRasa

NOW = datetime(2025, 6, 13, 12, 0, tzinfo=timezone.utc)
PASSWORD = "a long enough password"


@pytest.fixture
def staff(sessions: sessionmaker[Session]) -> None:
    """Two agents with PASSWORD: sam (also a trainer) and kim."""
    with sessions() as session, session.begin():
        for username, name in (("sam", "Sam Jones"), ("kim", "Kim Lee")):
            agents.create_agent(
                session=session,
                username=username,
                display_name=name,
                password=PASSWORD,
                now=NOW,
                trainer=username == "sam",
            )


def csrf_of(client: TestClient) -> str:
    page = client.get("/console/login")
    return page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]


def log_in(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    token = csrf_of(client)
    return client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": token},
        follow_redirects=False,
    )


class Agent:
    """A logged-in console client and its CSRF token."""

    def __init__(self, app: Any, username: str) -> None:
        self.client = TestClient(app)
        response = log_in(self.client, username)
        assert response.status_code == 303, response.text
        page = self.client.get("/console")
        self.csrf = page.text.split('name="csrf-token" content="', 1)[1].split('"')[0]

    def get(self, path: str) -> Any:
        return self.client.get(path)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.client.post(
            path, json=body or {}, headers={"X-CSRF-Token": self.csrf}
        )


@pytest.fixture
def sam(app: Any, staff: None) -> Agent:
    return Agent(app, "sam")


@pytest.fixture
def kim(app: Any, staff: None) -> Agent:
    return Agent(app, "kim")


@pytest.fixture
def ticket_id(sessions: sessionmaker[Session], rasa: FakeRasa) -> int:
    """A waiting customer: an open ticket and a paused conversation."""
    with sessions() as session, session.begin():
        ticket = repo.open_ticket(
            session=session,
            conversation_id="conv-1",
            customer_id=12347,
            reason="customer_request",
            priority=3,
            summary="Asked for a person. Intents: greet, contact_human_agent.",
            now=NOW,
        )
        ticket_id = ticket.id
    rasa.tracker("conv-1").update(
        paused=True,
        events=[
            {
                "event": "user",
                "text": "a person please",
                "timestamp": 1.0,
                "parse_data": {"intent": {"name": "contact_human_agent"}},
            },
            {"event": "bot", "text": "I've passed you on.", "timestamp": 2.0},
            {"event": "pause"},
        ],
    )
    return ticket_id
