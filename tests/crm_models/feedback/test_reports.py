from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.orm import Session, sessionmaker

from crm_models.feedback.reports import (
    conversations,
    duration,
    format_conversations,
    format_summary,
    main,
    summary,
)
from crm_models.settings import Settings
from crm_models.store.schema import (
    Agent,
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

START = datetime(2024, 3, 1, 10, 0, tzinfo=timezone.utc)


def _conversation(
    cid: str,
    outcome: str | None,
    n_user: int,
    n_fallback: int,
    *,
    paused: float | None = 0.0,
    started: datetime = START,
) -> ConversationOutcome:
    return ConversationOutcome(
        conversation_id=cid,
        started_at=started,
        last_event_at=started + timedelta(minutes=5),
        n_user_messages=n_user,
        n_fallbacks=n_fallback,
        outcomes=[outcome] if outcome else [],
        outcome=outcome,
        handle_seconds=300.0,
        paused_seconds=paused,
    )


def _message(
    key: str, intent: str | None, at: datetime = START, next_action: str | None = None
) -> MessageLog:
    return MessageLog(
        event_key=key,
        conversation_id="a",
        sent_at=at,
        text_masked="x",
        intent=intent,
        confidence=0.9,
        entities=[],
        next_action=next_action,
    )


def _rating(
    cid: str, kind: ChatFeedbackKind, seq: int, rating: int, at: datetime = START
) -> ChatFeedback:
    return ChatFeedback(
        conversation_id=cid,
        kind=kind,
        message_seq=seq,
        rating=rating,
        created_at=at,
        updated_at=at,
    )


def _ticket(session: Session, cid: str, status: TicketStatus, at: datetime) -> Ticket:
    ticket = Ticket(
        conversation_id=cid,
        reason="customer_request",
        priority=2,
        status=status,
        summary="Asked for a person.",
        created_at=at,
        updated_at=at,
    )
    session.add(ticket)
    session.flush()
    return ticket


def _agent_event(
    ticket: Ticket,
    kind: AgentEventKind,
    at: datetime,
    seconds: float | None = None,
    resolution: Resolution | None = None,
) -> AgentEvent:
    return AgentEvent(
        ticket_id=ticket.id,
        agent_id=1,
        kind=kind,
        at=at,
        seconds=seconds,
        resolution=resolution,
    )


def _hand_offs(sessions: sessionmaker[Session]) -> None:
    """Two handed-off conversations: one closed as refund_approved, one waiting."""
    minute = timedelta(minutes=1)
    with sessions() as session, session.begin():
        session.add(
            Agent(
                id=1,
                username="sam",
                display_name="Sam",
                password_hash="x",
                created_at=START,
            )
        )
        session.add_all(
            [
                _conversation("h1", "ticket_opened", 4, 0, paused=240.0),
                _conversation("h2", "ticket_opened", 2, 1, paused=60.0),
            ]
        )
        # h1 was handed off twice: the first ticket was a duplicate.
        first = _ticket(session, "h1", TicketStatus.CLOSED, START)
        second = _ticket(session, "h1", TicketStatus.CLOSED, START + minute)
        waiting = _ticket(session, "h2", TicketStatus.OPEN, START + 2 * minute)
        session.add_all(
            [
                _agent_event(first, AgentEventKind.CLAIMED, START),
                _agent_event(
                    first, AgentEventKind.CLOSED, START, 10.0, Resolution.DUPLICATE
                ),
                _agent_event(second, AgentEventKind.CLAIMED, START + minute),
                _agent_event(second, AgentEventKind.REPLIED, START + minute, 30.0),
                _agent_event(second, AgentEventKind.REPLIED, START + 2 * minute),
                _agent_event(
                    second,
                    AgentEventKind.CLOSED,
                    START + 3 * minute,
                    120.0,
                    Resolution.REFUND_APPROVED,
                ),
            ]
        )
        assert waiting.id is not None


def test_summary_counts_intents_outcomes_and_fallback_rate(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session, session.begin():
        session.add_all(
            [
                _conversation("a", "order_cancelled", 3, 1),
                _conversation("b", "abandoned", 1, 1),
                _conversation("c", None, 4, 0),
                _message("1", "greet"),
                _message("2", "cancel_order"),
                _message("3", "greet"),
                _message("4", None),
            ]
        )

    with sessions() as session:
        report = summary(session)

    assert report.messages == 4
    assert report.conversations == 3
    assert report.by_intent == {"greet": 2, "cancel_order": 1, "none": 1}
    assert report.by_outcome == {"abandoned": 1, "open": 1, "order_cancelled": 1}
    assert report.fallback_rate == pytest.approx(2 / 8)
    assert "fallback rate: 25.0%" in format_summary(report)


def test_summary_since_and_empty_store(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        session.add(_message("old", "greet", START - timedelta(days=9)))

    with sessions() as session:
        report = summary(session, since=START)

    assert (report.messages, report.conversations, report.fallback_rate) == (0, 0, 0.0)


def test_summary_has_times_next_steps_ratings_and_resolutions(
    sessions: sessionmaker[Session],
) -> None:
    _hand_offs(sessions)
    with sessions() as session, session.begin():
        session.add_all(
            [
                _conversation("bot", "resolved_by_bot", 2, 0),
                # Consumed before paused_seconds existed: its split is not known.
                _conversation("old", "resolved_by_bot", 1, 0, paused=None),
                _message("1", "greet", next_action="utter_greet"),
                _message("2", "human_handoff", next_action="action_human_handoff"),
                _message("3", "inform", next_action="agent"),
                _message("4", "thank", next_action="agent"),
                _message("5", "goodbye"),  # not answered yet
                _rating("bot", ChatFeedbackKind.CONVERSATION, 0, 5),
                _rating("bot", ChatFeedbackKind.MESSAGE, 0, 1),
                _rating("bot", ChatFeedbackKind.MESSAGE, 2, 1),
                _rating("h1", ChatFeedbackKind.CONVERSATION, 0, 2),
                _rating("h1", ChatFeedbackKind.MESSAGE, 1, -1),
            ]
        )

    with sessions() as session:
        report = summary(session)

    assert report.by_next_action == {
        "agent": 2,
        "action_human_handoff": 1,
        "unknown": 1,
        "utter_greet": 1,
    }
    assert (report.handle.count, report.handle.mean) == (4, 300.0)
    # Bot's part: 300 - 240, 300 - 60, 300 (the bot-only one); "old" not known.
    assert report.bot.count == 3
    assert report.bot.mean == pytest.approx((60 + 240 + 300) / 3)
    assert (report.paused.count, report.paused.median) == (2, 150.0)
    assert (report.rated, report.ratings, report.mean_rating) == (2, {2: 1, 5: 1}, 3.5)
    assert (report.thumbs_up, report.thumbs_down) == (2, 1)
    assert report.tickets == 3
    assert report.by_resolution == {"duplicate": 1, "open": 1, "refund_approved": 1}
    assert (report.agent.count, report.agent.mean) == (2, 65.0)
    assert (report.first_reply.count, report.first_reply.mean) == (1, 30.0)

    text = format_summary(report)
    assert "handle time: mean 5m 00s, median 5m 00s (4 conversations)" in text
    assert "  bot's part: mean 3m 20s, median 4m 00s (3 conversations)" in text
    assert "2 conversations rated, mean 3.50 of 5 (2★ 1, 5★ 1)" in text
    assert "thumbs up 2, down 1" in text
    assert "       2  agent" in text
    assert "       1  refund_approved" in text
    assert "agent's handle time: mean 1m 05s, median 1m 05s (2 closed tickets)" in text


def test_conversations_show_rating_thumbs_and_the_latest_resolution(
    sessions: sessionmaker[Session],
) -> None:
    _hand_offs(sessions)
    with sessions() as session, session.begin():
        session.add_all(
            [
                _conversation("early", None, 1, 0, started=START - timedelta(days=1)),
                _rating("h1", ChatFeedbackKind.CONVERSATION, 0, 4),
                _rating("h1", ChatFeedbackKind.MESSAGE, 3, -1),
                _rating("h1", ChatFeedbackKind.MESSAGE, 5, -1),
            ]
        )

    with sessions() as session:
        rows = conversations(session, limit=2)
        since = conversations(session, since=START)

    assert [r.conversation_id for r in rows] == ["h1", "h2"]  # newest, then by id
    h1, h2 = rows
    assert (h1.feedback.rating, h1.feedback.thumbs_up, h1.feedback.thumbs_down) == (
        4,
        0,
        2,
    )
    # The second ticket's code; the agent's time of both tickets.
    assert (h1.resolution, h1.agent_seconds) == ("refund_approved", 130.0)
    assert (h2.resolution, h2.agent_seconds, h2.feedback.rating) == ("open", None, None)
    assert [r.conversation_id for r in since] == ["h1", "h2"]
    table = format_conversations(rows)
    assert "refund_approved (agent 2m 10s)" in table
    assert "open (agent -)" in table


def test_report_command_prints_summary_and_conversations(
    sessions: sessionmaker[Session],
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _hand_offs(sessions)
    code = main(
        [
            "--since",
            "2024-03-01",
            "--conversations",
            "5",
            "--database-url",
            settings.database_url,
        ]
    )

    out = capsys.readouterr().out
    assert code == 0
    assert "hand-offs: 3 tickets" in out
    assert out.count("ticket_opened") == 3  # the outcome line and two conversations


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),  # not known
        (0.4, "0s"),
        (59.6, "1m 00s"),  # rounded first
        (307, "5m 07s"),
        (7380, "2h 03m"),
    ],
)
def test_duration(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text
