"""Policy questions answered from the shop's policy file: refunds, payment, delivery,
fees and contact details (account questions: actions/account.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from actions.common import (
    OUTCOME_RESOLVED,
    ShopAction,
    Turn,
    clear_question,
    money,
    outcome,
)

if TYPE_CHECKING:
    from rasa_sdk.events import EventType


def _refund_policy(turn: Turn) -> None:
    p = turn.policy
    turn.say(
        "utter_refund_policy",
        window_days=p.refund_window_days,
        processing_days=p.refund_processing_days,
    )


def _payment_methods(turn: Turn) -> None:
    turn.say(
        "utter_payment_methods", payment_methods=", ".join(turn.policy.payment_methods)
    )


def _delivery_options(turn: Turn) -> None:
    p = turn.policy
    options = "\n".join(
        f"• {o.name}: {money(o.price_pence, p.currency)}, {o.days}"
        for o in p.delivery_options
    )
    turn.say(
        "utter_delivery_options",
        delivery_options=options,
        free_over=money(p.free_delivery_over_pence, p.currency),
    )


def _cancellation_fee(turn: Turn) -> None:
    p = turn.policy
    if p.cancellation_fee_pence == 0:
        turn.say("utter_cancellation_free", window_days=p.refund_window_days)
    else:
        turn.say(
            "utter_cancellation_fee",
            fee=money(p.cancellation_fee_pence, p.currency),
            window_days=p.refund_window_days,
        )


def _contact(turn: Turn) -> None:
    turn.say("utter_contact_details", **turn.contact())


ANSWERS: dict[str, Callable[[Turn], None]] = {
    "check_refund_policy": _refund_policy,
    "check_payment_methods": _payment_methods,
    "delivery_options": _delivery_options,
    "check_cancellation_fee": _cancellation_fee,
    "contact_customer_service": _contact,
}


class ActionAnswerPolicy(ShopAction):
    """Answer a policy question from bot/shop_policy.yml."""

    def name(self) -> str:
        return "action_answer_policy"

    def act(self, turn: Turn) -> list[EventType]:
        answer = ANSWERS.get(turn.intent or "")
        if answer is None:
            turn.say("utter_how_can_i_help")
            return [clear_question()]
        answer(turn)
        return [clear_question(), outcome(OUTCOME_RESOLVED)]
