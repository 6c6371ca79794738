"""Tables of the CRM store (SQLAlchemy 2 declarative, typed).

Money is integer pence. Timestamps are timezone-aware UTC: ``UTCDateTime`` stores them
naive-in-UTC on SQLite (which has no zone) and hands back aware datetimes everywhere.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime column that always returns UTC-aware values."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def utc_now() -> datetime:
    """The real time, timezone-aware (a column default; never ``SHOP_TODAY``)."""
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base of every CRM table."""


def _enum(cls: type[enum.Enum]) -> Enum:
    # Store the value ("shipped"), not the member name; no native DB enum type, so
    # adding a member needs no migration on PostgreSQL.
    return Enum(
        cls,
        native_enum=False,
        length=24,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class OrderStatus(enum.StrEnum):
    PROCESSING = "processing"  # paid, not yet handed to the carrier: cancellable
    SHIPPED = "shipped"  # with the carrier
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class PaymentStatus(enum.StrEnum):
    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"


class ShipmentStatus(enum.StrEnum):
    PENDING = "pending"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class RefundStatus(enum.StrEnum):
    REQUESTED = "requested"  # waiting for an agent's review
    APPROVED = "approved"  # will be paid
    PAID = "paid"
    REJECTED = "rejected"


class TicketStatus(enum.StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    CLOSED = "closed"


class Outcome(enum.StrEnum):
    RESOLVED_BY_BOT = "resolved_by_bot"
    TICKET_OPENED = "ticket_opened"
    ORDER_CANCELLED = "order_cancelled"
    REFUND_CREATED = "refund_created"
    RECOMMENDATION_SHOWN = "recommendation_shown"
    # The customer clicked "More like this" on a suggested product (the consumer's).
    RECOMMENDATION_CLICKED = "recommendation_clicked"
    ABANDONED = "abandoned"
    OUT_OF_SCOPE = "out_of_scope"


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # the source's id
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    country: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    newsletter: Mapped[bool] = mapped_column(Boolean, default=False)

    orders: Mapped[list[Order]] = relationship(back_populates="customer")


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    stock_code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    unit_price_pence: Mapped[int] = mapped_column(Integer)
    # False for postage, fees, manual adjustments and other non-merchandise codes.
    is_merchandise: Mapped[bool] = mapped_column(Boolean, default=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_customer_placed", "customer_id", "placed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_number: Mapped[str] = mapped_column(String(16), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[OrderStatus] = mapped_column(_enum(OrderStatus))
    payment_status: Mapped[PaymentStatus] = mapped_column(_enum(PaymentStatus))
    total_pence: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="GBP")
    shipping_country: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )

    customer: Mapped[Customer] = relationship(back_populates="orders")
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.id"
    )
    shipment: Mapped[Shipment | None] = relationship(back_populates="order")
    refunds: Mapped[list[Refund]] = relationship(back_populates="order")


class OrderLine(Base):
    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_pence: Mapped[int] = mapped_column(Integer)

    order: Mapped[Order] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship()


class Shipment(Base):
    __tablename__ = "shipments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    carrier: Mapped[str] = mapped_column(String(40))
    tracking_code: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[ShipmentStatus] = mapped_column(_enum(ShipmentStatus))
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expected_delivery: Mapped[date] = mapped_column(Date)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    order: Mapped[Order] = relationship(back_populates="shipment")


# Refund.source of the money given back for a cancelled order: not a return, and
# not to be counted as one (the cancellation is counted already).
CANCELLATION_SOURCE = "cancellation"


class Refund(Base):
    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    amount_pence: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[RefundStatus] = mapped_column(_enum(RefundStatus))
    reason: Mapped[str] = mapped_column(String(200))
    # "return" for the source data's credit notes, "chat" for the assistant's,
    # CANCELLATION_SOURCE for the money back when an order is cancelled.
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set on every change through SQLAlchemy (e.g. requested -> approved), by the
    # writer's real clock, so the scoring cache can find the customer; NULL for a
    # refund never changed.
    updated_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, nullable=True, onupdate=utc_now
    )

    order: Mapped[Order | None] = relationship(back_populates="refunds")


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(String(128), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    reason: Mapped[str] = mapped_column(String(40))
    priority: Mapped[int] = mapped_column(Integer)  # 1 (urgent) .. 4 (low)
    status: Mapped[TicketStatus] = mapped_column(_enum(TicketStatus))
    summary: Mapped[str] = mapped_column(Text)
    assigned_to: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AgentEventKind(enum.StrEnum):
    """What an agent did with a ticket (the hand-off feedback of the learning loop)."""

    CLAIMED = "claimed"
    RELEASED = "released"
    REPLIED = "replied"
    NOTED = "noted"
    CLOSED = "closed"


class Resolution(enum.StrEnum):
    """How an agent closed a ticket."""

    RESOLVED = "resolved"
    INFORMATION_GIVEN = "information_given"
    ORDER_CHANGED = "order_changed"
    REFUND_APPROVED = "refund_approved"
    REFUND_REJECTED = "refund_rejected"
    CUSTOMER_LEFT = "customer_left"
    DUPLICATE = "duplicate"
    ESCALATED = "escalated"


class ChatFeedbackKind(enum.StrEnum):
    MESSAGE = "message"  # thumbs up (+1) or down (-1) on one bot message
    CONVERSATION = "conversation"  # the end rating, 1 to 5


class Agent(Base):
    """A support agent who may log in to the console."""

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(40), unique=True)
    display_name: Mapped[str] = mapped_column(String(80))
    # "scrypt$n$r$p$<salt b64>$<hash b64>"; never the password itself.
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Raised on logout: console sessions signed with an older value are over.
    session_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # May label the trainer inbox. NULL on agents made before the column: no.
    trainer: Mapped[bool | None] = mapped_column(Boolean, nullable=True, default=False)


