"""The console's work on tickets: the queue, claims, replies, notes and closing.

Every change is also an ``AgentEvent`` row, which the learning loop reads: time to
first reply, handle time and the resolution code. A claim is one conditional UPDATE,
so two agents claiming the same ticket at once cannot both win.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crm_models.errors import (
    DataError,
    InvalidStateError,
    NotAllowedError,
    NotFoundError,
)
from crm_models.handoff.priority import queue_priority
from crm_models.store.schema import (
    Agent,
    AgentEvent,
    AgentEventKind,
    Customer,
    Resolution,
    Ticket,
    TicketNote,
    TicketStatus,
)

logger = logging.getLogger(__name__)

MAX_NOTE = 4000
_LIVE = (TicketStatus.OPEN, TicketStatus.CLAIMED)


class TicketClaimed(InvalidStateError):
    """Another agent has the ticket."""

    def __init__(self, ticket_id: int, claimed_by: str) -> None:
        super().__init__(f"ticket {ticket_id} is claimed by {claimed_by}")
        self.claimed_by = claimed_by


class TicketNotFound(NotFoundError):
    """No ticket with that id."""


@dataclass(frozen=True)
class QueueEntry:
    """One line of the agents' queue."""

    ticket_id: int
    conversation_id: str
    reason: str
    priority: int
    queue_priority: int
    status: str
    assigned_to: str | None
    waiting_seconds: int
    customer_id: int | None
    customer_name: str | None
    summary: str


@dataclass(frozen=True)
class TicketTimings:
    """What the learning loop wants to know about a handled ticket."""

    first_reply_seconds: float | None
    handle_seconds: float | None
    resolution: str | None


def get_ticket(*, session: Session, ticket_id: int) -> Ticket:
    """The ticket with ``ticket_id``.

    Raises:
        TicketNotFound: there is none.
    """
    ticket = session.get(Ticket, ticket_id, populate_existing=True)
    if ticket is None:
        raise TicketNotFound(f"no ticket {ticket_id}")
    return ticket


def live_ticket(*, session: Session, conversation_id: str) -> Ticket | None:
    """The conversation's open or claimed ticket, if any."""
    return session.scalars(
        select(Ticket)
        .where(Ticket.conversation_id == conversation_id, Ticket.status.in_(_LIVE))
        .order_by(Ticket.id)
        .limit(1)
    ).first()


def queue(*, session: Session, now: datetime, limit: int = 200) -> list[QueueEntry]:
    """Open and claimed tickets, most urgent first, then the longest waiting.

    Urgency is :func:`~crm_models.handoff.priority.queue_priority`: the ticket's
    priority raised by its waiting time.
    """
    rows = session.execute(
        select(Ticket, Customer.name)
        .outerjoin(Customer, Customer.id == Ticket.customer_id)
        .where(Ticket.status.in_(_LIVE))
        .order_by(Ticket.created_at)
        .limit(limit)
    ).all()
    entries = []
    for ticket, customer_name in rows:
        waiting = max(timedelta(0), now - ticket.created_at)
        entries.append(
            QueueEntry(
                ticket_id=ticket.id,
                conversation_id=ticket.conversation_id,
                reason=ticket.reason,
                priority=ticket.priority,
                queue_priority=queue_priority(ticket.priority, waiting),
                status=ticket.status.value,
                assigned_to=ticket.assigned_to,
                waiting_seconds=int(waiting.total_seconds()),
                customer_id=ticket.customer_id,
                customer_name=customer_name,
                summary=ticket.summary.split("\n", 1)[0],
            )
        )
    entries.sort(key=lambda e: (e.queue_priority, -e.waiting_seconds, e.ticket_id))
    return entries


def _event(
    session: Session,
    ticket: Ticket,
    agent: Agent,
    kind: AgentEventKind,
    now: datetime,
    *,
    seconds: float | None = None,
    resolution: Resolution | None = None,
) -> AgentEvent:
    event = AgentEvent(
        ticket_id=ticket.id,
        agent_id=agent.id,
        kind=kind,
        at=now,
        seconds=seconds,
        resolution=resolution,
    )
    session.add(event)
    session.flush()
    logger.info("tickets.%s ticket=%s agent=%s", kind.value, ticket.id, agent.id)
    return event


def _first_event(
    session: Session, ticket_id: int, kind: AgentEventKind
) -> AgentEvent | None:
    return session.scalars(
        select(AgentEvent)
        .where(AgentEvent.ticket_id == ticket_id, AgentEvent.kind == kind)
        .order_by(AgentEvent.at, AgentEvent.id)
        .limit(1)
    ).first()


def _require_mine(ticket: Ticket, agent: Agent) -> None:
    if ticket.status is TicketStatus.CLOSED:
        raise InvalidStateError(f"ticket {ticket.id} is closed")
    if ticket.status is not TicketStatus.CLAIMED or ticket.assigned_to is None:
        raise NotAllowedError(f"claim ticket {ticket.id} first")
    if ticket.assigned_to != agent.username:
        raise TicketClaimed(ticket.id, ticket.assigned_to)


