"""Account questions (answered from the policy file) and the newsletter setting."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from rasa_sdk.events import SlotSet

from actions.common import (
    ASKED_NEWSLETTER,
    NEWSLETTER_CHOICE,
    OUTCOME_RESOLVED,
    ShopAction,
    Turn,
    ask,
    clear_question,
    outcome,
)
from actions.shop_policy import ACCOUNT_HELP_TOPICS
from crm_models.store import repositories as repo

if TYPE_CHECKING:
    from rasa_sdk.events import EventType

logger = logging.getLogger(__name__)

# Words that ask to leave the newsletter rather than join it.
_LEAVE = re.compile(
    r"\b(unsubscribe|unsub|opt[\s-]?out|stop (?:sending|emailing)|no more|remove me)\b",
    re.IGNORECASE,
)


class ActionAnswerAccount(ShopAction):
    """Answer an account question with the shop's help text."""

    def name(self) -> str:
        return "action_answer_account"

    def act(self, turn: Turn) -> list[EventType]:
        topic = turn.intent or ""
        if topic not in ACCOUNT_HELP_TOPICS:
            turn.say("utter_how_can_i_help")
            return [clear_question()]
        turn.say(
            f"utter_account_{topic}",
            help_text=turn.policy.account_help[topic],
            **turn.contact(),
        )
        return [clear_question(), outcome(OUTCOME_RESOLVED)]


class ActionNewsletter(ShopAction):
    """Offer to subscribe or unsubscribe, depending on the request and the setting."""

    def name(self) -> str:
        return "action_newsletter"

    def act(self, turn: Turn) -> list[EventType]:
        customer, subscribed = None, False
        if turn.customer_id is not None:
            with turn.session() as session:
                customer = repo.get_customer(
                    session=session, customer_id=turn.customer_id
                )
                subscribed = bool(customer and customer.newsletter)
        if customer is None:
            turn.say("utter_newsletter_needs_sign_in")
            return [clear_question()]

        leave = bool(_LEAVE.search(turn.text))
        if leave and not subscribed:
            turn.say("utter_newsletter_not_subscribed")
            return [clear_question(), outcome(OUTCOME_RESOLVED)]
        if subscribed:
            response = "utter_newsletter_confirm_unsubscribe"
            if not leave:
                response = "utter_newsletter_already_subscribed"
            turn.say(response)
            return [ask(ASKED_NEWSLETTER), SlotSet(NEWSLETTER_CHOICE, False)]
        turn.say("utter_newsletter_confirm_subscribe")
        return [ask(ASKED_NEWSLETTER), SlotSet(NEWSLETTER_CHOICE, True)]


class ActionNewsletterConfirm(ShopAction):
    """The customer confirmed: change the newsletter setting in the store."""

    def name(self) -> str:
        return "action_newsletter_confirm"

    def act(self, turn: Turn) -> list[EventType]:
        choice = turn.slot(NEWSLETTER_CHOICE)
        reset = [clear_question(), SlotSet(NEWSLETTER_CHOICE, None)]
        if turn.customer_id is None or choice is None:
            turn.say("utter_how_can_i_help")
            return reset
        with turn.session() as session:
            repo.set_newsletter(
                session=session, customer_id=turn.customer_id, subscribed=bool(choice)
            )
        logger.info("account.newsletter subscribed=%s", bool(choice))
        turn.say(
            "utter_newsletter_subscribed" if choice else "utter_newsletter_unsubscribed"
        )
        return [*reset, outcome(OUTCOME_RESOLVED)]
