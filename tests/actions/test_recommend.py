"""Product suggestions: text plus card payload, price limits, the once-only offer."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from actions.orders import ActionOrderRequest
from actions.recommend import (
    ActionRecommendProducts,
    price_limit_pence,
    split_price_limit,
)
from crm_models.store.schema import OrderStatus
from tests.actions.builders import action, outcomes, slot, slots_set, user
from tests.actions.conftest import (
    FakeRecommendation,
    FakeRecommender,
    FakeScorer,
    FakeScores,
    find_order,
)

ITEMS = [
    FakeRecommendation(
        i, f"2{i:04d}", f"GARDEN THING {i}", 250 + i, 0.9, "matches 'garden'"
    )
    for i in range(1, 8)
]


@pytest.mark.parametrize(
    ("amount", "pence"),
    [
        ("under 10 pounds", 1000),  # words
        ("£12.50", 1250),  # pounds and pence
        ("£5", 500),  # sign and whole pounds
        ("30 pounds", 3000),  # number and unit
        ("cheap", None),  # no number
        (None, None),  # no entity
    ],
)
def test_price_limit(amount: str | None, pence: int | None) -> None:
    assert price_limit_pence(amount) == pence


async def test_suggestions_as_text_and_cards(run, recommender: FakeRecommender) -> None:
    recommender.items = ITEMS
    events = [
        user(
            "gardening gifts under 10 pounds",
            "product_recommendation",
            entities={"amount": "under 10 pounds"},
            customer_id=12347,
        )
    ]

    result = await run(ActionRecommendProducts(), events)

    message = result.message("utter_recommendations")
    payload = message["custom"]["data"]  # socket.io emits what is under "data"
    assert payload["type"] == "products"
    assert len(payload["items"]) == 5
    assert payload["items"][0]["price"] == "£2.51"
    assert "GARDEN THING 1, £2.51 (matches 'garden')" in result.texts[0]
    assert recommender.calls[0]["max_price_pence"] == 1000
    assert recommender.calls[0]["customer_id"] == 12347
    assert outcomes(result.events) == ["recommendation_shown"]


async def test_long_query_is_cut(run, recommender: FakeRecommender) -> None:
    recommender.items = ITEMS
    await run(ActionRecommendProducts(), [user("x" * 5000, "product_recommendation")])

    assert len(recommender.calls[0]["query"]) == 300


async def test_more_like_this_searches_for_the_product(
    run, recommender: FakeRecommender
) -> None:
    recommender.items = ITEMS
    # The widget's button sends an intent payload naming the product.
    payload = '/product_recommendation{"product": "Garden Thing 1"}'
    events = [
        user(payload, "product_recommendation", entities={"product": "Garden Thing 1"})
    ]

    result = await run(ActionRecommendProducts(), events)

    assert recommender.calls[0]["query"] == "Garden Thing 1"
    items = result.message("utter_recommendations")["custom"]["data"]["items"]
    assert [i["name"] for i in items] == [f"GARDEN THING {i}" for i in range(2, 7)]


async def test_missing_index_gives_a_polite_reply(
    run, recommender: FakeRecommender
) -> None:
    recommender.missing = True

    result = await run(
        ActionRecommendProducts(), [user("gift ideas", "product_recommendation")]
    )

    assert result.responses == ["utter_recommendations_unavailable"]
    assert outcomes(result.events) == []


async def test_nothing_under_the_limit(run) -> None:
    events = [
        user("gift under £1", "product_recommendation", entities={"amount": "£1"})
    ]

    result = await run(ActionRecommendProducts(), events)

    assert result.responses == ["utter_no_recommendations_under"]


async def test_likely_buyer_gets_one_offer_after_a_resolved_request(
    run, db: Session, scorer: FakeScorer
) -> None:
    scorer.scores = FakeScores(high_propensity=True)
    order = find_order(db, OrderStatus.SHIPPED)
    events = [
        user("where is it", "track_order", customer_id=order.customer_id),
        slot("order_topic", "track"),
        slot("order_number", order.order_number),
        action("order_form"),
    ]

    first = await run(ActionOrderRequest(), events)
    again = await run(ActionOrderRequest(), [*events, *first.events, *events])

    assert first.responses[-1] == "utter_offer_recommendations"
    assert slots_set(first.events)["pending_question"] == "recommend_offer"
    assert "utter_offer_recommendations" not in again.responses


async def test_accepted_offer_uses_the_history_not_the_text(
    run, recommender: FakeRecommender
) -> None:
    recommender.items = ITEMS
    events = [
        slot("pending_question", "recommend_offer"),
        user("yes", "affirm", customer_id=12347),
    ]

    result = await run(ActionRecommendProducts(), events)

    assert recommender.calls[0]["query"] is None
    assert slots_set(result.events)["pending_question"] is None


@pytest.mark.parametrize(
    ("text", "pence", "rest"),
    [
        ("a gift for a gardener under 10 pounds", 1000, "a gift for a gardener"),
        ("something below £7.50 for my mum", 750, "something for my mum"),
        ("cooking presents, less than 3 quid", 300, "cooking presents"),
        ("candles up to 20 GBP please", 2000, "candles please"),
        ("a red lunch box", None, "a red lunch box"),  # no limit stated
    ],
)
def test_a_stated_budget_becomes_a_filter_not_search_words(text, pence, rest) -> None:
    assert split_price_limit(text) == (pence, rest)
