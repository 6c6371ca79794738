"""The benchmark's ranking metrics on tiny inputs with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crm_models.bench.metrics import (
    bootstrap_mean_ci,
    coverage,
    hit_at_k,
    ndcg_at_k,
    per_user,
    percentiles,
    recall_at_k,
)


def test_hit_rate_looks_at_the_first_k_only() -> None:
    assert hit_at_k([5, 6, 7], {7}, k=3) == 1.0
    assert hit_at_k([5, 6, 7], {7}, k=2) == 0.0
    assert hit_at_k([], {7}, k=10) == 0.0


def test_ndcg_with_binary_relevance() -> None:
    # One relevant item at rank 2: DCG 1/log2(3); ideal 1/log2(2) = 1.
    assert ndcg_at_k([1, 2, 3], {2}, k=10) == pytest.approx(1 / math.log2(3))
    # Two relevant at ranks 1 and 3 out of two: (1 + 1/2) / (1 + 1/log2(3)).
    assert ndcg_at_k([1, 2, 3], {1, 3}, k=10) == pytest.approx(
        1.5 / (1 + 1 / math.log2(3))
    )
    # More relevant items than k: the ideal has k of them.
    assert ndcg_at_k([1, 2], {1, 2, 3}, k=2) == pytest.approx(1.0)
    assert ndcg_at_k([1, 2], set(), k=2) == 0.0


def test_recall_at_k_against_exact_search() -> None:
    assert recall_at_k([1, 2, 9, 4], [1, 2, 3, 4], k=4) == 0.75
    assert recall_at_k([1, 2], [1, 2, 3], k=2) == 1.0
    assert math.isnan(recall_at_k([1], [], k=3))


def test_coverage_counts_distinct_products_shown() -> None:
    rankings = {1: [1, 2, 3], 2: [3, 4, 5]}

    assert coverage(rankings, n_items=10, k=2) == pytest.approx(0.4)  # 1, 2, 3, 4


def test_per_user_counts_a_missing_ranking_as_a_miss() -> None:
    values = per_user({1: [7, 8]}, {1: {8}, 2: {9}}, k=10)

    assert values["hit_rate"].tolist() == [1.0, 0.0]
    assert values["ndcg"][0] == pytest.approx(1 / math.log2(3))


def test_the_bootstrap_interval_of_a_mean() -> None:
    values = np.r_[np.ones(60), np.zeros(40)]

    low, high = bootstrap_mean_ci(values, n_resamples=500, random_state=1)

    assert low < 0.6 < high
    assert low > 0.45
    assert high < 0.75
    assert (low, high) == bootstrap_mean_ci(values, n_resamples=500, random_state=1)
    constant = bootstrap_mean_ci(np.ones(5), n_resamples=50, random_state=0)
    assert constant == (1.0, 1.0)
    assert all(
        math.isnan(v)
        for v in bootstrap_mean_ci(np.zeros(0), n_resamples=5, random_state=0)
    )


def test_percentiles() -> None:
    assert percentiles([1.0, 2.0, 3.0, 4.0, 5.0], (50, 100)) == [3.0, 5.0]
    assert all(math.isnan(v) for v in percentiles([], (50,)))
