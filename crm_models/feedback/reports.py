"""Summaries of the feedback store: what customers asked and how conversations ended.

    python -m crm_models.feedback.reports [--since YYYY-MM-DD] [--conversations N]
                                          [--database-url URL]

Besides what the feedback consumer wrote (messages, what the assistant did next,
outcomes, handle times), the reports read two tables the consumer never sees: the
widget's ratings and thumbs (``chat_feedback``, written by the web app whenever the
customer clicks, possibly after the conversation's last event) and the hand-off
tickets with the agents' resolution codes and timings (``tickets``,
``agent_events``). They are summed here, when the report is made, so they are never
out of date.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from crm_models.store.schema import (
    AgentEvent,
    AgentEventKind,
    ChatFeedback,
    ChatFeedbackKind,
    ConversationOutcome,
    MessageLog,
    Resolution,
    Ticket,
    TicketStatus,
)

OPEN = "open"  # a conversation with no outcome yet
UNKNOWN = "unknown"  # a message whose next step is not known (yet)
_CHUNK = 500  # ids per IN (...) list


@dataclass(frozen=True)
class Durations:
    """Count, mean and median of a set of durations in seconds."""

    count: int = 0
    mean: float | None = None
    median: float | None = None

    @classmethod
    def of(cls, seconds: Iterable[float]) -> Durations:
        """The figures of ``seconds``; empty figures for none."""
        values = list(seconds)
        if not values:
            return cls()
        return cls(
            count=len(values),
            mean=statistics.fmean(values),
            median=statistics.median(values),
        )


@dataclass(frozen=True)
class WidgetFeedback:
    """What a customer rated in the widget in one conversation."""

    rating: int | None = None  # the end-of-chat rating, 1-5
    thumbs_up: int = 0
    thumbs_down: int = 0


@dataclass(frozen=True)
class TicketSummary:
    """One hand-off ticket: its state or resolution code, and the agent's timings."""

    ticket_id: int
    conversation_id: str
    resolution: str  # the resolution code once closed, else "open" or "claimed"
    agent_seconds: float | None  # handle time, first claim to close
    first_reply_seconds: float | None  # the customer's wait for a first reply


@dataclass(frozen=True)
class FeedbackSummary:
    """Counts over the message log, the conversation outcomes, ratings and tickets."""

    messages: int
    conversations: int
    by_intent: dict[str, int]  # most frequent first; "none" for no intent
    by_outcome: dict[str, int]  # headline outcome; "open" while there is none
    user_messages: int
    fallbacks: int
    # What followed a customer message, most frequent first; "unknown" while open.
    by_next_action: dict[str, int] = field(default_factory=dict)
    handle: Durations = Durations()  # first to last event, per conversation
    bot: Durations = Durations()  # the handle time less the paused time
    paused: Durations = Durations()  # conversations that were paused for a person
    rated: int = 0  # conversations with an end-of-chat rating
    ratings: dict[int, int] = field(default_factory=dict)  # stars -> conversations
    thumbs_up: int = 0
    thumbs_down: int = 0
    tickets: int = 0
    by_resolution: dict[str, int] = field(default_factory=dict)  # code or state
    agent: Durations = Durations()  # closed tickets: first claim to close
    first_reply: Durations = Durations()  # tickets answered: wait for the reply

    @property
    def fallback_rate(self) -> float:
        """Share of customer messages the assistant could not handle."""
        return self.fallbacks / self.user_messages if self.user_messages else 0.0

    @property
    def mean_rating(self) -> float | None:
        """The mean end-of-chat rating, ``None`` when nobody rated."""
        if not self.rated:
            return None
        return sum(stars * n for stars, n in self.ratings.items()) / self.rated


@dataclass(frozen=True)
class ConversationReport:
    """One conversation with everything known about it."""

    conversation_id: str
    started_at: datetime
    outcome: str  # headline outcome, "open" while there is none
    n_user_messages: int
    n_fallbacks: int
    handle_seconds: float | None
    paused_seconds: float | None
    feedback: WidgetFeedback
    resolution: str | None  # of the conversation's latest ticket; None: no ticket
    agent_seconds: float | None  # summed over the conversation's closed tickets


@dataclass
class _TicketFold:
    conversation_id: str
    status: TicketStatus
    resolution: Resolution | None = None
    agent: float | None = None
    replied: bool = False
    reply: float | None = None


