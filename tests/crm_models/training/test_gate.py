from __future__ import annotations

import pytest

from crm_models.training import gate
from crm_models.training.gate import Decision, Tolerance, not_worse


def test_a_figure_within_the_tolerance_passes_and_beyond_it_fails() -> None:
    assert not_worse("macro_f1", 0.95, 0.94, 0.01).passed
    assert not not_worse("macro_f1", 0.95, 0.9399, 0.01).passed
    assert not_worse("macro_f1", 0.95, 0.97, 0.0).passed


def test_missing_figures() -> None:
    first = not_worse("macro_f1", None, 0.5, 0.01)
    assert first.passed
    assert first.note == "no earlier figure"
    unmeasured = not_worse("macro_f1", 0.9, None, 0.01)
    assert not unmeasured.passed
    assert unmeasured.note == "not measured"


def test_rasa_checks_refuse_a_newly_failing_story() -> None:
    current = {"macro_f1": 0.95, "accuracy": 0.95, "story_accuracy": 1.0}
    better_nlu = {"macro_f1": 0.97, "accuracy": 0.96, "story_accuracy": 15 / 16}

    decision = Decision(gate.rasa_checks(current, better_nlu, Tolerance()))

    assert not decision.passed
    assert [c.name for c in decision.failed] == ["story_accuracy"]
    assert "REFUSE" in decision.describe()
    assert decision.as_dict()["passed"] is False


def test_rasa_checks_pass_the_first_model() -> None:
    candidate = {"macro_f1": 0.9, "accuracy": 0.9, "story_accuracy": 1.0}
    assert Decision(gate.rasa_checks(None, candidate, Tolerance())).passed


def test_an_empty_decision_refuses() -> None:
    assert not Decision([]).passed


def _scoring(auc: float, rfm: float) -> dict:
    def estimate(value: float) -> dict:
        return {"roc_auc": {"value": value, "ci_low": value - 0.02}}

    return {
        "models": {
            "propensity": {
                "backtest": {"test": {"chosen": estimate(auc), "rfm": estimate(rfm)}}
            }
        }
    }


@pytest.mark.parametrize(
    ("before", "after", "rfm", "passed"),
    [
        (0.74, 0.73, 0.72, True),  # inside the tolerance
        (0.74, 0.70, 0.69, False),  # worse than the current model
        (0.74, 0.74, 0.78, False),  # far below its own RFM baseline
    ],
)
def test_scoring_checks(before: float, after: float, rfm: float, passed: bool) -> None:
    decision = Decision(
        gate.scoring_checks(_scoring(before, 0.7), _scoring(after, rfm), Tolerance())
    )
    assert decision.passed is passed
