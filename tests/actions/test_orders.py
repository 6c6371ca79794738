"""Order requests against the seeded store: start, track, cancel, change, invoice."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from actions.common import money
from actions.orders import (
    ActionAnswerOrderSuggestion,
    ActionCancelOrder,
    ActionOrderRequest,
    ActionStartOrderRequest,
    requested_quantity,
)
from actions.services import use_services
from actions.shop_policy import PolicyFile
from crm_models.settings import Settings
from crm_models.store.schema import Order, OrderStatus, PaymentStatus
from tests.actions.builders import (
    action,
    order_numbers_in,
    outcomes,
    slot,
    slots_set,
    user,
)
from tests.actions.conftest import find_order


def asked_for(order: Order, text: str, intent: str, topic: str) -> list[dict]:
    """A signed-in customer asked about ``order`` and the form validated it."""
    return [
        user(text, intent, customer_id=order.customer_id),
        slot("order_topic", topic),
        slot("order_number", order.order_number),
        action("order_form"),
    ]


async def test_unknown_customer_gets_help_without_order_data(run, db: Session) -> None:
    order = find_order(db, OrderStatus.SHIPPED)
    events = [user(f"where is order {order.order_number}?", "track_order")]

    result = await run(ActionStartOrderRequest(), events)

    assert result.responses == ["utter_order_needs_sign_in"]
    assert slots_set(result.events)["order_route"] == "done"
    assert slots_set(result.events)["order_number"] is None
    assert order_numbers_in(result.texts) == set()


async def test_forged_signature_counts_as_unknown(run, db: Session) -> None:
    order = find_order(db, OrderStatus.SHIPPED)
    metadata = {"customer_id": str(order.customer_id), "customer_sig": "0" * 64}
    events = [user("track my order", "track_order", metadata=metadata)]

    result = await run(ActionStartOrderRequest(), events)

    assert result.responses == ["utter_order_needs_sign_in"]


async def test_one_recent_order_is_suggested(run, db: Session) -> None:
    # The only processing order is the customer's one order of the last 30 days.
    order = find_order(db, OrderStatus.PROCESSING)
    events = [user("cancel my order", "cancel_order", customer_id=order.customer_id)]

    result = await run(ActionStartOrderRequest(), events)

    slots = slots_set(result.events)
    assert result.responses == ["utter_is_it_this_order"]
    assert (
        result.message("utter_is_it_this_order")["order_number"] == order.order_number
    )
    assert slots["suggested_order"] == order.order_number
    assert slots["order_route"] == "confirm"
    assert slots["pending_question"] == "latest_order"
    assert slots["order_topic"] == "cancel"
    assert slots["customer_id"] == order.customer_id


async def test_without_a_recent_order_the_latest_are_listed(
    run, settings: Settings, db: Session
) -> None:
    since = settings.now() - timedelta(days=30)
    newest = (
        select(Order.customer_id)
        .group_by(Order.customer_id)
        .having(func.max(Order.placed_at) < since)
    )
    customer_id = db.scalars(newest.limit(1)).one()

    result = await run(
        ActionStartOrderRequest(),
        [user("where is my order", "track_order", customer_id=customer_id)],
    )

    assert result.responses == ["utter_recent_orders"]
    assert slots_set(result.events)["order_route"] == "form"


async def test_a_given_number_goes_to_the_form(run, db: Session) -> None:
    order = find_order(db, OrderStatus.SHIPPED)
    events = [
        user(
            f"track {order.order_number}", "track_order", customer_id=order.customer_id
        ),
        slot("order_number", order.order_number),
    ]

    result = await run(ActionStartOrderRequest(), events)

    assert result.responses == []
    assert slots_set(result.events)["order_route"] == "form"


async def test_affirmed_suggestion_fills_the_order_number(run) -> None:
    events = [
        user("cancel my order", "cancel_order", customer_id=12358),
        slot("suggested_order", "581232"),
        slot("pending_question", "latest_order"),
        user("yes", "affirm", customer_id=12358),
    ]

    result = await run(ActionAnswerOrderSuggestion(), events)

    slots = slots_set(result.events)
    assert slots["order_number"] == "581232"
    assert slots["pending_question"] is None


async def test_track_shipped_order_gives_carrier_and_tracking_code(
    run, db: Session
) -> None:
    order = find_order(db, OrderStatus.SHIPPED)

    result = await run(
        ActionOrderRequest(), asked_for(order, "track", "track_order", "track")
    )

    assert result.responses[0] == "utter_track_shipped"
    message = result.message("utter_track_shipped")
    assert message["tracking_code"] == order.shipment.tracking_code
    assert message["carrier"] == order.shipment.carrier
    assert outcomes(result.events) == ["resolved_by_bot"]
    assert slots_set(result.events)["order_number"] is None


async def test_delivery_period_of_delivered_order(
    run, settings: Settings, db: Session
) -> None:
    order = find_order(db, OrderStatus.DELIVERED, now=settings.now(), recent_days=30)

    result = await run(
        ActionOrderRequest(), asked_for(order, "when?", "delivery_period", "delivery")
    )

    assert result.responses[0] == "utter_delivery_delivered"


async def test_cancel_processing_order_asks_then_cancels(run, db: Session) -> None:
    order = find_order(db, OrderStatus.PROCESSING)
    events = asked_for(order, "cancel it", "cancel_order", "cancel")

    asked = await run(ActionOrderRequest(), events)

    assert asked.responses == ["utter_confirm_cancel"]
    assert slots_set(asked.events)["pending_question"] == "cancel_order"
    assert "order_number" not in slots_set(asked.events)  # kept for the answer

    events += [*asked.events, user("yes", "affirm", customer_id=order.customer_id)]
    done = await run(ActionCancelOrder(), events)

    assert done.responses == ["utter_order_cancelled"]
    assert outcomes(done.events) == ["order_cancelled"]
    db.expire_all()
    assert db.get(Order, order.id).status is OrderStatus.CANCELLED
    assert db.get(Order, order.id).payment_status is PaymentStatus.REFUNDED


async def test_a_cancellation_fee_is_kept_and_the_rest_booked_as_a_refund(
    run, db: Session, tmp_path, policy_path, services
) -> None:
    with_fee = tmp_path / "policy.yml"
    with_fee.write_text(
        policy_path.read_text().replace("fee_pence: 0 ", "fee_pence: 250 ", 1)
    )
    use_services(replace(services, policy=PolicyFile(with_fee).get))
    order = find_order(db, OrderStatus.PROCESSING, payment=PaymentStatus.PAID)
    events = asked_for(order, "cancel it", "cancel_order", "cancel")
    asked = await run(ActionOrderRequest(), events)
    events += [*asked.events, user("yes", "affirm", customer_id=order.customer_id)]

    done = await run(ActionCancelOrder(), events)

    back = money(order.total_pence - 250, order.currency)
    assert done.responses == ["utter_order_cancelled"]
    assert f"{back} goes back" in done.texts[0]
    db.expire_all()
    stored = db.get(Order, order.id)
    assert stored.payment_status is PaymentStatus.PARTIALLY_REFUNDED
    assert [(r.amount_pence, r.source) for r in stored.refunds] == [
        (order.total_pence - 250, "cancellation")
    ]


async def test_a_fee_as_big_as_the_order_is_said_so(
    run, db: Session, tmp_path, policy_path, services
) -> None:
    order = find_order(db, OrderStatus.PROCESSING, payment=PaymentStatus.PAID)
    huge = order.total_pence + 100
    with_fee = tmp_path / "policy.yml"
    with_fee.write_text(
        policy_path.read_text().replace("fee_pence: 0 ", f"fee_pence: {huge} ", 1)
    )
    use_services(replace(services, policy=PolicyFile(with_fee).get))
    events = asked_for(order, "cancel it", "cancel_order", "cancel")
    asked = await run(ActionOrderRequest(), events)
    events += [*asked.events, user("yes", "affirm", customer_id=order.customer_id)]

    done = await run(ActionCancelOrder(), events)

    assert done.responses == ["utter_order_cancelled_fee_kept"]
    assert money(huge, order.currency) in done.texts[0]
    db.expire_all()
    assert db.get(Order, order.id).payment_status is PaymentStatus.PAID
    assert db.get(Order, order.id).refunds == []


async def test_shipped_order_is_not_cancelled(run, db: Session) -> None:
    order = find_order(db, OrderStatus.SHIPPED)

    result = await run(
        ActionOrderRequest(), asked_for(order, "cancel", "cancel_order", "cancel")
    )

    assert result.responses == ["utter_cannot_cancel_shipped"]
    assert "pending_question" not in slots_set(result.events) or (
        slots_set(result.events)["pending_question"] is None
    )
    db.expire_all()
    assert db.get(Order, order.id).status is OrderStatus.SHIPPED


async def test_delivered_order_gets_a_refund_offer_instead(
    run, settings: Settings, db: Session
) -> None:
    order = find_order(
        db,
        OrderStatus.DELIVERED,
        now=settings.now(),
        recent_days=20,
        payment=PaymentStatus.PAID,
    )

    result = await run(
        ActionOrderRequest(), asked_for(order, "cancel", "cancel_order", "cancel")
    )

    assert result.responses == ["utter_cannot_cancel_delivered_offer_refund"]
    assert slots_set(result.events)["pending_question"] == "refund_offer"


async def test_change_removes_an_item(run, db: Session) -> None:
    order = find_order(db, OrderStatus.PROCESSING)
    product = order.lines[0].product.name
    before = len(order.lines)
    events = asked_for(order, "change it", "change_order", "change")
    events[0] = user(
        f"please remove the {product}",
        "change_order",
        entities={"product": product},
        customer_id=order.customer_id,
    )

    result = await run(ActionOrderRequest(), events)

    assert result.responses == ["utter_order_changed"]
    db.expire_all()
    assert len(db.get(Order, order.id).lines) == before - 1


async def test_change_without_details_shows_the_lines(run, db: Session) -> None:
    order = find_order(db, OrderStatus.PROCESSING)

    result = await run(
        ActionOrderRequest(), asked_for(order, "change", "change_order", "change")
    )

    assert result.responses == ["utter_change_how"]
    assert slots_set(result.events)["pending_question"] == "change_details"
    assert order.lines[0].product.name in result.texts[0]


async def test_invoice_copy_masks_the_email(run, db: Session) -> None:
    order = find_order(db, OrderStatus.SHIPPED)

    result = await run(
        ActionOrderRequest(), asked_for(order, "invoice", "get_invoice", "invoice_copy")
    )

    email = result.message("utter_invoice_copy")["email"]
    assert email.startswith(order.customer.email[0] + "***@")
    assert order.customer.email not in " ".join(result.texts)


async def test_payment_status_is_explained(run, db: Session) -> None:
    order = find_order(db, OrderStatus.SHIPPED)

    result = await run(
        ActionOrderRequest(), asked_for(order, "paid?", "payment_issue", "payment")
    )

    assert result.responses == [f"utter_payment_{order.payment_status.value}"]


async def test_a_cancelled_unpaid_order_is_not_asked_to_be_paid_again(
    run, db: Session
) -> None:
    order = find_order(db, OrderStatus.PROCESSING)
    order.status, order.payment_status = OrderStatus.CANCELLED, PaymentStatus.FAILED
    db.flush()

    result = await run(
        ActionOrderRequest(), asked_for(order, "paid?", "payment_issue", "payment")
    )

    assert result.responses == ["utter_payment_cancelled_unpaid"]
    assert "nothing was taken" in result.texts[0]


async def test_form_stopped_means_nothing_more_is_said(run) -> None:
    events = [user("stop", "deny", customer_id=12358), slot("order_number", None)]

    result = await run(ActionOrderRequest(), events)

    assert result.responses == []


def test_requested_quantity_reads_common_phrasings() -> None:
    # remove words win
    assert requested_quantity("remove the doormat", ignore=[]) == 0
    # "from 2 to 4"
    assert requested_quantity("change the quantity from 2 to 4", ignore=[]) == 4
    # "instead of" numbers are the old ones
    assert requested_quantity("make it 6 instead of 3", ignore=[]) == 6
    # digits in the order number and product names are skipped
    assert (
        requested_quantity(
            "536365: 3 of paper chain kit 50's",
            ignore=["536365", "paper chain kit 50's"],
        )
        == 3
    )
    # nothing said
    assert requested_quantity("change my order", ignore=[]) is None
