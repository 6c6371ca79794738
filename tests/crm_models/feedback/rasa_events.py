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

from crm_models.identity import identity_metadata
from tests.crm_models.feedback.support import SECRET
from web.rasa_api import agent_message, handoff_notice

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


def two_conversations() -> list[tuple[str, dict[str, Any]]]:
    """Two conversations, interleaved as a live log would have them."""
    signed = identity_metadata(12347, SECRET)
    forged = {"customer_id": "12348", "customer_sig": "0" * 64}
    return [
        # conv-a: a signed-in customer cancels an order, then types nonsense.
        ("conv-a", action("action_session_start", ts=T0)),
        ("conv-a", simple("session_started", ts=T0)),
        ("conv-a", action("action_listen", ts=T0)),
        ("conv-a", user("hi there", "greet", 0.98, ts=T0 + 1, metadata=signed)),
        ("conv-a", bot("Hello!", ts=T0 + 2)),
        # conv-b: a visitor with a forged identity asks something off-topic.
        ("conv-b", simple("session_started", ts=T0 + 3)),
        (
            "conv-b",
            user("what's the weather", "out_of_scope", 0.7, ts=T0 + 4, metadata=forged),
        ),
        ("conv-b", bot("I can only help with the shop.", ts=T0 + 5)),
        (
            "conv-a",
            user(
                "cancel order #536365, mail me at jo@example.com",
                "cancel_order",
                0.91,
                ts=T0 + 6,
                runner_up=("change_order", 0.05),
                entities=[
                    {
                        "entity": "order_number",
                        "value": "536365",
                        "start": 14,
                        "end": 20,
                        "extractor": "RegexEntityExtractor",
                    },
                    {
                        "entity": "email",
                        "value": "jo@example.com",
                        "start": 32,
                        "end": 46,
                        "extractor": "RegexEntityExtractor",
                    },
                ],
                metadata=signed,
            ),
        ),
        ("conv-a", action("action_cancel_order", ts=T0 + 7)),
        ("conv-a", slot("last_outcome", "order_cancelled", ts=T0 + 7)),
        ("conv-a", bot("Order cancelled.", ts=T0 + 8)),
        # The fallback classifier's intent and the fallback action are one turn.
        ("conv-a", user("asdfgh", "nlu_fallback", 0.3, ts=T0 + 9, metadata=signed)),
        ("conv-a", action("action_default_fallback", ts=T0 + 10)),
        ("conv-a", slot("last_outcome", "recommendation_shown", ts=T0 + 11)),
        ("conv-a", simple("pause", ts=T0 + 12)),
        ("conv-a", simple("resume", ts=T0 + 13)),
    ]


BURST_OUTCOMES = ("resolved_by_bot", "ticket_opened", "recommendation_shown")


def burst_conversation(n: int, *, t0: float) -> list[tuple[str, dict[str, Any]]]:
    """Conversation ``n`` of a burst: ten events, three customer messages.

    Two fallbacks count: the fallback action after a recognised message, and the
    ``nlu_fallback`` message (its own fallback action is the same turn). So a
    fallback action applied twice shows as a third.
    """
    sender = f"burst-{n:04d}"
    ts = t0 + n / 1000  # no two events of the burst share a timestamp
    return [
        (sender, simple("session_started", ts=ts)),
        (sender, action("action_listen", ts=ts + 1)),
        (sender, user("hi there", "greet", ts=ts + 2)),
        (sender, bot("Hello!", ts=ts + 3)),
        (sender, user(f"where is order 5{n:05d}?", "track_order", ts=ts + 4)),
        (sender, action("action_default_fallback", ts=ts + 5)),
        (sender, user("asdfgh", "nlu_fallback", 0.3, ts=ts + 6)),
        (sender, action("action_default_fallback", ts=ts + 7)),
        (sender, slot("last_outcome", BURST_OUTCOMES[n % 3], ts=ts + 8)),
        (sender, bot("Anything else?", ts=ts + 9)),
    ]


def burst(
    n_conversations: int, *, t0: float, interleave: int = 20
) -> list[tuple[str, dict[str, Any]]]:
    """Events of many conversations, ``interleave`` at a time, as in a live log."""
    rows: list[tuple[str, dict[str, Any]]] = []
    for first in range(0, n_conversations, interleave):
        group = range(first, min(first + interleave, n_conversations))
        conversations = [burst_conversation(n, t0=t0) for n in group]
        for step in range(len(conversations[0])):
            rows.extend(conversation[step] for conversation in conversations)
    return rows


def from_console(event: dict[str, Any], *, ts: float) -> dict[str, Any]:
    """An event the agent console appends (``web.rasa_api``), as Rasa logs it."""
    return {**event, "timestamp": ts}


def handoff_conversation(sender: str = "conv-h") -> list[tuple[str, dict[str, Any]]]:
    """A hand-off: the bot pauses, a person answers and hands back, the bot ends.

    What happened after each customer message: the hand-off action, "paused" (no
    one answered before the next message), "agent", "paused" (the hand-back came
    first), and the bot's goodbye. The bot is paused from T0 + 2 to T0 + 500.
    """
    return [
        (sender, simple("session_started", ts=T0)),
        (sender, action("action_listen", ts=T0)),
        (sender, user("I want a person", "human_handoff", ts=T0 + 1)),
        (sender, action("action_human_handoff", ts=T0 + 2)),
        (sender, slot("last_outcome", "ticket_opened", ts=T0 + 2)),
        (sender, bot("A colleague will answer here.", ts=T0 + 2)),
        (sender, simple("pause", ts=T0 + 2)),
        # Waiting in the queue: the bot is paused and says nothing.
        (sender, user("hello? anyone", "greet", ts=T0 + 60)),
        (sender, user("my order is 536365", "inform", ts=T0 + 120)),
        # An agent claims the ticket: the console pauses again and says so.
        (sender, simple("pause", ts=T0 + 300)),
        (
            sender,
            from_console(handoff_notice("Sam joined.", state="joined"), ts=T0 + 300),
        ),
        (
            sender,
            from_console(
                agent_message("Hi, Sam here.", agent_id=1, agent_name="Sam"),
                ts=T0 + 320,
            ),
        ),
        (sender, user("thanks", "thank", ts=T0 + 400)),
        # The agent closes the ticket: a notice, resume, and a listen.
        (sender, from_console(handoff_notice("Sam left.", state="ended"), ts=T0 + 500)),
        (sender, simple("resume", ts=T0 + 500)),
        (sender, action("action_listen", ts=T0 + 500)),
        (sender, user("bye", "goodbye", ts=T0 + 600)),
        (sender, action("utter_goodbye", ts=T0 + 601)),
        (sender, bot("Bye!", ts=T0 + 601)),
        (sender, action("action_listen", ts=T0 + 601)),
    ]


HANDOFF_NEXT = ["action_human_handoff", "paused", "agent", "paused", "utter_goodbye"]
