"""Logging in and out, expiry, CSRF, and throttling of the agent console."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.web.conftest import Clock
from tests.web.console.conftest import PASSWORD, Agent, csrf_of, log_in


def test_the_console_needs_a_login(client: TestClient) -> None:
    page = client.get("/console", follow_redirects=False)
    ticket = client.get("/console/tickets/1", follow_redirects=False)
    api = client.get("/console/api/queue")

    assert (page.status_code, page.headers["location"]) == (303, "/console/login")
    assert ticket.status_code == 303
    assert (api.status_code, api.json()) == (401, {"error": "not logged in"})


def test_the_right_password_opens_the_console(client: TestClient, staff: None) -> None:
    response = log_in(client, "Sam")  # usernames are case-insensitive

    assert (response.status_code, response.headers["location"]) == (303, "/console")
    page = client.get("/console")
    assert "Signed in as Sam Jones" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert client.get("/console/api/queue").status_code == 200


def test_a_wrong_password_is_refused(client: TestClient, staff: None) -> None:
    wrong = log_in(client, "sam", "not the password")
    unknown = log_in(client, "nobody", PASSWORD)

    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "Wrong username or password." in response.text
    assert client.get("/console/api/queue").status_code == 401


def test_login_without_the_csrf_token_is_refused(
    client: TestClient, staff: None
) -> None:
    client.get("/console/login")

    response = client.post(
        "/console/login",
        data={"username": "sam", "password": PASSWORD},
        follow_redirects=False,
    )

    assert response.status_code == 403
    assert client.get("/console/api/queue").status_code == 401


def test_an_idle_session_expires(app: Any, staff: None, clock: Clock) -> None:
    sam = Agent(app, "sam")
    clock.now += 59 * 60
    still = sam.get("/console/api/queue")  # using it keeps it alive
    clock.now += 61 * 60

    expired = sam.get("/console/api/queue")
    page = sam.client.get("/console", follow_redirects=False)

    assert still.status_code == 200
    assert (expired.status_code, expired.json()) == (401, {"error": "session expired"})
    assert page.headers["location"] == "/console/login"  # already ended above


def test_an_expired_page_says_so(app: Any, staff: None, clock: Clock) -> None:
    sam = Agent(app, "sam")
    clock.now += 2 * 3600

    page = sam.client.get("/console", follow_redirects=False)
    login = sam.client.get(page.headers["location"])

    assert page.headers["location"] == "/console/login?expired=1"
    assert "Your session expired" in login.text


def test_a_session_ends_after_twelve_hours_however_busy(
    app: Any, staff: None, clock: Clock
) -> None:
    sam = Agent(app, "sam")
    for _ in range(13):
        clock.now += 3600 - 1
        response = sam.get("/console/api/queue")

    assert response.status_code == 401


def test_logout_needs_the_token_and_ends_the_session(app: Any, staff: None) -> None:
    sam = Agent(app, "sam")

    refused = sam.client.post("/console/logout", follow_redirects=False)
    done = sam.client.post(
        "/console/logout", data={"csrf_token": sam.csrf}, follow_redirects=False
    )

    assert refused.status_code == 403
    assert done.status_code == 303
    assert sam.get("/console/api/queue").status_code == 401


def test_logout_also_ends_a_copy_of_the_cookie(app: Any, staff: None) -> None:
    sam = Agent(app, "sam")
    copy = TestClient(app)
    copy.cookies.update(dict(sam.client.cookies))
    works = copy.get("/console/api/queue")

    sam.client.post("/console/logout", data={"csrf_token": sam.csrf})

    assert works.status_code == 200
    assert copy.get("/console/api/queue").status_code == 401
    assert Agent(app, "sam").get("/console/api/queue").status_code == 200


def test_a_token_from_before_the_login_is_not_reused(
    client: TestClient, staff: None
) -> None:
    before = csrf_of(client)
    log_in(client, "sam")

    response = client.post(
        "/console/api/tickets/1/claim", json={}, headers={"X-CSRF-Token": before}
    )

    assert response.status_code == 403


def test_many_wrong_passwords_are_throttled(client: TestClient, staff: None) -> None:
    for _ in range(5):
        assert log_in(client, "sam", "guess again").status_code == 401

    blocked = log_in(client, "sam", PASSWORD)

    assert blocked.status_code == 429
