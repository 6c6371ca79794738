"""What every action shares: slot names, identity, the error boundary, formatting.

Each action subclasses :class:`ShopAction` and implements ``act(turn)``. ``run`` does
the rest: it works out who the customer is from signed message metadata, runs ``act``
in a worker thread (store and model calls block), and is the error boundary: a failure
is logged once, without personal data, and the customer gets a polite reply.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError

from actions.services import Services, get_services
from actions.shop_policy import ShopPolicy
from crm_models.errors import ArtifactMissing, ConfigError, ShopBotError
from crm_models.identity import ID_KEY, verified_customer_id

if TYPE_CHECKING:
    from rasa_sdk.events import EventType
    from sqlalchemy.orm import Session

    from crm_models.store.schema import Order

logger = logging.getLogger(__name__)

# Slots (bot/domain/*.yml). Only ORDER_ROUTE and PENDING_QUESTION steer the dialogue.
CUSTOMER_ID = "customer_id"
ORDER_NUMBER = "order_number"
ORDER_TOPIC = "order_topic"
ORDER_ROUTE = "order_route"
ORDER_FAILURES = "order_failures"
SUGGESTED_ORDER = "suggested_order"
PENDING_QUESTION = "pending_question"
HANDOFF_REASON = "handoff_reason"
NEWSLETTER_CHOICE = "newsletter_choice"
RECOMMENDATION_OFFERED = "recommendation_offered"
LAST_OUTCOME = "last_outcome"
REQUESTED_SLOT = "requested_slot"

# Values of ORDER_ROUTE, set by action_start_order_request.
ROUTE_DONE = "done"
ROUTE_CONFIRM = "confirm"
ROUTE_FORM = "form"

# Values of PENDING_QUESTION: the yes/no question the bot asked last.
ASKED_LATEST_ORDER = "latest_order"
ASKED_CANCEL = "cancel_order"
ASKED_REFUND = "refund_offer"
ASKED_HUMAN = "human_offer"
ASKED_NEWSLETTER = "newsletter"
ASKED_RECOMMEND = "recommend_offer"
ASKED_CHANGE = "change_details"

# Values of LAST_OUTCOME; the feedback consumer keys on these SlotSet events.
OUTCOME_RESOLVED = "resolved_by_bot"
OUTCOME_TICKET = "ticket_opened"
OUTCOME_CANCELLED = "order_cancelled"
OUTCOME_REFUND = "refund_created"
OUTCOME_RECOMMENDED = "recommendation_shown"
OUTCOME_OUT_OF_SCOPE = "out_of_scope"

ORDER_FORM = "order_form"


def outcome(value: str) -> SlotSet:
    """The event that records an outcome for the feedback consumer."""
    return SlotSet(LAST_OUTCOME, value)


def ask(question: str) -> SlotSet:
    """The event that remembers which yes/no question the bot has just asked."""
    return SlotSet(PENDING_QUESTION, question)


def clear_question() -> SlotSet:
    """The event that forgets any pending yes/no question."""
    return SlotSet(PENDING_QUESTION, None)


# --- identity -----------------------------------------------------------------


def _as_customer_id(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def resolve_identity(
    tracker: Tracker, secret: str
) -> tuple[int | None, list[EventType]]:
    """The verified customer behind the latest message, and a slot event if it changed.

    Only the latest message's signed metadata counts: the trusted front end signs
    every message. The ``customer_id`` slot is a record for the console and the
    feedback, never a source: whoever knows a conversation id, or can post a made-up
    tracker to the action server, must not become that customer.
    """
    metadata = tracker.latest_message.get("metadata") or {}
    known = _as_customer_id(tracker.get_slot(CUSTOMER_ID))
    customer_id = None
    if isinstance(metadata, dict) and ID_KEY in metadata:
        customer_id = verified_customer_id(metadata, secret)
        if customer_id is None:
            logger.warning("identity.rejected")
    events: list[EventType] = []
    if customer_id != known:
        events.append(SlotSet(CUSTOMER_ID, customer_id))
    return customer_id, events


# --- one action run -------------------------------------------------------------


class Turn:
    """One run of an action: tracker, dispatcher, services and the verified customer."""

    def __init__(
        self,
        *,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
        services: Services,
        customer_id: int | None,
    ) -> None:
        self.dispatcher = dispatcher
        self.tracker = tracker
        self.domain = domain
        self.services = services
        self.customer_id = customer_id
        self.now: datetime = services.settings.now()

    @property
    def intent(self) -> str | None:
        return (self.tracker.latest_message.get("intent") or {}).get("name")

    @property
    def text(self) -> str:
        return self.tracker.latest_message.get("text") or ""

    @property
    def conversation_id(self) -> str:
        return self.tracker.sender_id

    @property
    def form_active(self) -> bool:
        return (self.tracker.active_loop or {}).get("name") == ORDER_FORM

    def slot(self, name: str) -> Any:
        return self.tracker.get_slot(name)

    def entity(self, name: str) -> str | None:
        """The last value of entity ``name`` in the latest message."""
        values = list(self.tracker.get_latest_entity_values(name))
        return str(values[-1]) if values else None

    def entities(self, name: str) -> list[str]:
        return [str(v) for v in self.tracker.get_latest_entity_values(name)]

    def say(self, response: str, **variables: Any) -> None:
        """Utter domain response ``response`` with its ``{variables}`` filled in."""
        self.dispatcher.utter_message(response=response, **variables)

    @cached_property
    def policy(self) -> ShopPolicy:
        return self.services.policy()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.services.session_scope() as session:
            yield session

    def contact(self) -> dict[str, str]:
        """The contact details as response variables."""
        c = self.policy.contact
        return {
            "contact_email": c.email,
            "contact_phone": c.phone,
            "staffed_hours": c.staffed_hours,
            "response_time": c.response_time,
        }


class ShopAction(Action, ABC):
    """A custom action that is its own error boundary; subclasses implement ``act``."""

    @abstractmethod
    def name(self) -> str:
        """The action's name in the domain."""

    @abstractmethod
    def act(self, turn: Turn) -> list[EventType]:
        """Do the work of the action and return its events."""

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[EventType]:
        """Run ``act`` in a worker thread; never raises."""
        return await asyncio.to_thread(self.run_sync, dispatcher, tracker, domain)

    def run_sync(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[EventType]:
        """Run ``act`` in this thread; never raises."""
        identity_events: list[EventType] = []
        try:
            services = get_services()
            customer_id, identity_events = resolve_identity(
                tracker, services.settings.identity_secret
            )
            turn = Turn(
                dispatcher=dispatcher,
                tracker=tracker,
                domain=domain,
                services=services,
                customer_id=customer_id,
            )
            return identity_events + self.act(turn)
        except Exception as exc:  # noqa: BLE001 - the boundary before rasa-sdk's 500
            apologise(self.name(), exc, dispatcher)
            return [*identity_events, clear_question()]


def apologise(
    action: str, exc: BaseException, dispatcher: CollectingDispatcher
) -> None:
    """Log ``exc`` once without personal data and give the customer a polite reply.

    Replaces anything the failed action had already said.
    """
    if isinstance(exc, ConfigError):
        # Names the file and field; no customer data in it.
        logger.error("action.config_error action=%s error=%s", action, exc)
    elif isinstance(exc, ArtifactMissing):
        logger.warning("action.artifact_missing action=%s error=%s", action, exc)
    elif isinstance(exc, ShopBotError):
        logger.warning("action.failed action=%s error=%s", action, type(exc).__name__)
    elif isinstance(exc, SQLAlchemyError):
        logger.error(
            "action.store_error action=%s error=%s", action, type(exc).__name__
        )
    else:
        logger.error("action.crashed action=%s", action, exc_info=exc)
    dispatcher.messages.clear()
    dispatcher.utter_message(response="utter_technical_problem")


# --- formatting -----------------------------------------------------------------


def money(pence: int, currency: str = "GBP") -> str:
    """``1250`` → ``£12.50`` (other currencies: ``12.50 EUR``)."""
    sign = "-" if pence < 0 else ""
    amount = f"{abs(pence) // 100}.{abs(pence) % 100:02d}"
    if currency.upper() == "GBP":
        return f"{sign}£{amount}"
    return f"{sign}{amount} {currency.upper()}"


def day(value: date | datetime | None) -> str:
    """``2010-12-01`` → ``1 December 2010``; empty for ``None``."""
    if value is None:
        return ""
    return f"{value.day} {value:%B %Y}"


def mask_email(address: str) -> str:
    """``jane.doe@example.com`` → ``j***@example.com``."""
    local, _, domain_part = address.partition("@")
    if not domain_part:
        return "***"
    return f"{local[:1]}***@{domain_part}"


def order_lines(order: Order, *, limit: int = 8) -> str:
    """The order's lines, one per row: ``• 2 × NAME: £3.90``."""
    rows = [
        f"• {line.quantity} × {line.product.name}: "
        f"{money(line.quantity * line.unit_price_pence, order.currency)}"
        for line in order.lines
    ]
    if len(rows) > limit:
        rows = [*rows[:limit], f"• … (+{len(rows) - limit})"]
    return "\n".join(rows)


def items_summary(order: Order, *, limit: int = 3) -> str:
    """A one-line summary: ``2 × NAME, 1 × OTHER (+3)``."""
    parts = [f"{line.quantity} × {line.product.name}" for line in order.lines[:limit]]
    extra = len(order.lines) - limit
    return ", ".join(parts) + (f" (+{extra})" if extra > 0 else "")
