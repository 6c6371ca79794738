"""The web app's client of Rasa's HTTP API (token auth, server side only).

Reads a conversation's tracker, and appends events to it: ``pause`` and ``resume``
for the hand-off, and ``bot`` events that Rasa delivers to the customer's live
socket.io session (``execute_side_effects=true&output_channel=latest``).

A message from a person is a ``bot`` event whose metadata says so
(``from_person``); its ``data.custom`` also travels to the widget as a second
socket.io message, ``{"type": "agent_message", ...}``, which is how the widget
knows to show the text as coming from a person (Rasa's socket.io channel sends
the text alone). Hand-off notices carry ``{"type": "handoff", "state": ...}``.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import quote

import httpx

from crm_models.errors import ShopBotError

logger = logging.getLogger(__name__)

AGENT_MESSAGE = "agent_message"
HANDOFF = "handoff"
_PARAGRAPHS = re.compile(r"\n\s*\n+")


class RasaUnavailable(ShopBotError, ConnectionError):
    """Rasa's HTTP API did not answer, or refused the request."""


def one_paragraph(text: str) -> str:
    """``text`` without blank lines: Rasa's socket.io channel splits on them."""
    return _PARAGRAPHS.sub("\n", text.strip())


def agent_message(text: str, *, agent_id: int, agent_name: str) -> dict[str, Any]:
    """The ``bot`` event of a person's reply, marked as such."""
    text = one_paragraph(text)
    return {
        "event": "bot",
        "text": text,
        "data": {
            "custom": {
                "data": {"type": AGENT_MESSAGE, "agent": agent_name, "text": text}
            }
        },
        "metadata": {
            "from_person": True,
            "agent_id": agent_id,
            "agent_name": agent_name,
        },
    }


def handoff_notice(
    text: str, *, state: str, agent_name: str | None = None
) -> dict[str, Any]:
    """The ``bot`` event of a hand-off notice: ``joined``, ``waiting`` or ``ended``."""
    text = one_paragraph(text)
    marker: dict[str, Any] = {"type": HANDOFF, "state": state, "text": text}
    if agent_name:
        marker["agent"] = agent_name
    return {
        "event": "bot",
        "text": text,
        "data": {"custom": {"data": marker}},
        "metadata": {"handoff_notice": state, "agent_name": agent_name},
    }


class RasaClient:
    """Rasa's HTTP API at ``base_url`` with ``token``.

    Args:
        base_url: e.g. ``http://127.0.0.1:5005``.
        token: the ``--auth-token`` Rasa was started with.
        transport: an httpx transport (tests pass ``httpx.MockTransport``).
        timeout: seconds per request.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.transport = transport
        self.timeout = timeout

    def _url(self, conversation_id: str, suffix: str) -> str:
        return (
            f"{self.base_url}/conversations/{quote(conversation_id, safe='')}{suffix}"
        )

    async def _request(
        self, method: str, url: str, *, params: dict[str, str], json: Any = None
    ) -> Any:
        # A client per call: cheap on loopback, and never tied to a stale event loop.
        async with httpx.AsyncClient(
            transport=self.transport, timeout=self.timeout
        ) as client:
            try:
                response = await client.request(
                    method, url, params={**params, "token": self.token}, json=json
                )
            except httpx.HTTPError as exc:
                logger.warning("rasa_api.unreachable error=%s", type(exc).__name__)
                raise RasaUnavailable("Rasa's HTTP API did not answer") from exc
        if response.status_code >= 400:
            logger.warning("rasa_api.refused status=%s", response.status_code)
            raise RasaUnavailable(f"Rasa's HTTP API answered {response.status_code}")
        return response.json()

    async def tracker(self, conversation_id: str) -> dict[str, Any]:
        """The conversation's tracker: ``events``, ``paused``, ``slots``..."""
        data = await self._request(
            "GET", self._url(conversation_id, "/tracker"), params={}
        )
        if not isinstance(data, dict):
            raise RasaUnavailable("Rasa returned a tracker that is not an object")
        return data

    async def append(
        self, conversation_id: str, events: list[dict[str, Any]], *, deliver: bool
    ) -> None:
        """Append ``events``; with ``deliver``, bot events reach the widget."""
        params = (
            {"execute_side_effects": "true", "output_channel": "latest"}
            if deliver
            else {}
        )
        await self._request(
            "POST",
            self._url(conversation_id, "/tracker/events"),
            params=params,
            json=events,
        )

    async def take_over(self, conversation_id: str, notice: dict[str, Any]) -> None:
        """Pause the bot and tell the customer a person is there."""
        await self.append(conversation_id, [{"event": "pause"}, notice], deliver=True)

    async def send(self, conversation_id: str, message: dict[str, Any]) -> None:
        """Deliver one bot event (a reply or a notice) to the customer."""
        await self.append(conversation_id, [message], deliver=True)

    async def hand_back(self, conversation_id: str, notice: dict[str, Any]) -> None:
        """Tell the customer, resume the bot, and let it listen for the next message.

        The ``action_listen`` keeps the next prediction on its usual footing: after a
        pause the last action is the hand-off, not a listen.
        """
        await self.append(
            conversation_id,
            [notice, {"event": "resume"}, {"event": "action", "name": "action_listen"}],
            deliver=True,
        )
