"""Refunds: ask for one (eligibility, risk check, record) and follow existing ones."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from rasa_sdk.events import SlotSet

from actions.common import (
    ASKED_HUMAN,
    HANDOFF_REASON,
    ORDER_FAILURES,
    ORDER_NUMBER,
    OUTCOME_REFUND,
    OUTCOME_RESOLVED,
    ShopAction,
    Turn,
    ask,
    clear_question,
    day,
    money,
    outcome,
)
from actions.handoff import hand_over
from crm_models.errors import NotAllowedError, OrderNotFound
from crm_models.store import repositories as repo
from crm_models.store.schema import RefundStatus

if TYPE_CHECKING:
    from rasa_sdk.events import EventType
    from sqlalchemy.orm import Session

    from crm_models.scoring.scorer import CustomerScores
    from crm_models.store.schema import Order, Refund

logger = logging.getLogger(__name__)

REFUND_REASON = "requested in chat"
MAX_LISTED_REFUNDS = 3


def refund_request(turn: Turn, session: Session, order: Order) -> list[EventType]:
    """Refund what is left of ``order`` if the policy allows it.

    A refund the scorer flags as high-risk (and the policy wants reviewed) is recorded
    as REQUESTED with a ticket for an agent; any other is APPROVED straight away.
    """
    policy = turn.policy
    eligibility = repo.refund_eligibility(
        order=order, now=turn.now, window_days=policy.refund_window_days
    )
    if not eligibility.eligible:
        turn.say(
            f"utter_refund_not_eligible_{eligibility.reason}",
            order_number=order.order_number,
            window_days=policy.refund_window_days,
        )
        if eligibility.reason == "too_old":
            return [ask(ASKED_HUMAN), SlotSet(HANDOFF_REASON, "refund_exception")]
        return []

    scores = turn.services.scorer().score(
        session=session, customer_id=turn.customer_id, now=turn.now
    )
    review = scores.high_risk_refund and policy.high_risk_review
    refund = repo.create_refund(
        session=session,
        customer_id=order.customer_id,
        order_number=order.order_number,
        amount_pence=eligibility.refundable_pence,
        reason=REFUND_REASON,
        status=RefundStatus.REQUESTED if review else RefundStatus.APPROVED,
        now=turn.now,
    )
    if review:
        return _send_to_review(turn, session, order, refund, scores)
    logger.info("refunds.approved refund_id=%s", refund.id)
    turn.say(
        "utter_refund_approved",
        order_number=order.order_number,
        amount=money(refund.amount_pence, order.currency),
        processing_days=policy.refund_processing_days,
    )
    return [outcome(OUTCOME_REFUND)]


def _send_to_review(
    turn: Turn,
    session: Session,
    order: Order,
    refund: Refund,
    scores: CustomerScores,
) -> list[EventType]:
    """Tell the customer ``refund`` waits for review and hand over to a person."""
    amount = money(refund.amount_pence, order.currency)
    reasons = scores.reasons.get("refund_risk", [])
    turn.say(
        "utter_refund_under_review",
        order_number=order.order_number,
        amount=amount,
        **turn.contact(),
    )
    events = hand_over(
        turn,
        session,
        reason="refund_review",
        details=(
            f"Refund {refund.id} of {amount} waits for review: "
            f"{'; '.join(reasons) or 'risk model flag'}."
        ),
        order_id=order.id,
        order_number=order.order_number,
        scores=scores,
    )
    logger.info("refunds.review refund_id=%s", refund.id)
    return [outcome(OUTCOME_REFUND), *events]


class ActionAcceptRefundOffer(ShopAction):
    """The customer accepted the offered refund for the order in the slot."""

    def name(self) -> str:
        return "action_accept_refund_offer"

    def act(self, turn: Turn) -> list[EventType]:
        number = turn.slot(ORDER_NUMBER)
        reset = [
            clear_question(),
            SlotSet(ORDER_NUMBER, None),
            SlotSet(ORDER_FAILURES, 0),
        ]
        if not number or turn.customer_id is None:
            turn.say("utter_how_can_i_help")
            return reset
        with turn.session() as session:
            try:
                order = repo.get_order_for_customer(
                    session=session,
                    customer_id=turn.customer_id,
                    order_number=str(number),
                )
            except (OrderNotFound, NotAllowedError):
                turn.say("utter_order_not_found")
                return reset
            events = refund_request(turn, session, order)
        # Later events win: a question refund_request asks survives the reset.
        return [*reset, *events]


class ActionTrackRefund(ShopAction):
    """Where are my refunds? The newest few, for one order or the whole account."""

    def name(self) -> str:
        return "action_track_refund"

    def act(self, turn: Turn) -> list[EventType]:
        if turn.customer_id is None:
            turn.say("utter_refund_status_needs_sign_in", **turn.contact())
            return [clear_question()]
        number = turn.entity("order_number") or turn.slot(ORDER_NUMBER)
        number = str(number).lstrip("#").strip() if number else None
        processing_days = turn.policy.refund_processing_days
        with turn.session() as session:
            try:
                refunds = repo.list_refunds(
                    session=session, customer_id=turn.customer_id, order_number=number
                )
            except (OrderNotFound, NotAllowedError):
                refunds = []  # the same answer as an order without refunds
            # Refunds of the source data's returns may have no order to name.
            refunds = [r for r in refunds if r.order is not None]
            if not refunds:
                turn.say("utter_no_refunds")
                return [clear_question(), SlotSet(ORDER_NUMBER, None)]
            for refund in refunds[:MAX_LISTED_REFUNDS]:
                turn.say(
                    f"utter_refund_status_{refund.status.value}",
                    amount=money(refund.amount_pence, refund.order.currency),
                    order_number=refund.order.order_number,
                    created_on=day(refund.created_at),
                    processing_days=processing_days,
                )
        return [
            clear_question(),
            SlotSet(ORDER_NUMBER, None),
            outcome(OUTCOME_RESOLVED),
        ]