def claim_ticket(
    *, session: Session, ticket_id: int, agent: Agent, now: datetime
) -> tuple[Ticket, bool]:
    """Give an open ticket to ``agent``.

    Returns:
        The ticket, and whether this call claimed it (``False``: the agent had it).

    Raises:
        TicketNotFound: no such ticket.
        TicketClaimed: another agent has it.
        InvalidStateError: it is closed.
    """
    claimed = session.execute(
        update(Ticket)
        .where(Ticket.id == ticket_id, Ticket.status == TicketStatus.OPEN)
        .values(status=TicketStatus.CLAIMED, assigned_to=agent.username, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    ticket = get_ticket(session=session, ticket_id=ticket_id)
    if claimed:
        _event(session, ticket, agent, AgentEventKind.CLAIMED, now)
        return ticket, True
    if ticket.status is TicketStatus.CLOSED:
        raise InvalidStateError(f"ticket {ticket_id} is closed")
    if ticket.assigned_to != agent.username:
        raise TicketClaimed(ticket_id, ticket.assigned_to or "someone")
    return ticket, False


def release_ticket(
    *, session: Session, ticket_id: int, agent: Agent, now: datetime
) -> Ticket:
    """Put ``agent``'s ticket back in the queue for someone else.

    Raises:
        TicketNotFound, TicketClaimed, NotAllowedError, InvalidStateError: the
            ticket is missing, someone else's, not claimed, or closed.
    """
    ticket = get_ticket(session=session, ticket_id=ticket_id)
    _require_mine(ticket, agent)
    ticket.status = TicketStatus.OPEN
    ticket.assigned_to = None
    ticket.updated_at = now
    _event(session, ticket, agent, AgentEventKind.RELEASED, now)
    return ticket


def check_can_reply(*, session: Session, ticket_id: int, agent: Agent) -> Ticket:
    """The ticket, if ``agent`` may write to its customer now.

    Raises:
        TicketNotFound, TicketClaimed, NotAllowedError, InvalidStateError: as
            :func:`release_ticket`.
    """
    ticket = get_ticket(session=session, ticket_id=ticket_id)
    _require_mine(ticket, agent)
    return ticket


def record_reply(
    *, session: Session, ticket_id: int, agent: Agent, now: datetime
) -> AgentEvent:
    """Log that ``agent`` answered the customer; the first answer carries the wait.

    Raises:
        as :func:`check_can_reply`.
    """
    ticket = check_can_reply(session=session, ticket_id=ticket_id, agent=agent)
    first = _first_event(session, ticket.id, AgentEventKind.REPLIED) is None
    seconds = (now - ticket.created_at).total_seconds() if first else None
    ticket.updated_at = now
    return _event(session, ticket, agent, AgentEventKind.REPLIED, now, seconds=seconds)


def add_note(
    *, session: Session, ticket_id: int, agent: Agent, text: str, now: datetime
) -> TicketNote:
    """A private note on the ticket (any agent may add one).

    Raises:
        TicketNotFound: no such ticket.
        DataError: the note is empty or too long.
    """
    text = text.strip()
    if not text or len(text) > MAX_NOTE:
        raise DataError(f"a note is 1 to {MAX_NOTE} characters")
    ticket = get_ticket(session=session, ticket_id=ticket_id)
    note = TicketNote(ticket_id=ticket.id, agent_id=agent.id, text=text, created_at=now)
    session.add(note)
    _event(session, ticket, agent, AgentEventKind.NOTED, now)
    return note


def list_notes(*, session: Session, ticket_id: int) -> list[TicketNote]:
    """The ticket's notes, oldest first, with their agents."""
    return list(
        session.scalars(
            select(TicketNote)
            .where(TicketNote.ticket_id == ticket_id)
            .order_by(TicketNote.created_at, TicketNote.id)
        )
    )


def close_ticket(
    *,
    session: Session,
    ticket_id: int,
    agent: Agent,
    resolution: Resolution,
    now: datetime,
) -> AgentEvent:
    """Close ``agent``'s ticket with a resolution code; logs the handle time.

    Raises:
        as :func:`release_ticket`.
    """
    ticket = get_ticket(session=session, ticket_id=ticket_id)
    _require_mine(ticket, agent)
    claimed = _first_event(session, ticket.id, AgentEventKind.CLAIMED)
    started = claimed.at if claimed is not None else ticket.created_at
    ticket.status = TicketStatus.CLOSED
    ticket.updated_at = now
    return _event(
        session,
        ticket,
        agent,
        AgentEventKind.CLOSED,
        now,
        seconds=(now - started).total_seconds(),
        resolution=resolution,
    )


def ticket_timings(*, session: Session, ticket_id: int) -> TicketTimings:
    """Time to first reply, handle time and resolution of a ticket (if known)."""
    reply = _first_event(session, ticket_id, AgentEventKind.REPLIED)
    closed = session.scalars(
        select(AgentEvent)
        .where(
            AgentEvent.ticket_id == ticket_id,
            AgentEvent.kind == AgentEventKind.CLOSED,
        )
        .order_by(AgentEvent.at.desc(), AgentEvent.id.desc())
        .limit(1)
    ).first()
    return TicketTimings(
        first_reply_seconds=reply.seconds if reply is not None else None,
        handle_seconds=closed.seconds if closed is not None else None,
        resolution=closed.resolution.value
        if closed is not None and closed.resolution
        else None,
    )
