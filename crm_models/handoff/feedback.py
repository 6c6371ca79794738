"""Ratings from the widget: thumbs on one bot message, and the end-of-chat rating.

A customer may change their mind: a second rating of the same message (or of the
chat) replaces the first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_models.errors import DataError
from crm_models.store.schema import ChatFeedback, ChatFeedbackKind

logger = logging.getLogger(__name__)

THUMBS = (-1, 1)
STARS = range(1, 6)
MAX_RESPONSE = 64


@dataclass(frozen=True)
class ConversationFeedback:
    """What a customer has rated so far in one conversation."""

    messages: dict[int, int]  # message seq -> -1 or +1
    rating: int | None  # 1-5


def _upsert(
    session: Session,
    *,
    conversation_id: str,
    kind: ChatFeedbackKind,
    seq: int,
    response: str | None,
    rating: int,
    now: datetime,
) -> ChatFeedback:
    row = session.scalars(
        select(ChatFeedback).where(
            ChatFeedback.conversation_id == conversation_id,
            ChatFeedback.kind == kind,
            ChatFeedback.message_seq == seq,
        )
    ).first()
    if row is None:
        row = ChatFeedback(
            conversation_id=conversation_id,
            kind=kind,
            message_seq=seq,
            created_at=now,
        )
        session.add(row)
    row.response = response[:MAX_RESPONSE] if response else None
    row.rating = rating
    row.updated_at = now
    session.flush()
    logger.info("feedback.%s rating=%s", kind.value, rating)
    return row


def rate_message(
    *,
    session: Session,
    conversation_id: str,
    message_seq: int,
    response: str | None,
    rating: int,
    now: datetime,
) -> ChatFeedback:
    """Store thumbs up (+1) or down (-1) for one bot message.

    Args:
        message_seq: the message's place among everything the bot sent (0 first).
        response: what was rated, e.g. "utter_handoff" or "products".

    Raises:
        DataError: the rating is not -1 or +1, or the seq is negative.
    """
    if rating not in THUMBS or message_seq < 0:
        raise DataError("a message rating is -1 or +1 on a message seq from 0")
    return _upsert(
        session,
        conversation_id=conversation_id,
        kind=ChatFeedbackKind.MESSAGE,
        seq=message_seq,
        response=response,
        rating=rating,
        now=now,
    )


def rate_conversation(
    *, session: Session, conversation_id: str, rating: int, now: datetime
) -> ChatFeedback:
    """Store the end-of-chat rating, 1 to 5.

    Raises:
        DataError: the rating is outside 1-5.
    """
    if rating not in STARS:
        raise DataError("a conversation rating is 1 to 5")
    return _upsert(
        session,
        conversation_id=conversation_id,
        kind=ChatFeedbackKind.CONVERSATION,
        seq=0,
        response=None,
        rating=rating,
        now=now,
    )


def conversation_feedback(
    *, session: Session, conversation_id: str
) -> ConversationFeedback:
    """Everything rated in ``conversation_id``."""
    rows = session.scalars(
        select(ChatFeedback).where(ChatFeedback.conversation_id == conversation_id)
    )
    messages: dict[int, int] = {}
    rating = None
    for row in rows:
        if row.kind is ChatFeedbackKind.MESSAGE:
            messages[row.message_seq] = row.rating
        else:
            rating = row.rating
    return ConversationFeedback(messages=messages, rating=rating)
