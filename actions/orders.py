"""Order requests: find the order, then track, cancel, change, invoice or payment help.

The flow (rules in data/rules/orders.yml):

1. ``action_start_order_request`` remembers the topic (from the intent) and picks a
   route: ``done`` (unknown customer or no orders: answered without order data),
   ``confirm`` ("Is it order 5xxxxx?") or ``form`` (``order_form`` asks for the number).
2. ``order_form`` and ``validate_order_form`` (actions/forms/) get a number that is
   this customer's order.
3. ``action_order_request`` answers the topic for that order.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from rasa_sdk.events import SlotSet

from actions.common import (
    ASKED_CANCEL,
    ASKED_CHANGE,
    ASKED_LATEST_ORDER,
    ASKED_REFUND,
    ORDER_FAILURES,
    ORDER_NUMBER,
    ORDER_ROUTE,
    ORDER_TOPIC,
    OUTCOME_CANCELLED,
    OUTCOME_RESOLVED,
    PENDING_QUESTION,
    ROUTE_CONFIRM,
    ROUTE_DONE,
    ROUTE_FORM,
    SUGGESTED_ORDER,
    ShopAction,
    Turn,
    ask,
    clear_question,
    day,
    items_summary,
    mask_email,
    money,
    order_lines,
    outcome,
)
from actions.recommend import offer_recommendations
from actions.refunds import refund_request
from crm_models.errors import (
    DataError,
    InvalidStateError,
    NotAllowedError,
    NotFoundError,
    OrderNotFound,
)
from crm_models.store import repositories as repo
from crm_models.store.schema import OrderStatus, PaymentStatus, RefundStatus

if TYPE_CHECKING:
    from rasa_sdk.events import EventType
    from sqlalchemy.orm import Session

    from crm_models.store.schema import Order

logger = logging.getLogger(__name__)

TOPIC_BY_INTENT = {
    "track_order": "track",
    "delivery_period": "delivery",
    "cancel_order": "cancel",
    "change_order": "change",
    "get_refund": "refund",
    "check_invoice": "invoice",
    "get_invoice": "invoice_copy",
    "payment_issue": "payment",
}
# Follow-up questions about the same order: the order number stays in its slot.
ORDER_QUESTIONS = {ASKED_CANCEL, ASKED_REFUND, ASKED_CHANGE}


def route(value: str) -> SlotSet:
    return SlotSet(ORDER_ROUTE, value)


def finished() -> list[EventType]:
    """Events that close an order request (the next one starts afresh)."""
    return [SlotSet(ORDER_NUMBER, None), SlotSet(ORDER_FAILURES, 0)]


def _asks_about_order(events: list[EventType]) -> bool:
    return any(
        e.get("event") == "slot"
        and e.get("name") == PENDING_QUESTION
        and e.get("value") in ORDER_QUESTIONS
        for e in events
    )


# --- topics: each answers for one order and returns its events ---------------------


def track(turn: Turn, session: Session, order: Order) -> list[EventType]:
    """Status, items, delivery date, carrier and tracking code."""
    shipment = order.shipment
    common = {
        "order_number": order.order_number,
        "placed_on": day(order.placed_at),
        "items": items_summary(order),
        "total": money(order.total_pence, order.currency),
    }
    if order.status is OrderStatus.CANCELLED:
        turn.say("utter_track_cancelled", **common)
    elif shipment is None:
        turn.say("utter_track_no_shipment", **common)
    elif order.status is OrderStatus.PROCESSING:
        turn.say(
            "utter_track_processing",
            expected_on=day(shipment.expected_delivery),
            **common,
        )
    elif order.status is OrderStatus.SHIPPED:
        response = "utter_track_shipped"
        if not shipment.tracking_code:
            response = "utter_track_shipped_untracked"
        turn.say(
            response,
            shipped_on=day(shipment.shipped_at),
            expected_on=day(shipment.expected_delivery),
            carrier=shipment.carrier,
            tracking_code=shipment.tracking_code or "",
            **common,
        )
    else:
        turn.say(
            "utter_track_delivered",
            delivered_on=day(shipment.delivered_at or shipment.expected_delivery),
            carrier=shipment.carrier,
            **common,
        )
    return [outcome(OUTCOME_RESOLVED), *offer_recommendations(turn, session)]


def delivery(turn: Turn, session: Session, order: Order) -> list[EventType]:
    """When it arrives (or arrived)."""
    shipment = order.shipment
    number = order.order_number
    if order.status is OrderStatus.CANCELLED or shipment is None:
        return track(turn, session, order)
    if order.status is OrderStatus.DELIVERED:
        delivered = shipment.delivered_at or shipment.expected_delivery
        turn.say(
            "utter_delivery_delivered", order_number=number, delivered_on=day(delivered)
        )
    else:
        turn.say(
            "utter_delivery_expected",
            order_number=number,
            expected_on=day(shipment.expected_delivery),
            carrier=shipment.carrier,
        )
    return [outcome(OUTCOME_RESOLVED), *offer_recommendations(turn, session)]


def cancel(turn: Turn, session: Session, order: Order) -> list[EventType]:
    """Ask to confirm a cancellation, or explain why not and offer a refund."""
    number, policy = order.order_number, turn.policy
    if order.status is OrderStatus.PROCESSING:
        fee = policy.cancellation_fee_pence
        turn.say(
            "utter_confirm_cancel_with_fee" if fee else "utter_confirm_cancel",
            order_number=number,
            items=items_summary(order),
            total=money(order.total_pence, order.currency),
            fee=money(fee, order.currency),
        )
        return [ask(ASKED_CANCEL)]
    if order.status is OrderStatus.CANCELLED:
        turn.say("utter_order_already_cancelled", order_number=number)
        return []
    if order.status is OrderStatus.SHIPPED:
        turn.say(
            "utter_cannot_cancel_shipped",
            order_number=number,
            carrier=order.shipment.carrier if order.shipment else "",
            window_days=policy.refund_window_days,
        )
        return []
    eligibility = repo.refund_eligibility(
        order=order, now=turn.now, window_days=policy.refund_window_days
    )
    if eligibility.eligible:
        turn.say(
            "utter_cannot_cancel_delivered_offer_refund",
            order_number=number,
            amount=money(eligibility.refundable_pence, order.currency),
        )
        return [ask(ASKED_REFUND)]
    turn.say("utter_cannot_cancel_delivered", order_number=number)
    return []


# Words that ask for a line to be taken off the order, and "instead of N" phrases.
_REMOVE = re.compile(r"\b(remove|delete|drop)\b", re.IGNORECASE)
_INSTEAD_OF = re.compile(r"\binstead\s+of\s+\d+", re.IGNORECASE)
_TO_N = re.compile(r"\bto\s+(\d{1,3})\b", re.IGNORECASE)
_NUMBER = re.compile(r"\b(\d{1,3})\b")


def requested_quantity(text: str, *, ignore: list[str]) -> int | None:
    """The new quantity a change request asks for (0 = remove), if it says one.

    ``ignore`` holds texts to skip (the order number, product names with digits).
    """
    if _REMOVE.search(text):
        return 0
    for part in ignore:
        text = text.replace(part, " ")
    text = _INSTEAD_OF.sub(" ", text)
    match = _TO_N.search(text)
    if match:
        return int(match.group(1))
    numbers = _NUMBER.findall(text)
    return int(numbers[-1]) if numbers else None


def change(turn: Turn, session: Session, order: Order) -> list[EventType]:
    """Change a quantity or remove an item the message names, or ask which."""
    number = order.order_number
    if order.status is not OrderStatus.PROCESSING:
        turn.say(f"utter_cannot_change_{order.status.value}", order_number=number)
        return []
    products = list(dict.fromkeys(turn.entities("product")))
    quantity = requested_quantity(turn.text, ignore=[number, *products])
    if len(products) > 1:
        turn.say("utter_change_swap", order_number=number, lines=order_lines(order))
        return [ask(ASKED_CHANGE)]
    if not products or quantity is None:
        turn.say("utter_change_how", order_number=number, lines=order_lines(order))
        return [ask(ASKED_CHANGE)]

    return _apply_change(turn, session, order, products[0], quantity)


def _apply_change(
    turn: Turn, session: Session, order: Order, product: str, quantity: int
) -> list[EventType]:
    """Set the quantity of ``product`` on ``order`` (0 removes it) and say so."""
    number = order.order_number
    try:
        changed = repo.change_order_quantity(
            session=session,
            customer_id=order.customer_id,
            order_number=number,
            product_query=product,
            quantity=quantity,
            now=turn.now,
        )
    except (OrderNotFound, NotAllowedError):
        turn.say("utter_order_not_found")
        return []
    except NotFoundError:
        turn.say(
            "utter_change_item_not_found", order_number=number, lines=order_lines(order)
        )
        return [ask(ASKED_CHANGE)]
    except DataError:
        turn.say(
            "utter_change_item_ambiguous", order_number=number, lines=order_lines(order)
        )
        return [ask(ASKED_CHANGE)]
    except InvalidStateError:
        last = "utter_change_last_item" if quantity == 0 else "utter_cannot_change_now"
        turn.say(last, order_number=number)
        return []
    logger.info("orders.changed order_id=%s", changed.id)
    turn.say(
        "utter_order_changed",
        order_number=number,
        lines=order_lines(changed),
        total=money(changed.total_pence, changed.currency),
    )
    return [outcome(OUTCOME_RESOLVED)]


def invoice(turn: Turn, session: Session, order: Order) -> list[EventType]:
    """The invoice's lines and total."""
    turn.say(
        "utter_invoice",
        order_number=order.order_number,
        placed_on=day(order.placed_at),
        lines=order_lines(order),
        total=money(order.total_pence, order.currency),
    )
    return [outcome(OUTCOME_RESOLVED), *offer_recommendations(turn, session)]


