"""The console's pages and JSON API (Starlette routes).

    GET  /console/login, POST /console/login, POST /console/logout
    GET  /console                          the queue (page)
    GET  /console/tickets/{id}             one conversation (page)
    GET  /console/api/queue                open and claimed tickets, most urgent first
    GET  /console/api/tickets/{id}         ticket state, notes and the live transcript
    GET  /console/api/tickets/{id}/profile CRM profile, scores, suggestions, next step
    POST /console/api/tickets/{id}/claim   take the ticket; the bot pauses
    POST /console/api/tickets/{id}/release give it back to the queue
    POST /console/api/tickets/{id}/reply   {"text"}: delivered to the customer's widget
    POST /console/api/tickets/{id}/notes   {"text"}: a private note
    POST /console/api/tickets/{id}/close   {"resolution"}: close, hand back to the bot

Pages need a logged-in agent (else a redirect to the login page); the API answers
401. Every POST needs the session's CSRF token. Store work goes through
``crm_models.handoff``; Rasa through ``web.rasa_api``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from crm_models.errors import (
    DataError,
    InvalidStateError,
    NotAllowedError,
    NotFoundError,
)
from crm_models.handoff import context, tickets
from crm_models.handoff.agents import get_agent
from crm_models.handoff.tickets import TicketClaimed
from crm_models.store.schema import Agent, Resolution
from web.chat_api import json_body
from web.console import notices
from web.console.auth import Auth, SignedIn
from web.console.views import jsonable, resolutions
from web.db import in_transaction
from web.rasa_api import (
    RasaClient,
    RasaUnavailable,
    agent_message,
    handoff_notice,
)
from web.security import CSRF_FIELD, check_csrf, csrf_token
from web.transcript import build_transcript

logger = logging.getLogger(__name__)

T = TypeVar("T")
MAX_REPLY = 2000
PAGE_CSP = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def _text(body: dict[str, Any], limit: int) -> str:
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise HTTPException(400, "text must not be empty")
    if len(text) > limit:
        raise HTTPException(400, f"text is longer than {limit} characters")
    return text.strip()


class Console:
    """The agent console over the store, Rasa's HTTP API and the models.

    Args:
        sessions: session factory of the CRM store.
        rasa: the Rasa HTTP API client.
        auth: login and sessions.
        now: the settings' clock for the store's timestamps.
        scorer: returns the customer scorer (loaded on first use).
        recommender: returns the recommender, or ``None`` if there is none.
        templates: the page templates.
    """

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        rasa: RasaClient,
        auth: Auth,
        now: Callable[[], datetime],
        scorer: Callable[[], context.Scorer],
        recommender: Callable[[], context.Recommender | None],
        templates: Jinja2Templates,
    ) -> None:
        self.sessions = sessions
        self.rasa = rasa
        self.auth = auth
        self.now = now
        self.scorer = scorer
        self.recommender = recommender
        self.templates = templates

    def routes(self) -> list[Route]:
        t = "/console/api/tickets/{ticket_id:int}"
        return [
            Route("/console/login", self.login_page, methods=["GET"]),
            Route("/console/login", self.login, methods=["POST"]),
            Route("/console/logout", self.logout, methods=["POST"]),
            Route("/console", self.queue_page, methods=["GET"]),
            Route("/console/tickets/{ticket_id:int}", self.ticket_page),
            Route("/console/api/queue", self.api_queue, methods=["GET"]),
            Route(t, self.api_ticket, methods=["GET"]),
            Route(f"{t}/profile", self.api_profile, methods=["GET"]),
            Route(f"{t}/claim", self.api_claim, methods=["POST"]),
            Route(f"{t}/release", self.api_release, methods=["POST"]),
            Route(f"{t}/reply", self.api_reply, methods=["POST"]),
            Route(f"{t}/notes", self.api_note, methods=["POST"]),
            Route(f"{t}/close", self.api_close, methods=["POST"]),
        ]

    # --- helpers ---------------------------------------------------------------

    def _page(
        self, request: Request, name: str, values: dict[str, Any], status: int = 200
    ) -> Response:
        response = self.templates.TemplateResponse(
            request,
            f"console/{name}",
            {"csrf_token": csrf_token(request), "csrf_field": CSRF_FIELD, **values},
            status_code=status,
        )
        response.headers["Content-Security-Policy"] = PAGE_CSP
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    async def _store(self, work: Callable[[Session], T]) -> T:
        """Run store work in a transaction; turn the project's errors into HTTP."""
        try:
            return await in_transaction(self.sessions, work)
        except TicketClaimed as exc:
            raise HTTPException(409, f"claimed by {exc.claimed_by}") from exc
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc
        except NotAllowedError as exc:
            raise HTTPException(403, str(exc)) from exc
        except InvalidStateError as exc:
            raise HTTPException(409, str(exc)) from exc
        except DataError as exc:
            raise HTTPException(400, str(exc)) from exc

    @staticmethod
    def _agent(session: Session, me: SignedIn) -> Agent:
        agent = get_agent(session=session, agent_id=me.agent_id)
        if agent is None:
            raise HTTPException(401, "not logged in")
        return agent

    async def _signed_in_page(self, request: Request) -> SignedIn | Response:
        me = await self.auth.agent(request)
        if me is None:
            expired = getattr(request.state, "session_expired", False)
            return RedirectResponse(
                "/console/login" + ("?expired=1" if expired else ""), 303
            )
        return me

    # --- pages -----------------------------------------------------------------

    async def login_page(self, request: Request) -> Response:
        if await self.auth.agent(request) is not None:
            return RedirectResponse("/console", 303)
        expired = request.query_params.get("expired") == "1"
        return self._page(
            request,
            "login.html",
            {"error": "Your session expired. Please log in again." if expired else ""},
        )

    async def login(self, request: Request) -> Response:
        form = await request.form()
        token = form.get(CSRF_FIELD)
        check_csrf(request, token if isinstance(token, str) else "")
        username, password = form.get("username"), form.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            raise HTTPException(400, "username and password are required")
        if await self.auth.login(request, username, password) is None:
            return self._page(
                request,
                "login.html",
                {"error": "Wrong username or password.", "username": username[:40]},
                status=401,
            )
        return RedirectResponse("/console", 303)

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        token = form.get(CSRF_FIELD)
        check_csrf(request, token if isinstance(token, str) else "")
        await self.auth.logout(request)
        return RedirectResponse("/console/login", 303)

    async def queue_page(self, request: Request) -> Response:
        me = await self._signed_in_page(request)
        if isinstance(me, Response):
            return me
        return self._page(request, "queue.html", {"me": me})

    async def ticket_page(self, request: Request) -> Response:
        me = await self._signed_in_page(request)
        if isinstance(me, Response):
            return me
        ticket_id = int(request.path_params["ticket_id"])
        return self._page(
            request,
            "ticket.html",
            {"me": me, "ticket_id": ticket_id, "resolutions": resolutions()},
        )

    # --- API: reading ------------------------------------------------------------

    async def api_queue(self, request: Request) -> Response:
        me = await self.auth.require(request)
        now = self.now()
        entries = await self._store(lambda s: tickets.queue(session=s, now=now))
        return JSONResponse(
            {
                "me": jsonable(me),
                "tickets": [
                    {**jsonable(e), "mine": e.assigned_to == me.username}
                    for e in entries
                ],
            },
            headers={"Cache-Control": "no-store"},
        )

    async def api_ticket(self, request: Request) -> Response:
        me = await self.auth.require(request)
        ticket_id = int(request.path_params["ticket_id"])
        now = self.now()
        ctx = await self._store(
            lambda s: context.ticket_context(session=s, ticket_id=ticket_id, now=now)
        )
        transcript, rasa_error = None, None
        try:
            tracker = await self.rasa.tracker(ctx.conversation_id)
            transcript = build_transcript(tracker).as_dict(for_agent=True)
        except RasaUnavailable:
            rasa_error = "The conversation cannot be read: Rasa is not reachable."
        return JSONResponse(
            {
                "me": jsonable(me),
                "ticket": jsonable(ctx),
                "mine": ctx.status == "claimed" and ctx.assigned_to == me.username,
                "claimed_by_other": ctx.status == "claimed"
                and ctx.assigned_to != me.username,
                "transcript": transcript,
                "rasa_error": rasa_error,
            },
            headers={"Cache-Control": "no-store"},
        )

    async def api_profile(self, request: Request) -> Response:
        await self.auth.require(request)
        ticket_id = int(request.path_params["ticket_id"])
        now = self.now()
        scorer, recommender = self.scorer(), self.recommender()
        ctx = await self._store(
            lambda s: context.customer_context(
                session=s,
                ticket_id=ticket_id,
                now=now,
                scorer=scorer,
                recommender=recommender,
            )
        )
        return JSONResponse(jsonable(ctx), headers={"Cache-Control": "no-store"})

    # --- API: acting ---------------------------------------------------------------

    async def _acting(self, request: Request) -> tuple[SignedIn, int]:
        me = await self.auth.require(request)
        check_csrf(request)
        return me, int(request.path_params["ticket_id"])

    async def api_claim(self, request: Request) -> Response:
        me, ticket_id = await self._acting(request)
        now = self.now()

        def claim(session: Session) -> tuple[str, bool]:
            ticket, new = tickets.claim_ticket(
                session=session,
                ticket_id=ticket_id,
                agent=self._agent(session, me),
                now=now,
            )
            return ticket.conversation_id, new

        conversation_id, new = await self._store(claim)
        if new:
            notice = handoff_notice(
                notices.joined(me.name), state="joined", agent_name=me.name
            )
            try:
                await self.rasa.take_over(conversation_id, notice)
            except RasaUnavailable as exc:
                await self._store(
                    lambda s: tickets.release_ticket(
                        session=s,
                        ticket_id=ticket_id,
                        agent=self._agent(s, me),
                        now=self.now(),
                    )
                )
                raise HTTPException(502, "Rasa is not reachable; not claimed") from exc
        return JSONResponse({"ok": True, "claimed": new})

    async def api_release(self, request: Request) -> Response:
        me, ticket_id = await self._acting(request)
        now = self.now()
        conversation_id = await self._store(
            lambda s: (
                tickets.release_ticket(
                    session=s, ticket_id=ticket_id, agent=self._agent(s, me), now=now
                ).conversation_id
            )
        )
        notice = handoff_notice(notices.left(me.name), state="waiting")
        try:
            await self.rasa.send(conversation_id, notice)
        except RasaUnavailable:
            return JSONResponse({"ok": True, "warning": "the customer was not told"})
        return JSONResponse({"ok": True})

    async def api_reply(self, request: Request) -> Response:
        me, ticket_id = await self._acting(request)
        text = _text(await json_body(request), MAX_REPLY)
        conversation_id = await self._store(
            lambda s: (
                tickets.check_can_reply(
                    session=s, ticket_id=ticket_id, agent=self._agent(s, me)
                ).conversation_id
            )
        )
        message = agent_message(text, agent_id=me.agent_id, agent_name=me.name)
        try:
            await self.rasa.send(conversation_id, message)
        except RasaUnavailable as exc:
            raise HTTPException(502, "Rasa is not reachable; not sent") from exc
        now = self.now()
        await self._store(
            lambda s: tickets.record_reply(
                session=s, ticket_id=ticket_id, agent=self._agent(s, me), now=now
            )
        )
        return JSONResponse({"ok": True})

    async def api_note(self, request: Request) -> Response:
        me, ticket_id = await self._acting(request)
        text = _text(await json_body(request), tickets.MAX_NOTE)
        now = self.now()
        await self._store(
            lambda s: tickets.add_note(
                session=s,
                ticket_id=ticket_id,
                agent=self._agent(s, me),
                text=text,
                now=now,
            )
        )
        return JSONResponse({"ok": True})

    async def api_close(self, request: Request) -> Response:
        me, ticket_id = await self._acting(request)
        body = await json_body(request)
        try:
            resolution = Resolution(str(body.get("resolution")))
        except ValueError as exc:
            raise HTTPException(400, "pick a resolution code") from exc
        conversation_id = await self._store(
            lambda s: (
                tickets.check_can_reply(
                    session=s, ticket_id=ticket_id, agent=self._agent(s, me)
                ).conversation_id
            )
        )
        notice = handoff_notice(
            notices.handed_back(me.name), state="ended", agent_name=me.name
        )
        try:
            await self.rasa.hand_back(conversation_id, notice)
        except RasaUnavailable as exc:
            raise HTTPException(502, "Rasa is not reachable; not closed") from exc
        now = self.now()
        await self._store(
            lambda s: tickets.close_ticket(
                session=s,
                ticket_id=ticket_id,
                agent=self._agent(s, me),
                resolution=resolution,
                now=now,
            )
        )
        return JSONResponse({"ok": True})
