from __future__ import annotations

import pytest

from crm_models.feedback.masking import find_personal_data, luhn_ok, mask, mask_entities


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # e-mail addresses, with dots and sub-domains
        ("mail me at jo.smith+shop@mail.example.co.uk", "mail me at [EMAIL]"),
        # UK mobile and landline, national and international forms
        ("call 07700 900123", "call [PHONE]"),
        ("call 07700-900123 today", "call [PHONE] today"),
        ("ring (020) 7946 0958", "ring [PHONE]"),
        ("ring +44 (0)20 7946 0958", "ring [PHONE]"),
        ("ring +44 7700 900123", "ring [PHONE]"),
        # international
        ("my US number is +1 (415) 555-2671", "my US number is [PHONE]"),
        ("0049 30 1234567", "[PHONE]"),
        # payment cards: grouped or not, 13-19 digits, Luhn valid
        ("card 4111 1111 1111 1111.", "card [CARD]."),
        ("card 4111-1111-1111-1111", "card [CARD]"),
        ("amex 378282246310005", "amex [CARD]"),
        # order numbers: 5-6 digits after a context word, or the shop's 5xxxxx
        ("where is order #12345?", "where is order #[ORDER]?"),
        ("order no. 54321 please", "order no. [ORDER] please"),
        ("my order from last week 12345", "my order from last week [ORDER]"),
        ("invoice C536379 is wrong", "invoice [ORDER] is wrong"),
        ("it's 536365", "it's [ORDER]"),
        # UK postcodes, any case
        ("deliver to NW1 6XE", "deliver to [POSTCODE]"),
        ("postcode sw1a 1aa", "postcode [POSTCODE]"),
        # street addresses
        ("I live at 12 Baker Street", "I live at [ADDRESS]"),
        ("4a Church Lane, Leeds LS1 4AP", "[ADDRESS], Leeds [POSTCODE]"),
        ("5 High St, York", "[ADDRESS], York"),
        ("12 St Mary Road", "[ADDRESS]"),
        # several kinds in one message
        (
            "I'm at 221b Baker Street, NW1 6XE, 07700 900123, order 536365",
            "I'm at [ADDRESS], [POSTCODE], [PHONE], order [ORDER]",
        ),
    ],
)
def test_personal_data_is_masked(text: str, expected: str) -> None:
    assert mask(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I want 2 mugs",
        "I want 12 red heart mugs",
        "I ordered 3 items on 2023-01-05 for £15.99",
        "stock code 22423, quantity 10",
        "2 flags of St George",
        "I bought 3 ceramic place mats and 12 cake tins",
        "12345678",  # too short for a card, not a phone number
        "card 4111 1111 1111 1112",  # fails the Luhn check
        "my order arrived in 3 days",
        "",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert mask(text) == text


def test_findings_carry_offsets_in_text_order() -> None:
    text = "mail jo@example.com or call 07700 900123"

    findings = find_personal_data(text)

    assert [(f.label, text[f.start : f.end]) for f in findings] == [
        ("EMAIL", "jo@example.com"),
        ("PHONE", "07700 900123"),
    ]


def test_luhn_check() -> None:
    assert luhn_ok("4111111111111111")
    assert not luhn_ok("4111111111111112")


def test_entity_values_are_masked_and_offsets_dropped() -> None:
    entities = [
        {"entity": "email", "value": "jo@example.com", "start": 3, "end": 17,
         "extractor": "RegexEntityExtractor"},
        {"entity": "product", "value": "mug", "start": 20, "end": 23,
         "confidence_entity": 0.9},
        {"entity": "amount", "value": 2},
    ]  # fmt: skip

    assert mask_entities(entities) == [
        {"entity": "email", "value": "[EMAIL]", "extractor": "RegexEntityExtractor"},
        {"entity": "product", "value": "mug", "confidence_entity": 0.9},
        {"entity": "amount", "value": 2},
    ]


def test_entity_values_of_any_type_are_masked() -> None:
    entities = [
        {"entity": "email", "value": ["joe.bloggs@example.com"]},
        {"entity": "phone", "value": {"n": "+44 7700 900123"}},
        {"entity": "quantity", "value": 3},
        {"entity": "card", "value": 4111111111111111},
        {"entity": "flag", "value": True},
    ]

    values = [e["value"] for e in mask_entities(entities)]

    assert values == ['["[EMAIL]"]', '{"n": "[PHONE]"}', 3, "[CARD]", True]


def test_a_very_long_text_is_cut_and_masked_quickly() -> None:
    text = "a" * 2_000_000 + "@" + "b" * 2_000_000

    masked = mask(text)

    assert masked == "a" * 4000 + " [TRUNCATED]"
