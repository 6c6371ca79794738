"""Support agents: accounts with salted scrypt password hashes.

Passwords are never stored: ``hash_password`` keeps
``scrypt$<n>$<r>$<p>$<salt>$<hash>`` (salt and hash base64), from the standard
library's ``hashlib.scrypt``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_models.errors import DataError
from crm_models.store.schema import Agent

logger = logging.getLogger(__name__)

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES, KEY_BYTES = 16, 32
MIN_PASSWORD = 10
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,39}")
# Checked when the username does not exist, so that both cases take as long.
_DUMMY_HASH: str | None = None


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A salted scrypt hash of ``password`` in the stored format."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    key = hashlib.scrypt(
        password.encode(),
        salt=salt,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        dklen=KEY_BYTES,
    )
    encode = base64.b64encode
    return (
        f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}$"
        f"{encode(salt).decode()}${encode(key).decode()}"
    )


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches the ``stored`` hash (constant-time compare)."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def check_new_password(password: str) -> None:
    """Raises DataError unless ``password`` is long enough to use."""
    if len(password) < MIN_PASSWORD:
        raise DataError(f"a password needs at least {MIN_PASSWORD} characters")


def create_agent(
    *,
    session: Session,
    username: str,
    display_name: str,
    password: str,
    now: datetime,
    trainer: bool = False,
) -> Agent:
    """Add an agent (``trainer``: may also label the trainer inbox).

    Raises:
        DataError: the username is malformed or taken, the name empty, the password
            too short.
    """
    username = username.strip().lower()
    if not USERNAME.fullmatch(username):
        raise DataError(
            "a username is 2-40 lower-case letters, digits, dots, dashes or underscores"
        )
    display_name = display_name.strip()
    if not display_name or len(display_name) > 80:
        raise DataError("a display name is 1 to 80 characters")
    check_new_password(password)
    if get_agent_by_username(session=session, username=username) is not None:
        raise DataError(f"agent {username} exists already")
    agent = Agent(
        username=username,
        display_name=display_name,
        password_hash=hash_password(password),
        active=True,
        session_version=0,
        created_at=now,
        trainer=trainer,
    )
    session.add(agent)
    session.flush()
    logger.info("agents.created agent=%s", agent.id)
    return agent


def set_trainer(*, session: Session, username: str, trainer: bool) -> Agent:
    """Allow (or stop) an agent to label the trainer inbox.

    Raises:
        DataError: no agent has this username.
    """
    agent = get_agent_by_username(session=session, username=username.strip().lower())
    if agent is None:
        raise DataError(f"no agent {username.strip().lower()}")
    agent.trainer = trainer
    session.flush()
    logger.info("agents.trainer agent=%s trainer=%s", agent.id, trainer)
    return agent


def set_password(*, session: Session, username: str, password: str) -> Agent:
    """Give an existing agent a new password.

    Raises:
        DataError: no such agent, or the password is too short.
    """
    check_new_password(password)
    agent = get_agent_by_username(session=session, username=username)
    if agent is None:
        raise DataError(f"no agent {username}")
    agent.password_hash = hash_password(password)
    agent.session_version = (agent.session_version or 0) + 1  # log everyone out
    session.flush()
    logger.info("agents.password_set agent=%s", agent.id)
    return agent


def end_sessions(*, session: Session, agent_id: int) -> None:
    """End every console session of the agent (their cookies stop working)."""
    agent = session.get(Agent, agent_id)
    if agent is not None:
        agent.session_version = (agent.session_version or 0) + 1
        session.flush()
        logger.info("agents.sessions_ended agent=%s", agent.id)


def get_agent(*, session: Session, agent_id: int) -> Agent | None:
    """The agent with ``agent_id``, if any."""
    return session.get(Agent, agent_id)


def get_agent_by_username(*, session: Session, username: str) -> Agent | None:
    """The agent called ``username`` (case-insensitive), if any."""
    return session.scalars(
        select(Agent).where(Agent.username == username.strip().lower())
    ).first()


def list_agents(*, session: Session) -> list[Agent]:
    """Every agent, by username."""
    return list(session.scalars(select(Agent).order_by(Agent.username)))


def authenticate(
    *, session: Session, username: str, password: str, now: datetime
) -> Agent | None:
    """The active agent whose username and password match, else ``None``.

    Takes about as long for an unknown username as for a wrong password.
    """
    global _DUMMY_HASH
    agent = get_agent_by_username(session=session, username=username)
    if agent is None or not agent.active:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = hash_password(secrets.token_urlsafe(12))
        verify_password(password, _DUMMY_HASH)
        return None
    if not verify_password(password, agent.password_hash):
        return None
    agent.last_login_at = now
    session.flush()
    return agent
