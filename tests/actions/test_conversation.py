"""Session start, greeting, fallbacks (twice → a person), odd messages, "no"."""

from __future__ import annotations

import pytest

from actions.conversation import (
    ActionBotChallenge,
    ActionDecline,
    ActionFallback,
    ActionGreet,
    ActionSessionStart,
)
from crm_models.identity import identity_metadata
from tests.actions.builders import SECRET, action, loop, slot, slots_set, user


async def test_session_start_verifies_the_customer(run) -> None:
    events = [slot("session_started_metadata", identity_metadata(12347, SECRET))]

    result = await run(ActionSessionStart(), events)

    kinds = [e["event"] for e in result.events]
    assert kinds[0] == "session_started"
    assert (kinds[-1], result.events[-1]["name"]) == ("action", "action_listen")
    assert slots_set(result.events)["customer_id"] == 12347


async def test_session_start_carries_lasting_slots_only(run) -> None:
    events = [
        slot("customer_id", 12347),
        slot("last_outcome", "order_cancelled"),
        slot("pending_question", "cancel_order"),
        slot(
            "session_started_metadata", {"customer_id": "12347", "customer_sig": "bad"}
        ),
    ]

    result = await run(ActionSessionStart(), events)

    slots = slots_set(result.events)
    # A forged signature: unknown. Outcomes are never reported twice.
    assert slots["customer_id"] is None
    assert "last_outcome" not in slots
    assert "pending_question" not in slots


async def test_known_customer_is_greeted_by_first_name(run) -> None:
    result = await run(ActionGreet(), [user("hi", "greet", customer_id=12347)])

    assert result.responses == ["utter_greet_known"]
    assert result.message("utter_greet_known")["name"]
    assert slots_set(result.events)["customer_id"] == 12347


async def test_unknown_visitor_gets_the_plain_greeting(run) -> None:
    result = await run(ActionGreet(), [user("hi", "greet")])

    assert result.responses == ["utter_greet"]


async def test_one_fallback_says_what_i_can_do(run) -> None:
    result = await run(
        ActionFallback(), [user("blorp", "nlu_fallback", confidence=0.2)]
    )

    assert result.responses == ["utter_fallback"]


async def test_two_fallbacks_in_a_row_offer_a_person(run) -> None:
    events = [
        user("blorp", "nlu_fallback"),
        action("action_fallback"),
        user("what is the meaning of life", "out_of_scope"),
    ]

    result = await run(ActionFallback(), events)

    slots = slots_set(result.events)
    assert result.responses == ["utter_fallback_offer_human"]
    assert slots["pending_question"] == "human_offer"
    assert slots["handoff_reason"] == "bot_fallback"
    assert slots["last_outcome"] == "out_of_scope"


async def test_an_understood_message_resets_the_count(run) -> None:
    events = [
        user("blorp", "nlu_fallback"),
        user("hi", "greet"),
        user("blorp again", "nlu_fallback"),
    ]

    result = await run(ActionFallback(), events)

    assert result.responses == ["utter_fallback"]


@pytest.mark.parametrize(
    "text",
    [
        "",  # an empty message
        "🙂🙂👍",  # emoji only
        "   ",  # blanks
    ],
)
async def test_wordless_messages_get_a_polite_reply(run, text: str) -> None:
    result = await run(ActionFallback(), [user(text, "nlu_fallback")])

    assert result.responses == ["utter_no_words"]


async def test_very_long_message_is_answered(run) -> None:
    text = "my order " * 560  # about 5,000 characters

    result = await run(ActionFallback(), [user(text, "nlu_fallback")])

    assert result.responses == ["utter_fallback"]


async def test_message_without_intent_is_answered(run) -> None:
    result = await run(ActionFallback(), [user("", None)])

    assert result.responses == ["utter_no_words"]


async def test_fallback_inside_the_form_leaves_the_question_to_the_form(run) -> None:
    events = [
        user("track", "track_order"),
        loop("order_form"),
        user("blorp", "nlu_fallback"),
    ]

    result = await run(ActionFallback(), events)

    assert result.responses == ["utter_fallback_in_form"]


async def test_bot_challenge_mentions_staffed_hours(run) -> None:
    result = await run(ActionBotChallenge(), [user("are you a bot?", "bot_challenge")])

    assert "Monday to Friday" in result.texts[0]


@pytest.mark.parametrize(
    ("question", "response"),
    [
        ("cancel_order", "utter_order_kept"),  # keep the order
        ("human_offer", "utter_human_declined"),  # no person
        ("newsletter", "utter_newsletter_unchanged"),  # no newsletter change
        (None, "utter_anything_else"),  # "no" without a question
    ],
)
async def test_no_answers_the_pending_question(
    run, question: str | None, response: str
) -> None:
    events = [
        slot("order_number", "581232"),
        slot("pending_question", question),
        user("no", "deny"),
    ]

    result = await run(ActionDecline(), events)

    assert result.responses == [response]
    assert slots_set(result.events)["pending_question"] is None
    assert slots_set(result.events)["order_number"] is None
