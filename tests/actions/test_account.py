"""Account help texts and the newsletter setting."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from actions.account import (
    ActionAnswerAccount,
    ActionNewsletter,
    ActionNewsletterConfirm,
)
from actions.shop_policy import ACCOUNT_HELP_TOPICS
from crm_models.store.schema import Customer
from tests.actions.builders import outcomes, slots_set, user


@pytest.mark.parametrize("topic", ACCOUNT_HELP_TOPICS)
async def test_every_account_question_has_an_answer(run, topic: str) -> None:
    result = await run(ActionAnswerAccount(), [user("help", topic)])

    assert result.responses == [f"utter_account_{topic}"]
    assert outcomes(result.events) == ["resolved_by_bot"]


async def test_newsletter_subscription_is_confirmed_then_stored(
    run, db: Session
) -> None:
    customer = db.get(Customer, 12347)
    customer.newsletter = False
    db.commit()
    events = [
        user(
            "sign me up for the newsletter",
            "newsletter_subscription",
            customer_id=12347,
        )
    ]

    asked = await run(ActionNewsletter(), events)

    assert asked.responses == ["utter_newsletter_confirm_subscribe"]
    assert slots_set(asked.events)["newsletter_choice"] is True

    events += [*asked.events, user("yes", "affirm", customer_id=12347)]
    done = await run(ActionNewsletterConfirm(), events)

    assert done.responses == ["utter_newsletter_subscribed"]
    db.expire_all()
    assert db.get(Customer, 12347).newsletter is True


@pytest.mark.parametrize(
    ("subscribed", "text", "response"),
    [
        (True, "unsubscribe me please", "utter_newsletter_confirm_unsubscribe"),
        (True, "newsletter", "utter_newsletter_already_subscribed"),
        (False, "stop sending me newsletters", "utter_newsletter_not_subscribed"),
    ],
)
async def test_newsletter_question_follows_the_setting(
    run, db: Session, subscribed: bool, text: str, response: str
) -> None:
    db.get(Customer, 12347).newsletter = subscribed
    db.commit()

    result = await run(
        ActionNewsletter(), [user(text, "newsletter_subscription", customer_id=12347)]
    )

    assert result.responses == [response]


async def test_newsletter_for_unknown_visitor(run) -> None:
    result = await run(
        ActionNewsletter(), [user("newsletter", "newsletter_subscription")]
    )

    assert result.responses == ["utter_newsletter_needs_sign_in"]
