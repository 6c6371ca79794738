"""Propensity, churn and return risk on the strict time split, next to RFM.

The backtest is ``scoring.train.backtest``: models chosen at a validation cutoff,
trained on label windows that closed before the test cutoff, measured there with
bootstrap intervals over customers. Two references are added:

- the targets of the issue (propensity ROC-AUC ≥ 0.77);
- a leaky ceiling: a logistic regression cross-validated *inside* the test window
  (folds by customer). It sees the test period's labels, so it is not a result;
  it shows how much these features can tell at all;
- a wide leaky ceiling (propensity): the same, with two more views of each
  customer next to the features: the product mix (TF-IDF of the products bought,
  those bought by at least ``MIN_PRODUCT_CUSTOMERS`` customers) and the activity
  profile (orders in each of the twelve 30-day periods before the cutoff, which
  holds the previous Christmas season). It tests whether the signals the issue
  names (product mix, seasonality) are in the data at all.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import StandardScaler

from crm_models.scoring.dataset import Events, from_days
from crm_models.scoring.evaluation import roc_auc
from crm_models.scoring.labels import TARGETS
from crm_models.scoring.models import make_logistic, signed_log1p, single_threaded
from crm_models.scoring.train import Backtest, Labelled, Rows, TrainConfig, backtest

logger = logging.getLogger(__name__)

PROPENSITY_TARGET = 0.77
MIN_PRODUCT_CUSTOMERS = 5
PROFILE_PERIODS = 12  # 30-day periods counted back from the cutoff
# L2 strengths, and weights of the extra views against the features (a smaller
# weight is a stronger penalty on the views alone); the ceiling is the best of all
# pairs, generous on purpose: a ceiling too low would wrongly excuse a missed
# target. With weight 0.1 the family holds (nearly) the features-only ceiling.
WIDE_C = (0.05, 0.2, 1.0)
VIEW_WEIGHTS = (0.1, 0.3, 1.0)


def leaky_ceiling(rows: Rows, cutoff: float, target: str, *, folds: int = 5) -> float:
    """ROC-AUC of a logistic regression cross-validated within the test window."""
    data = Labelled.of(rows.stacked((cutoff,)), target)
    oof = np.zeros(len(data.y))
    with single_threaded():
        for train, test in GroupKFold(n_splits=folds).split(
            data.X, data.y, data.groups
        ):
            model = make_logistic(0).fit(data.X[train], data.y[train])
            oof[test] = model.predict_proba(data.X[test])[:, 1]
    return roc_auc(data.y, oof)


def wide_views(events: Events, cutoff: float, customers: np.ndarray) -> sp.csr_matrix:
    """Product mix (TF-IDF) and 30-day activity profile of ``customers``, one row
    each, from purchases (orders not cancelled as of the cutoff) before ``cutoff``."""
    orders = events.orders
    bought = orders[(orders["placed"] < cutoff) & ~(orders["cancelled_at"] < cutoff)]
    row_of = {int(c): i for i, c in enumerate(customers)}
    rows = bought["customer_id"].map(row_of)
    kept = bought[rows.notna()]
    rows = rows[rows.notna()].to_numpy(int)

    period = np.floor((cutoff - kept["placed"].to_numpy()) / 30.0).astype(int)
    recent = period < PROFILE_PERIODS
    profile = sp.csr_matrix(
        (np.ones(int(recent.sum())), (rows[recent], period[recent])),
        shape=(len(customers), PROFILE_PERIODS),
    )
    profile.sum_duplicates()

    lines = events.lines.merge(kept[["order_id", "customer_id"]], on="order_id")
    line_rows = lines["customer_id"].map(row_of).to_numpy(int)
    products, columns = np.unique(lines["product_id"].to_numpy(), return_inverse=True)
    counts = sp.csr_matrix(
        (np.ones(len(lines)), (line_rows, columns)),
        shape=(len(customers), len(products)),
    )
    counts.sum_duplicates()
    common = np.asarray((counts > 0).sum(axis=0)).ravel() >= MIN_PRODUCT_CUSTOMERS
    mix = TfidfTransformer(sublinear_tf=True).fit_transform(counts[:, common])
    scaled_profile = StandardScaler().fit_transform(np.log1p(profile.toarray()))
    return sp.hstack([sp.csr_matrix(scaled_profile), mix]).tocsr()


def wide_leaky_ceiling(
    events: Events, rows: Rows, cutoff: float, *, folds: int = 5
) -> float:
    """Propensity ROC-AUC of the features plus product mix and activity profile,
    cross-validated within the test window, best over ``WIDE_C`` and
    ``VIEW_WEIGHTS`` (it leaks the labels and picks on them: a ceiling only)."""
    data = Labelled.of(rows.stacked((cutoff,)), "propensity")
    features = sp.csr_matrix(StandardScaler().fit_transform(signed_log1p(data.X)))
    views = wide_views(events, cutoff, data.groups)
    best = 0.0
    for c, weight in itertools.product(WIDE_C, VIEW_WEIGHTS):
        X = sp.hstack([features, views * weight]).tocsr()
        oof = np.zeros(len(data.y))
        for train, test in GroupKFold(n_splits=folds).split(X, data.y, data.groups):
            model = LogisticRegression(
                C=c, l1_ratio=0.0, solver="lbfgs", max_iter=3000, tol=1e-4
            ).fit(X[train], data.y[train])
            oof[test] = model.predict_proba(X[test])[:, 1]
        best = max(best, roc_auc(data.y, oof))
    return best


def run_scoring(
    events: Events, config: TrainConfig, *, shift_days: int | None
) -> tuple[dict[str, Any], Backtest]:
    """The scoring section of the report and the backtest (reused for latency)."""
    rows = Rows(events)
    result = backtest(events, config, rows)
    cutoffs = result.cutoffs

    def original(day: float) -> str | None:
        if shift_days is None:
            return None
        return from_days(day - shift_days).date().isoformat()

    targets = {}
    for report in result.reports:
        entry = report.as_dict()
        entry["leaky_ceiling_roc_auc"] = round(
            leaky_ceiling(rows, cutoffs.test, report.target), 4
        )
        targets[report.target] = entry
    targets["propensity"]["wide_leaky_ceiling_roc_auc"] = round(
        wide_leaky_ceiling(events, rows, cutoffs.test), 4
    )
    chosen = targets["propensity"]["test"]["chosen"]["roc_auc"]["value"]
    first = float(events.orders["placed"].min())
    last = events.last_order_day
    section = {
        "data_span": {
            "first_order": original(first) or from_days(first).date().isoformat(),
            "last_order": original(last) or from_days(last).date().isoformat(),
            "months": round((last - first) / 30.44, 1),
        },
        "cutoffs": cutoffs.as_dates(),
        "cutoffs_original_calendar": {
            "test": original(cutoffs.test),
            "validation": original(cutoffs.validation),
        },
        "horizon_days": 90,
        "targets": targets,
        "target_order": list(TARGETS),
        "goal": {
            "propensity_roc_auc": PROPENSITY_TARGET,
            "reached": bool(chosen >= PROPENSITY_TARGET),
            "gap": round(PROPENSITY_TARGET - chosen, 4),
        },
    }
    return section, result
