"""The estimators: an RFM baseline, logistic regression and gradient boosting.

Every hyperparameter is passed explicitly (library defaults change between
releases) and every random state is pinned. Inputs are arrays whose columns follow
``features.FEATURES``. ``calibrate`` turns any of them into a ``CalibratedModel``
whose probabilities come from an isotonic map fitted on out-of-fold scores.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from functools import lru_cache
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import NotFittedError
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from threadpoolctl import ThreadpoolController

from crm_models.scoring.features import FEATURES

# Counts, days and money are long-tailed: the linear model sees them on a log scale.
_LINEAR_AS_IS = frozenset({"spend_trend", "cancelled_share"})
_LOG_COLUMNS = np.array([i for i, f in enumerate(FEATURES) if f not in _LINEAR_AS_IS])
_RFM_COLUMNS = (
    FEATURES.index("recency_days"),
    FEATURES.index("frequency"),
    FEATURES.index("monetary"),
)


@lru_cache(maxsize=1)
def _threadpools() -> ThreadpoolController:
    # Finding the loaded thread pools takes ~2 ms: do it once, not per score.
    return ThreadpoolController()


def single_threaded() -> AbstractContextManager[object]:
    """A context that keeps OpenMP to one thread.

    On a small shared machine the boosting's OpenMP threads spin against other
    processes: a fit that takes 0.4 s on one thread took 11 s on two busy cores.
    The data here is far too small to gain from threads anyway.
    """
    return _threadpools().limit(limits=1, user_api="openmp")


def one_thread() -> AbstractContextManager[object]:
    """A context that keeps OpenMP and BLAS to one thread.

    For the small matrix products of one request, BLAS threads only cost: on two
    busy cores a 200 × 384 by 384 × 50 product took 16 ms threaded, 0.4 ms not.
    """
    return _threadpools().limit(limits=1)


def signed_log1p(X: np.ndarray) -> np.ndarray:
    """``sign(x)·log(1 + |x|)`` on the long-tailed columns, the rest unchanged."""
    X = np.array(X, dtype=np.float64, copy=True)
    part = X[:, _LOG_COLUMNS]
    X[:, _LOG_COLUMNS] = np.sign(part) * np.log1p(np.abs(part))
    return X


def make_logistic(random_state: int) -> Pipeline:
    """Log transform, standard scaling, L2 logistic regression."""
    return Pipeline(
        [
            ("log", FunctionTransformer(signed_log1p, validate=False)),
            ("scale", StandardScaler(with_mean=True, with_std=True)),
            (
                "model",
                LogisticRegression(
                    C=1.0,
                    l1_ratio=0.0,
                    fit_intercept=True,
                    class_weight=None,
                    solver="lbfgs",
                    max_iter=1000,
                    tol=1e-4,
                    random_state=random_state,
                ),
            ),
        ]
    )


def make_boosting(random_state: int) -> HistGradientBoostingClassifier:
    """Small, regularised histogram gradient boosting (no early stopping)."""
    return HistGradientBoostingClassifier(
        loss="log_loss",
        learning_rate=0.05,
        max_iter=200,
        max_leaf_nodes=15,
        max_depth=None,
        min_samples_leaf=40,
        l2_regularization=1.0,
        max_features=1.0,
        max_bins=255,
        early_stopping=False,
        class_weight=None,
        random_state=random_state,
    )


class RFMBaseline(BaseEstimator):
    """Recency, frequency and monetary quintiles (1-5 each) summed into 3-15.

    Quintile edges are learned on the training rows. A score counts the edges below
    the value, so ties go to the lower fifth (many customers have one order);
    recency is reversed (the most recent fifth scores 5). ``direction`` +1 ranks
    high-RFM customers first (propensity, returns), -1 last (churn).
    """

    def __init__(self, *, direction: int = 1) -> None:
        self.direction = direction

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> RFMBaseline:
        """Learn the quintile edges of recency, frequency and monetary."""
        X = np.asarray(X, dtype=np.float64)
        self.edges_ = [
            np.quantile(X[:, column], [0.2, 0.4, 0.6, 0.8]).tolist()
            for column in _RFM_COLUMNS
        ]
        return self

    def rfm(self, X: np.ndarray) -> np.ndarray:
        """The (r, f, m) quintile scores, one row per input row."""
        if not hasattr(self, "edges_"):
            raise NotFittedError("RFMBaseline is not fitted yet")
        X = np.asarray(X, dtype=np.float64)
        (r_edges, f_edges, m_edges) = self.edges_
        (r_col, f_col, m_col) = _RFM_COLUMNS
        # Recency: at or below the first edge (most recent fifth) scores 5.
        r = 5 - np.searchsorted(r_edges, X[:, r_col], side="left")
        f = np.searchsorted(f_edges, X[:, f_col], side="left") + 1
        m = np.searchsorted(m_edges, X[:, m_col], side="left") + 1
        return np.column_stack([r, f, m])

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """The signed quintile sum (higher = more likely positive)."""
        return self.direction * self.rfm(X).sum(axis=1).astype(np.float64)


class RankBlend(BaseEstimator):
    """The mean of the RFM score's and the logistic regression's training ranks.

    Each model's score is mapped to its empirical distribution on the training rows
    (the share of training scores below it), and the two shares are averaged: a
    rank average that needs no common scale. The two models err differently (RFM
    is coarse but robust, the regression finer but noisier), so the blend ranks
    better than either at validation.
    """

    def __init__(self, *, direction: int = 1, random_state: int = 0) -> None:
        self.direction = direction
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> RankBlend:
        """Fit both models and remember their training score distributions."""
        X = np.asarray(X, dtype=np.float64)
        self.rfm_ = RFMBaseline(direction=self.direction).fit(X)
        self.logistic_ = make_logistic(self.random_state).fit(X, y)
        self._linear = _LinearScorer(self.logistic_)
        self.rfm_sorted_ = np.sort(self.rfm_.decision_function(X))
        self.logistic_sorted_ = np.sort(self._linear(X))
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """The average training-rank share of the two scores, 0..1."""
        if not hasattr(self, "rfm_"):
            raise NotFittedError("RankBlend is not fitted yet")
        X = np.asarray(X, dtype=np.float64)
        r = self.rfm_.decision_function(X)
        q = self._linear(X)
        share_r = _ecdf(self.rfm_sorted_, r)
        share_q = _ecdf(self.logistic_sorted_, q)
        return (share_r + share_q) / 2


def _ecdf(sorted_values: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Mid-rank share of ``sorted_values`` below each value (ties count half)."""
    left = np.searchsorted(sorted_values, values, side="left")
    right = np.searchsorted(sorted_values, values, side="right")
    return (left + right) / (2.0 * len(sorted_values))