def invoice_copy(turn: Turn, session: Session, order: Order) -> list[EventType]:
    """Say where a copy of the invoice goes (the masked e-mail address)."""
    # TODO(#3): no mail transport yet; the agent console should send the copy.
    turn.say(
        "utter_invoice_copy",
        order_number=order.order_number,
        email=mask_email(order.customer.email),
        total=money(order.total_pence, order.currency),
    )
    return [outcome(OUTCOME_RESOLVED), *offer_recommendations(turn, session)]


def payment(turn: Turn, session: Session, order: Order) -> list[EventType]:
    """The payment's status and what to do about it."""
    refunded = sum(
        r.amount_pence
        for r in order.refunds
        if r.status in (RefundStatus.APPROVED, RefundStatus.PAID)
    )
    unpaid_cancelled = (
        order.status is OrderStatus.CANCELLED
        and order.payment_status is PaymentStatus.FAILED
    )
    turn.say(
        "utter_payment_cancelled_unpaid"
        if unpaid_cancelled
        else f"utter_payment_{order.payment_status.value}",
        order_number=order.order_number,
        placed_on=day(order.placed_at),
        total=money(order.total_pence, order.currency),
        refunded=money(refunded, order.currency),
        payment_methods=", ".join(turn.policy.payment_methods),
        **turn.contact(),
    )
    if order.payment_status is PaymentStatus.FAILED and not unpaid_cancelled:
        return []
    return [outcome(OUTCOME_RESOLVED)]


