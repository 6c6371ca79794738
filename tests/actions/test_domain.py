"""The actions and the domain agree: names, responses, slots."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Action

import actions
from actions import common
from actions.orders import TOPIC_BY_INTENT
from actions.shop_policy import ACCOUNT_HELP_TOPICS
from crm_models.store.schema import OrderStatus, PaymentStatus, RefundStatus

ACTIONS_DIR = Path(actions.__file__).parent


def action_classes() -> list[type[Action]]:
    for info in pkgutil.walk_packages(actions.__path__, prefix="actions."):
        importlib.import_module(info.name)
    found: list[type[Action]] = []
    todo = list(Action.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("actions.") and not inspect.isabstract(cls):
            found.append(cls)
    return found


def test_every_domain_action_is_implemented_and_vice_versa(
    domain: dict[str, Any],
) -> None:
    implemented = {cls().name() for cls in action_classes()}

    assert implemented == set(domain["actions"])


def test_every_named_response_exists(domain: dict[str, Any]) -> None:
    source = "\n".join(p.read_text() for p in ACTIONS_DIR.rglob("*.py"))
    named = set(re.findall(r"\"(utter_[a-z_]+)\"", source))

    assert named - set(domain["responses"]) == set()


@pytest.mark.parametrize(
    "family",
    [
        [f"utter_payment_{s.value}" for s in PaymentStatus],
        [f"utter_refund_status_{s.value}" for s in RefundStatus],
        [
            f"utter_cannot_change_{s.value}"
            for s in OrderStatus
            if s.value != "processing"
        ],
        [
            f"utter_refund_not_eligible_{r}"
            for r in ("not_delivered_yet", "cancelled", "already_refunded", "too_old")
        ],
        [f"utter_account_{t}" for t in ACCOUNT_HELP_TOPICS],
    ],
)
def test_response_families_are_complete(
    domain: dict[str, Any], family: list[str]
) -> None:
    assert [name for name in family if name not in domain["responses"]] == []


def test_buttons_send_known_intents(domain: dict[str, Any]) -> None:
    intents = set(domain["intents"])
    payloads = {
        button["payload"].lstrip("/")
        for variants in domain["responses"].values()
        for variant in variants
        for button in variant.get("buttons", [])
    }

    assert payloads <= intents


def test_slots_the_actions_set_are_in_the_domain(domain: dict[str, Any]) -> None:
    names = {
        common.CUSTOMER_ID,
        common.ORDER_NUMBER,
        common.ORDER_TOPIC,
        common.ORDER_ROUTE,
        common.ORDER_FAILURES,
        common.SUGGESTED_ORDER,
        common.PENDING_QUESTION,
        common.HANDOFF_REASON,
        common.NEWSLETTER_CHOICE,
        common.RECOMMENDATION_OFFERED,
        common.LAST_OUTCOME,
    }

    assert names == set(domain["slots"])
    assert set(TOPIC_BY_INTENT) <= set(domain["intents"])
    questions = {v for k, v in vars(common).items() if k.startswith("ASKED_")}
    routes = {v for k, v in vars(common).items() if k.startswith("ROUTE_")}
    assert set(domain["slots"]["pending_question"]["values"]) == questions
    assert set(domain["slots"]["order_route"]["values"]) == routes


def test_steering_slots_are_the_only_featurised_ones(domain: dict[str, Any]) -> None:
    featurised = {
        name
        for name, spec in domain["slots"].items()
        if spec.get("influence_conversation", True)
    }

    assert featurised == {"order_route", "pending_question"}
