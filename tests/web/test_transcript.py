from __future__ import annotations

from typing import Any

from web.rasa_api import agent_message, handoff_notice
from web.transcript import build_transcript, signature


def user(text: str, intent: str = "greet", **metadata: Any) -> dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "timestamp": 1.0,
        "parse_data": {"intent": {"name": intent}},
        "metadata": metadata,
    }


def bot(text: str | None, **data: Any) -> dict[str, Any]:
    return {
        "event": "bot",
        "text": text,
        "timestamp": 2.0,
        "data": data,
        "metadata": {"utter_action": "utter_x"},
    }


def test_bot_events_are_replayed_as_socket_io_sends_them() -> None:
    products = {"data": {"type": "products", "items": [{"name": "MUG"}]}}
    buttons = [{"title": "Yes, please", "payload": "/affirm"}]
    tracker = {
        "events": [
            user("hello"),
            bot("First part.\n\nSecond part."),  # two sends
            bot("Pick one:", buttons=buttons),  # buttons on the last part
            bot("Here are some ideas.", custom=products),  # text, then the cards
            {"event": "action", "name": "action_listen"},
        ]
    }

    t = build_transcript(tracker)

    assert t.emissions == 5
    assert [(e.who, e.kind, e.text, e.seq) for e in t.entries] == [
        ("user", "text", "hello", None),
        ("bot", "text", "First part.", 0),
        ("bot", "text", "Second part.", 1),
        ("bot", "text", "Pick one:", 2),
        ("bot", "text", "Here are some ideas.", 3),
        ("bot", "products", "", 4),
    ]
    assert t.entries[3].quick_replies == [
        {"title": "Yes, please", "payload": "/affirm"}
    ]
    assert t.entries[5].items == [{"name": "MUG"}]
    assert t.tail[-1] == "|products"
    assert t.ratable(0) == "utter_x"
    assert t.ratable(4) == "products"
    assert t.ratable(9) is None
    assert t.handoff == "bot"


def test_people_and_notices_are_not_bot_messages() -> None:
    tracker = {
        "paused": True,
        "events": [
            user("a person please", "contact_human_agent"),
            bot("I've passed you on.", custom={"data": {"type": "handoff"}}),
            {"event": "action", "name": "action_human_handoff"},
            {"event": "pause"},
            handoff_notice("Sam joined.", state="joined", agent_name="Sam"),
            agent_message("Hi, I'm Sam.", agent_id=1, agent_name="Sam"),
            user("my parcel is late", "nlu_fallback"),
        ],
    }

    t = build_transcript(tracker)

    whos = [(e.who, e.text) for e in t.entries]
    assert whos == [
        ("user", "a person please"),
        ("bot", "I've passed you on."),
        ("notice", "Sam joined."),
        ("agent", "Hi, I'm Sam."),
        ("user", "my parcel is late"),
    ]
    # Every send counts, the hidden markers too: 2 + 2 + 2.
    assert t.emissions == 6
    assert t.entries[3].agent == "Sam"
    assert (t.paused, t.handoff, t.agent) == (True, "agent", "Sam")
    assert t.ratable(0) == "utter_x"
    assert t.ratable(2) is None  # the notice
    assert t.ratable(4) is None  # the person's reply


def test_waiting_then_handed_back() -> None:
    waiting = {"paused": True, "events": [user("human"), {"event": "pause"}]}
    back = {
        "paused": False,
        "events": [
            user("human"),
            {"event": "pause"},
            handoff_notice("Back to the bot.", state="ended"),
            {"event": "resume"},
        ],
    }

    assert build_transcript(waiting).handoff == "waiting"
    assert build_transcript(back).handoff == "bot"


def test_a_quick_reply_shows_its_title_and_intents_only_for_agents() -> None:
    tracker = {"events": [user("/affirm", "affirm", display_text="Yes, please")]}

    t = build_transcript(tracker)

    assert t.entries[0].text == "Yes, please"
    assert "intent" not in t.as_dict()["entries"][0]
    assert t.as_dict(for_agent=True)["entries"][0]["intent"] == "affirm"


def test_user_text_is_kept_verbatim() -> None:
    evil = "<img src=x onerror=alert(1)>"

    t = build_transcript({"events": [user(evil)]})

    assert t.entries[0].text == evil  # the widget renders it as text


def test_signature_matches_what_the_widget_computes() -> None:
    assert signature({"text": "Hi"}) == "Hi|"
    assert signature({"type": "products", "items": []}) == "|products"
    assert signature(None) == "|"