def make_rfm(direction: int = 1) -> RFMBaseline:
    """The RFM quintile-sum score (``direction`` as in ``RFMBaseline``)."""
    return RFMBaseline(direction=direction)


KINDS = ("rfm", "logistic", "boosting", "blend")


def make_candidate(kind: str, *, random_state: int, direction: int = 1) -> Any:
    """A fresh, unfitted estimator of ``kind`` (see ``KINDS``)."""
    if kind == "rfm":
        return make_rfm(direction)
    if kind == "blend":
        return RankBlend(direction=direction, random_state=random_state)
    if kind == "logistic":
        return make_logistic(random_state)
    if kind == "boosting":
        return make_boosting(random_state)
    raise ValueError(f"unknown model kind {kind!r}")


def raw_score(model: Any, X: np.ndarray) -> np.ndarray:
    """The model's ranking score: a probability, the RFM sum or the blend's rank."""
    if isinstance(model, RFMBaseline | RankBlend):
        return model.decision_function(X)
    return model.predict_proba(X)[:, 1]


class _LinearScorer:
    """The fitted log-scale-logistic pipeline as plain arrays (no sklearn overhead).

    Scoring one customer goes through sklearn's input validation three times
    otherwise (about 0.3 ms per target); this is a handful of numpy operations.
    """

    def __init__(self, pipeline: Pipeline) -> None:
        scaler = pipeline.named_steps["scale"]
        model = pipeline.named_steps["model"]
        self.log_columns = _LOG_COLUMNS
        self.mean = np.asarray(scaler.mean_, dtype=np.float64)
        self.scale = np.asarray(scaler.scale_, dtype=np.float64)
        self.coef = np.asarray(model.coef_[0], dtype=np.float64)
        self.intercept = float(model.intercept_[0])

    def __call__(self, X: np.ndarray) -> np.ndarray:
        Z = np.array(X, dtype=np.float64, copy=True)
        part = Z[:, self.log_columns]
        Z[:, self.log_columns] = np.sign(part) * np.log1p(np.abs(part))
        z = ((Z - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))


class CalibratedModel:
    """A fitted estimator and an isotonic map from its score to a probability.

    Args:
        kind: one of ``KINDS``.
        model: the estimator, fitted on all the training rows.
        calibrator: fitted on the estimator's out-of-fold scores of those rows.
    """

    def __init__(self, kind: str, model: Any, calibrator: IsotonicRegression) -> None:
        self.kind = kind
        self.model = model
        self.calibrator = calibrator
        self._x = np.asarray(calibrator.X_thresholds_, dtype=np.float64)
        self._y = np.asarray(calibrator.y_thresholds_, dtype=np.float64)
        self._linear = _LinearScorer(model) if kind == "logistic" else None

    def score(self, X: np.ndarray) -> np.ndarray:
        """The uncalibrated ranking score of each row."""
        X = np.asarray(X, dtype=np.float64)
        if self._linear is not None:
            return self._linear(X)
        if self.kind == "boosting":
            with single_threaded():
                return raw_score(self.model, X)
        return raw_score(self.model, X)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Calibrated ``[P(0), P(1)]`` per row, like a classifier's."""
        p = np.interp(self.score(X), self._x, self._y)
        p = np.clip(p, 0.0, 1.0)
        return np.column_stack([1.0 - p, p])


def calibrate(
    kind: str,
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    *,
    random_state: int,
    direction: int = 1,
    n_folds: int = 5,
) -> CalibratedModel:
    """Fit ``kind`` on all rows and its isotonic calibration on out-of-fold scores.

    Folds split by ``groups`` (the customer), so a customer's rows at several
    cutoffs never sit on both sides of a fold.
    """
    with single_threaded():
        return _calibrate(
            kind,
            np.asarray(X, dtype=np.float64),
            np.asarray(y, dtype=int),
            groups,
            random_state=random_state,
            direction=direction,
            n_folds=n_folds,
        )


def _calibrate(
    kind: str,
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    *,
    random_state: int,
    direction: int,
    n_folds: int,
) -> CalibratedModel:
    folds = min(n_folds, len(np.unique(groups)))
    oof = np.zeros(len(y), dtype=np.float64)
    for train_rows, test_rows in GroupKFold(n_splits=folds).split(X, y, groups):
        model = make_candidate(kind, random_state=random_state, direction=direction)
        if len(np.unique(y[train_rows])) < 2:
            oof[test_rows] = float(np.mean(y[train_rows]))
            continue
        model.fit(X[train_rows], y[train_rows])
        oof[test_rows] = raw_score(model, X[test_rows])
    calibrator = IsotonicRegression(
        y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip"
    ).fit(oof, y)
    model = make_candidate(kind, random_state=random_state, direction=direction)
    model.fit(X, y)
    return CalibratedModel(kind, model, calibrator)
