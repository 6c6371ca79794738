"""Build rasa-sdk trackers from event lists, and check what actions say.

A conversation is a list of event dicts, as Rasa sends them to the action server:

    events = [
        user("where is my order?", "track_order"),      # the customer asks
        action("action_start_order_request"),           # the bot starts the request
        slot("order_route", "form"),
    ]
    tracker = build_tracker(events, domain)
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any

import yaml
from rasa_sdk import Tracker

from crm_models.identity import identity_metadata

DOMAIN_DIR = Path(__file__).resolve().parents[2] / "bot" / "domain"
SECRET = "test-identity-secret"


def load_domain() -> dict[str, Any]:
    """bot/domain/*.yml merged into the dict Rasa sends to the action server."""
    domain: dict[str, Any] = {
        "intents": [],
        "entities": [],
        "slots": {},
        "responses": {},
        "actions": [],
        "forms": {},
        "session_config": {},
    }
    for path in sorted(DOMAIN_DIR.glob("*.yml")):
        part = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for key, value in part.items():
            if isinstance(domain.get(key), dict):
                domain[key].update(value)
            elif isinstance(domain.get(key), list):
                domain[key].extend(value)
    config = domain["session_config"]
    config.setdefault("carry_over_slots_to_new_session", True)
    return domain


# --- events -----------------------------------------------------------------------


def user(
    text: str,
    intent: str | None,
    *,
    entities: dict[str, str] | None = None,
    customer_id: int | None = None,
    metadata: dict[str, Any] | None = None,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """A customer message; ``customer_id`` signs the metadata as the front end does."""
    if customer_id is not None:
        metadata = {**(metadata or {}), **identity_metadata(customer_id, SECRET)}
    parse_data = {
        "text": text,
        "intent": {"name": intent, "confidence": confidence} if intent else {},
        "entities": [
            {"entity": name, "value": value} for name, value in (entities or {}).items()
        ],
        "metadata": metadata or {},
    }
    return {
        "event": "user",
        "text": text,
        "parse_data": parse_data,
        "metadata": metadata or {},
    }


def action(name: str) -> dict[str, Any]:
    return {"event": "action", "name": name}


def slot(name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "name": name, "value": value}


def loop(name: str | None) -> dict[str, Any]:
    return {"event": "active_loop", "name": name}


# --- trackers ---------------------------------------------------------------------


def build_tracker(
    events: list[dict[str, Any]],
    domain: dict[str, Any],
    *,
    sender_id: str = "conversation-1",
) -> Tracker:
    """A tracker whose slots, latest message and active loop follow ``events``."""
    slots = {name: spec.get("initial_value") for name, spec in domain["slots"].items()}
    slots["requested_slot"] = None
    slots.setdefault("session_started_metadata", None)
    latest: dict[str, Any] = {}
    active_loop: dict[str, Any] = {}
    latest_action = None
    for event in events:
        kind = event["event"]
        if kind == "slot":
            slots[event["name"]] = event["value"]
        elif kind == "user":
            latest = event["parse_data"]
        elif kind == "active_loop":
            active_loop = {"name": event["name"]} if event["name"] else {}
        elif kind == "action":
            latest_action = event["name"]
        elif kind == "session_started":
            slots = dict.fromkeys(slots)
    return Tracker(
        sender_id=sender_id,
        slots=slots,
        latest_message=latest,
        events=events,
        paused=False,
        followup_action=None,
        active_loop=active_loop,
        latest_action_name=latest_action,
    )


def slots_set(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The last value each slot gets in ``events``."""
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def outcomes(events: list[dict[str, Any]]) -> list[str]:
    """Every ``last_outcome`` value in ``events``, in order."""
    return [
        e["value"]
        for e in events
        if e.get("event") == "slot" and e["name"] == "last_outcome" and e["value"]
    ]


# --- what the bot says --------------------------------------------------------------

_FIELD = string.Formatter()


def placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in _FIELD.parse(text) if field}


def render(
    message: dict[str, Any], domain: dict[str, Any], slots: dict[str, Any]
) -> str:
    """The text the customer would see; fails if a ``{variable}`` stays unfilled."""
    name = message.get("response")
    if not name:
        return message.get("text") or ""
    assert name in domain["responses"], f"response {name} is not in the domain"
    texts = []
    for variant in domain["responses"][name]:
        text = variant["text"]
        values = {**slots, **{k: v for k, v in message.items() if k not in _KEYS}}
        missing = [p for p in placeholders(text) if values.get(p) is None]
        assert not missing, f"{name} lacks {missing}"
        texts.append(text.format(**{p: values[p] for p in placeholders(text)}))
    return texts[0]


_KEYS = {
    "text",
    "buttons",
    "elements",
    "custom",
    "template",
    "response",
    "image",
    "attachment",
}


_DIGITS = re.compile(r"\b\d{6}\b")


def order_numbers_in(texts: list[str]) -> set[str]:
    return set().union(*(_DIGITS.findall(t) for t in texts)) if texts else set()
