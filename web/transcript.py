"""A conversation as the widget and the console show it, read from Rasa's tracker.

Every bot event is replayed the way Rasa 3.6's socket.io channel sends it: text
split at blank lines (buttons on the last part), then the custom payload, then any
image or attachment; each send is one *emission*, numbered from 0 (``seq``). The
widget counts the emissions it receives the same way, so a thumbs-up names the
message by its ``seq`` whether it came live or from history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from web.rasa_api import AGENT_MESSAGE, HANDOFF

BOT, USER, AGENT, NOTICE = "bot", "user", "agent", "notice"
# How many emission signatures the widget gets to drop live duplicates.
TAIL = 30


@dataclass
class Entry:
    """One thing shown in the conversation."""

    who: str  # bot, user, agent or notice
    kind: str  # text, products or image
    text: str = ""
    seq: int | None = None  # bot emissions only
    time: float | None = None
    quick_replies: list[dict[str, str]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    image: str | None = None
    agent: str | None = None
    response: str | None = None  # the rated thing: an utter_ name or payload type
    intent: str | None = None  # user messages, for the console only

    def as_dict(self, *, for_agent: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {"who": self.who, "kind": self.kind, "text": self.text}
        for name in ("seq", "time", "agent", "image"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        if self.quick_replies:
            data["quick_replies"] = self.quick_replies
        if self.items:
            data["items"] = self.items
        if for_agent and self.intent:
            data["intent"] = self.intent
        return data


@dataclass
class Transcript:
    """The entries, the emission count and signatures, and the hand-off state."""

    entries: list[Entry]
    emissions: int
    tail: list[str]
    paused: bool
    handoff: str  # "bot", "waiting" (for a person) or "agent" (a person is there)
    agent: str | None
    kinds: dict[int, tuple[str, str | None]]  # seq -> (who, response)

    def as_dict(self, *, for_agent: bool = False) -> dict[str, Any]:
        return {
            "entries": [e.as_dict(for_agent=for_agent) for e in self.entries],
            "emissions": self.emissions,
            "tail": self.tail,
            "paused": self.paused,
            "handoff": self.handoff,
            "agent": self.agent,
        }

    def ratable(self, seq: int) -> str | None:
        """What emission ``seq`` is, if the customer may rate it (a bot message)."""
        who, response = self.kinds.get(seq, ("", None))
        if who != BOT:
            return None
        return response or "text"


def signature(payload: dict[str, Any] | None) -> str:
    """What the widget compares to drop a live message that history already has."""
    if not isinstance(payload, dict):
        return "|"
    text = payload.get("text")
    kind = payload.get("type")
    text = text if isinstance(text, str) else ""
    kind = kind if isinstance(kind, str) else ""
    return f"{text}|{kind}"


def _parts(text: str) -> list[str]:
    return text.strip().split("\n\n")


def _quick_replies(buttons: Any) -> list[dict[str, str]]:
    replies = []
    for button in buttons if isinstance(buttons, list) else []:
        if isinstance(button, dict):
            title = str(button.get("title", button.get("payload", "")))
            payload = str(button.get("payload", title))
            replies.append({"title": title, "payload": payload})
    return replies


def _emissions(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The payloads Rasa's socket.io channel sends for one bot event, in order."""
    message: dict[str, Any] = dict(event.get("data") or {})
    message["text"] = event.get("text")
    message.update(event.get("metadata") or {})
    out: list[dict[str, Any]] = []
    text = message.get("text")
    buttons = message.get("quick_replies") or message.get("buttons")
    if buttons and isinstance(text, str):
        parts = [{"text": part} for part in _parts(text)] or [{"text": text}]
        parts[-1]["quick_replies"] = _quick_replies(buttons)
        out += parts
    elif isinstance(text, str) and text:
        out += [{"text": part} for part in _parts(text)]
    custom = message.get("custom")
    if custom:
        data = custom.get("data") if isinstance(custom, dict) else None
        out.append(data if isinstance(data, dict) else {})
    if message.get("image"):
        out.append(
            {"attachment": {"type": "image", "payload": {"src": message["image"]}}}
        )
    if message.get("attachment"):
        out.append({"attachment": message["attachment"]})
    for element in message.get("elements") or []:
        out.append({"attachment": {"type": "template", "elements": element}})
    return out