TOPICS: dict[str, Callable[[Turn, Session, Order], list[EventType]]] = {
    "track": track,
    "delivery": delivery,
    "cancel": cancel,
    "change": change,
    "refund": refund_request,
    "invoice": invoice,
    "invoice_copy": invoice_copy,
    "payment": payment,
}


def answer_for_order(turn: Turn, order_number: str, topic: str) -> list[EventType]:
    """Answer ``topic`` for the customer's order ``order_number``."""
    assert turn.customer_id is not None
    with turn.session() as session:
        try:
            order = repo.get_order_for_customer(
                session=session, customer_id=turn.customer_id, order_number=order_number
            )
        except (OrderNotFound, NotAllowedError):
            turn.say("utter_order_not_found")
            return [clear_question(), *finished()]
        events = TOPICS.get(topic, track)(turn, session, order)
    if _asks_about_order(events):
        return events
    return [clear_question(), *events, *finished()]


def _find_the_order(turn: Turn) -> list[EventType]:
    """For a known customer without a number: suggest the one recent order, or list
    the latest ones and let the form ask."""
    assert turn.customer_id is not None
    with turn.session() as session:
        orders = repo.list_orders(session=session, customer_id=turn.customer_id)
        since = turn.now - timedelta(days=turn.policy.recent_order_days)
        recent = [o for o in orders if o.placed_at >= since]
        if not orders:
            turn.say("utter_no_orders", **turn.contact())
            return [route(ROUTE_DONE)]
        if len(recent) == 1:
            latest = recent[0]
            turn.say(
                "utter_is_it_this_order",
                order_number=latest.order_number,
                placed_on=day(latest.placed_at),
                items=items_summary(latest),
            )
            return [
                SlotSet(SUGGESTED_ORDER, latest.order_number),
                ask(ASKED_LATEST_ORDER),
                route(ROUTE_CONFIRM),
            ]
        listing = "\n".join(f"• {o.order_number} ({day(o.placed_at)})" for o in orders)
    turn.say("utter_recent_orders", order_list=listing)
    return [route(ROUTE_FORM)]


