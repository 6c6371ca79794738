"""Handing over to people: agent requests, complaints, and reviews.

A hand-off opens (or updates) a ticket with a reason, a priority from the customer's
scores and how long they have been chatting, and a short summary for the agent; then
it pauses the conversation (a ``pause`` event), so the bot stays quiet while a person
has it. The agent console (``web/console``) answers and hands back. Outside staffed
hours the customer is told when someone will answer and may leave a message.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING

from rasa_sdk.events import ConversationPaused, SlotSet

from actions.common import (
    ASKED_HUMAN,
    HANDOFF_REASON,
    ORDER_NUMBER,
    OUTCOME_TICKET,
    PENDING_QUESTION,
    ShopAction,
    Turn,
    clear_question,
    outcome,
)
from crm_models.errors import NotAllowedError, OrderNotFound
from crm_models.handoff.hours import staffed_hours
from crm_models.handoff.priority import CHURN_RISK_HIGH, ticket_priority
from crm_models.store import repositories as repo

if TYPE_CHECKING:
    from rasa_sdk import Tracker
    from rasa_sdk.events import EventType
    from sqlalchemy.orm import Session

    from crm_models.scoring.scorer import CustomerScores

logger = logging.getLogger(__name__)

# What the agent reads first, per reason code.
REASON_TEXT = {
    "customer_request": "Asked for a person",
    "bot_fallback": "The bot did not understand twice in a row",
    "order_lookup_failed": "The order lookup failed repeatedly",
    "refund_exception": "Wants a refund past the refund window",
    "refund_review": "Refund flagged by the risk model",
    "complaint": "Complaint",
}
# Actions that are plumbing, not something the bot tried for the customer.
_PLUMBING = {
    "action_listen",
    "action_session_start",
    "action_extract_slots",
    "action_human_handoff",
    "action_complaint",
    "action_deactivate_loop",
}
HANDOFF_MARKER = "handoff"  # the widget's custom payload type for hand-off states


def recent_topics(tracker: Tracker, limit: int = 6) -> str:
    """The intents of the customer's last messages, oldest first (no message text)."""
    intents = [
        (e.get("parse_data") or {}).get("intent", {}).get("name")
        for e in tracker.events
        if e.get("event") == "user"
    ]
    names = [i for i in intents if i][-limit:]
    return ", ".join(names) or "none"


def bot_tried(tracker: Tracker, limit: int = 5) -> str:
    """The actions the bot ran for the customer, with counts: ``order_form ×2``."""
    names = [
        e.get("name")
        for e in tracker.events
        if e.get("event") == "action" and e.get("name") not in _PLUMBING
    ]
    counts = Counter(n for n in names if n)
    if not counts:
        return "nothing yet"
    parts = [f"{n} ×{c}" if c > 1 else n for n, c in counts.items()]
    return ", ".join(parts[-limit:])


def chat_length(tracker: Tracker) -> timedelta:
    """How long the conversation has been going (first to latest event)."""
    stamps = [
        float(e["timestamp"])
        for e in tracker.events
        if isinstance(e.get("timestamp"), int | float)
    ]
    if len(stamps) < 2:
        return timedelta(0)
    return timedelta(seconds=max(0.0, max(stamps) - min(stamps)))


def _order_in_question(turn: Turn, session: Session) -> tuple[int | None, str | None]:
    """The customer's order named in this message or the conversation, if any."""
    number = turn.entity("order_number") or turn.slot(ORDER_NUMBER)
    if not number or turn.customer_id is None:
        return None, None
    number = str(number).lstrip("#").strip()
    try:
        order = repo.get_order_for_customer(
            session=session, customer_id=turn.customer_id, order_number=number
        )
    except (OrderNotFound, NotAllowedError):
        return None, None
    return order.id, order.order_number