def _user_text(event: dict[str, Any]) -> str:
    text = str(event.get("text") or "")
    metadata = event.get("metadata") or {}
    shown = metadata.get("display_text") if isinstance(metadata, dict) else None
    # A quick-reply press sends its payload ("/affirm"); show the button's title.
    if text.startswith("/") and isinstance(shown, str) and shown.strip():
        return shown.strip()[:200]
    return text


def build_transcript(tracker: dict[str, Any]) -> Transcript:
    """The transcript of a tracker from ``GET /conversations/{id}/tracker``."""
    entries: list[Entry] = []
    kinds: dict[int, tuple[str, str | None]] = {}
    signatures: list[str] = []
    seq = 0
    handoff, agent = BOT, None
    for event in tracker.get("events") or []:
        kind = event.get("event")
        stamp = event.get("timestamp")
        when = float(stamp) if isinstance(stamp, int | float) else None
        if kind == "user":
            intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            entries.append(
                Entry(USER, "text", _user_text(event), time=when, intent=intent)
            )
        elif kind == "pause":
            handoff = "waiting"
        elif kind in ("resume", "session_started", "restart"):
            handoff, agent = BOT, None
        elif kind == "bot":
            metadata = event.get("metadata") or {}
            if metadata.get("from_person"):
                who = AGENT
                agent = str(metadata.get("agent_name") or "") or None
                handoff = "agent" if handoff != BOT else handoff
            elif metadata.get("handoff_notice"):
                who = NOTICE
                state = str(metadata["handoff_notice"])
                if state == "joined":
                    handoff = "agent"
                    agent = str(metadata.get("agent_name") or "") or None
                elif state == "waiting":
                    handoff = "waiting"
            else:
                who = BOT
            response = metadata.get("utter_action")
            for payload in _emissions(event):
                signatures.append(signature(payload))
                entry = _entry(payload, who, seq, when, response, agent)
                kinds[seq] = (who, entry.response if entry else None)
                if entry is not None:
                    entries.append(entry)
                seq += 1
    paused = bool(tracker.get("paused"))
    if not paused:
        handoff, agent = BOT, None
    elif handoff == BOT:
        handoff = "waiting"
    return Transcript(
        entries=entries,
        emissions=seq,
        tail=signatures[-TAIL:],
        paused=paused,
        handoff=handoff,
        agent=agent,
        kinds=kinds,
    )


def _entry(
    payload: dict[str, Any],
    who: str,
    seq: int,
    when: float | None,
    response: Any,
    agent: str | None,
) -> Entry | None:
    """The entry shown for one emission (``None`` for markers and unknown payloads)."""
    name = str(response) if isinstance(response, str) else None
    kind = payload.get("type")
    if kind in (AGENT_MESSAGE, HANDOFF):
        return None
    if isinstance(payload.get("text"), str) and not kind:
        return Entry(
            who,
            "text",
            payload["text"],
            seq=seq,
            time=when,
            quick_replies=payload.get("quick_replies") or [],
            agent=agent if who == AGENT else None,
            response=name,
        )
    if kind == "products" and isinstance(payload.get("items"), list):
        items = [i for i in payload["items"] if isinstance(i, dict)]
        return Entry(who, "products", seq=seq, time=when, items=items, response=kind)
    attachment = payload.get("attachment") or {}
    if isinstance(attachment, dict) and attachment.get("type") == "image":
        src = (attachment.get("payload") or {}).get("src")
        if isinstance(src, str):
            return Entry(who, "image", seq=seq, time=when, image=src, response="image")
    return None