class TicketNote(Base):
    """A private note on a ticket: agents see it, the customer never does."""

    __tablename__ = "ticket_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    agent: Mapped[Agent] = relationship()


class AgentEvent(Base):
    """One thing an agent did with a ticket, with the timing it ends.

    ``seconds`` is the customer's wait for a first reply on the first REPLIED event,
    and the handle time (first claim to close) on CLOSED.
    """

    __tablename__ = "agent_events"
    __table_args__ = (Index("ix_agent_events_ticket_kind", "ticket_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"), index=True)
    kind: Mapped[AgentEventKind] = mapped_column(_enum(AgentEventKind))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    seconds: Mapped[float | None] = mapped_column(Float)
    resolution: Mapped[Resolution | None] = mapped_column(_enum(Resolution))


class ChatFeedback(Base):
    """A customer's rating in the widget: one bot message, or the whole chat."""

    __tablename__ = "chat_feedback"
    __table_args__ = (
        UniqueConstraint("conversation_id", "kind", "message_seq", name="uq_feedback"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(String(128), index=True)
    kind: Mapped[ChatFeedbackKind] = mapped_column(_enum(ChatFeedbackKind))
    # Which bot message (its place among everything the bot sent); 0 for the chat.
    message_seq: Mapped[int] = mapped_column(Integer, default=0)
    # The response or payload rated, e.g. "utter_handoff" or "products".
    response: Mapped[str | None] = mapped_column(String(64))
    rating: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MessageLog(Base):
    """One customer message as feedback: masked text and what NLU made of it."""

    __tablename__ = "message_log"
    __table_args__ = (UniqueConstraint("event_key", name="uq_message_event"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_key: Mapped[str] = mapped_column(String(64))  # idempotency key of the event
    conversation_id: Mapped[str] = mapped_column(String(128), index=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    text_masked: Mapped[str] = mapped_column(Text)
    intent: Mapped[str | None] = mapped_column(String(64))
    confidence: Mapped[float | None] = mapped_column(Float)
    runner_up: Mapped[str | None] = mapped_column(String(64))
    runner_up_confidence: Mapped[float | None] = mapped_column(Float)
    entities: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # What happened next: the assistant's first action after the message (e.g.
    # "action_cancel_order", "utter_ask_order_number", "action_listen" for nothing),
    # or "agent" (a person answered) / "paused" (a person had the conversation and
    # did not answer) / "none" (the next message came first). NULL until known.
    next_action: Mapped[str | None] = mapped_column(String(64))


class ConversationOutcome(Base):
    """Per conversation: how it ended, as far as the event log tells."""

    __tablename__ = "conversation_outcomes"

    conversation_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_event_at: Mapped[datetime] = mapped_column(UTCDateTime)
    n_user_messages: Mapped[int] = mapped_column(Integer, default=0)
    n_fallbacks: Mapped[int] = mapped_column(Integer, default=0)
    # All outcomes seen, e.g. ["recommendation_shown", "order_cancelled"]; the
    # headline ``outcome`` is the most significant of them.
    outcomes: Mapped[list[str]] = mapped_column(JSON, default=list)
    outcome: Mapped[str | None] = mapped_column(String(32))
    # Handle time: first to last event. Of it, the time the bot was paused for a
    # person (hand-off or take-over to hand-back). NULL on rows from before these
    # columns existed, until their next event.
    handle_seconds: Mapped[float | None] = mapped_column(Float)
    paused_seconds: Mapped[float | None] = mapped_column(Float)
    # Since when the bot is paused; NULL while it is on.
    paused_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the consumer last wrote the row (its real clock, not the event's): how
    # the scoring cache finds customers with new conversations even after a
    # backlog. NULL on rows from before the column existed.
    updated_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, nullable=True, default=utc_now, onupdate=utc_now
    )


class ConsumerOffset(Base):
    """Where the feedback consumer stopped reading an event source."""

    __tablename__ = "consumer_offsets"

    source: Mapped[str] = mapped_column(String(200), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)


class ConsumedEvent(Base):
    """An event the feedback consumer has applied, by its idempotency key.

    For event sources that may deliver an event again and number nothing (RabbitMQ):
    the key is a hash of the conversation and the event's JSON, written in the same
    transaction as the event's effect, so a second delivery changes nothing.
    """

    __tablename__ = "consumed_events"

    event_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    consumed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ParkedEvent(Base):
    """An event the feedback consumer could not apply, kept instead of retried.

    When applying a batch fails with an error that is not a lost connection or a
    busy database, the consumer applies its events one at a time; the one that
    still fails lands here, with its raw JSON and the error, and the queue moves
    on. Nothing is dropped: an operator reads the error, fixes the cause and
    re-sends the event (``--parked`` lists them).
    """

    __tablename__ = "parked_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(200))
    # The SQL event log's row id, or the broker's delivery tag (not unique).
    position: Mapped[int] = mapped_column(BigInteger)
    sender_id: Mapped[str] = mapped_column(String(255))
    data: Mapped[str] = mapped_column(Text)  # the event as received (may hold PII)
    error: Mapped[str] = mapped_column(String(500))  # exception class and message
    parked_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class SeedInfo(Base):
    """What the seed loaded: one row per seed run, so a rerun can do nothing."""

    __tablename__ = "seed_info"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # sha256 of both input files and every option that shapes the rows.
    checksum: Mapped[str] = mapped_column(String(64))
    today: Mapped[date] = mapped_column(Date)
    shift_days: Mapped[int] = mapped_column(Integer)
    n_customers: Mapped[int] = mapped_column(Integer)
    random_seed: Mapped[int] = mapped_column(Integer)
    row_counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    seeded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CustomerSegment(Base):
    """A customer's marketing segment (k-means on RFM), written by scoring training."""

    __tablename__ = "customer_segments"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id"), primary_key=True
    )
    segment: Mapped[str] = mapped_column(String(32), index=True)
    model_version: Mapped[str] = mapped_column(String(32))  # the scoring version
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class InboxDecisionKind(enum.StrEnum):
    """What a trainer decided about messages of the trainer inbox."""

    CONFIRMED = "confirmed"  # the predicted intent was right
    CORRECTED = "corrected"  # another intent of the domain
    OUT_OF_SCOPE = "out_of_scope"  # not for the shop assistant (intent out_of_scope)
    SKIPPED = "skipped"  # not worth a training example


class InboxDecision(Base):
    """One trainer decision on customer messages (``crm_models.training.inbox``).

    ``text`` holds the training examples as written to ``data/nlu/inbox.yml``, one per
    line, with entities as Rasa inline markup; never a masked placeholder.
    ``source_keys`` are the normalised masked texts of the decided messages, so that
    the same text coming in again is known as decided.
    """

    __tablename__ = "inbox_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    trainer: Mapped[str] = mapped_column(String(80))
    kind: Mapped[InboxDecisionKind] = mapped_column(_enum(InboxDecisionKind))
    intent: Mapped[str | None] = mapped_column(String(64))  # None when skipped
    text: Mapped[str | None] = mapped_column(Text)  # None when skipped
    message_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    source_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Written although the text is an example of another intent.
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the examples went into the inbox's NLU file; None while pending.
    written_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When a trainer took the decision back (``inbox undo``); kept for the record.
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The examples this decision itself put into the file, one per line (not
    # those that were there already): what an undo takes out. NULL on decisions
    # written before the column existed (an undo then takes all of ``text``).
    added_text: Mapped[str | None] = mapped_column(Text, nullable=True)
