from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_models.errors import DataError, InvalidStateError, NotAllowedError
from crm_models.handoff import tickets
from crm_models.handoff.tickets import TicketClaimed, TicketNotFound
from crm_models.store import repositories as repo
from crm_models.store.schema import (
    Agent,
    AgentEvent,
    AgentEventKind,
    Resolution,
    Ticket,
    TicketStatus,
)

NOW = datetime(2025, 6, 13, 12, 0, tzinfo=timezone.utc)


def agent(session: Session, username: str) -> Agent:
    row = Agent(
        username=username,
        display_name=username.title(),
        password_hash="scrypt$unused",
        active=True,
        created_at=NOW,
    )
    session.add(row)
    session.flush()
    return row


def ticket(
    session: Session, conversation: str, *, priority: int = 3, minutes_ago: int = 0
) -> Ticket:
    return repo.open_ticket(
        session=session,
        conversation_id=conversation,
        customer_id=None,
        reason="customer_request",
        priority=priority,
        summary=f"Asked for a person.\nmore about {conversation}",
        now=NOW - timedelta(minutes=minutes_ago),
    )


def events(session: Session, ticket_id: int) -> list[AgentEventKind]:
    return list(
        session.scalars(
            select(AgentEvent.kind)
            .where(AgentEvent.ticket_id == ticket_id)
            .order_by(AgentEvent.id)
        )
    )


def test_queue_puts_urgent_then_long_waiting_first(session: Session) -> None:
    normal_new = ticket(session, "a", priority=3, minutes_ago=1)
    normal_old = ticket(session, "b", priority=3, minutes_ago=5)
    high = ticket(session, "c", priority=2, minutes_ago=0)
    # a low ticket that has waited 25 minutes has climbed to high
    low_waiting = ticket(session, "d", priority=4, minutes_ago=25)
    closed = ticket(session, "e", priority=1)
    closed.status = TicketStatus.CLOSED

    queue = tickets.queue(session=session, now=NOW)

    assert [e.ticket_id for e in queue] == [
        low_waiting.id,
        high.id,
        normal_old.id,
        normal_new.id,
    ]
    assert queue[0].queue_priority == 2
    assert queue[0].waiting_seconds == 25 * 60
    assert queue[0].summary == "Asked for a person."  # the first line only


def test_claim_is_exclusive(session: Session) -> None:
    sam, kim = agent(session, "sam"), agent(session, "kim")
    t = ticket(session, "a")

    claimed, new = tickets.claim_ticket(
        session=session, ticket_id=t.id, agent=sam, now=NOW
    )
    again, again_new = tickets.claim_ticket(
        session=session, ticket_id=t.id, agent=sam, now=NOW
    )
    with pytest.raises(TicketClaimed) as refused:
        tickets.claim_ticket(session=session, ticket_id=t.id, agent=kim, now=NOW)

    assert (claimed.status, claimed.assigned_to, new) == (
        TicketStatus.CLAIMED,
        "sam",
        True,
    )
    assert (again.id, again_new) == (t.id, False)
    assert refused.value.claimed_by == "sam"
    assert events(session, t.id) == [AgentEventKind.CLAIMED]


def test_only_the_claimer_may_reply_release_or_close(session: Session) -> None:
    sam, kim = agent(session, "sam"), agent(session, "kim")
    t = ticket(session, "a")

    with pytest.raises(NotAllowedError, match="claim"):
        tickets.check_can_reply(session=session, ticket_id=t.id, agent=sam)
    tickets.claim_ticket(session=session, ticket_id=t.id, agent=sam, now=NOW)
    for act in (
        lambda: tickets.check_can_reply(session=session, ticket_id=t.id, agent=kim),
        lambda: tickets.release_ticket(
            session=session, ticket_id=t.id, agent=kim, now=NOW
        ),
        lambda: tickets.close_ticket(
            session=session,
            ticket_id=t.id,
            agent=kim,
            resolution=Resolution.RESOLVED,
            now=NOW,
        ),
    ):
        with pytest.raises(TicketClaimed):
            act()


def test_release_puts_it_back_for_someone_else(session: Session) -> None:
    sam, kim = agent(session, "sam"), agent(session, "kim")
    t = ticket(session, "a")
    tickets.claim_ticket(session=session, ticket_id=t.id, agent=sam, now=NOW)

    released = tickets.release_ticket(
        session=session, ticket_id=t.id, agent=sam, now=NOW
    )
    after_release = (released.status, released.assigned_to)
    _, new = tickets.claim_ticket(session=session, ticket_id=t.id, agent=kim, now=NOW)

    assert after_release == (TicketStatus.OPEN, None)
    assert new
    assert events(session, t.id) == [
        AgentEventKind.CLAIMED,
        AgentEventKind.RELEASED,
        AgentEventKind.CLAIMED,
    ]


def test_replies_and_close_log_the_timings(session: Session) -> None:
    sam = agent(session, "sam")
    t = ticket(session, "a", minutes_ago=4)
    tickets.claim_ticket(
        session=session, ticket_id=t.id, agent=sam, now=NOW + timedelta(minutes=1)
    )

    first = tickets.record_reply(
        session=session, ticket_id=t.id, agent=sam, now=NOW + timedelta(minutes=2)
    )
    second = tickets.record_reply(
        session=session, ticket_id=t.id, agent=sam, now=NOW + timedelta(minutes=3)
    )
    closed = tickets.close_ticket(
        session=session,
        ticket_id=t.id,
        agent=sam,
        resolution=Resolution.INFORMATION_GIVEN,
        now=NOW + timedelta(minutes=11),
    )

    assert first.seconds == 6 * 60  # from the ticket's opening to the first reply
    assert second.seconds is None
    assert closed.seconds == 10 * 60  # from the claim to the close
    assert tickets.get_ticket(session=session, ticket_id=t.id).status is (
        TicketStatus.CLOSED
    )
    timings = tickets.ticket_timings(session=session, ticket_id=t.id)
    assert (
        timings.first_reply_seconds,
        timings.handle_seconds,
        timings.resolution,
    ) == (
        360.0,
        600.0,
        "information_given",
    )
    with pytest.raises(InvalidStateError, match="closed"):
        tickets.claim_ticket(session=session, ticket_id=t.id, agent=sam, now=NOW)
    with pytest.raises(InvalidStateError, match="closed"):
        tickets.record_reply(session=session, ticket_id=t.id, agent=sam, now=NOW)


def test_notes_are_kept_in_order_and_checked(session: Session) -> None:
    sam, kim = agent(session, "sam"), agent(session, "kim")
    t = ticket(session, "a")

    tickets.add_note(
        session=session, ticket_id=t.id, agent=sam, text=" first ", now=NOW
    )
    tickets.add_note(
        session=session,
        ticket_id=t.id,
        agent=kim,
        text="second",
        now=NOW + timedelta(seconds=1),
    )

    notes = tickets.list_notes(session=session, ticket_id=t.id)
    assert [(n.agent.username, n.text) for n in notes] == [
        ("sam", "first"),
        ("kim", "second"),
    ]
    with pytest.raises(DataError):
        tickets.add_note(session=session, ticket_id=t.id, agent=sam, text="  ", now=NOW)
    with pytest.raises(TicketNotFound):
        tickets.add_note(session=session, ticket_id=999, agent=sam, text="x", now=NOW)


def test_live_ticket_of_a_conversation(session: Session) -> None:
    t = ticket(session, "a")

    assert tickets.live_ticket(session=session, conversation_id="a").id == t.id
    assert tickets.live_ticket(session=session, conversation_id="b") is None
