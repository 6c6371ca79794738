"""ROC-AUC, PR-AUC, Brier score and their bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from crm_models.scoring.evaluation import (
    bootstrap_indices,
    bootstrap_interval,
    brier,
    evaluate,
    pr_auc,
    roc_auc,
)


def test_roc_auc_matches_scikit_learn_with_ties() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, size=200)
    score = rng.integers(0, 5, size=200) + y  # many ties

    assert roc_auc(y, score) == pytest.approx(roc_auc_score(y, score))
    assert np.isnan(roc_auc(np.ones(5), np.arange(5)))


def test_pr_auc_matches_scikit_learn_without_ties() -> None:
    rng = np.random.default_rng(8)
    y = rng.integers(0, 2, size=300)
    score = y + rng.normal(size=300)

    assert pr_auc(y, score) == pytest.approx(average_precision_score(y, score))


def test_pr_auc_on_a_tiny_known_ranking() -> None:
    # Ranked: pos, neg, pos -> precisions at the positives 1 and 2/3.
    assert pr_auc(np.array([1, 0, 1]), np.array([0.9, 0.5, 0.1])) == pytest.approx(
        (1 + 2 / 3) / 2
    )
    # Tied scores form one block: both positives get its precision 2/3.
    assert pr_auc(np.array([1, 0, 1]), np.array([0.5, 0.5, 0.5])) == pytest.approx(
        2 / 3
    )
    assert np.isnan(pr_auc(np.zeros(3), np.arange(3)))


def test_brier_score() -> None:
    assert brier(np.array([1, 0]), np.array([0.8, 0.4])) == pytest.approx(
        (0.04 + 0.16) / 2
    )


def test_the_bootstrap_interval_brackets_the_estimate() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, size=300)
    score = y + rng.normal(0, 1.0, size=300)
    draws = bootstrap_indices(300, n_resamples=200, random_state=0)

    low, high = bootstrap_interval(y, score, draws)

    assert low < roc_auc(y, score) < high
    assert high - low < 0.2
    assert (low, high) == bootstrap_interval(y, score, draws)  # same draws, same answer


def test_evaluate_gives_every_metric_for_a_probability_only() -> None:
    rng = np.random.default_rng(6)
    y = rng.integers(0, 2, size=100)
    draws = bootstrap_indices(100, n_resamples=50, random_state=1)

    probability = evaluate(y, np.clip(y * 0.6 + 0.2, 0, 1), draws)
    rank_sum = evaluate(y, y * 5.0 + 3, draws)

    assert set(probability) == {"roc_auc", "pr_auc", "brier"}
    assert set(rank_sum) == {"roc_auc", "pr_auc"}  # a 3-15 sum has no Brier score
    estimate = probability["brier"]
    assert estimate.low <= estimate.value <= estimate.high
    assert estimate.as_dict()["value"] == pytest.approx(0.04)
