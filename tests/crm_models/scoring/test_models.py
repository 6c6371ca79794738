"""The estimators: RFM baseline, rank blend, calibration and the fast linear path."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from crm_models.scoring.evaluation import roc_auc
from crm_models.scoring.features import FEATURES
from crm_models.scoring.models import (
    KINDS,
    CalibratedModel,
    RankBlend,
    RFMBaseline,
    calibrate,
    make_candidate,
    make_logistic,
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


def test_signed_log1p_leaves_the_bounded_columns_alone() -> None:
    X = np.full((1, len(FEATURES)), -3.0)

    out = signed_log1p(X)

    assert out[0, FEATURES.index("monetary")] == pytest.approx(-np.log(4.0))
    assert out[0, FEATURES.index("spend_trend")] == -3.0
    assert out[0, FEATURES.index("cancelled_share")] == -3.0
    assert X[0, 0] == -3.0  # the input is not changed in place


def _problem(n: int = 400, seed: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows where recent, frequent customers buy more often; 4 rows per customer."""
    rng = np.random.default_rng(seed)
    X = np.abs(rng.normal(size=(n, len(FEATURES)))) * 10
    recency = X[:, FEATURES.index("recency_days")]
    frequency = X[:, FEATURES.index("frequency")]
    logit = 0.15 * frequency - 0.1 * recency
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    groups = np.arange(n) // 4
    return X, y, groups


@pytest.mark.parametrize("kind", KINDS)
def test_calibrated_probabilities_lie_in_0_1_and_keep_the_ranking(kind: str) -> None:
    X, y, groups = _problem()

    model = calibrate(kind, X, y, groups, random_state=0, n_folds=4)
    p = model.predict_proba(X)

    assert p.shape == (len(X), 2)
    assert np.all((p >= 0) & (p <= 1))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert roc_auc(y, p[:, 1]) > 0.6
    # Isotonic: a higher raw score never gets a lower probability.
    order = np.argsort(model.score(X))
    assert np.all(np.diff(p[order, 1]) >= -1e-12)


def test_calibration_matches_the_base_rate_on_average() -> None:
    X, y, groups = _problem(n=800)

    p = calibrate("logistic", X, y, groups, random_state=0).predict_proba(X)[:, 1]

    assert p.mean() == pytest.approx(y.mean(), abs=0.03)


def test_the_fast_linear_path_equals_the_pipeline() -> None:
    X, y, groups = _problem()
    pipeline = make_logistic(0).fit(X, y)

    model = calibrate("logistic", X, y, groups, random_state=0)

    np.testing.assert_allclose(
        model.score(X), pipeline.predict_proba(X)[:, 1], rtol=1e-9, atol=1e-12
    )
    assert isinstance(model, CalibratedModel)


def test_the_rank_blend_averages_the_two_rankings() -> None:
    X, y, _ = _problem()

    blend = RankBlend(direction=1, random_state=0).fit(X, y)
    score = blend.decision_function(X)

    assert np.all((score >= 0) & (score <= 1))
    rfm = RFMBaseline().fit(X).decision_function(X)
    logistic = make_logistic(0).fit(X, y).predict_proba(X)[:, 1]
    # Better than neither on the data it learned from.
    assert roc_auc(y, score) >= min(roc_auc(y, rfm), roc_auc(y, logistic))
    with pytest.raises(NotFittedError):
        RankBlend().decision_function(X)


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown model kind"):
        make_candidate("forest", random_state=0)
