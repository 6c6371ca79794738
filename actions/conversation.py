"""Conversation glue: session start, greeting, fallback, "are you a bot?", "no"."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    ASKED_CANCEL,
    ASKED_CHANGE,
    ASKED_HUMAN,
    ASKED_LATEST_ORDER,
    ASKED_NEWSLETTER,
    ASKED_RECOMMEND,
    ASKED_REFUND,
    CUSTOMER_ID,
    HANDOFF_REASON,
    LAST_OUTCOME,
    NEWSLETTER_CHOICE,
    ORDER_FAILURES,
    ORDER_NUMBER,
    ORDER_ROUTE,
    ORDER_TOPIC,
    OUTCOME_OUT_OF_SCOPE,
    PENDING_QUESTION,
    RECOMMENDATION_OFFERED,
    REQUESTED_SLOT,
    SUGGESTED_ORDER,
    ShopAction,
    Turn,
    ask,
    clear_question,
    outcome,
)
from actions.services import get_services
from crm_models.identity import verified_customer_id
from crm_models.store import repositories as repo

if TYPE_CHECKING:
    from rasa_sdk.events import EventType

logger = logging.getLogger(__name__)

SESSION_METADATA = "session_started_metadata"
# Slots that belong to one session: never carried into the next. ``last_outcome``
# especially: carrying it would report the outcome a second time.
SESSION_SLOTS = {
    CUSTOMER_ID,  # proven afresh by the new session's metadata
    ORDER_NUMBER,
    ORDER_TOPIC,
    ORDER_ROUTE,
    ORDER_FAILURES,
    SUGGESTED_ORDER,
    PENDING_QUESTION,
    HANDOFF_REASON,
    NEWSLETTER_CHOICE,
    RECOMMENDATION_OFFERED,
    LAST_OUTCOME,
    REQUESTED_SLOT,
    SESSION_METADATA,
}
FALLBACK_INTENTS = {"nlu_fallback", "out_of_scope"}
HUMAN_AFTER_FALLBACKS = 2

# What "no" means after each yes/no question (the latest-order question has its own
# rule: "no" there leads to the order form).
DECLINED = {
    ASKED_CANCEL: "utter_order_kept",
    ASKED_REFUND: "utter_refund_offer_declined",
    ASKED_HUMAN: "utter_human_declined",
    ASKED_NEWSLETTER: "utter_newsletter_unchanged",
    ASKED_RECOMMEND: "utter_anything_else",
    ASKED_CHANGE: "utter_order_unchanged",
    ASKED_LATEST_ORDER: "utter_anything_else",
}


class ActionSessionStart(Action):
    """Start a session: carry lasting slots over and verify who the customer is."""

    def name(self) -> str:
        return "action_session_start"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[EventType]:
        events: list[EventType] = [SessionStarted()]
        config = domain.get("session_config") or {}
        if config.get("carry_over_slots_to_new_session", True):
            events += [
                SlotSet(name, value)
                for name, value in tracker.slots.items()
                if value is not None and name not in SESSION_SLOTS
            ]
        metadata: Any = tracker.get_slot(SESSION_METADATA)
        if not metadata:
            metadata = tracker.latest_message.get("metadata")
        if metadata:
            events.append(SlotSet(SESSION_METADATA, metadata))
        try:
            secret = get_services().settings.identity_secret
            customer_id = verified_customer_id(metadata, secret)
        except Exception:
            logger.exception("session.identity_failed")
            customer_id = None
        events.append(SlotSet(CUSTOMER_ID, customer_id))
        logger.debug("session.started known=%s", customer_id is not None)
        return [*events, ActionExecuted("action_listen")]


class ActionGreet(ShopAction):
    """Say hello, by first name for a signed-in customer."""

    def name(self) -> str:
        return "action_greet"

    def act(self, turn: Turn) -> list[EventType]:
        first_name = ""
        if turn.customer_id is not None:
            with turn.session() as session:
                customer = repo.get_customer(
                    session=session, customer_id=turn.customer_id
                )
                if customer is not None and customer.name.strip():
                    first_name = customer.name.split()[0]
        if first_name:
            turn.say("utter_greet_known", name=first_name)
        else:
            turn.say("utter_greet")
        return [clear_question()]


def fallbacks_in_a_row(tracker: Tracker) -> int:
    """How many of the customer's latest messages in a row were not understood."""
    count = 0
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        intent = (event.get("parse_data") or {}).get("intent", {}).get("name")
        if intent not in FALLBACK_INTENTS:
            break
        count += 1
    return count


class ActionFallback(ShopAction):
    """Not understood or out of scope: say what I can do (twice in a row: a person)."""

    def name(self) -> str:
        return "action_fallback"

    def act(self, turn: Turn) -> list[EventType]:
        events: list[EventType] = []
        if turn.intent == "out_of_scope":
            events.append(outcome(OUTCOME_OUT_OF_SCOPE))
        if turn.form_active:
            # The order form asks for the number again right after this.
            turn.say("utter_fallback_in_form")
            return events
        wordless = not any(ch.isalnum() for ch in turn.text)
        if fallbacks_in_a_row(turn.tracker) >= HUMAN_AFTER_FALLBACKS:
            turn.say("utter_fallback_offer_human")
            return [*events, ask(ASKED_HUMAN), SlotSet(HANDOFF_REASON, "bot_fallback")]
        if wordless:
            turn.say("utter_no_words")
        elif turn.intent == "out_of_scope":
            turn.say("utter_out_of_scope")
        else:
            turn.say("utter_fallback")
        return [*events, clear_question()]


class ActionBotChallenge(ShopAction):
    """Yes, a bot; and people are there too."""

    def name(self) -> str:
        return "action_bot_challenge"

    def act(self, turn: Turn) -> list[EventType]:
        turn.say("utter_i_am_a_bot", **turn.contact())
        return [clear_question()]


class ActionDecline(ShopAction):
    """The customer said no to the bot's last yes/no question."""

    def name(self) -> str:
        return "action_decline"

    def act(self, turn: Turn) -> list[EventType]:
        question = turn.slot(PENDING_QUESTION)
        turn.say(DECLINED.get(question, "utter_anything_else"))
        return [
            clear_question(),
            SlotSet(ORDER_NUMBER, None),
            SlotSet(ORDER_FAILURES, 0),
            SlotSet(SUGGESTED_ORDER, None),
            SlotSet(HANDOFF_REASON, None),
            SlotSet(NEWSLETTER_CHOICE, None),
        ]
