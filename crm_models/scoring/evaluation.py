"""Metrics of a binary score and their bootstrap intervals over customers.

ROC-AUC (ranking), PR-AUC as average precision (ranking, sensitive to the base
rate) and the Brier score (calibration and sharpness; lower is better). The
interval resamples customers with replacement, the unit the test set is drawn in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Metric = Callable[[np.ndarray, np.ndarray], float]


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


def pr_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Average precision: the mean precision at each positive, best score first.

    Tied scores are taken as one block (every positive in it gets the block's
    precision), so the value does not depend on the order of ties.
    """
    y = np.asarray(y, dtype=bool)
    n_pos = int(y.sum())
    if n_pos == 0:
        return float("nan")
    score = np.asarray(score, dtype=np.float64)
    order = np.argsort(-score, kind="stable")
    s, hits = score[order], y[order]
    # The end of each block of equal scores.
    last_of_block = np.append(s[1:] != s[:-1], True)
    cum_hits = np.cumsum(hits)[last_of_block]
    cum_all = (np.arange(len(s)) + 1)[last_of_block]
    new_hits = np.diff(np.append(0, cum_hits))
    return float(np.sum(new_hits * cum_hits / cum_all) / n_pos)


def brier(y: np.ndarray, probability: np.ndarray) -> float:
    """Mean squared error of a probability against the 0/1 outcome."""
    y = np.asarray(y, dtype=np.float64)
    probability = np.asarray(probability, dtype=np.float64)
    return float(np.mean((probability - y) ** 2))


def bootstrap_indices(n: int, *, n_resamples: int, random_state: int) -> np.ndarray:
    """Resampled row indices (customers drawn with replacement), one row per draw."""
    rng = np.random.default_rng(random_state)
    return rng.integers(0, n, size=(n_resamples, n))


def bootstrap_interval(
    y: np.ndarray,
    score: np.ndarray,
    draws: np.ndarray,
    *,
    metric: Metric = roc_auc,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile interval of ``metric`` over the bootstrap ``draws``."""
    values = np.array([metric(y[rows], score[rows]) for rows in draws])
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class Estimate:
    """A metric's value on the test set and its bootstrap interval."""

    value: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        """``{"value", "ci_low", "ci_high"}`` rounded to 4 places."""
        return {
            "value": round(self.value, 4),
            "ci_low": round(self.low, 4),
            "ci_high": round(self.high, 4),
        }


METRICS: dict[str, Metric] = {"roc_auc": roc_auc, "pr_auc": pr_auc, "brier": brier}


def evaluate(
    y: np.ndarray, probability: np.ndarray, draws: np.ndarray, *, level: float = 0.95
) -> dict[str, Estimate]:
    """ROC-AUC, PR-AUC and Brier score of ``probability``, each with its interval.

    A score that is not a probability (the RFM sum) gets ROC-AUC and PR-AUC only.
    """
    y = np.asarray(y)
    probability = np.asarray(probability, dtype=np.float64)
    is_probability = bool(np.all((probability >= 0) & (probability <= 1)))
    result = {}
    for name, metric in METRICS.items():
        if name == "brier" and not is_probability:
            continue
        low, high = bootstrap_interval(
            y, probability, draws, metric=metric, level=level
        )
        result[name] = Estimate(metric(y, probability), low, high)
    return result