# --- actions ---------------------------------------------------------------------


class ActionStartOrderRequest(ShopAction):
    """Start an order request: remember the topic and choose how to find the order."""

    def name(self) -> str:
        return "action_start_order_request"

    def act(self, turn: Turn) -> list[EventType]:
        topic = (
            TOPIC_BY_INTENT.get(turn.intent or "") or turn.slot(ORDER_TOPIC) or "track"
        )
        events: list[EventType] = [SlotSet(ORDER_TOPIC, topic), clear_question()]

        if turn.customer_id is None:
            turn.say(
                "utter_order_needs_sign_in",
                digits=turn.policy.order_number_digits,
                **turn.contact(),
            )
            if topic == "payment":
                turn.say(
                    "utter_payment_general_help",
                    payment_methods=", ".join(turn.policy.payment_methods),
                )
            return [*events, SlotSet(ORDER_NUMBER, None), route(ROUTE_DONE)]
        if turn.form_active or turn.slot(ORDER_NUMBER):
            return [*events, route(ROUTE_FORM)]
        if turn.intent == "inform":
            turn.say("utter_how_can_i_help")
            return [*events, route(ROUTE_DONE)]

        return [*events, *_find_the_order(turn)]


class ActionAnswerOrderSuggestion(ShopAction):
    """The customer answered "Is it order 5xxxxx?"; the order form follows."""

    def name(self) -> str:
        return "action_answer_order_suggestion"

    def act(self, turn: Turn) -> list[EventType]:
        events: list[EventType] = [
            clear_question(),
            SlotSet(SUGGESTED_ORDER, None),
            route(ROUTE_FORM),
        ]
        if turn.intent == "affirm" and turn.slot(SUGGESTED_ORDER):
            return [*events, SlotSet(ORDER_NUMBER, turn.slot(SUGGESTED_ORDER))]
        # Otherwise the slot holds the number they typed (slot mapping), or nothing.
        return events


class ActionOrderRequest(ShopAction):
    """After the order form: answer the request's topic for the validated order."""

    def name(self) -> str:
        return "action_order_request"

    def act(self, turn: Turn) -> list[EventType]:
        number = turn.slot(ORDER_NUMBER)
        if not number or turn.customer_id is None:
            # The form was stopped or gave up; it has already said so.
            return [SlotSet(ORDER_FAILURES, 0)]
        return answer_for_order(turn, str(number), turn.slot(ORDER_TOPIC) or "track")


class ActionChangeOrderDetails(ShopAction):
    """The customer said which item and quantity to change (after being asked)."""

    def name(self) -> str:
        return "action_change_order_details"

    def act(self, turn: Turn) -> list[EventType]:
        number = turn.slot(ORDER_NUMBER)
        if not number or turn.customer_id is None:
            turn.say("utter_how_can_i_help")
            return [clear_question()]
        return answer_for_order(turn, str(number), "change")


class ActionCancelOrder(ShopAction):
    """The customer confirmed: cancel the order in the store."""

    def name(self) -> str:
        return "action_cancel_order"

    def act(self, turn: Turn) -> list[EventType]:
        number = turn.slot(ORDER_NUMBER)
        if not number or turn.customer_id is None:
            turn.say("utter_how_can_i_help")
            return [clear_question(), *finished()]
        with turn.session() as session:
            try:
                order = repo.cancel_order(
                    session=session,
                    customer_id=turn.customer_id,
                    order_number=str(number),
                    now=turn.now,
                    fee_pence=turn.policy.cancellation_fee_pence,
                )
            except (OrderNotFound, NotAllowedError):
                turn.say("utter_order_not_found")
                return [clear_question(), *finished()]
            except InvalidStateError:
                turn.say("utter_cannot_cancel_now", order_number=number)
                return [clear_question(), *finished()]
            refund = repo.cancellation_refund_pence(order)
            if order.payment_status is PaymentStatus.FAILED:  # nothing was taken
                response = "utter_order_cancelled_unpaid"
            elif refund > 0:
                response = "utter_order_cancelled"
            else:  # the fee is as much as was paid
                response = "utter_order_cancelled_fee_kept"
            turn.say(
                response,
                order_number=order.order_number,
                amount=money(refund, order.currency),
                fee=money(turn.policy.cancellation_fee_pence, order.currency),
                processing_days=turn.policy.refund_processing_days,
            )
            logger.info("orders.cancelled order_id=%s", order.id)
        return [clear_question(), outcome(OUTCOME_CANCELLED), *finished()]
