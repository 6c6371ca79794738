"""Propensity, churn and return risk on the strict time split, next to RFM.

The backtest is ``scoring.train.backtest``: models chosen at a validation cutoff,
trained on label windows that closed before the test cutoff, measured there with
bootstrap intervals over customers. Two references are added:

- the targets of the issue (propensity ROC-AUC ≥ 0.77);
- a leaky ceiling: a logistic regression cross-validated *inside* the test window
  (folds by customer). It sees the test period's labels, so it is not a result;
  it shows how much these features can tell at all.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sklearn.model_selection import GroupKFold

from crm_models.scoring.dataset import Events, from_days
from crm_models.scoring.evaluation import roc_auc
from crm_models.scoring.labels import TARGETS
from crm_models.scoring.models import make_logistic, single_threaded
from crm_models.scoring.train import Backtest, Labelled, Rows, TrainConfig, backtest

logger = logging.getLogger(__name__)

PROPENSITY_TARGET = 0.77


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
