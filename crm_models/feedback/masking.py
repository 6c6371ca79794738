"""Rule-based masking of personal data in customer messages.

Regular expressions find e-mail addresses, phone numbers, payment card numbers (Luhn
checked) and UK postcodes; spaCy token patterns (a blank English tokenizer and a
``Matcher``, no trained model) find street addresses and order numbers by their
context. Each finding is replaced by a placeholder such as ``[EMAIL]``.

    >>> mask("I'm at 12 Baker Street, NW1 6XE, order #536365")
    "I'm at [ADDRESS], [POSTCODE], order #[ORDER]"
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.matcher import Matcher

logger = logging.getLogger(__name__)

EMAIL = "EMAIL"
PHONE = "PHONE"
CARD = "CARD"
ORDER = "ORDER"
POSTCODE = "POSTCODE"
ADDRESS = "ADDRESS"
LABELS = (EMAIL, PHONE, CARD, ORDER, POSTCODE, ADDRESS)

# Of two overlapping findings the longer wins; on equal length, the earlier label here.
_PRIORITY = {label: rank for rank, label in enumerate(LABELS)}

# Bounded parts (RFC 5321 lengths): the cost per start position stays bounded.
_EMAIL_RE = re.compile(
    r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}"
    r"\.[A-Za-z]{2,24}"
)
# Longer texts are cut before masking: no customer types this much into a chat,
# and the patterns' cost grows with the length.
MAX_TEXT = 4000
TRUNCATED = " [TRUNCATED]"
# 13-19 digits, optionally grouped by single spaces or hyphens.
_CARD_RE = re.compile(r"(?<![\d+])\d(?:[ -]?\d){12,18}(?!\d)")
# International (+44 ..., 0044 ...) or UK national (07700 ..., (020) ...) numbers,
# digit groups split by at most one separator; the digit count is checked after.
_PHONE_RE = re.compile(
    r"(?<![\w+])(?:(?:\+|00)\d{1,3}(?:[ .-]?\(0\))?|\(?0\d{1,4}\)?)"
    r"(?:[ .-]?\(?\d{2,5}\)?){1,4}(?![\w])"
)
_POSTCODE_RE = re.compile(
    r"\b(?:[A-Z]{1,2}\d[A-Z\d]?|GIR) ?\d[A-Z]{2}\b", flags=re.IGNORECASE
)
# The shop's invoice numbers are six digits starting with 5 (C for a credit note).
_SHOP_ORDER_RE = re.compile(r"(?<![\w+])C?5\d{5}(?![\w])", flags=re.IGNORECASE)

_ORDER_CONTEXT = ["order", "orders", "invoice", "ref", "reference", "#"]
_STREET_SUFFIXES = [
    "st", "street", "road", "rd", "avenue", "ave", "lane", "drive", "crescent",
    "terrace", "close", "grove", "mews", "boulevard", "way",
]  # fmt: skip
# "St" also means Saint: "2 flags of St George" is no address.
_SAINT_OR_STREET = "st"


@dataclass(frozen=True)
class Finding:
    """One piece of personal data: its kind and character offsets in the text."""

    label: str
    start: int
    end: int


def luhn_ok(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check used by payment cards."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_ok(match: str) -> bool:
    digits = re.sub(r"\D", "", match)
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


def _phone_ok(match: str) -> bool:
    digits = re.sub(r"\D", "", match)
    if match.startswith(("+", "00")):
        return 8 <= len(digits) <= 15
    return 10 <= len(digits) <= 11  # UK national format, leading 0


_REGEX_RULES: tuple[tuple[str, re.Pattern[str], Callable[[str], bool] | None], ...] = (
    (EMAIL, _EMAIL_RE, None),
    (CARD, _CARD_RE, _card_ok),
    (PHONE, _PHONE_RE, _phone_ok),
    (POSTCODE, _POSTCODE_RE, None),
    (ORDER, _SHOP_ORDER_RE, None),
)


@dataclass(frozen=True)
class _Pipeline:
    nlp: Language
    matcher: Matcher


@lru_cache(maxsize=1)
def _pipeline() -> _Pipeline:
    """The blank English tokenizer and token patterns, built on first use."""
    import spacy
    from spacy.matcher import Matcher

    nlp = spacy.blank("en")
    matcher = Matcher(nlp.vocab)
    # "12 Baker Street", "4a St John's Road": a house number, 1-3 words, a suffix.
    matcher.add(
        ADDRESS,
        [
            [
                {"TEXT": {"REGEX": r"^\d{1,4}[A-Za-z]?$"}},
                {
                    "IS_ALPHA": True,
                    "LOWER": {"NOT_IN": _STREET_SUFFIXES[1:]},  # "St" as in Saint
                    "OP": "+",
                },
                {"LOWER": {"IN": _STREET_SUFFIXES}},
            ]
        ],
    )
    # "order #12345", "order no. 536365", "invoice number: 12345": a 5-6 digit number
    # at most three tokens after a context word; only the number is masked.
    matcher.add(
        ORDER,
        [
            [
                {"LOWER": {"IN": _ORDER_CONTEXT}},
                {"TEXT": {"REGEX": r"^(?!C?\d{5,6}$)"}, "OP": "{,3}"},
                {"TEXT": {"REGEX": r"^[Cc]?\d{5,6}$"}},
            ]
        ],
    )
    logger.debug("masking.pipeline.built")
    return _Pipeline(nlp=nlp, matcher=matcher)


def find_personal_data(text: str) -> list[Finding]:
    """The non-overlapping pieces of personal data in ``text``, in text order."""
    if not text:
        return []
    candidates: list[Finding] = []
    for label, pattern, valid in _REGEX_RULES:
        for match in pattern.finditer(text):
            if valid is None or valid(match.group()):
                candidates.append(Finding(label, match.start(), match.end()))

    pipeline = _pipeline()
    doc = pipeline.nlp.make_doc(text)
    for match_id, start, end in pipeline.matcher(doc):
        label = pipeline.nlp.vocab.strings[match_id]
        span = doc[end - 1 : end] if label == ORDER else doc[start:end]
        if label == ADDRESS and (
            len(span) > 5  # a house number, at most three words and a suffix
            or (span[-1].lower_ == _SAINT_OR_STREET and _next_is_word(doc, end))
        ):
            continue
        candidates.append(Finding(label, span.start_char, span.end_char))
    return _resolve_overlaps(candidates)


def _next_is_word(doc: Any, index: int) -> bool:
    return index < len(doc) and doc[index].is_alpha


def _resolve_overlaps(candidates: Iterable[Finding]) -> list[Finding]:
    chosen: list[Finding] = []
    ranked = sorted(
        set(candidates),
        key=lambda f: (-(f.end - f.start), _PRIORITY[f.label], f.start),
    )
    for finding in ranked:
        if all(finding.end <= c.start or finding.start >= c.end for c in chosen):
            chosen.append(finding)
    return sorted(chosen, key=lambda f: f.start)


def mask(text: str) -> str:
    """``text`` with each piece of personal data replaced by ``[LABEL]``.

    A text longer than ``MAX_TEXT`` is cut there first (marked ``[TRUNCATED]``).
    """
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + TRUNCATED
    findings = find_personal_data(text)
    if not findings:
        return text
    parts: list[str] = []
    position = 0
    for finding in findings:
        parts.append(text[position : finding.start])
        parts.append(f"[{finding.label}]")
        position = finding.end
    parts.append(text[position:])
    return "".join(parts)


def mask_entities(entities: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """NLU entities with masked values, reduced to what feedback needs.

    Character offsets are dropped: they point into the unmasked text.
    """
    masked = []
    for entity in entities:
        item: dict[str, Any] = {
            "entity": entity.get("entity"),
            "value": _masked_value(entity.get("value")),
        }
        for key in ("confidence_entity", "extractor", "role", "group"):
            if entity.get(key) is not None:
                item[key] = entity[key]
        masked.append(item)
    return masked


def _masked_value(value: Any) -> Any:
    """An entity value masked: text as text; a number kept unless it is personal
    data; anything else (a list, an object) as masked JSON text."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, int | float):
        text = str(value)
        masked = mask(text)
        return value if masked == text else masked
    return mask(json.dumps(value, ensure_ascii=False, default=str))
