"""The order form: get an order number that belongs to this customer.

``validate_order_form`` checks the format (the policy's number of digits; ``#``,
spaces and dashes are ignored) and that the order is the customer's. A number that
does not exist and another customer's number get the same reply, so the form reveals
nothing about other customers. Failures are counted in ``order_failures``; at the
policy's limit the form explains, offers a person and ends itself.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from actions.common import (
    ASKED_HUMAN,
    HANDOFF_REASON,
    ORDER_FAILURES,
    ORDER_NUMBER,
    ORDER_TOPIC,
    PENDING_QUESTION,
    REQUESTED_SLOT,
    ShopAction,
    Turn,
    apologise,
    clear_question,
    resolve_identity,
)
from actions.orders import TOPIC_BY_INTENT, finished
from actions.services import get_services
from crm_models.errors import NotAllowedError, OrderNotFound
from crm_models.store import repositories as repo

if TYPE_CHECKING:
    from rasa_sdk.events import EventType

logger = logging.getLogger(__name__)

# Whole messages that end the form when it is waiting for a number.
STOP_WORDS = {"stop", "quit", "exit", "cancel", "never mind", "nevermind", "forget it"}
# Intents whose message may hold a (mistyped) order number.
NUMBER_INTENTS = {"inform", "nlu_fallback", "out_of_scope", *TOPIC_BY_INTENT}
_DIGIT_RUN = re.compile(r"\d(?:[\s-]?\d)*")
MAX_CANDIDATE_CHARS = 64


def normalise_order_number(value: Any, *, digits: int) -> str | None:
    """The order number in ``value`` (``"#536 365"`` → ``"536365"``), if well-formed.

    Well-formed means exactly one run of ``digits`` digits, ignoring ``#``, single
    spaces and dashes inside the run.
    """
    runs = [re.sub(r"[\s-]", "", run) for run in _DIGIT_RUN.findall(str(value))]
    matches = [run for run in runs if len(run) == digits]
    return matches[0] if len(matches) == 1 and len(runs) == 1 else None


def _stopped() -> list[EventType]:
    return [*finished(), SlotSet(REQUESTED_SLOT, None)]


class ValidateOrderForm(FormValidationAction):
    """Extract and check ``order_number`` for ``order_form``."""

    def name(self) -> str:
        return "validate_order_form"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[EventType]:
        """Validate, stopping on a stop word; never raises."""
        try:
            if self._wants_to_stop(tracker):
                dispatcher.utter_message(response="utter_order_form_stopped")
                return _stopped()
            return await super().run(dispatcher, tracker, domain)
        except Exception as exc:  # noqa: BLE001 - the boundary before rasa-sdk's 500
            apologise(self.name(), exc, dispatcher)
            return _stopped()

    @staticmethod
    def _wants_to_stop(tracker: Tracker) -> bool:
        text = (tracker.latest_message.get("text") or "").strip(" .!").lower()
        return tracker.get_slot(REQUESTED_SLOT) == ORDER_NUMBER and text in STOP_WORDS

    async def extract_order_number(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """Take the message as a candidate number when the form asked for one.

        Entities are left to the slot mapping. A message of another intent without
        digits is not a candidate, so the form rejects and the interruption rules run.
        """
        if tracker.get_slot(REQUESTED_SLOT) != ORDER_NUMBER:
            return {}
        if list(tracker.get_latest_entity_values(ORDER_NUMBER)):
            return {}
        text = (tracker.latest_message.get("text") or "").strip()
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        has_digits = any(ch.isdigit() for ch in text)
        if intent == "inform" or (has_digits and intent in NUMBER_INTENTS):
            return {ORDER_NUMBER: text[:MAX_CANDIDATE_CHARS]}
        return {}

    async def validate_order_number(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """Accept the number if it is well-formed and the customer's order."""
        if slot_value is None or not str(slot_value).strip():
            # An action cleared the slot (e.g. "no, another order"): nothing typed.
            return {ORDER_NUMBER: None}
        return await asyncio.to_thread(self._check, slot_value, dispatcher, tracker)

    def _check(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        services = get_services()
        policy = services.policy()
        customer_id, _ = resolve_identity(tracker, services.settings.identity_secret)
        failures = int(tracker.get_slot(ORDER_FAILURES) or 0)
        intent = (tracker.latest_message.get("intent") or {}).get("name") or ""
        topic = (
            {ORDER_TOPIC: TOPIC_BY_INTENT[intent]} if intent in TOPIC_BY_INTENT else {}
        )

        if customer_id is None:
            contact = policy.contact
            dispatcher.utter_message(
                response="utter_order_needs_sign_in",
                contact_email=contact.email,
                contact_phone=contact.phone,
                staffed_hours=contact.staffed_hours,
                response_time=contact.response_time,
                digits=policy.order_number_digits,
            )
            return {ORDER_NUMBER: None, ORDER_FAILURES: 0, REQUESTED_SLOT: None}

        number = normalise_order_number(value, digits=policy.order_number_digits)
        if number is None:
            return self._failed(
                dispatcher,
                failures,
                policy.max_lookup_failures,
                "utter_order_number_format",
                digits=policy.order_number_digits,
            )
        with services.session_scope() as session:
            try:
                repo.get_order_for_customer(
                    session=session, customer_id=customer_id, order_number=number
                )
            except (OrderNotFound, NotAllowedError):
                # One reply for both: never reveal that someone else's order exists.
                return self._failed(
                    dispatcher,
                    failures,
                    policy.max_lookup_failures,
                    "utter_order_not_found",
                )
        return {ORDER_NUMBER: number, ORDER_FAILURES: 0, **topic}

    @staticmethod
    def _failed(
        dispatcher: CollectingDispatcher,
        failures: int,
        limit: int,
        response: str,
        **variables: Any,
    ) -> dict[str, Any]:
        failures += 1
        logger.info("order_form.failed attempt=%s reason=%s", failures, response)
        if failures >= limit:
            dispatcher.utter_message(response="utter_order_lookup_failed")
            return {
                ORDER_NUMBER: None,
                ORDER_FAILURES: 0,
                REQUESTED_SLOT: None,
                PENDING_QUESTION: ASKED_HUMAN,
                HANDOFF_REASON: "order_lookup_failed",
            }
        dispatcher.utter_message(response=response, **variables)
        return {ORDER_NUMBER: None, ORDER_FAILURES: failures}


class ActionStopOrderForm(ShopAction):
    """The customer said no while the form waited for a number: let it go."""

    def name(self) -> str:
        return "action_stop_order_form"

    def act(self, turn: Turn) -> list[EventType]:
        turn.say("utter_order_form_stopped")
        return [clear_question(), *finished()]


class ActionAskOrderNumber(ShopAction):
    """The order form's question, with the shop's number of digits."""

    def name(self) -> str:
        return "action_ask_order_number"

    def act(self, turn: Turn) -> list[EventType]:
        turn.say("utter_ask_order_number", digits=turn.policy.order_number_digits)
        return []
