"""Do the new labels agree with what the assistant already knows?

A handful of wrong labels leaves the figures on the fixed evaluation set untouched
(12 shuffled labels among 2,400 examples changed no held-out prediction), yet the
model then answers exactly those phrasings wrongly. So the gate also audits the
examples a candidate was trained on that the promoted model was not: a new label is
*backed* when its intent is among the intents of its ``k`` nearest existing examples
(MiniLM sentence embeddings, cosine). A trainer's honest labels for phrasings the
model missed are nearly always backed (their neighbours are related requests); a
shuffled label set nearly never is. The gate wants at least ``min_share`` of the new
labels backed, and the report lists the ones that are not, for a second look.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from crm_models.training.nlu_data import plain_text, read_examples

logger = logging.getLogger(__name__)

EXAMPLES_FILE = "examples.json"  # the NLU examples a Rasa version was trained on
DEFAULT_K = 10
DEFAULT_MIN_SHARE = 0.5

Encoder = Callable[[Sequence[str]], np.ndarray]
Example = tuple[str, str]  # (normalised plain text, intent)


def snapshot(nlu_dir: Path) -> list[Example]:
    """Every (text, intent) example of the NLU folder, sorted."""
    pairs = {
        (text, source.intent)
        for text, sources in read_examples(nlu_dir).items()
        for source in sources
    }
    return sorted(pairs)


def save_snapshot(examples: Iterable[Example], path: Path) -> None:
    """Write the examples as JSON (a list of ``[text, intent]``)."""
    path.write_text(json.dumps([list(e) for e in examples]) + "\n", encoding="utf-8")


def load_snapshot(path: Path) -> list[Example] | None:
    """The examples saved at ``path``, or None when there is no snapshot."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return [(str(text), str(intent)) for text, intent in data]


@dataclass
class AuditedLabel:
    """One new label and the intents of its nearest existing examples."""

    text: str
    intent: str
    backed: bool
    neighbours: list[tuple[str, int]]  # intent, how many of the k nearest


@dataclass
class Audit:
    """The audit of a candidate's new labels."""

    k: int
    labels: list[AuditedLabel] = field(default_factory=list)

    @property
    def n(self) -> int:
        """How many new labels were audited."""
        return len(self.labels)

    @property
    def backed_share(self) -> float | None:
        """Share of new labels backed by their neighbours (None without labels)."""
        if not self.labels:
            return None
        return round(sum(label.backed for label in self.labels) / self.n, 4)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "k": self.k,
            "n": self.n,
            "backed_share": self.backed_share,
            "labels": [
                {
                    "text": label.text,
                    "intent": label.intent,
                    "backed": label.backed,
                    "neighbours": label.neighbours,
                }
                for label in self.labels
            ],
        }


def new_examples(
    candidate: Iterable[Example], current: Iterable[Example]
) -> list[Example]:
    """Examples of the candidate's data that the current model was not trained on."""
    return sorted(set(candidate) - set(current))


def audit(
    new: Sequence[Example],
    existing: Sequence[Example],
    encode: Encoder,
    *,
    k: int = DEFAULT_K,
) -> Audit:
    """Check each new label against its ``k`` nearest existing examples.

    Existing examples with the same text as a new one are left out of its
    neighbours, so a label cannot back itself.
    """
    result = Audit(k=k)
    if not new or not existing:
        return result
    existing_texts = [text for text, _ in existing]
    vectors = np.asarray(encode(existing_texts), dtype=np.float32)
    queries = np.asarray(encode([text for text, _ in new]), dtype=np.float32)
    similarity = queries @ vectors.T
    for row, (text, intent) in enumerate(new):
        scores = similarity[row].copy()
        scores[[i for i, t in enumerate(existing_texts) if t == text]] = -np.inf
        nearest = np.argsort(-scores)[:k]
        votes = Counter(existing[i][1] for i in nearest if np.isfinite(scores[i]))
        result.labels.append(
            AuditedLabel(
                text=text,
                intent=intent,
                backed=intent in votes,
                neighbours=votes.most_common(),
            )
        )
    logger.info(
        "training.label_audit.done labels=%d backed_share=%s",
        result.n,
        result.backed_share,
    )
    return result


def default_encoder(texts: Sequence[str]) -> np.ndarray:
    """MiniLM sentence vectors, L2-normalised (loaded on first use)."""
    from crm_models.recommend.embeddings import encode

    return encode([plain_text(t) for t in texts])
