from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_models.errors import DataError
from crm_models.handoff import feedback
from crm_models.store.schema import ChatFeedback

NOW = datetime(2025, 6, 13, 12, 0, tzinfo=timezone.utc)


def test_a_changed_thumb_replaces_the_first(session: Session) -> None:
    feedback.rate_message(
        session=session,
        conversation_id="c1",
        message_seq=3,
        response="utter_handoff",
        rating=1,
        now=NOW,
    )
    row = feedback.rate_message(
        session=session,
        conversation_id="c1",
        message_seq=3,
        response="utter_handoff",
        rating=-1,
        now=NOW + timedelta(seconds=5),
    )

    assert session.scalar(select(func.count()).select_from(ChatFeedback)) == 1
    assert (row.rating, row.response, row.created_at, row.updated_at) == (
        -1,
        "utter_handoff",
        NOW,
        NOW + timedelta(seconds=5),
    )


def test_conversation_feedback_collects_thumbs_and_the_rating(
    session: Session,
) -> None:
    for seq, rating in ((0, 1), (2, -1)):
        feedback.rate_message(
            session=session,
            conversation_id="c1",
            message_seq=seq,
            response=None,
            rating=rating,
            now=NOW,
        )
    feedback.rate_conversation(session=session, conversation_id="c1", rating=4, now=NOW)
    feedback.rate_conversation(session=session, conversation_id="c2", rating=1, now=NOW)

    rated = feedback.conversation_feedback(session=session, conversation_id="c1")

    assert rated.messages == {0: 1, 2: -1}
    assert rated.rating == 4


@pytest.mark.parametrize(("seq", "rating"), [(0, 0), (0, 2), (-1, 1)])
def test_bad_thumbs_are_refused(session: Session, seq: int, rating: int) -> None:
    with pytest.raises(DataError):
        feedback.rate_message(
            session=session,
            conversation_id="c1",
            message_seq=seq,
            response=None,
            rating=rating,
            now=NOW,
        )


@pytest.mark.parametrize("rating", [0, 6, -1])
def test_bad_end_ratings_are_refused(session: Session, rating: int) -> None:
    with pytest.raises(DataError):
        feedback.rate_conversation(
            session=session, conversation_id="c1", rating=rating, now=NOW
        )
