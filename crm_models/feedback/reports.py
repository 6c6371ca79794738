"""Summaries of the feedback store: what customers asked and how conversations ended.

python -m crm_models.feedback.reports
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_models.store.schema import ConversationOutcome, MessageLog

OPEN = "open"  # a conversation with no outcome yet


@dataclass(frozen=True)
class FeedbackSummary:
    """Counts over the message log and the conversation outcomes."""

    messages: int
    conversations: int
    by_intent: dict[str, int]  # most frequent first; "none" for no intent
    by_outcome: dict[str, int]  # headline outcome; "open" while there is none
    user_messages: int
    fallbacks: int

    @property
    def fallback_rate(self) -> float:
        """Share of customer messages the assistant could not handle."""
        return self.fallbacks / self.user_messages if self.user_messages else 0.0


def summary(session: Session, *, since: datetime | None = None) -> FeedbackSummary:
    """Counts by intent and outcome, and the fallback rate.

    Args:
        session: a session on the CRM store.
        since: only messages sent and conversations started at or after this time.
    """
    intent_query = select(MessageLog.intent, func.count()).group_by(MessageLog.intent)
    outcome_query = select(
        ConversationOutcome.outcome,
        func.count(),
        func.coalesce(func.sum(ConversationOutcome.n_user_messages), 0),
        func.coalesce(func.sum(ConversationOutcome.n_fallbacks), 0),
    ).group_by(ConversationOutcome.outcome)
    if since is not None:
        intent_query = intent_query.where(MessageLog.sent_at >= since)
        outcome_query = outcome_query.where(ConversationOutcome.started_at >= since)

    by_intent = {
        intent or "none": count
        for intent, count in sorted(
            session.execute(intent_query), key=lambda row: (-row[1], row[0] or "")
        )
    }
    by_outcome: dict[str, int] = {}
    user_messages = fallbacks = 0
    for outcome, count, n_user, n_fallback in session.execute(outcome_query):
        by_outcome[outcome or OPEN] = count
        user_messages += int(n_user)
        fallbacks += int(n_fallback)
    return FeedbackSummary(
        messages=sum(by_intent.values()),
        conversations=sum(by_outcome.values()),
        by_intent=by_intent,
        by_outcome=dict(sorted(by_outcome.items(), key=lambda kv: (-kv[1], kv[0]))),
        user_messages=user_messages,
        fallbacks=fallbacks,
    )


def format_summary(report: FeedbackSummary, *, top: int = 10) -> str:
    """A short plain-text rendering of ``report`` for the terminal."""
    lines = [
        f"messages: {report.messages}   conversations: {report.conversations}   "
        f"fallback rate: {report.fallback_rate:.1%}",
        "top intents:",
        *(f"  {n:6d}  {name}" for name, n in list(report.by_intent.items())[:top]),
        "outcomes:",
        *(f"  {n:6d}  {name}" for name, n in report.by_outcome.items()),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the summary of the configured CRM store."""
    del argv
    from crm_models.store.db import session_scope

    with session_scope() as session:
        sys.stdout.write(format_summary(summary(session)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
