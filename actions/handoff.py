"""Handing over to people: agent requests, complaints, and reviews.

Tickets go into the CRM store; the agent console (issue 3) shows and claims them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from rasa_sdk.events import SlotSet

from actions.common import (
    ASKED_HUMAN,
    HANDOFF_REASON,
    OUTCOME_TICKET,
    PENDING_QUESTION,
    ShopAction,
    Turn,
    clear_question,
    outcome,
)
from crm_models.errors import NotAllowedError, OrderNotFound
from crm_models.store import repositories as repo

if TYPE_CHECKING:
    from rasa_sdk import Tracker
    from rasa_sdk.events import EventType
    from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)

# NOTE: the scorer gives no churn flag; this share of churn risk counts as high.
CHURN_RISK_URGENT = 0.5
PRIORITY_URGENT, PRIORITY_HIGH, PRIORITY_NORMAL = 1, 2, 3


def recent_topics(tracker: Tracker, limit: int = 5) -> str:
    """The intents of the customer's last messages, oldest first (no message text)."""
    intents = [
        (e.get("parse_data") or {}).get("intent", {}).get("name")
        for e in tracker.events
        if e.get("event") == "user"
    ]
    names = [i for i in intents if i][-limit:]
    return ", ".join(names) or "none"


class ActionHumanHandoff(ShopAction):
    """Open (or update) a ticket so that a person takes over, and say what happens."""

    def name(self) -> str:
        return "action_human_handoff"

    def act(self, turn: Turn) -> list[EventType]:
        reason = "customer_request"
        if turn.slot(PENDING_QUESTION) == ASKED_HUMAN and turn.slot(HANDOFF_REASON):
            reason = str(turn.slot(HANDOFF_REASON))
        with turn.session() as session:
            scores = turn.services.scorer().score(
                session=session, customer_id=turn.customer_id, now=turn.now
            )
            priority = PRIORITY_HIGH if scores.high_value else PRIORITY_NORMAL
            ticket = repo.open_ticket(
                session=session,
                conversation_id=turn.conversation_id,
                customer_id=turn.customer_id,
                reason=reason,
                priority=priority,
                summary=(
                    f"Asked for a person ({reason}). "
                    f"Topics: {recent_topics(turn.tracker)}."
                ),
                now=turn.now,
            )
            logger.info("handoff.ticket ticket_id=%s priority=%s", ticket.id, priority)
        # TODO(#3): notify the agent console and pause the bot once an agent claims it.
        turn.say("utter_handoff", **turn.contact())
        return [
            clear_question(),
            SlotSet(HANDOFF_REASON, None),
            outcome(OUTCOME_TICKET),
        ]


class ActionComplaint(ShopAction):
    """Record a complaint as a ticket; valuable or at-risk customers go first."""

    def name(self) -> str:
        return "action_complaint"

    def act(self, turn: Turn) -> list[EventType]:
        with turn.session() as session:
            scores = turn.services.scorer().score(
                session=session, customer_id=turn.customer_id, now=turn.now
            )
            why = []
            if scores.high_value:
                why.append("high-value customer")
            if scores.churn_risk >= CHURN_RISK_URGENT:
                why.append(f"churn risk {scores.churn_risk:.2f}")
            priority = PRIORITY_URGENT if why else PRIORITY_HIGH
            ticket = repo.open_ticket(
                session=session,
                conversation_id=turn.conversation_id,
                customer_id=turn.customer_id,
                reason="complaint",
                priority=priority,
                summary=(
                    f"Complaint ({', '.join(why) or 'standard priority'}). "
                    f"Topics: {recent_topics(turn.tracker)}."
                ),
                now=turn.now,
                order_id=_mentioned_order_id(turn, session),
            )
            logger.info(
                "handoff.complaint ticket_id=%s priority=%s", ticket.id, priority
            )
        turn.say("utter_complaint_received", **turn.contact())
        return [clear_question(), outcome(OUTCOME_TICKET)]


def _mentioned_order_id(turn: Turn, session: Session) -> int | None:
    """The id of the customer's order named in the message, if any."""
    number = turn.entity("order_number")
    if not number or turn.customer_id is None:
        return None
    try:
        return repo.get_order_for_customer(
            session=session,
            customer_id=turn.customer_id,
            order_number=number.lstrip("#").strip(),
        ).id
    except (OrderNotFound, NotAllowedError):
        return None


class ActionReview(ShopAction):
    """Thank the customer for feedback and say where reviews are published."""

    def name(self) -> str:
        return "action_review"

    def act(self, turn: Turn) -> list[EventType]:
        turn.say("utter_review_thanks", review_url=turn.policy.review_url)
        return [clear_question()]
