from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy.orm import Session

from crm_models.errors import DataError
from crm_models.handoff import agents

NOW = datetime(2025, 6, 13, 12, 0, tzinfo=timezone.utc)
PASSWORD = "correct horse battery"


def test_a_password_hash_is_salted_scrypt() -> None:
    first, second = agents.hash_password(PASSWORD), agents.hash_password(PASSWORD)

    assert first.startswith("scrypt$16384$8$1$")
    assert first != second  # a new salt each time
    assert PASSWORD not in first
    assert agents.verify_password(PASSWORD, first)
    assert agents.verify_password(PASSWORD, second)
    assert not agents.verify_password("correct horse battery!", first)


@pytest.mark.parametrize(
    "stored", ["", "plain", "bcrypt$1$2$3$4$5", "scrypt$x$8$1$AAAA$BBBB"]
)
def test_a_malformed_hash_never_verifies(stored: str) -> None:
    assert not agents.verify_password(PASSWORD, stored)


def test_create_and_authenticate(session: Session) -> None:
    agents.create_agent(
        session=session,
        username="Sam.Jones",
        display_name="Sam",
        password=PASSWORD,
        now=NOW,
    )

    agent = agents.authenticate(
        session=session, username="sam.jones", password=PASSWORD, now=NOW
    )

    assert agent is not None
    assert agent.username == "sam.jones"
    assert agent.last_login_at == NOW
    assert agent.password_hash.startswith("scrypt$")


def test_wrong_password_unknown_user_and_inactive_agent_are_refused(
    session: Session,
) -> None:
    agent = agents.create_agent(
        session=session, username="sam", display_name="Sam", password=PASSWORD, now=NOW
    )

    wrong = agents.authenticate(
        session=session, username="sam", password="wrong password", now=NOW
    )
    unknown = agents.authenticate(
        session=session, username="nobody", password=PASSWORD, now=NOW
    )
    agent.active = False
    inactive = agents.authenticate(
        session=session, username="sam", password=PASSWORD, now=NOW
    )

    assert (wrong, unknown, inactive) == (None, None, None)
    assert agent.last_login_at is None


@pytest.mark.parametrize(
    ("username", "name", "password", "problem"),
    [
        ("x", "X", PASSWORD, "username"),  # too short
        ("has space", "X", PASSWORD, "username"),
        ("sam", " ", PASSWORD, "display name"),
        ("sam", "Sam", "short", "at least"),
    ],
)
def test_bad_new_agents_are_refused(
    session: Session, username: str, name: str, password: str, problem: str
) -> None:
    with pytest.raises(DataError, match=problem):
        agents.create_agent(
            session=session,
            username=username,
            display_name=name,
            password=password,
            now=NOW,
        )


def test_a_username_is_taken_once(session: Session) -> None:
    agents.create_agent(
        session=session, username="sam", display_name="Sam", password=PASSWORD, now=NOW
    )

    with pytest.raises(DataError, match="exists"):
        agents.create_agent(
            session=session,
            username="SAM",
            display_name="Other Sam",
            password=PASSWORD,
            now=NOW,
        )


def test_set_password(session: Session) -> None:
    agents.create_agent(
        session=session, username="sam", display_name="Sam", password=PASSWORD, now=NOW
    )

    agents.set_password(session=session, username="sam", password="a new passphrase")

    assert agents.authenticate(
        session=session, username="sam", password="a new passphrase", now=NOW
    )
    assert not agents.authenticate(
        session=session, username="sam", password=PASSWORD, now=NOW
    )
    with pytest.raises(DataError, match="no agent"):
        agents.set_password(session=session, username="nobody", password=PASSWORD)
