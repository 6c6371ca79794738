"""Who is using the console: login with a hashed password, a session that expires.

The session cookie (see ``web.security``) holds the agent's id and two times: when
they logged in and when they were last seen. A session idle for longer than
``idle_timeout``, or older than ``max_age``, is over; so is the session of an agent
who has since been deactivated, logged out or given a new password (the cookie
carries the agent's session version, which those raise). Repeated wrong passwords
for one username are refused for a while.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException
from starlette.requests import Request

from crm_models.handoff import agents
from web.db import in_transaction
from web.security import new_csrf_token

logger = logging.getLogger(__name__)

AGENT_KEY = "agent"


@dataclass(frozen=True)
class SignedIn:
    """The agent behind a request."""

    agent_id: int
    username: str
    name: str
    version: int = 0  # the agent's session version when they logged in
    trainer: bool = False  # may label the trainer inbox


class LoginThrottle:
    """At most ``attempts`` wrong passwords per username within ``window`` seconds."""

    def __init__(
        self, *, attempts: int, window: float, clock: Callable[[], float]
    ) -> None:
        self.attempts = attempts
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, username: str) -> deque[float]:
        failures = self._failures[username]
        while failures and self.clock() - failures[0] > self.window:
            failures.popleft()
        return failures

    def blocked(self, username: str) -> bool:
        with self._lock:
            return len(self._recent(username)) >= self.attempts

    def failed(self, username: str) -> None:
        with self._lock:
            self._recent(username).append(self.clock())

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(username, None)


class Auth:
    """Login, logout and the signed-in agent of a request.

    Args:
        sessions: session factory of the CRM store.
        clock: wall-clock seconds for session ages (tests pass a fake).
        now: the settings' clock for the store's timestamps.
        idle_timeout: a session unused this long is over.
        max_age: a session this old is over, however busy.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        clock: Callable[[], float],
        now: Callable[[], datetime],
        idle_timeout: timedelta,
        max_age: timedelta,
        throttle: LoginThrottle,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.now = now
        self.idle_timeout = idle_timeout.total_seconds()
        self.max_age = max_age.total_seconds()
        self.throttle = throttle

    async def login(
        self, request: Request, username: str, password: str
    ) -> SignedIn | None:
        """Check the password and start the session; ``None`` if refused.

        Raises:
            HTTPException: 429 after too many wrong passwords for ``username``.
        """
        key = username.strip().lower()[:40]
        if self.throttle.blocked(key):
            logger.warning("auth.throttled")
            raise HTTPException(429, "too many failed logins, try again later")
        now = self.now()

        def check(session: Session) -> SignedIn | None:
            agent = agents.authenticate(
                session=session, username=key, password=password, now=now
            )
            if agent is None:
                return None
            return SignedIn(
                agent.id,
                agent.username,
                agent.display_name,
                agent.session_version,
                trainer=bool(agent.trainer),
            )

        signed_in = await in_transaction(self.sessions, check)
        if signed_in is None:
            self.throttle.failed(key)
            logger.info("auth.login_failed")
            return None
        self.throttle.succeeded(key)
        started = self.clock()
        request.session[AGENT_KEY] = {
            "id": signed_in.agent_id,
            "v": signed_in.version,
            "since": started,
            "seen": started,
        }
        new_csrf_token(request)  # a token seen before the login is not reused
        logger.info("auth.login agent=%s", signed_in.agent_id)
        return signed_in

    async def logout(self, request: Request) -> None:
        """End the agent's sessions, this cookie and any copy of it.

        The visitor's chat in the same browser, if any, stays.
        """
        data = request.session.pop(AGENT_KEY, None)
        new_csrf_token(request)
        if isinstance(data, dict) and isinstance(data.get("id"), int):
            agent_id = data["id"]
            await in_transaction(
                self.sessions,
                lambda s: agents.end_sessions(session=s, agent_id=agent_id),
            )
            logger.info("auth.logout agent=%s", agent_id)

    def _session_agent(self, request: Request) -> tuple[int, int] | None:
        """The agent id and session version of a live session; ends an expired one."""
        data = request.session.get(AGENT_KEY)
        if not isinstance(data, dict):
            return None
        now = self.clock()
        try:
            agent_id, version = int(data["id"]), int(data["v"])
            since, seen = float(data["since"]), float(data["seen"])
        except (KeyError, TypeError, ValueError):
            request.session.pop(AGENT_KEY, None)
            return None
        if now - seen > self.idle_timeout or now - since > self.max_age:
            request.session.pop(AGENT_KEY, None)
            request.state.session_expired = True
            logger.info("auth.expired agent=%s", agent_id)
            return None
        data["seen"] = now
        request.session[AGENT_KEY] = data
        return agent_id, version

    async def agent(self, request: Request) -> SignedIn | None:
        """The signed-in, still active agent of ``request``, if any."""
        live = self._session_agent(request)
        if live is None:
            return None
        agent_id, version = live

        def load(session: Session) -> SignedIn | None:
            agent = agents.get_agent(session=session, agent_id=agent_id)
            if agent is None or not agent.active or agent.session_version != version:
                return None
            return SignedIn(
                agent.id,
                agent.username,
                agent.display_name,
                agent.session_version,
                trainer=bool(agent.trainer),
            )

        signed_in = await in_transaction(self.sessions, load)
        if signed_in is None:
            request.session.pop(AGENT_KEY, None)
        return signed_in

    async def require(self, request: Request) -> SignedIn:
        """The signed-in agent.

        Raises:
            HTTPException: 401, saying whether the session expired.
        """
        signed_in = await self.agent(request)
        if signed_in is None:
            expired = getattr(request.state, "session_expired", False)
            raise HTTPException(401, "session expired" if expired else "not logged in")
        return signed_in
