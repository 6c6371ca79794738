"""The widget's endpoints: its conversation id, the history, and ratings.

    GET  /api/chat/session    the visitor's conversation id and CSRF token
    POST /api/chat/session    start a new conversation (a new id)
    GET  /api/chat/history    the conversation so far, read from Rasa's tracker
    POST /api/chat/feedback   thumbs up/down on one bot message {"seq", "rating"}
    POST /api/chat/rating     the end-of-chat rating {"rating": 1-5}

The conversation id is made here and kept in the signed session cookie, so history
and ratings are only ever for the conversation this browser holds; Rasa's token
never leaves the server.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from crm_models.errors import DataError
from crm_models.handoff import feedback
from web.db import in_transaction
from web.rasa_api import RasaClient, RasaUnavailable
from web.security import check_csrf, csrf_token
from web.transcript import build_transcript

logger = logging.getLogger(__name__)

CHAT_KEY = "chat_id"
NO_STORE = {"Cache-Control": "no-store"}


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or a 400."""
    try:
        body = await request.json()
    except ValueError as exc:
        raise HTTPException(400, "the body must be JSON") from exc
    if not isinstance(body, dict):
        raise HTTPException(400, "the body must be a JSON object")
    return body


def whole(body: dict[str, Any], name: str) -> int:
    """Field ``name`` of ``body`` as an int, or a 400."""
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise HTTPException(400, f"{name} must be a whole number")
    return value


class ChatApi:
    """The widget's endpoints over the store and Rasa's HTTP API.

    Args:
        sessions: session factory of the CRM store.
        rasa: the Rasa HTTP API client.
        now: the current time (the settings' clock).
    """

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        rasa: RasaClient,
        now: Callable[[], datetime],
    ) -> None:
        self.sessions = sessions
        self.rasa = rasa
        self.now = now

    def routes(self) -> list[Route]:
        return [
            Route("/api/chat/session", self.session, methods=["GET"]),
            Route("/api/chat/session", self.restart, methods=["POST"]),
            Route("/api/chat/history", self.history, methods=["GET"]),
            Route("/api/chat/feedback", self.feedback, methods=["POST"]),
            Route("/api/chat/rating", self.rating, methods=["POST"]),
        ]

    @staticmethod
    def _chat_id(request: Request, *, create: bool) -> str | None:
        chat_id = request.session.get(CHAT_KEY)
        if (not isinstance(chat_id, str) or not chat_id) and create:
            chat_id = secrets.token_urlsafe(18)
            request.session[CHAT_KEY] = chat_id
        return chat_id if isinstance(chat_id, str) and chat_id else None

    async def session(self, request: Request) -> Response:
        chat_id = self._chat_id(request, create=True)
        return JSONResponse(
            {"session_id": chat_id, "csrf_token": csrf_token(request)},
            headers=NO_STORE,
        )

    async def restart(self, request: Request) -> Response:
        check_csrf(request)
        request.session.pop(CHAT_KEY, None)
        chat_id = self._chat_id(request, create=True)
        logger.info("chat_api.restarted")
        return JSONResponse({"session_id": chat_id}, headers=NO_STORE)

    async def _transcript(self, chat_id: str) -> Any:
        try:
            return build_transcript(await self.rasa.tracker(chat_id))
        except RasaUnavailable as exc:
            raise HTTPException(502, "the assistant is not reachable") from exc

    async def history(self, request: Request) -> Response:
        chat_id = self._chat_id(request, create=False)
        if chat_id is None:
            return JSONResponse(
                {"entries": [], "emissions": 0, "tail": [], "handoff": "bot"},
                headers=NO_STORE,
            )
        transcript = await self._transcript(chat_id)
        rated = await in_transaction(
            self.sessions,
            lambda s: feedback.conversation_feedback(
                session=s, conversation_id=chat_id
            ),
        )
        body = transcript.as_dict()
        body["session_id"] = chat_id
        body["feedback"] = {str(k): v for k, v in rated.messages.items()}
        body["rating"] = rated.rating
        return JSONResponse(body, headers=NO_STORE)

    async def feedback(self, request: Request) -> Response:
        check_csrf(request)
        chat_id = self._chat_id(request, create=False)
        body = await json_body(request)
        seq, rating = whole(body, "seq"), whole(body, "rating")
        if chat_id is None:
            raise HTTPException(404, "no conversation")
        response = (await self._transcript(chat_id)).ratable(seq)
        if response is None:
            raise HTTPException(404, "no bot message with that seq")
        now = self.now()
        try:
            await in_transaction(
                self.sessions,
                lambda s: feedback.rate_message(
                    session=s,
                    conversation_id=chat_id,
                    message_seq=seq,
                    response=response,
                    rating=rating,
                    now=now,
                ),
            )
        except DataError as exc:
            raise HTTPException(400, str(exc)) from exc
        return JSONResponse({"ok": True})

    async def rating(self, request: Request) -> Response:
        check_csrf(request)
        chat_id = self._chat_id(request, create=False)
        rating = whole(await json_body(request), "rating")
        if chat_id is None:
            raise HTTPException(404, "no conversation")
        now = self.now()
        try:
            await in_transaction(
                self.sessions,
                lambda s: feedback.rate_conversation(
                    session=s, conversation_id=chat_id, rating=rating, now=now
                ),
            )
        except DataError as exc:
            raise HTTPException(400, str(exc)) from exc
        return JSONResponse({"ok": True})
