"""Builders of Rasa 3.6 tracker events and of a small SQL event log holding them.

The events are shaped as Rasa's ``Event.as_dict()`` makes them, and the log as its
``SQLEventBroker`` writes it (table ``events``: id, sender_id, data);
``shape="tracker"`` makes the wider table of Rasa's SQL tracker store instead.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC

_BROKER_TABLE = (
    "CREATE TABLE IF NOT EXISTS events ("
    "id INTEGER NOT NULL, sender_id VARCHAR(255), data TEXT, PRIMARY KEY (id))"
)
_TRACKER_TABLE = (
    "CREATE TABLE IF NOT EXISTS events ("
    "id INTEGER NOT NULL, sender_id VARCHAR(255) NOT NULL, "
    "type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), "
    "action_name VARCHAR(255), data TEXT, PRIMARY KEY (id))"
)


def user(
    text: str,
    intent: str,
    confidence: float = 0.93,
    *,
    ts: float,
    runner_up: tuple[str, float] | None = ("greet", 0.04),
    entities: Iterable[Mapping[str, Any]] = (),
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``user`` event with its NLU parse."""
    ranking = [{"name": intent, "confidence": confidence}]
    if runner_up is not None:
        ranking.append({"name": runner_up[0], "confidence": runner_up[1]})
    message_id = uuid.uuid4().hex
    return {
        "event": "user",
        "timestamp": ts,
        "metadata": dict(metadata or {}),
        "text": text,
        "parse_data": {
            "intent": {"name": intent, "confidence": confidence},
            "entities": [dict(e) for e in entities],
            "text": text,
            "message_id": message_id,
            "metadata": dict(metadata or {}),
            "intent_ranking": ranking,
        },
        "input_channel": "socketio",
        "message_id": message_id,
    }


def bot(text: str, *, ts: float) -> dict[str, Any]:
    """A ``bot`` utterance."""
    return {
        "event": "bot",
        "timestamp": ts,
        "metadata": {"utter_action": "utter_x"},
        "text": text,
        "data": {"elements": None, "quick_replies": None, "buttons": None},
    }


def action(name: str, *, ts: float) -> dict[str, Any]:
    """An ``action`` execution."""
    return {
        "event": "action",
        "timestamp": ts,
        "name": name,
        "policy": "RulePolicy",
        "confidence": 1.0,
        "action_text": None,
        "hide_rule_turn": False,
    }


def slot(name: str, value: Any, *, ts: float) -> dict[str, Any]:
    """A ``slot`` (SlotSet) event."""
    return {"event": "slot", "timestamp": ts, "name": name, "value": value}


def simple(kind: str, *, ts: float) -> dict[str, Any]:
    """``session_started``, ``pause``, ``resume`` or ``restart``."""
    return {"event": kind, "timestamp": ts}


def write_event_log(
    path: Path,
    rows: Iterable[tuple[str, Mapping[str, Any]]],
    *,
    shape: str = "broker",
) -> None:
    """Append ``(sender_id, event)`` rows to the ``events`` table at ``path``."""
    with sqlite3.connect(path) as conn:
        conn.execute(_BROKER_TABLE if shape == "broker" else _TRACKER_TABLE)
        for sender_id, event in rows:
            body = {"sender_id": sender_id, **event}
            if shape == "broker":
                conn.execute(
                    "INSERT INTO events (sender_id, data) VALUES (?, ?)",
                    (sender_id, json.dumps(body)),
                )
            else:
                conn.execute(
                    "INSERT INTO events (sender_id, type_name, timestamp, intent_name,"
                    " action_name, data) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        sender_id,
                        event["event"],
                        event.get("timestamp"),
                        (event.get("parse_data") or {}).get("intent", {}).get("name"),
                        event.get("name"),
                        json.dumps(body),
                    ),
                )
    conn.close()