def _most_frequent_first(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def widget_feedback(
    session: Session,
    *,
    conversation_ids: Sequence[str] | None = None,
    since: datetime | None = None,
) -> dict[str, WidgetFeedback]:
    """Rating and thumbs per conversation, from the widget's ``chat_feedback``.

    Args:
        session: a session on the CRM store.
        conversation_ids: only these conversations (all by default).
        since: only ratings given at or after this time.
    """
    is_message = ChatFeedback.kind == ChatFeedbackKind.MESSAGE
    query = select(
        ChatFeedback.conversation_id,
        func.max(
            case(
                (
                    ChatFeedback.kind == ChatFeedbackKind.CONVERSATION,
                    ChatFeedback.rating,
                )
            )
        ),
        func.sum(case((and_(is_message, ChatFeedback.rating > 0), 1), else_=0)),
        func.sum(case((and_(is_message, ChatFeedback.rating < 0), 1), else_=0)),
    ).group_by(ChatFeedback.conversation_id)
    if since is not None:
        query = query.where(ChatFeedback.created_at >= since)
    chunks = [None] if conversation_ids is None else _chunks(conversation_ids)
    found: dict[str, WidgetFeedback] = {}
    for chunk in chunks:
        chunk_query = query
        if chunk is not None:
            chunk_query = query.where(ChatFeedback.conversation_id.in_(chunk))
        for conversation_id, rating, up, down in session.execute(chunk_query):
            found[conversation_id] = WidgetFeedback(
                rating=rating, thumbs_up=int(up or 0), thumbs_down=int(down or 0)
            )
    return found


def ticket_summaries(
    session: Session,
    *,
    conversation_ids: Sequence[str] | None = None,
    since: datetime | None = None,
) -> list[TicketSummary]:
    """The hand-off tickets with their resolution codes and timings, oldest first.

    Args:
        session: a session on the CRM store.
        conversation_ids: only these conversations' tickets (all by default).
        since: only tickets opened at or after this time.
    """
    query = (
        select(
            Ticket.id,
            Ticket.conversation_id,
            Ticket.status,
            AgentEvent.kind,
            AgentEvent.seconds,
            AgentEvent.resolution,
        )
        .outerjoin(
            AgentEvent,
            and_(
                AgentEvent.ticket_id == Ticket.id,
                AgentEvent.kind.in_((AgentEventKind.CLOSED, AgentEventKind.REPLIED)),
            ),
        )
        .order_by(Ticket.created_at, Ticket.id, AgentEvent.at, AgentEvent.id)
    )
    if since is not None:
        query = query.where(Ticket.created_at >= since)
    chunks = [None] if conversation_ids is None else _chunks(conversation_ids)

    # Fold the ticket's events: the last close has the resolution, the first
    # reply has the wait, and every close adds its handle time.
    folds: dict[int, _TicketFold] = {}
    for chunk in chunks:
        chunk_query = query
        if chunk is not None:
            chunk_query = query.where(Ticket.conversation_id.in_(chunk))
        for ticket_id, conv_id, status, kind, seconds, resolution in session.execute(
            chunk_query
        ):
            fold = folds.setdefault(ticket_id, _TicketFold(conv_id, status))
            if kind is AgentEventKind.CLOSED:
                fold.resolution = resolution
                if seconds is not None:
                    fold.agent = (fold.agent or 0.0) + seconds
            elif kind is AgentEventKind.REPLIED and not fold.replied:
                fold.replied, fold.reply = True, seconds

    summaries = []
    for ticket_id, fold in folds.items():
        if fold.status is not TicketStatus.CLOSED:
            state = str(fold.status)  # open or claimed
        else:
            state = str(fold.resolution) if fold.resolution is not None else "closed"
        summaries.append(
            TicketSummary(
                ticket_id=ticket_id,
                conversation_id=fold.conversation_id,
                resolution=state,
                agent_seconds=fold.agent,
                first_reply_seconds=fold.reply,
            )
        )
    return summaries


def summary(session: Session, *, since: datetime | None = None) -> FeedbackSummary:
    """Counts by intent, next step and outcome; times, ratings and resolutions.

    Args:
        session: a session on the CRM store.
        since: only messages sent, conversations started, ratings given and tickets
            opened at or after this time.
    """
    intent_query = select(MessageLog.intent, func.count()).group_by(MessageLog.intent)
    next_query = select(MessageLog.next_action, func.count()).group_by(
        MessageLog.next_action
    )
    outcome_query = select(
        ConversationOutcome.outcome,
        func.count(),
        func.coalesce(func.sum(ConversationOutcome.n_user_messages), 0),
        func.coalesce(func.sum(ConversationOutcome.n_fallbacks), 0),
    ).group_by(ConversationOutcome.outcome)
    times_query = select(
        ConversationOutcome.handle_seconds, ConversationOutcome.paused_seconds
    ).where(ConversationOutcome.handle_seconds.is_not(None))
    if since is not None:
        intent_query = intent_query.where(MessageLog.sent_at >= since)
        next_query = next_query.where(MessageLog.sent_at >= since)
        outcome_query = outcome_query.where(ConversationOutcome.started_at >= since)
        times_query = times_query.where(ConversationOutcome.started_at >= since)

    by_intent = {
        intent or "none": count
        for intent, count in sorted(
            session.execute(intent_query), key=lambda row: (-row[1], row[0] or "")
        )
    }
    by_next = _most_frequent_first(
        {step or UNKNOWN: count for step, count in session.execute(next_query)}
    )
    by_outcome: dict[str, int] = {}
    user_messages = fallbacks = 0
    for outcome, count, n_user, n_fallback in session.execute(outcome_query):
        by_outcome[outcome or OPEN] = count
        user_messages += int(n_user)
        fallbacks += int(n_fallback)

    times = session.execute(times_query).all()
    widget = widget_feedback(session, since=since).values()
    ratings = Counter(f.rating for f in widget if f.rating is not None)
    tickets = ticket_summaries(session, since=since)
    return FeedbackSummary(
        messages=sum(by_intent.values()),
        conversations=sum(by_outcome.values()),
        by_intent=by_intent,
        by_outcome=_most_frequent_first(by_outcome),
        user_messages=user_messages,
        fallbacks=fallbacks,
        by_next_action=by_next,
        handle=Durations.of(handle for handle, _ in times),
        bot=Durations.of(
            handle - paused for handle, paused in times if paused is not None
        ),
        paused=Durations.of(paused for _, paused in times if paused),
        rated=sum(ratings.values()),
        ratings=dict(sorted(ratings.items())),
        thumbs_up=sum(f.thumbs_up for f in widget),
        thumbs_down=sum(f.thumbs_down for f in widget),
        tickets=len(tickets),
        by_resolution=_most_frequent_first(Counter(t.resolution for t in tickets)),
        agent=Durations.of(
            t.agent_seconds for t in tickets if t.agent_seconds is not None
        ),
        first_reply=Durations.of(
            t.first_reply_seconds for t in tickets if t.first_reply_seconds is not None
        ),
    )


def conversations(
    session: Session, *, since: datetime | None = None, limit: int = 20
) -> list[ConversationReport]:
    """The latest ``limit`` conversations, newest first, with ratings and tickets.

    Args:
        session: a session on the CRM store.
        since: only conversations started at or after this time.
        limit: how many conversations at most.
    """
    query = (
        select(ConversationOutcome)
        .order_by(
            ConversationOutcome.started_at.desc(),
            ConversationOutcome.conversation_id,
        )
        .limit(limit)
    )
    if since is not None:
        query = query.where(ConversationOutcome.started_at >= since)
    rows = session.scalars(query).all()
    ids = [row.conversation_id for row in rows]
    widget = widget_feedback(session, conversation_ids=ids)
    latest_ticket: dict[str, TicketSummary] = {}
    agent_seconds: dict[str, float] = {}
    for ticket in ticket_summaries(session, conversation_ids=ids):  # oldest first
        latest_ticket[ticket.conversation_id] = ticket
        if ticket.agent_seconds is not None:
            agent_seconds[ticket.conversation_id] = (
                agent_seconds.get(ticket.conversation_id, 0.0) + ticket.agent_seconds
            )
    return [
        ConversationReport(
            conversation_id=row.conversation_id,
            started_at=row.started_at,
            outcome=row.outcome or OPEN,
            n_user_messages=row.n_user_messages,
            n_fallbacks=row.n_fallbacks,
            handle_seconds=row.handle_seconds,
            paused_seconds=row.paused_seconds,
            feedback=widget.get(row.conversation_id, WidgetFeedback()),
            resolution=(
                latest_ticket[row.conversation_id].resolution
                if row.conversation_id in latest_ticket
                else None
            ),
            agent_seconds=agent_seconds.get(row.conversation_id),
        )
        for row in rows
    ]


def duration(seconds: float | None) -> str:
    """``seconds`` for people: "42s", "5m 07s", "2h 03m"; "-" when unknown."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _durations(figures: Durations, noun: str) -> str:
    if not figures.count:
        return f"no {noun}"
    return (
        f"mean {duration(figures.mean)}, median {duration(figures.median)} "
        f"({_n(figures.count, noun)})"
    )


def format_summary(report: FeedbackSummary, *, top: int = 10) -> str:
    """A short plain-text rendering of ``report`` for the terminal."""
    mean_rating = report.mean_rating
    stars = ", ".join(f"{s}★ {n}" for s, n in report.ratings.items())
    lines = [
        f"messages: {report.messages}   conversations: {report.conversations}   "
        f"fallback rate: {report.fallback_rate:.1%}",
        f"handle time: {_durations(report.handle, 'conversation')}",
        f"  bot's part: {_durations(report.bot, 'conversation')}",
        f"  paused for a person: {_durations(report.paused, 'conversation')}",
        "widget: "
        + (
            f"{_n(report.rated, 'conversation')} rated, mean {mean_rating:.2f} of 5 "
            f"({stars})"
            if mean_rating is not None
            else "no conversation rated"
        )
        + f"; thumbs up {report.thumbs_up}, down {report.thumbs_down}",
        "top intents:",
        *(f"  {n:6d}  {name}" for name, n in list(report.by_intent.items())[:top]),
        "what came next after a customer message:",
        *(f"  {n:6d}  {name}" for name, n in list(report.by_next_action.items())[:top]),
        "outcomes:",
        *(f"  {n:6d}  {name}" for name, n in report.by_outcome.items()),
        f"hand-offs: {_n(report.tickets, 'ticket')}",
        f"  agent's handle time: {_durations(report.agent, 'closed ticket')}",
        f"  wait for a first reply: {_durations(report.first_reply, 'ticket')}",
        "  by resolution:" if report.by_resolution else "",
        *(f"  {n:6d}  {name}" for name, n in report.by_resolution.items()),
    ]
    return "\n".join(line for line in lines if line)


def format_conversations(rows: Sequence[ConversationReport]) -> str:
    """One line per conversation: outcome, times, ratings and the ticket."""
    header = (
        f"{'conversation':26} {'outcome':22} {'msgs':>4} {'fb':>3} {'handle':>8} "
        f"{'paused':>8} {'rating':>6} {'up':>3} {'down':>4}  ticket"
    )
    lines = [header]
    for row in rows:
        ticket = "-"
        if row.resolution is not None:
            ticket = f"{row.resolution} (agent {duration(row.agent_seconds)})"
        rating = "-" if row.feedback.rating is None else str(row.feedback.rating)
        lines.append(
            f"{row.conversation_id[:26]:26} {row.outcome:22} "
            f"{row.n_user_messages:4d} {row.n_fallbacks:3d} "
            f"{duration(row.handle_seconds):>8} {duration(row.paused_seconds):>8} "
            f"{rating:>6} {row.feedback.thumbs_up:3d} {row.feedback.thumbs_down:4d}"
            f"  {ticket}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the summary of the configured CRM store (and its latest conversations)."""
    parser = argparse.ArgumentParser(
        prog="python -m crm_models.feedback.reports",
        description=__doc__.split("\n")[0],
    )
    parser.add_argument(
        "--since",
        type=date.fromisoformat,
        help="only what happened from this day (YYYY-MM-DD, UTC) on",
    )
    parser.add_argument(
        "--conversations",
        type=int,
        default=0,
        metavar="N",
        help="also list the latest N conversations",
    )
    parser.add_argument("--database-url", help="the store (default: SHOP_DATABASE_URL)")
    args = parser.parse_args(argv)
    since = (
        datetime.combine(args.since, time(), tzinfo=timezone.utc)
        if args.since is not None
        else None
    )
    from crm_models.store.db import session_scope

    with session_scope(args.database_url) as session:
        out = format_summary(summary(session, since=since))
        if args.conversations > 0:
            rows = conversations(session, since=since, limit=args.conversations)
            out += "\n\n" + format_conversations(rows)
    sys.stdout.write(out + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
