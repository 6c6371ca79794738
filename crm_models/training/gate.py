"""The quality gate: a candidate goes live only if it is not worse than the current.

Every figure is compared with the same figure of the model that serves now, measured
on the same fixed evaluation set (``data/eval/heldout.csv`` and
``tests/bot/test_stories.yml``, both written by us and never trained on). "Not worse"
allows a stated tolerance, because a retrain on more data may trade a hair of one
figure for another; beyond it the candidate is refused and kept for inspection.

The scoring models are compared on their recorded backtests (ROC-AUC of the chosen
model at the test cutoff): a candidate must stay within ``auc`` of the current model
and must not fall below its own RFM baseline by more than the same margin.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Tolerance:
    """How much worse than the current model a candidate may be on each figure."""

    macro_f1: float = 0.01
    accuracy: float = 0.01
    story_accuracy: float = 0.0  # no test story may newly fail
    auc: float = 0.02  # about half the width of a bootstrap interval on this data
    # Not a tolerance but a floor: the share of new labels that similar existing
    # examples back (``crm_models.training.label_audit``).
    min_backed_share: float = 0.5


@dataclass(frozen=True)
class Check:
    """One figure of the gate: before, after, and whether it passed."""

    name: str
    before: float | None
    after: float | None
    tolerance: float
    passed: bool
    note: str = ""
    floor: float | None = None  # a lower bound instead of "not worse than before"

    def describe(self) -> str:
        """One line for people: ``macro_f1 0.950 -> 0.961 (tolerance 0.010) ok``."""

        def fmt(value: float | None) -> str:
            return "   -  " if value is None else f"{value:.3f}"

        verdict = "ok" if self.passed else "WORSE"
        bound = (
            f"at least {self.floor:.3f}"
            if self.floor is not None
            else f"tolerance {self.tolerance:.3f}"
        )
        line = (
            f"{self.name:<28} {fmt(self.before)} -> {fmt(self.after)} "
            f"({bound}) {verdict}"
        )
        return f"{line}  {self.note}" if self.note else line


@dataclass
class Decision:
    """The gate's verdict on one candidate."""

    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every check passed (a gate with no checks refuses)."""
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        """The checks that refused the candidate."""
        return [c for c in self.checks if not c.passed]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"passed": self.passed, "checks": [asdict(c) for c in self.checks]}

    def describe(self) -> str:
        """The verdict and every check, one per line."""
        head = "PROMOTE" if self.passed else "REFUSE"
        return "\n".join([f"gate: {head}", *(f"  {c.describe()}" for c in self.checks)])


def not_worse(
    name: str, before: float | None, after: float | None, tolerance: float
) -> Check:
    """Pass when ``after`` is at least ``before - tolerance``.

    A figure the current model does not have (first model, or a figure added since)
    cannot be compared and passes with a note; a figure the candidate lacks fails.
    """
    if after is None:
        return Check(name, before, after, tolerance, False, "not measured")
    if before is None:
        return Check(name, before, after, tolerance, True, "no earlier figure")
    # Rounded so that 0.95 - 0.01 does not refuse 0.94 by a floating-point hair.
    passed = round(after - (before - tolerance), 9) >= 0
    return Check(name, before, after, tolerance, passed)


def rasa_checks(
    current: Mapping[str, Any] | None,
    candidate: Mapping[str, Any],
    tolerance: Tolerance,
) -> list[Check]:
    """Checks of a Rasa model's evaluation (see ``rasa_models.evaluate``)."""
    current = current or {}
    checks = []
    for key, tol in (
        ("macro_f1", tolerance.macro_f1),
        ("accuracy", tolerance.accuracy),
        ("story_accuracy", tolerance.story_accuracy),
    ):
        checks.append(not_worse(key, current.get(key), candidate.get(key), tol))
    return checks


def label_checks(
    backed_share: float | None, n_labels: int, tolerance: Tolerance
) -> list[Check]:
    """The label audit as a check; no check when there are no new labels."""
    if not n_labels:
        return []
    floor = tolerance.min_backed_share
    passed = backed_share is not None and round(backed_share - floor, 9) >= 0
    note = f"at least {floor:.0%} of the new labels must be backed by similar examples"
    name = f"new labels backed ({n_labels})"
    return [Check(name, None, backed_share, 0.0, passed, note, floor=floor)]


def conflict_checks(n_conflicts: int) -> list[Check]:
    """No text of the training data may carry two intents."""
    note = "the same text under two intents teaches the model to misread it"
    return [
        Check(
            "texts with two intents",
            None,
            float(n_conflicts),
            0.0,
            n_conflicts == 0,
            note if n_conflicts else "",
        )
    ]


def scoring_checks(
    current: Mapping[str, Any] | None,
    candidate: Mapping[str, Any],
    tolerance: Tolerance,
) -> list[Check]:
    """Checks of the scoring models from their ``metadata.json`` backtests."""
    checks = []
    current_models = (current or {}).get("models", {})
    for target, meta in sorted(candidate.get("models", {}).items()):
        after = _chosen_auc(meta)
        before = _chosen_auc(current_models.get(target, {}))
        checks.append(not_worse(f"{target} ROC-AUC", before, after, tolerance.auc))
        rfm = _auc(meta, "rfm")
        checks.append(
            not_worse(f"{target} ROC-AUC vs own RFM", rfm, after, tolerance.auc)
        )
    return checks


def _auc(meta: Mapping[str, Any], kind: str) -> float | None:
    try:
        return float(meta["backtest"]["test"][kind]["roc_auc"]["value"])
    except (KeyError, TypeError, ValueError):
        return None


def _chosen_auc(meta: Mapping[str, Any]) -> float | None:
    return _auc(meta, "chosen")
