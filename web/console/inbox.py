"""The trainer inbox page of the console: label what the bot got wrong.

    GET  /console/inbox    the groups of the inbox, a form per group
    POST /console/inbox    a decision: label, out of scope or skip (form fields below)

A form carries the CSRF token, the ``message_ids`` the trainer kept ticked (each
field a comma list: one distinct text's messages), ``intent``, ``text`` (training
examples, one per line, entities as inline markup), ``force`` and the ``action``
button. The answer is the page again with the outcome and any warning on top.
Grouping (the sentence encoder) and ``rasa data validate`` are slow, so both run in
a worker thread; the page is plain HTML, every value escaped by the templates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from crm_models.errors import (
    ConfigError,
    DataError,
    InvalidStateError,
    NotFoundError,
)
from crm_models.training.inbox import (
    Action,
    DecisionRequest,
    DecisionResult,
    Group,
    TrainerInbox,
    UndoResult,
)
from web.console.app import PAGE_CSP
from web.console.auth import Auth, SignedIn
from web.security import CSRF_FIELD, check_csrf, csrf_token

logger = logging.getLogger(__name__)

PAGE_GROUPS = 30  # groups shown on the page
PAGE_TEXTS = 12  # distinct texts shown (and tickable) per group
MAX_TEXT = 2000  # characters of the examples field
MAX_IDS = 5000  # message ids in one decision


@dataclass
class Outcome:
    """What the page says about the last decision."""

    ok: bool
    lines: list[str]
    warnings: list[str] = field(default_factory=list)
    undo_id: int | None = None  # the decision the page offers to take back


def describe(result: DecisionResult) -> Outcome:
    """The trainer-facing outcome of a decision."""
    if not result.recorded:
        if result.error:
            return Outcome(False, [f"Nothing saved: {result.error}"], result.warnings)
        return Outcome(
            False, ["Nothing saved: check the warning below."], result.warnings
        )
    count = len(result.message_ids)
    number = result.decision_id
    if result.action is Action.SKIP:
        return Outcome(
            True,
            [f"Decision {number}: skipped {count} message(s)."],
            result.warnings,
            undo_id=number,
        )
    lines = [
        f"Decision {number}: labelled {count} message(s) as {result.intent} "
        f"({result.kind})."
    ]
    report = result.report
    if report is not None and report.changed:
        lines.append(
            f"Wrote {len(report.added)} example(s) to {report.path.name}; "
            "rasa data validate passed."
        )
    elif report is not None:
        lines.append(f"{report.path.name} already had the example.")
    lines += [f"Example: {example}" for example in result.examples]
    return Outcome(True, lines, result.warnings, undo_id=number)


def describe_undo(result: UndoResult) -> Outcome:
    """The trainer-facing outcome of taking a decision back."""
    report = result.report
    if not result.undone:
        return Outcome(False, [f"Not taken back: {report.error}"])
    lines = [
        f"Decision {result.decision_id} taken back: "
        f"{len(result.message_ids)} message(s) back in the inbox."
    ]
    if report.removed:
        lines.append(
            f"Removed {len(report.removed)} example(s) from {report.path.name}; "
            "rasa data validate passed."
        )
    return Outcome(True, lines)


def _ids(form: FormData) -> tuple[int, ...]:
    ids: list[int] = []
    for raw in form.getlist("message_ids"):
        if not isinstance(raw, str):
            raise HTTPException(400, "message_ids must be text")
        try:
            ids += [int(part) for part in raw.split(",") if part.strip()]
        except ValueError as exc:
            raise HTTPException(400, "message_ids must be numbers") from exc
    if len(ids) > MAX_IDS:
        raise HTTPException(400, f"at most {MAX_IDS} messages at once")
    return tuple(dict.fromkeys(ids))


def _field(form: FormData, name: str, limit: int) -> str:
    value = form.get(name) or ""
    if not isinstance(value, str):
        raise HTTPException(400, f"{name} must be text")
    if len(value) > limit:
        raise HTTPException(400, f"{name} is longer than {limit} characters")
    return value


NOT_A_TRAINER = (
    "Only trainers label the inbox. An administrator can allow you with "
    "`python -m web.console.agents trainer USERNAME`."
)


class InboxPages:
    """The inbox page over a ``TrainerInbox``.

    Args:
        inbox: the trainer inbox (store, training data, encoder, validation).
        auth: the console's login.
        templates: the page templates.
    """

    def __init__(
        self, *, inbox: TrainerInbox, auth: Auth, templates: Jinja2Templates
    ) -> None:
        self.inbox = inbox
        self.auth = auth
        self.templates = templates

    def routes(self) -> list[Route]:
        return [
            Route("/console/inbox", self.page, methods=["GET"]),
            Route("/console/inbox", self.decide, methods=["POST"]),
            Route("/console/inbox/undo", self.undo, methods=["POST"]),
        ]

    async def page(self, request: Request) -> Response:
        me = await self._signed_in(request)
        if isinstance(me, Response):
            return me
        return await self._render(request, me, None)

    async def decide(self, request: Request) -> Response:
        me = await self._signed_in(request)
        if isinstance(me, Response):
            return me
        form = await request.form()
        token = form.get(CSRF_FIELD)
        check_csrf(request, token if isinstance(token, str) else "")
        try:
            action = Action(_field(form, "action", 20))
        except ValueError as exc:
            raise HTTPException(400, "press label, out of scope or skip") from exc
        ids = _ids(form)
        if not ids:
            outcome = Outcome(False, ["Nothing saved: tick at least one message."])
            return await self._render(request, me, outcome, status=400)
        text = _field(form, "text", MAX_TEXT)
        decision = DecisionRequest(
            action=action,
            trainer=me.username,
            message_ids=ids,
            intent=_field(form, "intent", 64) or None,
            # A cleared box is refused (not the suggestion); no box, the suggestion.
            texts=(text,) if "text" in form else (),
            force=form.get("force") == "1",
        )
        submitted = {
            "group": _field(form, "group", 20),
            "intent": decision.intent,
            "text": text,
            "force": decision.force,
        }
        try:
            result = await run_in_threadpool(self.inbox.decide, decision)
            outcome = describe(result)
            status = 200 if result.recorded else 409
        except (DataError, ConfigError) as exc:
            outcome, status = Outcome(False, [f"Nothing saved: {exc}"]), 400
        except NotFoundError as exc:
            outcome, status = Outcome(False, [f"Nothing saved: {exc}"]), 404
        except InvalidStateError as exc:
            outcome, status = Outcome(False, [f"Nothing saved: {exc}"]), 409
        logger.info(
            "console.inbox.decided agent=%s action=%s messages=%d status=%d",
            me.agent_id,
            action.value,
            len(ids),
            status,
        )
        kept = submitted if status != 200 else None
        return await self._render(request, me, outcome, status=status, kept=kept)

    async def undo(self, request: Request) -> Response:
        """Take a decision back (the button under a decision's outcome)."""
        me = await self._signed_in(request)
        if isinstance(me, Response):
            return me
        form = await request.form()
        token = form.get(CSRF_FIELD)
        check_csrf(request, token if isinstance(token, str) else "")
        raw = _field(form, "decision", 20)
        if not raw.isdigit():
            raise HTTPException(400, "decision must be a number")
        try:
            result = await run_in_threadpool(self.inbox.undo, int(raw))
            outcome = describe_undo(result)
            status = 200 if result.undone else 409
        except NotFoundError as exc:
            outcome, status = Outcome(False, [f"Not taken back: {exc}"]), 404
        except (DataError, ConfigError) as exc:
            outcome, status = Outcome(False, [f"Not taken back: {exc}"]), 400
        logger.info(
            "console.inbox.undone agent=%s decision=%s status=%d",
            me.agent_id,
            raw,
            status,
        )
        return await self._render(request, me, outcome, status=status)

    async def _signed_in(self, request: Request) -> SignedIn | Response:
        """The signed-in trainer; a redirect to the login, or 403 for a non-trainer."""
        me = await self.auth.agent(request)
        if me is None:
            expired = getattr(request.state, "session_expired", False)
            return RedirectResponse(
                "/console/login" + ("?expired=1" if expired else ""), 303
            )
        if not me.trainer:
            logger.info("console.inbox.refused agent=%s", me.agent_id)
            return PlainTextResponse(NOT_A_TRAINER, status_code=403)
        return me

    async def _render(
        self,
        request: Request,
        me: SignedIn,
        outcome: Outcome | None,
        *,
        status: int = 200,
        kept: dict[str, Any] | None = None,
    ) -> Response:
        """The page; ``kept`` is what a trainer typed into a form that failed."""
        values: dict[str, Any] = {
            "me": me,
            "outcome": outcome,
            "error": None,
            "kept": kept or {},
        }
        try:
            groups, intents = await run_in_threadpool(self._groups)
            values |= {"groups": groups, "intents": intents}
        except (DataError, ConfigError) as exc:
            logger.warning("console.inbox.unavailable")
            values |= {"groups": [], "intents": [], "error": str(exc)}
        values["page_texts"] = PAGE_TEXTS
        response = self.templates.TemplateResponse(
            request,
            "console/inbox.html",
            {"csrf_token": csrf_token(request), "csrf_field": CSRF_FIELD, **values},
            status_code=status,
        )
        response.headers["Content-Security-Policy"] = PAGE_CSP
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    def _groups(self) -> tuple[list[dict[str, Any]], list[str]]:
        """The groups as the template shows them, and the intents to choose from."""
        labels = self.inbox.domain().labels()
        groups = self.inbox.groups(limit=PAGE_GROUPS)
        return [_view(group, labels) for group in groups], labels


def _view(group: Group, labels: list[str]) -> dict[str, Any]:
    shown = group.variants[:PAGE_TEXTS]
    hidden = [i for v in group.variants[PAGE_TEXTS:] for i in v.message_ids]
    return {
        "id": group.id,
        "size": group.size,
        "texts": len(group.variants),
        "reasons": [(reason.label, count) for reason, count in group.reasons],
        "predicted": group.predicted,
        "guess": group.guess if group.guess in labels else None,
        "variants": [
            {
                "text": v.text,
                "count": v.count,
                "ids": ",".join(str(i) for i in v.message_ids),
            }
            for v in shown
        ],
        "hidden_ids": ",".join(str(i) for i in hidden),
        "hidden_texts": len(group.variants) - len(shown),
        "suggestion": group.suggestion,
    }
