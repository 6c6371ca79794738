"""The estimators: an RFM baseline, logistic regression and gradient boosting.

Every hyperparameter is passed explicitly (library defaults change between
releases) and every random state is pinned. Inputs are arrays whose columns follow
``features.FEATURES``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from functools import lru_cache

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
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


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC-AUC by the rank-sum formula, ties counted half (NaN without both classes)."""
    from scipy.stats import rankdata

    y = np.asarray(y, dtype=bool)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def bootstrap_indices(n: int, *, n_resamples: int, random_state: int) -> np.ndarray:
    """Resampled row indices (customers drawn with replacement), one row per draw."""
    rng = np.random.default_rng(random_state)
    return rng.integers(0, n, size=(n_resamples, n))


def bootstrap_interval(
    y: np.ndarray, score: np.ndarray, draws: np.ndarray, *, level: float = 0.95
) -> tuple[float, float]:
    """Percentile interval of the ROC-AUC over the bootstrap ``draws``."""
    values = np.array([roc_auc(y[rows], score[rows]) for rows in draws])
    values = values[~np.isnan(values)]
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)
