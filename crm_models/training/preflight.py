"""Checks of the NLU data before a Rasa model is trained on it.

Hand edits and forced labels reach ``data/nlu`` without the inbox's checks. Rasa
trains on an intent the domain lacks with only a warning among hundreds of lines, and
the model then answers those messages with a fallback; and one text under two
intents teaches the model to misread it. Both are caught here, with file and line:

- an intent the domain does not declare stops the retrain (nothing is trained);
- a text labelled with two intents is a gate check, so ``--force`` can overrule it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from crm_models.training.nlu_data import (
    ExampleSource,
    load_domain,
    normalise,
    plain_text,
    read_file_examples,
)

logger = logging.getLogger(__name__)


@dataclass
class Preflight:
    """What the NLU data holds that should not be trained on."""

    unknown_intents: list[ExampleSource] = field(default_factory=list)
    conflicts: list[tuple[str, list[ExampleSource]]] = field(default_factory=list)

    def unknown_lines(self, root: Path | None = None) -> list[str]:
        """One line per example whose intent the domain lacks."""
        return [
            f"{source.describe(root)}: intent {source.intent!r} is not in the domain"
            for source in self.unknown_intents
        ]

    def conflict_lines(self, root: Path | None = None) -> list[str]:
        """One line per text that has two or more intents."""
        return [
            f"{text!r} is " + "; ".join(s.describe(root) for s in sources)
            for text, sources in self.conflicts
        ]


def check(nlu_dir: Path, domain: Path) -> Preflight:
    """Read every NLU file and compare it with the domain and with itself.

    Raises:
        DataError: a file is not valid YAML (the message names file and line).
    """
    intents = load_domain(domain).intents
    result = Preflight()
    by_text: dict[str, list[ExampleSource]] = {}
    files = sorted(p for p in nlu_dir.rglob("*") if p.suffix in (".yml", ".yaml"))
    for path in files:
        for source in read_file_examples(path):
            if source.intent not in intents:
                result.unknown_intents.append(source)
            by_text.setdefault(normalise(plain_text(source.markup)), []).append(source)
    for text, sources in sorted(by_text.items()):
        if len({s.intent for s in sources}) > 1:
            result.conflicts.append((text, sources))
    logger.info(
        "training.preflight.checked unknown_intents=%d conflicts=%d",
        len(result.unknown_intents),
        len(result.conflicts),
    )
    return result


def first(lines: Iterable[str], n: int = 10) -> list[str]:
    """At most ``n`` lines, and how many more there are."""
    lines = list(lines)
    shown = lines[:n]
    if len(lines) > n:
        shown.append(f"... and {len(lines) - n} more")
    return shown
