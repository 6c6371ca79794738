"""The feedback consumer: Rasa's event log → message log and conversation outcomes.

    python -m crm_models.feedback.consumer [--once | --follow] [--batch-size N]

Each batch is one transaction on the CRM store: the feedback rows it writes and the new
offset of the source commit together, so a crash loses or doubles nothing; the next run
starts again after the last committed batch. Re-reading events that were already
applied changes nothing either: every conversation has its own cursor (a
``ConsumerOffset`` row named after the source and conversation) and every message its
idempotency key. After catching up, a pass marks idle conversations abandoned.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm_models.feedback.event_log import EventLog, RawEvent
from crm_models.feedback.masking import mask, mask_entities
from crm_models.feedback.outcomes import (
    FALLBACK_ACTIONS,
    FALLBACK_INTENTS,
    OUTCOME_SLOT,
    add_outcome,
    mark_abandoned,
    new_conversation,
    touch,
)
from crm_models.identity import verified_customer_id
from crm_models.settings import Settings, get_settings
from crm_models.store.db import session_factory
from crm_models.store.schema import (
    ConsumerOffset,
    ConversationOutcome,
    Customer,
    MessageLog,
)

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500
_MAX_CONVERSATION_ID = 128  # ConversationOutcome.conversation_id
_MAX_NAME = 64  # MessageLog.intent / runner_up


def event_key(sender_id: str, event_id: int) -> str:
    """The idempotency key of one event: a hash of its conversation and row id."""
    return hashlib.sha256(f"{sender_id}\x1f{event_id}".encode()).hexdigest()


def conversation_id(sender_id: str) -> str:
    """The store's id for a Rasa sender id (hashed only if it is too long)."""
    if len(sender_id) <= _MAX_CONVERSATION_ID:
        return sender_id
    return "sha256:" + hashlib.sha256(sender_id.encode()).hexdigest()


def conversation_cursor(source: str, sender_id: str) -> str:
    """The ``ConsumerOffset.source`` of one conversation's cursor within a source."""
    digest = hashlib.sha256(f"{source}\x1f{sender_id}".encode()).hexdigest()
    return f"conversation:{digest}"


def _event_time(event: Mapping[str, Any]) -> datetime | None:
    raw = event.get("timestamp")
    if isinstance(raw, int | float):
        return datetime.fromtimestamp(raw, tz=timezone.utc)
    return None


def _short(name: Any) -> str | None:
    return name[:_MAX_NAME] if isinstance(name, str) and name else None


@dataclass
class PassStats:
    """What one consumer pass (or batch) did."""

    rows: int = 0  # event rows read
    events: int = 0  # applied
    messages: int = 0
    skipped: int = 0  # already applied before
    invalid: int = 0  # unreadable rows, passed over
    abandoned: int = 0
    position: int = 0
    conversations: set[str] = field(default_factory=set)

    def add(self, other: PassStats) -> None:
        """Fold a batch's figures into this pass."""
        self.rows += other.rows
        self.events += other.events
        self.messages += other.messages
        self.skipped += other.skipped
        self.invalid += other.invalid
        self.position = max(self.position, other.position)
        self.conversations |= other.conversations