def hand_over(
    turn: Turn,
    session: Session,
    *,
    reason: str,
    details: str = "",
    order_id: int | None = None,
    order_number: str | None = None,
    scores: CustomerScores | None = None,
) -> list[EventType]:
    """Open the ticket, tell the customer what happens next, and pause the bot.

    Args:
        reason: the ticket's reason code (see ``REASON_TEXT``).
        details: a sentence for the agent about this case.
        order_id: the order in question, if the caller knows it.
        order_number: its number, for the summary.
        scores: the customer's scores, if the caller has them already.

    Returns:
        The events to return from the action: the outcome and the pause.
    """
    if scores is None:
        scores = turn.services.scorer().score(
            session=session, customer_id=turn.customer_id, now=turn.now
        )
    if order_id is None:
        order_id, order_number = _order_in_question(turn, session)
    priority = ticket_priority(
        reason=reason, scores=scores, waited=chat_length(turn.tracker)
    )
    parts = [f"{REASON_TEXT.get(reason, reason)}."]
    if details:
        parts.append(details)
    if order_number:
        parts.append(f"Order {order_number}.")
    parts.append(f"Intents: {recent_topics(turn.tracker)}.")
    parts.append(f"Bot tried: {bot_tried(turn.tracker)}.")
    if priority.reasons:
        parts.append(f"Priority: {'; '.join(priority.reasons)}.")
    ticket = repo.open_ticket(
        session=session,
        conversation_id=turn.conversation_id,
        customer_id=turn.customer_id,
        reason=reason,
        priority=priority.value,
        summary=" ".join(parts),
        now=turn.now,
        order_id=order_id,
    )

    hours = staffed_hours(turn.services.settings.policy_file)
    staffed = hours.is_open(turn.now)
    marker = {"data": {"type": HANDOFF_MARKER, "state": "waiting", "staffed": staffed}}
    if staffed:
        turn.dispatcher.utter_message(
            response="utter_handoff", json_message=marker, **turn.contact()
        )
    else:
        turn.dispatcher.utter_message(
            response="utter_handoff_after_hours",
            json_message=marker,
            next_opening=hours.describe_opening(turn.now),
            **turn.contact(),
        )
    logger.info(
        "handoff.opened ticket=%s reason=%s priority=%s staffed=%s",
        ticket.id,
        reason,
        priority.value,
        staffed,
    )
    return [outcome(OUTCOME_TICKET), ConversationPaused()]


class ActionHumanHandoff(ShopAction):
    """Pass the conversation to a person: a ticket, a word to the customer, a pause."""

    def name(self) -> str:
        return "action_human_handoff"

    def act(self, turn: Turn) -> list[EventType]:
        reason = "customer_request"
        if turn.slot(PENDING_QUESTION) == ASKED_HUMAN and turn.slot(HANDOFF_REASON):
            reason = str(turn.slot(HANDOFF_REASON))
        with turn.session() as session:
            events = hand_over(turn, session, reason=reason)
        return [clear_question(), SlotSet(HANDOFF_REASON, None), *events]


class ActionComplaint(ShopAction):
    """Record a complaint; a valuable or at-risk customer goes to a person at once."""

    def name(self) -> str:
        return "action_complaint"

    def act(self, turn: Turn) -> list[EventType]:
        with turn.session() as session:
            scores = turn.services.scorer().score(
                session=session, customer_id=turn.customer_id, now=turn.now
            )
            if scores.high_value or scores.churn_risk > CHURN_RISK_HIGH:
                turn.say("utter_complaint_sorry")
                events = hand_over(turn, session, reason="complaint", scores=scores)
                return [clear_question(), *events]
            turn.say("utter_complaint_received", **turn.contact())
            # Everyone else: a ticket for the team's follow-up; the bot stays on
            # until an agent claims it (the console pauses the bot then).
            order_id, order_number = _order_in_question(turn, session)
            priority = ticket_priority(
                reason="complaint", scores=scores, waited=chat_length(turn.tracker)
            )
            summary = [f"{REASON_TEXT['complaint']} (follow-up)."]
            if order_number:
                summary.append(f"Order {order_number}.")
            summary.append(f"Intents: {recent_topics(turn.tracker)}.")
            ticket = repo.open_ticket(
                session=session,
                conversation_id=turn.conversation_id,
                customer_id=turn.customer_id,
                reason="complaint",
                priority=priority.value,
                summary=" ".join(summary),
                now=turn.now,
                order_id=order_id,
            )
            logger.info(
                "handoff.complaint ticket=%s priority=%s", ticket.id, priority.value
            )
        return [clear_question(), outcome(OUTCOME_TICKET)]


class ActionReview(ShopAction):
    """Thank the customer for feedback and say where reviews are published."""

    def name(self) -> str:
        return "action_review"

    def act(self, turn: Turn) -> list[EventType]:
        turn.say("utter_review_thanks", review_url=turn.policy.review_url)
        return [clear_question()]
