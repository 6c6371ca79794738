"""How a conversation ended, as far as its tracker events tell.

The assistant's actions record what they achieved in the slot ``last_outcome``; every
value seen is kept in ``ConversationOutcome.outcomes`` and the most significant one is
the headline ``outcome``. Two outcomes are the consumer's to decide: a click on "More
like this" under a suggested product is ``recommendation_clicked``, and a
conversation idle for ``abandon_after_minutes`` with no outcome at all is marked
abandoned.

The handle time is the time from the first to the last event; the part of it during
which the bot was paused for a person (from the ``pause`` of a hand-off or of an
agent's take-over to the ``resume`` of the hand-back) is counted separately.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from crm_models.store.schema import ConversationOutcome, Outcome

logger = logging.getLogger(__name__)

OUTCOME_SLOT = "last_outcome"
FALLBACK_INTENTS = frozenset({"nlu_fallback", "out_of_scope"})
FALLBACK_ACTIONS = frozenset({"action_default_fallback"})

# Most significant first: what the headline of a conversation is.
PRECEDENCE: tuple[Outcome, ...] = (
    Outcome.ORDER_CANCELLED,
    Outcome.REFUND_CREATED,
    Outcome.TICKET_OPENED,
    Outcome.RECOMMENDATION_CLICKED,
    Outcome.RECOMMENDATION_SHOWN,
    Outcome.RESOLVED_BY_BOT,
    Outcome.OUT_OF_SCOPE,
    Outcome.ABANDONED,
)
_RANK = {outcome.value: rank for rank, outcome in enumerate(PRECEDENCE)}
# Values an action may put into the slot; the others are the consumer's to decide.
SLOT_OUTCOMES = frozenset(_RANK) - {
    Outcome.ABANDONED.value,
    Outcome.RECOMMENDATION_CLICKED.value,
}


def headline(outcomes: Iterable[str]) -> str | None:
    """The most significant of ``outcomes``, or ``None`` when there is none."""
    known = [o for o in outcomes if o in _RANK]
    return min(known, key=_RANK.__getitem__) if known else None


def new_conversation(conversation_id: str, at: datetime) -> ConversationOutcome:
    """An empty outcome row for a conversation first seen at ``at``."""
    return ConversationOutcome(
        conversation_id=conversation_id,
        customer_id=None,
        started_at=at,
        last_event_at=at,
        n_user_messages=0,
        n_fallbacks=0,
        outcomes=[],
        outcome=None,
        handle_seconds=0.0,
        paused_seconds=0.0,
        paused_since=None,
    )


def touch(conversation: ConversationOutcome, at: datetime) -> None:
    """Record activity at ``at``; an abandoned conversation is open again.

    While the bot is paused, the time since the previous event counts as paused
    time; events of a conversation come in order, so the pause's time adds up to
    the time from the ``pause`` to the last event (the ``resume`` once it came).
    """
    if conversation.paused_since is not None and at > conversation.last_event_at:
        conversation.paused_seconds = (conversation.paused_seconds or 0.0) + (
            at - conversation.last_event_at
        ).total_seconds()
    conversation.started_at = min(conversation.started_at, at)
    conversation.last_event_at = max(conversation.last_event_at, at)
    conversation.handle_seconds = (
        conversation.last_event_at - conversation.started_at
    ).total_seconds()
    if Outcome.ABANDONED.value in conversation.outcomes:
        remaining = [o for o in conversation.outcomes if o != Outcome.ABANDONED.value]
        conversation.outcomes = remaining
        conversation.outcome = headline(remaining)


def pause(conversation: ConversationOutcome, at: datetime) -> None:
    """The bot is paused for a person from ``at`` (unless it already was)."""
    if conversation.paused_since is None:
        conversation.paused_since = at
        if conversation.paused_seconds is None:
            # NOTE: a row from before paused_seconds existed counts from here.
            conversation.paused_seconds = 0.0


def resume(conversation: ConversationOutcome) -> None:
    """The bot is on again (``touch`` has counted the pause up to this event)."""
    conversation.paused_since = None


def _add(conversation: ConversationOutcome, value: str) -> None:
    if value not in conversation.outcomes:
        # A new list, so the JSON column sees the change.
        conversation.outcomes = [*conversation.outcomes, value]
    conversation.outcome = headline(conversation.outcomes)


def add_outcome(conversation: ConversationOutcome, value: str) -> bool:
    """Add a ``last_outcome`` slot value; ``False`` if it is not a known outcome."""
    if value not in SLOT_OUTCOMES:
        return False
    _add(conversation, value)
    return True


def add_recommendation_click(conversation: ConversationOutcome) -> None:
    """The customer clicked "More like this" under a suggested product."""
    _add(conversation, Outcome.RECOMMENDATION_CLICKED.value)


def mark_abandoned(session: Session, *, now: datetime, idle: timedelta) -> int:
    """Mark conversations idle since before ``now - idle`` with no outcome abandoned.

    Returns:
        How many conversations were marked.
    """
    result = session.execute(
        update(ConversationOutcome)
        .where(
            ConversationOutcome.outcome.is_(None),
            ConversationOutcome.last_event_at < now - idle,
        )
        .values(outcome=Outcome.ABANDONED.value, outcomes=[Outcome.ABANDONED.value])
        .execution_options(synchronize_session=False)
    )
    count = result.rowcount or 0
    if count:
        logger.info("feedback.outcomes.abandoned count=%d", count)
    return count
