"""The feedback consumer: Rasa's events → message log and conversation outcomes.

    python -m crm_models.feedback.consumer [--once | --follow] [--batch-size N]

The events come from Rasa's SQL event log or from a RabbitMQ queue of Rasa's ``pika``
event broker, as ``SHOP_EVENT_LOG_URL`` says (``crm_models.feedback.event_log``).

Each batch is one transaction on the CRM store, so a crash loses or doubles nothing:

- SQL event log: the feedback rows and the new offset of the source commit together;
  the next run starts again after the last committed batch. Re-reading events that
  were already applied changes nothing either: every conversation has its own cursor
  (a ``ConsumerOffset`` row named after the source and conversation) and every
  message its idempotency key.
- RabbitMQ: the feedback rows and the content key of every applied event
  (``ConsumedEvent``) commit together, and only then is the batch acknowledged. A
  message delivered again (a crash between commit and acknowledgement, a lost
  connection) is recognised by its key and changes nothing.

After catching up, a pass marks idle conversations abandoned.

What happened after a customer message (``MessageLog.next_action``) is filled in when
the next action, bot message or hand-back of its conversation comes, in the same
batch or a later one; it is part of the batch's transaction like everything else.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import (
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.orm import Session, sessionmaker

from crm_models.errors import DataError, NotFoundError, ShopBotError
from crm_models.feedback.event_log import (
    EventSource,
    EventSourceUnavailable,
    RawEvent,
    open_event_source,
)
from crm_models.feedback.masking import mask, mask_entities
from crm_models.feedback.outcomes import (
    FALLBACK_ACTIONS,
    FALLBACK_INTENTS,
    OUTCOME_SLOT,
    add_outcome,
    add_recommendation_click,
    mark_abandoned,
    new_conversation,
    pause,
    resume,
    touch,
)
from crm_models.identity import verified_customer_id
from crm_models.logs import configure_logging
from crm_models.settings import Settings, get_settings
from crm_models.store.db import session_factory
from crm_models.store.schema import (
    ConsumedEvent,
    ConsumerOffset,
    ConversationOutcome,
    Customer,
    MessageLog,
    ParkedEvent,
)

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500
MAX_BACKOFF_SECONDS = 30.0  # longest wait between attempts to reach the source
MAX_CONFLICT_ATTEMPTS = 5  # tries of a batch that another consumer keeps writing too
# Keys of consumed broker messages are kept this long: only a message that was not
# acknowledged comes back, and that happens when the consumer reconnects (minutes).
CONSUMED_RETENTION = timedelta(days=7)
PRUNE_EVERY = timedelta(hours=1)
# Errors that say "try again later", never "this event is bad": the store or the
# source is away or busy. Any other error while applying makes the batch go one
# event at a time, and the event that still fails is parked. An IntegrityError is
# either: another consumer wrote the same row first (retried), or an event breaks a
# constraint (it keeps failing alone, and is parked).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    EventSourceUnavailable,
    OperationalError,
    InterfaceError,
    DisconnectionError,
)
_MAX_ERROR = 500  # ParkedEvent.error
_MAX_CONVERSATION_ID = 128  # ConversationOutcome.conversation_id
_MAX_NAME = 64  # MessageLog.intent / runner_up / next_action

# What happened after a customer message, besides the name of the assistant's action.
NEXT_AGENT = "agent"  # a person answered it
NEXT_PAUSED = "paused"  # the bot was paused; no person answered before the next
NEXT_NONE = "none"  # the customer's next message came before anything else
NEXT_BOT = "bot"  # a bot message with no action before it (appended by a tool)
# Rasa's own steps, not the assistant's answer to a message.
PLUMBING_ACTIONS = frozenset(
    {"action_session_start", "action_extract_slots", "action_unlikely_intent"}
)
# Events after which the bot is on again: the hand-back, a restart, a new session.
RESUMING_EVENTS = frozenset({"resume", "restart", "session_started"})
# The message the widget's "More like this" button sends (web/static/widget.js).
# TODO(#4): count clicks on a suggested product's own link too, once the widget
# reports them (it opens the shop's page and tells no one); until then only "More
# like this" makes a conversation recommendation_clicked.
CLICK_PAYLOAD = "/product_recommendation{"


def event_key(sender_id: str, event_id: int) -> str:
    """The idempotency key of one event: a hash of its conversation and row id."""
    return hashlib.sha256(f"{sender_id}\x1f{event_id}".encode()).hexdigest()


def content_key(sender_id: str, event: Mapping[str, Any]) -> str:
    """The idempotency key of an event without a row id: its conversation and JSON.

    The JSON is made canonical (sorted keys, no spaces, UTF-8), so a repeat delivery
    gives the same key however the broker or publisher spaced or escaped it.

    NOTE: two events of one conversation with equal JSON, timestamp included, count
    as one. Rasa stamps every event with the time in microseconds, so only a repeat
    delivery of the same event looks like that.

    Raises:
        UnicodeEncodeError: the event holds a lone surrogate (JSON allows ``\\ud800``),
            text that no store column could hold either.
    """
    canonical = json.dumps(
        event, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(f"{sender_id}\x1f{canonical}".encode()).hexdigest()


def _error_text(error: BaseException) -> str:
    """An error for ``ParkedEvent.error``: its class and the first line of its cause.

    A database error's later lines carry the statement's parameters (customer
    data), so only the driver's first line is kept.
    """
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:_MAX_ERROR]


def _content_key_or_none(row: RawEvent) -> str | None:
    """The broker key of a raw event, or ``None`` when it is not a JSON object."""
    try:
        event = json.loads(row.data)
    except (ValueError, RecursionError):
        return None
    if not row.sender_id or not isinstance(event, dict):
        return None
    return content_key(row.sender_id, event)


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
    """The event's time; ``None`` (the consumer's clock is used) when it has none,
    or one no Rasa event has (not after 1970, or beyond what a datetime holds)."""
    raw = event.get("timestamp")
    if not isinstance(raw, int | float) or isinstance(raw, bool) or not raw > 0:
        return None
    try:
        return datetime.fromtimestamp(raw, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
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
    parked: int = 0  # rows whose applying failed, kept in ParkedEvent
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
        self.parked += other.parked
        self.position = max(self.position, other.position)
        self.conversations |= other.conversations


@dataclass(frozen=True)
class DecodedEvent:
    """An event row with its JSON parsed and its idempotency key."""

    row: RawEvent
    event: dict[str, Any]
    key: str  # also the message's ``MessageLog.event_key``


class BatchWriter:
    """Applies the events of one batch to the store, inside the caller's transaction.

    Args:
        session: the open session of the batch; the caller commits.
        source: the event source's key, for the conversation cursors.
        identity_secret: verifies the customer identity in message metadata.
        clock: the current time, for an event without a timestamp.
        keyed: how an event applied before is recognised. ``False`` (ordered
            sources): by the conversation's cursor, the last row id applied.
            ``True``: by the event's content key in ``ConsumedEvent``.
    """

    def __init__(
        self,
        session: Session,
        *,
        source: str,
        identity_secret: str,
        clock: Callable[[], datetime],
        keyed: bool = False,
    ) -> None:
        self.session = session
        self.source = source
        self.identity_secret = identity_secret
        self.clock = clock
        self.keyed = keyed
        self.stats = PassStats()
        self._conversations: dict[str, ConversationOutcome] = {}
        self._cursors: dict[str, ConsumerOffset] = {}
        self._applied_keys: set[str] = set()
        self._message_keys: set[str] = set()
        self._customers: dict[int, bool] = {}
        # The latest customer message of each conversation (None: there is none),
        # loaded on first need; its next_action is filled in by what comes next.
        self._latest: dict[str, MessageLog | None] = {}
        # Conversations consumed before next_action existed, and their latest message
        # then: its answer came and went unrecorded, so it stays unknown (NULL).
        self._untracked: set[str] = set()
        self._legacy: dict[str, MessageLog] = {}
        # Whether the latest customer message of a conversation already counted as a
        # fallback, so that nlu_fallback followed by action_default_fallback is one.
        self._turn_fell_back: dict[str, bool] = {}

    def apply_rows(self, rows: Sequence[RawEvent]) -> None:
        """Decode the rows, load what they touch, and apply them in order."""
        decoded = [self.decode(row) for row in rows]
        events = [d for d in decoded if d is not None]
        self.preload(events)
        for decoded_event in events:
            self.apply(decoded_event)

    def decode(self, row: RawEvent) -> DecodedEvent | None:
        """Parse a row; ``None`` (counted invalid, logged by id only) if unusable."""
        try:
            event = json.loads(row.data)
            if not row.sender_id or not isinstance(event, dict):
                raise ValueError("no sender_id or not a JSON object")
            if self.keyed:
                key = content_key(row.sender_id, event)
            else:
                key = event_key(row.sender_id, row.id)
        except (ValueError, RecursionError):  # bad JSON, bad text, absurd nesting
            logger.warning("feedback.consumer.invalid_row id=%d", row.id)
            self.stats.invalid += 1
            return None
        return DecodedEvent(row=row, event=event, key=key)

    def preload(self, events: Sequence[DecodedEvent]) -> None:
        """Load the conversations, cursors or applied keys, and message keys."""
        senders = {e.row.sender_id for e in events}
        ids = {conversation_id(s) for s in senders}
        keys = [e.key for e in events]
        self._conversations = {
            c.conversation_id: c
            for c in self.session.scalars(
                select(ConversationOutcome).where(
                    ConversationOutcome.conversation_id.in_(ids)
                )
            )
        }
        if self.keyed:
            self._applied_keys = set(
                self.session.scalars(
                    select(ConsumedEvent.event_key).where(
                        ConsumedEvent.event_key.in_(keys)
                    )
                )
            )
        else:
            cursor_keys = {conversation_cursor(self.source, s) for s in senders}
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

    def apply(self, decoded: DecodedEvent) -> None:
        """Apply one event, unless it was applied before (cursor or key)."""
        if self._applied(decoded):
            self.stats.skipped += 1
            return

        row, event = decoded.row, decoded.event
        conv_id = conversation_id(row.sender_id)
        conversation = self._conversation(conv_id, _event_time(event))
        if conversation.handle_seconds is None:
            # NOTE: only within this batch; a later one may still answer that message.
            self._untracked.add(conv_id)
        at = _event_time(event) or conversation.last_event_at
        touch(conversation, at)

        kind = event.get("event")
        if kind == "user":
            self._user_message(conversation, decoded.key, event, at)
        elif kind == "action":
            self._action(conversation, event.get("name"), at)
        elif kind == "bot":
            self._bot_message(conversation, event, at)
        elif kind == "slot" and event.get("name") == OUTCOME_SLOT:
            value = event.get("value")
            if value is not None and not add_outcome(conversation, str(value)):
                logger.warning("feedback.consumer.unknown_outcome value=%s", value)
        elif kind == "pause":
            pause(conversation, at)
        elif kind in RESUMING_EVENTS:
            if conversation.paused_since is not None:
                self._answer(conv_id, NEXT_PAUSED, at)
            resume(conversation)

        self._record(decoded)
        self.stats.events += 1
        self.stats.conversations.add(conv_id)

    def _applied(self, decoded: DecodedEvent) -> bool:
        if self.keyed:
            return decoded.key in self._applied_keys
        cursor_key = conversation_cursor(self.source, decoded.row.sender_id)
        cursor = self._cursors.get(cursor_key)
        return cursor is not None and cursor.position >= decoded.row.id

    def _record(self, decoded: DecodedEvent) -> None:
        """Remember the event as applied, in the batch's transaction.

        A broker message's key goes to ``ConsumedEvent`` (kept for
        ``CONSUMED_RETENTION``, see ``FeedbackConsumer.prune_consumed``).
        """
        if self.keyed:
            self.session.add(
                ConsumedEvent(event_key=decoded.key, consumed_at=self.clock())
            )
            self._applied_keys.add(decoded.key)
            return
        row = decoded.row
        cursor_key = conversation_cursor(self.source, row.sender_id)
        cursor = self._cursors.get(cursor_key)
        if cursor is None:
            cursor = ConsumerOffset(source=cursor_key, position=row.id)
            self.session.add(cursor)
            self._cursors[cursor_key] = cursor
        cursor.position = row.id

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
        message = MessageLog(
            event_key=key,
            conversation_id=conversation.conversation_id,
            sent_at=_event_time(event) or conversation.last_event_at,
            text_masked=mask(event.get("text") or ""),
            intent=_short(top),
            confidence=intent.get("confidence"),
            runner_up=_short(runner_up.get("name")),
            runner_up_confidence=runner_up.get("confidence"),
            entities=mask_entities(parse_data.get("entities") or []),
            next_action=None,
        )
        self.session.add(message)
        self._latest[conversation.conversation_id] = message
        self._message_keys.add(key)
        self.stats.messages += 1

    def _user_message(
        self,
        conversation: ConversationOutcome,
        key: str,
        event: Mapping[str, Any],
        at: datetime,
    ) -> None:
        if key in self._message_keys:
            return
        # The previous message got no answer before this one.
        paused = conversation.paused_since is not None
        self._answer(
            conversation.conversation_id, NEXT_PAUSED if paused else NEXT_NONE, at
        )
        self.add_message(conversation, key, event)
        conversation.n_user_messages += 1
        text = event.get("text")
        if isinstance(text, str) and text.startswith(CLICK_PAYLOAD):
            add_recommendation_click(conversation)

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
            # Messages are logged with their conversation's row: none before it.
            self._latest.setdefault(conv_id, None)
        return conversation

    def _action(
        self, conversation: ConversationOutcome, name: Any, at: datetime
    ) -> None:
        conv_id = conversation.conversation_id
        if name in FALLBACK_ACTIONS and not self._fell_back(conv_id):
            conversation.n_fallbacks += 1
            self._turn_fell_back[conv_id] = True
        if isinstance(name, str) and name and name not in PLUMBING_ACTIONS:
            self._answer(conv_id, name, at)

    def _bot_message(
        self, conversation: ConversationOutcome, event: Mapping[str, Any], at: datetime
    ) -> None:
        metadata = event.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        if metadata.get("from_person"):
            self._answer(conversation.conversation_id, NEXT_AGENT, at)
        elif conversation.paused_since is None and not metadata.get("handoff_notice"):
            # Rasa logs the action before its utterance, so this is rare.
            step = _short(metadata.get("utter_action")) or NEXT_BOT
            self._answer(conversation.conversation_id, step, at)

    def _answer(self, conv_id: str, step: str, at: datetime) -> None:
        """Record ``step`` as what followed the conversation's latest message.

        Only a message still waiting for its answer, and sent no later than ``at``,
        takes it.
        """
        message = self._latest_message(conv_id)
        if (
            message is None
            or message.next_action is not None
            or at < message.sent_at
            or message is self._legacy.get(conv_id)
        ):
            return
        message.next_action = step[:_MAX_NAME]

    def _latest_message(self, conv_id: str) -> MessageLog | None:
        if conv_id not in self._latest:
            latest = self.session.scalars(
                select(MessageLog)
                .where(MessageLog.conversation_id == conv_id)
                .order_by(MessageLog.sent_at.desc(), MessageLog.id.desc())
                .limit(1)
            ).first()
            self._latest[conv_id] = latest
            if latest is not None and conv_id in self._untracked:
                self._legacy[conv_id] = latest
        return self._latest[conv_id]

    def _fell_back(self, conv_id: str) -> bool:
        if conv_id not in self._turn_fell_back:
            latest = self._latest_message(conv_id)
            self._turn_fell_back[conv_id] = (
                latest is not None and latest.intent in FALLBACK_INTENTS
            )
        return self._turn_fell_back[conv_id]

    def _customer_exists(self, customer_id: int) -> bool:
        if customer_id not in self._customers:
            exists = self.session.get(Customer, customer_id) is not None
            if not exists:
                logger.warning("feedback.consumer.unknown_customer")
            self._customers[customer_id] = exists
        return self._customers[customer_id]


class FeedbackConsumer:
    """Moves events from one event source into the CRM store, batch by batch.

    Args:
        event_log: where Rasa's events are read from (SQL event log or RabbitMQ).
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
        event_log: EventSource,
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
        if batch_size < 1:
            raise DataError(f"batch_size must be 1 or more, not {batch_size}")
        self.clock = clock
        self.batch_size = batch_size
        self._pruned_at: datetime | None = None
        self._attempted: RawEvent | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings | None = None, *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> FeedbackConsumer:
        """The consumer of ``settings.event_log_url`` into ``settings.database_url``."""
        settings = settings or get_settings()
        return cls(
            event_log=open_event_source(
                settings.event_log_url,
                queue=settings.event_queue,
                exchange=settings.event_exchange,
            ),
            sessions=session_factory(settings.database_url),
            identity_secret=settings.identity_secret,
            abandon_after=timedelta(minutes=settings.abandon_after_minutes),
            clock=settings.now,
            batch_size=batch_size,
        )

    def consume_batch(self) -> PassStats:
        """Read and apply the next batch in one transaction; empty stats at the end.

        An ordered source is read inside the transaction, after the offset row is
        locked; any other source is read first and acknowledged after the commit.

        Another consumer of the same store may insert the same offset, cursor or row
        first (no row lock guards a row that does not exist yet). The batch is then
        rolled back and tried again (re-reading the offset), which is safe as
        applying is idempotent. After ``MAX_CONFLICT_ATTEMPTS`` conflicts, or on an
        error that is not transient, the batch goes one event at a time
        (``_apply_one_by_one``) and an event that fails alone is parked.

        Raises:
            EventSourceUnavailable: the source cannot be reached; nothing is lost.
        """
        log = self.event_log
        rows: list[RawEvent] = []
        if not log.ordered:
            rows = log.read_batch(0, self.batch_size)
            if not rows:
                return PassStats()
        stats: PassStats | None = None
        try:
            stats, rows = self._apply_retrying(rows)
        except IntegrityError:
            # Conflicts every time: another consumer keeps writing the same rows,
            # or an event breaks a constraint. One event at a time tells them apart.
            logger.warning(
                "feedback.consumer.conflicts attempts=%d source=%s: applying the "
                "batch's events one at a time",
                MAX_CONFLICT_ATTEMPTS,
                log.source,
            )
            return self._apply_one_by_one(rows)
        except TRANSIENT_ERRORS:
            log.release(rows)
            raise
        except Exception as exc:  # noqa: BLE001 - any bug in applying: isolate it
            logger.warning(
                "feedback.consumer.batch_failed error=%s source=%s: applying its "
                "events one at a time",
                type(exc).__name__,
                log.source,
            )
            return self._apply_one_by_one(rows)
        except BaseException:
            log.release(rows)
            raise
        if not stats.rows:
            return stats
        log.acknowledge(rows)
        logger.debug(
            "feedback.consumer.batch events=%d position=%d",
            stats.events,
            stats.position,
        )
        return stats

    def _apply_retrying(
        self, rows: list[RawEvent], *, limit: int | None = None
    ) -> tuple[PassStats, list[RawEvent]]:
        """``_apply_batch``, tried again on a conflict, up to ``MAX_CONFLICT_ATTEMPTS``.

        Raises:
            IntegrityError: the last conflict, when every attempt had one.
        """
        for attempt in range(1, MAX_CONFLICT_ATTEMPTS + 1):
            try:
                return self._apply_batch(rows, limit=limit)
            except IntegrityError:
                logger.info(
                    "feedback.consumer.conflict attempt=%d source=%s",
                    attempt,
                    self.event_log.source,
                )
                if attempt == MAX_CONFLICT_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _apply_one_by_one(self, rows: list[RawEvent]) -> PassStats:
        """Apply a failed batch's events singly, parking each one that fails.

        ``rows`` are the batch of an unordered source (an ordered one re-reads up to
        a batch from its offset, one event at a time). A transient error stops the
        pass (the rest is released, to come again); an event whose own transaction
        fails for any other reason, a conflict included after every retry, is
        parked, and counts as consumed.
        """
        log = self.event_log
        total = PassStats()
        pending = [] if log.ordered else list(rows)
        try:
            for _ in range(len(rows) if not log.ordered else self.batch_size):
                single = [] if log.ordered else pending[:1]
                self._attempted = None
                try:
                    stats, applied = self._apply_retrying(single, limit=1)
                except TRANSIENT_ERRORS:
                    raise
                except Exception as exc:
                    row = single[0] if single else self._attempted
                    if row is None and isinstance(exc, IntegrityError):
                        # Before any event was read (the offset row): another
                        # consumer keeps writing it. Left for the next pass.
                        logger.warning(
                            "feedback.consumer.gave_up attempts=%d source=%s: "
                            "another consumer kept writing the same rows; the "
                            "rest is left for the next pass",
                            MAX_CONFLICT_ATTEMPTS,
                            log.source,
                        )
                        break
                    if row is None:
                        raise  # failed before an event was read: not the event's
                    if not self._park(row, exc):
                        continue  # another consumer got past it first: read again
                    stats, applied = PassStats(rows=1, parked=1), [row]
                    if log.ordered:
                        stats.position = row.id
                if not log.ordered:
                    log.acknowledge(single)
                    pending = pending[1:]
                total.add(stats)
                if not applied:
                    break
        except BaseException:
            log.release(pending)  # not acknowledged: they come again
            raise
        return total

    def _park(self, row: RawEvent, error: Exception) -> bool:
        """Keep ``row`` with ``error`` in ``ParkedEvent`` and mark it consumed.

        One transaction: the parked row, and what makes the source pass the event
        over from now on (the offset moved past it, or its key as consumed). On an
        ordered source the row must still be the next one after the offset: if
        another consumer moved on meanwhile, nothing is parked and ``False`` comes
        back.
        """
        log = self.event_log
        with self.sessions() as session, session.begin():
            self._lock_for_writing(session)
            if log.ordered:
                offset = session.get(ConsumerOffset, log.source, with_for_update=True)
                position = offset.position if offset is not None else 0
                following = log.read_batch(position, 1)
                if not following or following[0].id != row.id:
                    logger.info(
                        "feedback.consumer.park_skipped position=%d source=%s",
                        row.id,
                        log.source,
                    )
                    return False
                if offset is None:
                    session.add(ConsumerOffset(source=log.source, position=row.id))
                else:
                    offset.position = row.id
            else:
                key = _content_key_or_none(row)
                if key is not None and session.get(ConsumedEvent, key) is None:
                    session.add(ConsumedEvent(event_key=key, consumed_at=self.clock()))
            session.add(
                ParkedEvent(
                    source=log.source[:200],
                    position=row.id,
                    sender_id=row.sender_id[:255],
                    data=row.data,
                    error=_error_text(error),
                    parked_at=self.clock(),
                )
            )
        # The error class and position only: the message may quote the event.
        logger.error(
            "feedback.consumer.parked source=%s position=%d error=%s",
            log.source,
            row.id,
            type(error).__name__,
        )
        return True

    def replay_parked(self, ids: Sequence[int] | None = None) -> tuple[int, int]:
        """Apply parked events again (after their cause was fixed); all by default.

        Each in its own transaction: applied, it leaves ``parked_events``; failing
        again, it stays with the new error. It is applied after the events that came
        after it (a message's "what came next" may then be missing).

        Returns:
            How many were applied, and how many failed again.

        Raises:
            NotFoundError: one of ``ids`` is not a parked event.
        """
        todo = self._parked_ids(ids)
        applied = failed = 0
        for parked_id in todo:
            try:
                with self.sessions() as session, session.begin():
                    self._lock_for_writing(session)
                    parked = session.get(ParkedEvent, parked_id)
                    if parked is None:
                        continue  # replayed by someone else meanwhile
                    self._apply_parked(session, parked)
                    session.delete(parked)
                applied += 1
            except TRANSIENT_ERRORS:
                raise
            except Exception as exc:  # noqa: BLE001 - still failing: stays parked
                failed += 1
                with self.sessions() as session, session.begin():
                    parked = session.get(ParkedEvent, parked_id)
                    if parked is not None:
                        parked.error = _error_text(exc)
                logger.error(
                    "feedback.consumer.replay_failed parked=%d error=%s",
                    parked_id,
                    type(exc).__name__,
                )
        logger.info("feedback.consumer.replayed applied=%d failed=%d", applied, failed)
        return applied, failed

    def discard_parked(self, ids: Sequence[int]) -> int:
        """Delete parked events for good (an operator's decision); how many.

        Raises:
            NotFoundError: one of ``ids`` is not a parked event.
        """
        todo = self._parked_ids(ids)
        with self.sessions() as session, session.begin():
            session.execute(delete(ParkedEvent).where(ParkedEvent.id.in_(todo)))
        logger.warning("feedback.consumer.discarded parked=%d", len(todo))
        return len(todo)

    def _parked_ids(self, ids: Sequence[int] | None) -> list[int]:
        """The parked events' ids (all when ``None``), each checked to exist."""
        with self.sessions() as session:
            query = select(ParkedEvent.id).order_by(ParkedEvent.id)
            if ids is not None:
                query = query.where(ParkedEvent.id.in_(list(ids)))
            found = list(session.scalars(query))
        missing = sorted(set(ids or ()) - set(found))
        if missing:
            raise NotFoundError("no parked event " + ", ".join(str(i) for i in missing))
        return found

    def _apply_parked(self, session: Session, parked: ParkedEvent) -> None:
        """Apply one parked event in ``session``, recognised by its content key."""
        row = RawEvent(id=parked.position, sender_id=parked.sender_id, data=parked.data)
        writer = BatchWriter(
            session,
            source=parked.source,
            identity_secret=self.identity_secret,
            clock=self.clock,
            keyed=True,
        )
        decoded = writer.decode(row)
        if decoded is None:
            raise DataError("the parked event is not a JSON object with a sender")
        # Parking marked it consumed, so that a redelivery would pass it over.
        session.execute(
            delete(ConsumedEvent).where(ConsumedEvent.event_key == decoded.key)
        )
        writer.preload([decoded])
        writer.apply(decoded)

    def _apply_batch(
        self, rows: list[RawEvent], *, limit: int | None = None
    ) -> tuple[PassStats, list[RawEvent]]:
        """One attempt at a batch in one transaction: its stats and the rows applied.

        An ordered source's rows (up to ``limit``, the batch size by default) are
        read here, after the offset; others are given.

        Raises:
            IntegrityError: another consumer wrote the same row first (rolled back).
        """
        log = self.event_log
        with self.sessions() as session, session.begin():
            self._lock_for_writing(session)
            offset: ConsumerOffset | None = None
            if log.ordered:
                offset = session.get(ConsumerOffset, log.source, with_for_update=True)
                position = offset.position if offset is not None else 0
                rows = log.read_batch(position, limit or self.batch_size)
                if not rows:
                    return PassStats(position=position), rows
                self._attempted = rows[0]  # the one to park if it fails alone

            writer = BatchWriter(
                session,
                source=log.source,
                identity_secret=self.identity_secret,
                clock=self.clock,
                keyed=not log.ordered,
            )
            writer.apply_rows(rows)

            if log.ordered:
                if offset is None:
                    offset = ConsumerOffset(source=log.source, position=0)
                    session.add(offset)
                offset.position = rows[-1].id
                writer.stats.position = rows[-1].id
            writer.stats.rows = len(rows)
            return writer.stats, rows

    def _lock_for_writing(self, session: Session) -> None:
        """On SQLite, take the store's write lock before the batch reads anything.

        SQLite ignores ``FOR UPDATE`` and reads outside a write transaction, so two
        consumers could both read the same offset and cursors and apply a batch
        twice. A write first (it changes nothing) holds the other consumer off until
        this batch commits. Other stores lock the offset row instead.
        """
        if session.get_bind().dialect.name != "sqlite":
            return
        session.execute(
            update(ConsumerOffset)
            .where(ConsumerOffset.source == self.event_log.source)
            .values(position=ConsumerOffset.position)
        )

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
        self.prune_consumed()
        # An idle pass (nothing read) is not news: DEBUG, so --follow stays quiet.
        logger.log(
            logging.INFO if total.rows else logging.DEBUG,
            "feedback.consumer.pass rows=%d events=%d messages=%d conversations=%d "
            "skipped=%d invalid=%d parked=%d abandoned=%d position=%d",
            total.rows,
            total.events,
            total.messages,
            len(total.conversations),
            total.skipped,
            total.invalid,
            total.parked,
            total.abandoned,
            total.position,
        )
        return total

    def prune_consumed(self, *, force: bool = False) -> int:
        """Forget consumed-message keys older than ``CONSUMED_RETENTION``.

        Runs at most every ``PRUNE_EVERY`` (by the consumer's clock) unless
        ``force``, and only for a broker source (an ordered source keeps offsets,
        not keys). Returns the rows deleted.
        """
        now = self.clock()
        if self.event_log.ordered:
            return 0
        if (
            not force
            and self._pruned_at is not None
            and now - self._pruned_at < PRUNE_EVERY
        ):
            return 0
        with self.sessions() as session, session.begin():
            deleted = session.execute(
                delete(ConsumedEvent).where(
                    ConsumedEvent.consumed_at < now - CONSUMED_RETENTION
                )
            ).rowcount
        self._pruned_at = now
        if deleted:
            logger.info("feedback.consumer.pruned keys=%d", deleted)
        return int(deleted or 0)

    def follow(
        self,
        *,
        poll_seconds: float = 2.0,
        max_passes: int | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        """Consume forever (or ``max_passes`` times), waiting between idle passes.

        When the source cannot be reached (a broker restarting), the pass is logged
        as an error and tried again after 1, 2, 4, ... up to 30 seconds.

        Args:
            poll_seconds: the wait after a pass that found nothing new.
            max_passes: stop after this many passes (tests); ``None`` runs forever.
            sleep: how to wait; the source's own ``wait`` by default.
        """
        wait = sleep or self.event_log.wait
        backoff = 1.0
        passes = 0
        while max_passes is None or passes < max_passes:
            passes += 1
            try:
                stats = self.run_once()
            except EventSourceUnavailable as exc:
                logger.error(
                    "feedback.consumer.source_unavailable retry_in=%.0fs %s",
                    backoff,
                    exc,
                )
                wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            if backoff > 1.0:
                logger.info(
                    "feedback.consumer.source_back source=%s", self.event_log.source
                )
                backoff = 1.0
            if stats.events == 0:
                wait(poll_seconds)


def _at_least(smallest: float, kind: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type: a number of ``kind`` no smaller than ``smallest``."""

    def parse(raw: str) -> Any:
        try:
            value = kind(raw)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{raw!r} is not a number") from exc
        if value < smallest:
            raise argparse.ArgumentTypeError(f"{raw} is below {smallest}")
        return value

    return parse


def format_parked(sessions: sessionmaker[Session], *, limit: int = 100) -> str:
    """The newest parked events as text: when, where from, which row, the error."""
    with sessions() as session:
        total = session.scalar(select(func.count(ParkedEvent.id))) or 0
        rows = session.scalars(
            select(ParkedEvent).order_by(ParkedEvent.id.desc()).limit(limit)
        ).all()
    if not rows:
        return "no parked events"
    lines = [f"{total} parked event(s); newest first:"]
    for row in rows:
        lines.append(
            f"#{row.id} {row.parked_at:%Y-%m-%d %H:%M:%S} {row.source} "
            f"position {row.position} conversation {row.sender_id}: {row.error}"
        )
    lines.append(
        "Each keeps its event JSON in the parked_events table. Fix the cause, then "
        "apply them again: python -m crm_models.feedback.consumer --replay-parked "
        "[ID ...], or drop one for good with --discard-parked ID"
    )
    return "\n".join(lines)


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
    mode.add_argument(
        "--parked",
        action="store_true",
        help="list the events that could not be applied (newest first), and exit",
    )
    mode.add_argument(
        "--discard-parked",
        nargs="+",
        type=int,
        metavar="ID",
        help="delete these parked events for good (they are not applied)",
    )
    mode.add_argument(
        "--replay-parked",
        nargs="*",
        type=int,
        metavar="ID",
        help="apply parked events again once their cause is fixed (all, or these)",
    )
    parser.add_argument(
        "--batch-size",
        type=_at_least(1, int),
        default=DEFAULT_BATCH_SIZE,
        help=f"events per transaction ({DEFAULT_BATCH_SIZE})",
    )
    parser.add_argument(
        "--poll-seconds",
        type=_at_least(0.1, float),
        default=2.0,
        help="wait after an idle pass (2)",
    )
    args = parser.parse_args(argv)
    configure_logging(logging.INFO)
    logging.getLogger("pika").setLevel(logging.WARNING)  # one line per frame at INFO

    try:
        consumer = FeedbackConsumer.from_settings(batch_size=args.batch_size)
    except ShopBotError as exc:
        logger.error("feedback.consumer.failed %s", exc)
        return 2
    if args.parked or args.replay_parked is not None or args.discard_parked:
        consumer.event_log.close()
        if args.parked:
            sys.stdout.write(format_parked(consumer.sessions) + "\n")
            return 0
        try:
            if args.discard_parked:
                gone = consumer.discard_parked(args.discard_parked)
                sys.stdout.write(f"discarded: {gone} parked event(s)\n")
                return 0
            applied, failed = consumer.replay_parked(args.replay_parked or None)
        except ShopBotError as exc:
            logger.error("feedback.consumer.failed %s", exc)
            return 2
        sys.stdout.write(f"replayed: {applied} applied, {failed} failed again\n")
        return 0 if failed == 0 else 1
    try:
        if args.follow:
            consumer.follow(poll_seconds=args.poll_seconds)
        else:
            consumer.run_once()
    except KeyboardInterrupt:
        logger.info("feedback.consumer.stopped")
    except ShopBotError as exc:
        logger.error("feedback.consumer.failed %s", exc)
        return 2
    finally:
        consumer.event_log.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