class BatchWriter:
    """Applies the events of one batch to the store, inside the caller's transaction.

    Args:
        session: the open session of the batch; the caller commits.
        source: the event source's key, for the conversation cursors.
        identity_secret: verifies the customer identity in message metadata.
        clock: the current time, for an event without a timestamp.
    """

    def __init__(
        self,
        session: Session,
        *,
        source: str,
        identity_secret: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.session = session
        self.source = source
        self.identity_secret = identity_secret
        self.clock = clock
        self.stats = PassStats()
        self._conversations: dict[str, ConversationOutcome] = {}
        self._cursors: dict[str, ConsumerOffset] = {}
        self._message_keys: set[str] = set()
        self._customers: dict[int, bool] = {}
        # Whether the latest customer message of a conversation already counted as a
        # fallback, so that nlu_fallback followed by action_default_fallback is one.
        self._turn_fell_back: dict[str, bool] = {}

    def preload(self, rows: Sequence[RawEvent]) -> None:
        """Load the conversations, cursors and message keys the batch touches."""
        senders = {row.sender_id for row in rows if row.sender_id}
        ids = {conversation_id(s) for s in senders}
        cursor_keys = {conversation_cursor(self.source, s) for s in senders}
        keys = [event_key(row.sender_id, row.id) for row in rows]
        self._conversations = {
            c.conversation_id: c
            for c in self.session.scalars(
                select(ConversationOutcome).where(
                    ConversationOutcome.conversation_id.in_(ids)
                )
            )
        }
        self._cursors = {
            c.source: c
            for c in self.session.scalars(
                select(ConsumerOffset).where(ConsumerOffset.source.in_(cursor_keys))
            )
        }
        self._message_keys = set(
            self.session.scalars(
                select(MessageLog.event_key).where(MessageLog.event_key.in_(keys))
            )
        )

    def apply(self, row: RawEvent) -> None:
        """Apply one event row, unless this conversation's cursor is already past it."""
        try:
            event = json.loads(row.data)
        except ValueError:
            event = None
        if not row.sender_id or not isinstance(event, dict):
            logger.warning("feedback.consumer.invalid_row id=%d", row.id)
            self.stats.invalid += 1
            return

        cursor_key = conversation_cursor(self.source, row.sender_id)
        cursor = self._cursors.get(cursor_key)
        if cursor is not None and cursor.position >= row.id:
            self.stats.skipped += 1
            return

        conv_id = conversation_id(row.sender_id)
        conversation = self._conversation(conv_id, _event_time(event))
        at = _event_time(event) or conversation.last_event_at
        touch(conversation, at)

        kind = event.get("event")
        if kind == "user":
            self._user_message(conversation, row, event, at)
        elif kind == "action" and event.get("name") in FALLBACK_ACTIONS:
            if not self._fell_back(conv_id):
                conversation.n_fallbacks += 1
                self._turn_fell_back[conv_id] = True
        elif kind == "slot" and event.get("name") == OUTCOME_SLOT:
            value = event.get("value")
            if value is not None and not add_outcome(conversation, str(value)):
                logger.warning("feedback.consumer.unknown_outcome value=%s", value)

        if cursor is None:
            cursor = ConsumerOffset(source=cursor_key, position=row.id)
            self.session.add(cursor)
            self._cursors[cursor_key] = cursor
        cursor.position = row.id
        self.stats.events += 1
        self.stats.conversations.add(conv_id)

    def add_message(
        self, conversation: ConversationOutcome, key: str, event: Mapping[str, Any]
    ) -> None:
        """Write the masked message and its NLU reading to the message log."""
        parse_data = event.get("parse_data") or {}
        intent = parse_data.get("intent") or {}
        top = intent.get("name")
        runner_up = next(
            (
                r
                for r in parse_data.get("intent_ranking") or []
                if isinstance(r, dict) and r.get("name") != top
            ),
            {},
        )
        self.session.add(
            MessageLog(
                event_key=key,
                conversation_id=conversation.conversation_id,
                sent_at=_event_time(event) or conversation.last_event_at,
                text_masked=mask(event.get("text") or ""),
                intent=_short(top),
                confidence=intent.get("confidence"),
                runner_up=_short(runner_up.get("name")),
                runner_up_confidence=runner_up.get("confidence"),
                entities=mask_entities(parse_data.get("entities") or []),
            )
        )
        self._message_keys.add(key)
        self.stats.messages += 1

    def _user_message(
        self,
        conversation: ConversationOutcome,
        row: RawEvent,
        event: Mapping[str, Any],
        at: datetime,
    ) -> None:
        key = event_key(row.sender_id, row.id)
        if key in self._message_keys:
            return
        self.add_message(conversation, key, event)
        conversation.n_user_messages += 1

        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        fell_back = intent in FALLBACK_INTENTS
        conversation.n_fallbacks += int(fell_back)
        self._turn_fell_back[conversation.conversation_id] = fell_back

        if conversation.customer_id is None:
            metadata = event.get("metadata")
            customer_id = verified_customer_id(
                metadata if isinstance(metadata, dict) else None, self.identity_secret
            )
            if customer_id is not None and self._customer_exists(customer_id):
                conversation.customer_id = customer_id

    def _conversation(self, conv_id: str, at: datetime | None) -> ConversationOutcome:
        conversation = self._conversations.get(conv_id)
        if conversation is None:
            conversation = new_conversation(conv_id, at or self.clock())
            self.session.add(conversation)
            self._conversations[conv_id] = conversation
        return conversation

    def _fell_back(self, conv_id: str) -> bool:
        if conv_id not in self._turn_fell_back:
            last_intent = self.session.scalar(
                select(MessageLog.intent)
                .where(MessageLog.conversation_id == conv_id)
                .order_by(MessageLog.sent_at.desc(), MessageLog.id.desc())
                .limit(1)
            )
            self._turn_fell_back[conv_id] = last_intent in FALLBACK_INTENTS
        return self._turn_fell_back[conv_id]

    def _customer_exists(self, customer_id: int) -> bool:
        if customer_id not in self._customers:
            exists = self.session.get(Customer, customer_id) is not None
            if not exists:
                logger.warning("feedback.consumer.unknown_customer")
            self._customers[customer_id] = exists
        return self._customers[customer_id]


class FeedbackConsumer:
    """Moves events from one event log into the CRM store, batch by batch.

    Args:
        event_log: where Rasa's events are read from.
        sessions: session factory of the CRM store.
        identity_secret: the secret that signs customer ids in message metadata.
        abandon_after: idle time after which a conversation without outcome is
            abandoned.
        clock: the current time (``Settings.now`` by default; tests pass a fake).
        batch_size: events per transaction.
    """

    def __init__(
        self,
        *,
        event_log: EventLog,
        sessions: sessionmaker[Session],
        identity_secret: str,
        abandon_after: timedelta,
        clock: Callable[[], datetime],
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self.event_log = event_log
        self.sessions = sessions
        self.identity_secret = identity_secret
        self.abandon_after = abandon_after
        self.clock = clock
        self.batch_size = batch_size

    @classmethod
    def from_settings(
        cls, settings: Settings | None = None, *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> FeedbackConsumer:
        """The consumer of ``settings.event_log_url`` into ``settings.database_url``."""
        settings = settings or get_settings()
        return cls(
            event_log=EventLog(settings.event_log_url),
            sessions=session_factory(settings.database_url),
            identity_secret=settings.identity_secret,
            abandon_after=timedelta(minutes=settings.abandon_after_minutes),
            clock=settings.now,
            batch_size=batch_size,
        )

    def consume_batch(self) -> PassStats:
        """Read and apply the next batch in one transaction; empty stats at the end."""
        source = self.event_log.source
        with self.sessions() as session, session.begin():
            offset = session.get(ConsumerOffset, source, with_for_update=True)
            position = offset.position if offset is not None else 0
            rows = self.event_log.read_after(position, self.batch_size)
            if not rows:
                return PassStats(position=position)

            writer = BatchWriter(
                session,
                source=source,
                identity_secret=self.identity_secret,
                clock=self.clock,
            )
            writer.preload(rows)
            for row in rows:
                writer.apply(row)

            if offset is None:
                offset = ConsumerOffset(source=source, position=0)
                session.add(offset)
            offset.position = rows[-1].id
            writer.stats.position = rows[-1].id
            writer.stats.rows = len(rows)
            stats = writer.stats
        logger.debug(
            "feedback.consumer.batch events=%d position=%d",
            stats.events,
            stats.position,
        )
        return stats

    def run_once(self) -> PassStats:
        """Consume every pending event, then mark idle conversations abandoned."""
        total = PassStats()
        while True:
            stats = self.consume_batch()
            total.add(stats)
            if stats.rows < self.batch_size:
                break
        with self.sessions() as session, session.begin():
            total.abandoned = mark_abandoned(
                session, now=self.clock(), idle=self.abandon_after
            )
        logger.info(
            "feedback.consumer.pass events=%d messages=%d conversations=%d "
            "skipped=%d invalid=%d abandoned=%d position=%d",
            total.events,
            total.messages,
            len(total.conversations),
            total.skipped,
            total.invalid,
            total.abandoned,
            total.position,
        )
        return total

    def follow(
        self,
        *,
        poll_seconds: float = 2.0,
        max_passes: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Consume forever (or ``max_passes`` times), waiting between idle passes."""
        passes = 0
        while max_passes is None or passes < max_passes:
            stats = self.run_once()
            passes += 1
            if stats.events == 0:
                sleep(poll_seconds)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: consume pending feedback once, or follow the event log."""
    parser = argparse.ArgumentParser(
        prog="python -m crm_models.feedback.consumer",
        description=__doc__.split("\n")[0],
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--once", action="store_true", help="one pass, then exit (default)"
    )
    mode.add_argument("--follow", action="store_true", help="keep consuming")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--poll-seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    consumer = FeedbackConsumer.from_settings(batch_size=args.batch_size)
    if args.follow:
        try:
            consumer.follow(poll_seconds=args.poll_seconds)
        except KeyboardInterrupt:
            logger.info("feedback.consumer.stopped")
    else:
        consumer.run_once()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
