"""The RFM baseline, the ROC-AUC and its bootstrap interval."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

from crm_models.scoring.features import FEATURES
from crm_models.scoring.models import (
    RFMBaseline,
    bootstrap_indices,
    bootstrap_interval,
    roc_auc,
    signed_log1p,
)


def _rows(
    recency: list[float], frequency: list[float], monetary: list[float]
) -> np.ndarray:
    X = np.zeros((len(recency), len(FEATURES)))
    X[:, FEATURES.index("recency_days")] = recency
    X[:, FEATURES.index("frequency")] = frequency
    X[:, FEATURES.index("monetary")] = monetary
    return X


def test_rfm_quintiles_reverse_recency_and_send_ties_down() -> None:
    train = _rows(
        recency=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        frequency=[1, 1, 1, 1, 1, 1, 2, 3, 5, 9],
        monetary=[10, 20, 30, 40, 50, 60, 70, 80, 90, 100],
    )
    rfm = RFMBaseline().fit(train)

    scores = rfm.rfm(_rows([1, 10], [1, 9], [10, 100]))

    assert scores.tolist() == [[5, 1, 1], [1, 5, 5]]  # one order: lowest fifth
    assert RFMBaseline(direction=-1).fit(train).decision_function(
        _rows([1], [9], [100])
    ).tolist() == [-15.0]


def test_rfm_must_be_fitted() -> None:
    with pytest.raises(NotFittedError):
        RFMBaseline().rfm(_rows([1], [1], [1]))


def test_roc_auc_matches_scikit_learn_with_ties() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, size=200)
    score = rng.integers(0, 5, size=200) + y  # many ties

    assert roc_auc(y, score) == pytest.approx(roc_auc_score(y, score))
    assert np.isnan(roc_auc(np.ones(5), np.arange(5)))


def test_the_bootstrap_interval_brackets_the_estimate() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, size=300)
    score = y + rng.normal(0, 1.0, size=300)
    draws = bootstrap_indices(300, n_resamples=200, random_state=0)

    low, high = bootstrap_interval(y, score, draws)

    assert low < roc_auc(y, score) < high
    assert high - low < 0.2
    assert (low, high) == bootstrap_interval(y, score, draws)  # same draws, same answer


def test_signed_log1p_leaves_the_bounded_columns_alone() -> None:
    X = np.full((1, len(FEATURES)), -3.0)

    out = signed_log1p(X)

    assert out[0, FEATURES.index("monetary")] == pytest.approx(-np.log(4.0))
    assert out[0, FEATURES.index("spend_trend")] == -3.0
    assert out[0, FEATURES.index("cancelled_share")] == -3.0
    assert X[0, 0] == -3.0  # the input is not changed in place
