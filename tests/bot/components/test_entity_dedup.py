from __future__ import annotations

from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.components.entity_dedup import EntityDeduplicator, deduplicate

PREFER = {"order_number": "RegexEntityExtractor"}


def _entity(kind: str, start: int, end: int, extractor: str, value: str = "x"):
    return {
        "entity": kind,
        "start": start,
        "end": end,
        "value": value,
        "extractor": extractor,
    }


def test_the_preferred_extractor_wins_an_overlapping_span() -> None:
    regex = _entity("order_number", 7, 13, "RegexEntityExtractor", "541812")
    crf = _entity("order_number", 6, 13, "CRFEntityExtractor", "#541812")

    assert deduplicate([crf, regex], PREFER) == [regex]


def test_other_spans_and_other_types_are_kept() -> None:
    regex = _entity("order_number", 0, 6, "RegexEntityExtractor")
    elsewhere = _entity("order_number", 20, 26, "CRFEntityExtractor")
    product = _entity("product", 2, 8, "CRFEntityExtractor")

    assert deduplicate([regex, elsewhere, product], PREFER) == [
        regex,
        elsewhere,
        product,
    ]


def test_without_a_preferred_find_the_learned_one_stays() -> None:
    crf = _entity("order_number", 0, 6, "CRFEntityExtractor")

    assert deduplicate([crf], PREFER) == [crf]


def test_the_component_cleans_each_message() -> None:
    message = Message(data={TEXT: "order #541812"})
    message.set(
        ENTITIES,
        [
            _entity("order_number", 6, 13, "CRFEntityExtractor"),
            _entity("order_number", 7, 13, "RegexEntityExtractor"),
        ],
    )
    component = EntityDeduplicator({**EntityDeduplicator.get_default_config()})

    component.process([message])

    assert [e["extractor"] for e in message.get(ENTITIES)] == ["RegexEntityExtractor"]
