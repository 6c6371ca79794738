from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from crm_models.settings import Settings
from crm_models.store.schema import ChatFeedback, ChatFeedbackKind
from tests.web.conftest import RASA_URL, TOKEN, FakeRasa, FakeScorer
from web.app import create_app
from web.rasa_api import RasaClient


def start(client: TestClient) -> dict[str, Any]:
    response = client.get("/api/chat/session")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    return dict(response.json())


def a_conversation(rasa: FakeRasa, conversation_id: str) -> None:
    rasa.tracker(conversation_id)["events"] += [
        {"event": "user", "text": "hello", "parse_data": {"intent": {"name": "greet"}}},
        {
            "event": "bot",
            "text": "Hi there!",
            "metadata": {"utter_action": "utter_greet"},
        },
    ]


def test_the_session_id_is_kept_in_the_cookie(client: TestClient) -> None:
    first = start(client)
    second = start(client)

    assert first["session_id"] == second["session_id"]
    assert len(first["session_id"]) >= 20
    assert first["csrf_token"]
    assert "shop_session" in client.cookies


@pytest.mark.parametrize(("https_only", "secure"), [(False, False), (True, True)])
def test_the_cookie_is_secure_when_served_over_tls(
    https_only: bool,
    secure: bool,
    settings: Settings,
    sessions: sessionmaker[Session],
    rasa: FakeRasa,
) -> None:
    app = create_app(
        replace(settings, https_only=https_only),
        sessions=sessions,
        rasa=RasaClient(RASA_URL, TOKEN, transport=rasa.transport),
        scorer=FakeScorer,
        recommender=lambda: None,
    )

    response = TestClient(app, base_url="https://shop.test").get("/api/chat/session")

    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("shop_session=")
    assert ("; secure" in cookie) is secure


def test_history_is_only_for_the_conversation_the_browser_holds(
    app: Any, rasa: FakeRasa
) -> None:
    alice, mallory = TestClient(app), TestClient(app)
    alice_id = start(alice)["session_id"]
    a_conversation(rasa, alice_id)
    start(mallory)

    mine = alice.get("/api/chat/history")
    theirs = mallory.get("/api/chat/history", params={"session_id": alice_id})

    assert [e["text"] for e in mine.json()["entries"]] == ["hello", "Hi there!"]
    assert mine.json()["session_id"] == alice_id
    assert theirs.json()["entries"] == []  # the parameter is ignored


def test_history_without_a_conversation_asks_nothing_of_rasa(
    client: TestClient, rasa: FakeRasa
) -> None:
    response = client.get("/api/chat/history")

    assert response.json()["entries"] == []
    assert rasa.trackers == {}


def test_history_when_rasa_is_down_is_a_502(client: TestClient, rasa: FakeRasa) -> None:
    start(client)
    rasa.down = True

    response = client.get("/api/chat/history")

    assert response.status_code == 502
    assert response.json() == {"error": "the assistant is not reachable"}


def test_thumbs_on_a_bot_message_are_stored(
    client: TestClient, rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    session = start(client)
    a_conversation(rasa, session["session_id"])
    headers = {"X-CSRF-Token": session["csrf_token"]}

    up = client.post(
        "/api/chat/feedback", json={"seq": 0, "rating": 1}, headers=headers
    )
    down = client.post(
        "/api/chat/feedback", json={"seq": 0, "rating": -1}, headers=headers
    )
    history = client.get("/api/chat/history").json()

    assert (up.status_code, down.status_code) == (200, 200)
    assert history["feedback"] == {"0": -1}
    with sessions() as db:
        [row] = db.scalars(select(ChatFeedback)).all()
    assert (row.kind, row.message_seq, row.response, row.rating) == (
        ChatFeedbackKind.MESSAGE,
        0,
        "utter_greet",
        -1,
    )


def test_thumbs_need_a_real_bot_message(client: TestClient, rasa: FakeRasa) -> None:
    session = start(client)
    a_conversation(rasa, session["session_id"])
    headers = {"X-CSRF-Token": session["csrf_token"]}

    missing = client.post(
        "/api/chat/feedback", json={"seq": 5, "rating": 1}, headers=headers
    )
    bad = client.post(
        "/api/chat/feedback", json={"seq": 0, "rating": 3}, headers=headers
    )
    not_json = client.post("/api/chat/feedback", content=b"x", headers=headers)

    assert missing.status_code == 404
    assert bad.status_code == 400
    assert not_json.status_code == 400


def test_ratings_need_the_csrf_token(client: TestClient, rasa: FakeRasa) -> None:
    session = start(client)
    a_conversation(rasa, session["session_id"])

    without = client.post("/api/chat/rating", json={"rating": 5})
    wrong = client.post(
        "/api/chat/rating", json={"rating": 5}, headers={"X-CSRF-Token": "guess"}
    )
    right = client.post(
        "/api/chat/rating",
        json={"rating": 5},
        headers={"X-CSRF-Token": session["csrf_token"]},
    )

    assert (without.status_code, wrong.status_code) == (403, 403)
    assert right.status_code == 200
    assert client.get("/api/chat/history").json()["rating"] == 5


def test_a_new_conversation_gets_a_new_id(client: TestClient) -> None:
    session = start(client)

    refused = client.post("/api/chat/session")
    restarted = client.post(
        "/api/chat/session", headers={"X-CSRF-Token": session["csrf_token"]}
    )

    assert refused.status_code == 403
    assert restarted.json()["session_id"] != session["session_id"]
    assert start(client)["session_id"] == restarted.json()["session_id"]
