"""Product recommendations: on request, and a gentle offer after a resolved request."""

from __future__ import annotations

import logging
import re
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from rasa_sdk.events import SlotSet

from actions.common import (
    ASKED_RECOMMEND,
    OUTCOME_RECOMMENDED,
    RECOMMENDATION_OFFERED,
    ShopAction,
    Turn,
    ask,
    clear_question,
    money,
    outcome,
)
from crm_models.errors import ArtifactMissing, ShopBotError

if TYPE_CHECKING:
    from rasa_sdk.events import EventType
    from sqlalchemy.orm import Session

    from crm_models.recommend.recommender import Recommendation

logger = logging.getLogger(__name__)

MAX_PRODUCTS = 5
# The recommender embeds the query; a pasted essay adds nothing but time.
MAX_QUERY_CHARS = 300

_AMOUNT = re.compile(r"(\d+(?:[.,]\d{1,2})?)")


def price_limit_pence(amount: str | None) -> int | None:
    """An ``amount`` entity (``"under 10 pounds"``, ``"£12.50"``) in pence, if any."""
    if not amount:
        return None
    match = _AMOUNT.search(amount.replace(",", "") if "." in amount else amount)
    if match is None:
        return None
    try:
        pounds = Decimal(match.group(1).replace(",", "."))
    except InvalidOperation:
        return None
    pence = int(pounds * 100)
    return pence if pence > 0 else None


# "under 10 pounds", "below £7.50", "less than 5 quid", "up to 20 gbp", "max £3"
_PRICE_PHRASE = re.compile(
    r"\b(?:under|below|less than|cheaper than|up to|no more than|max(?:imum)?|within)"
    r"\s*(?:of\s*)?£?\s*(\d+(?:\.\d{1,2})?)\s*(?:pounds?|quid|gbp|£)?",
    re.IGNORECASE,
)


def split_price_limit(text: str) -> tuple[int | None, str]:
    """A price limit stated in ``text`` (in pence), and the text without it.

    The recommender searches the words that describe the product; "under 3 pounds"
    describes a budget, so it is taken out of the query and becomes a filter.
    """
    match = _PRICE_PHRASE.search(text)
    if match is None:
        return None, text
    pence = price_limit_pence(match.group(1))
    cleaned = (text[: match.start()] + " " + text[match.end() :]).strip(" ,.")
    return pence, re.sub(r"\s{2,}", " ", cleaned)


def product_cards(recs: list[Recommendation], currency: str) -> list[dict[str, Any]]:
    """The ``items`` of the widget's ``{"type": "products"}`` payload."""
    return [
        {
            "product_id": r.product_id,
            "stock_code": r.stock_code,
            "name": r.name,
            "price_pence": r.price_pence,
            "price": money(r.price_pence, currency),
            "reason": r.reason,
        }
        for r in recs
    ]


def product_list(recs: list[Recommendation], currency: str) -> str:
    """The products as text, one per row: ``• NAME, £2.95 (reason)``."""
    return "\n".join(
        f"• {r.name}, {money(r.price_pence, currency)} ({r.reason})" for r in recs
    )


def offer_recommendations(turn: Turn, session: Session) -> list[EventType]:
    """After a resolved request: offer suggestions to a likely buyer, once.

    Only for a known customer the scorer calls high-propensity, and only once per
    conversation. Scoring trouble just means no offer.
    """
    if turn.customer_id is None or turn.slot(RECOMMENDATION_OFFERED):
        return []
    try:
        scores = turn.services.scorer().score(
            session=session, customer_id=turn.customer_id, now=turn.now
        )
    except ShopBotError as exc:
        logger.warning("recommend.offer.skipped error=%s", type(exc).__name__)
        return []
    if not scores.high_propensity:
        return []
    turn.say("utter_offer_recommendations")
    return [ask(ASKED_RECOMMEND), SlotSet(RECOMMENDATION_OFFERED, True)]


class ActionRecommendProducts(ShopAction):
    """Suggest up to five products for the request (or the customer's history)."""

    def name(self) -> str:
        return "action_recommend_products"

    def act(self, turn: Turn) -> list[EventType]:
        asked = turn.intent == "product_recommendation"
        query = turn.text.strip()[:MAX_QUERY_CHARS] if asked else ""
        # The widget's "more like this" sends /product_recommendation{"product": X}.
        like = turn.entity("product") if query.startswith("/") else None
        if query.startswith("/"):
            query = (like or "")[:MAX_QUERY_CHARS]
        max_price = None
        if asked:
            max_price, query = split_price_limit(query)
            if max_price is None:
                max_price = price_limit_pence(turn.entity("amount"))
        currency = turn.policy.currency

        try:
            recommender = turn.services.recommender()
            with turn.session() as session:
                recs = recommender.recommend(
                    session=session,
                    query=query or None,
                    customer_id=turn.customer_id,
                    k=MAX_PRODUCTS + (1 if like else 0),
                    max_price_pence=max_price,
                )
            if like:  # not the product the customer wants more of
                recs = [r for r in recs if r.name.lower() != like.lower()]
        except ArtifactMissing as exc:
            logger.warning("recommend.unavailable error=%s", exc)
            turn.say("utter_recommendations_unavailable")
            return [clear_question()]

        events: list[EventType] = [
            clear_question(),
            SlotSet(RECOMMENDATION_OFFERED, True),
        ]
        if not recs:
            if max_price is None:
                turn.say("utter_no_recommendations")
            else:
                turn.say(
                    "utter_no_recommendations_under", limit=money(max_price, currency)
                )
            return events
        recs = recs[:MAX_PRODUCTS]
        turn.dispatcher.utter_message(
            response="utter_recommendations",
            product_list=product_list(recs, currency),
            # Rasa's socket.io channel emits the payload as ``emit(**json_message)``,
            # so it must sit under "data"; REST returns it as {"custom": {"data": ..}}.
            json_message={
                "data": {"type": "products", "items": product_cards(recs, currency)}
            },
        )
        logger.info("recommend.shown n=%s", len(recs))
        return [*events, outcome(OUTCOME_RECOMMENDED)]
