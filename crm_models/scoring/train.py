"""Train, evaluate and promote the customer scoring models.

    python -m crm_models.scoring.train [--database-url URL] [--out DIR]

The split is by time. The store's dates are shifted so that the data's last day is
"today"; every cutoff is therefore counted back from the last order's day ``D``:

- test cutoff ``T = D - 99 days`` (its 90-day label window ends 9 days before ``D``);
- training rows: cutoffs ``T - 90, T - 120, T - 150`` stacked, whose label windows
  all close by ``T``, so no training label sees the test period;
- model choice (logistic regression or gradient boosting, per target): fitted on
  cutoffs ``T - 180, T - 210`` and compared at ``T - 90``, the same rule one level
  down.

The "high" flags of the scorer cut the top decile of the customers as they stand
after the last order day (their features need no label, so this leaks nothing). The
table printed and saved holds the test ROC-AUC of the RFM baseline, both models
and the chosen one, with a 95% bootstrap interval over customers. Models (joblib)
and ``metadata.json`` go to ``<models>/scoring/<version>/``, which is then promoted.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from crm_models import artifacts
from crm_models.errors import DataError, ShopBotError
from crm_models.scoring.dataset import Events, from_days, load_events
from crm_models.scoring.features import FEATURES, features_table
from crm_models.scoring.labels import HORIZON_DAYS, TARGETS, labels_table
from crm_models.scoring.models import (
    RFMBaseline,
    bootstrap_indices,
    bootstrap_interval,
    make_boosting,
    make_logistic,
    roc_auc,
    single_threaded,
)
from crm_models.scoring.reasons import reason_stats

logger = logging.getLogger(__name__)

# The RFM baseline's sign per target: high RFM means likely to buy, unlikely to
# churn, and (being active) more likely to return something.
RFM_DIRECTION = {"propensity": 1, "churn_risk": -1, "refund_risk": 1}
CANDIDATES = ("logistic", "boosting")
MODEL_FILE = "{target}.joblib"


@dataclass(frozen=True)
class TrainConfig:
    """Where the cutoffs fall and how the evaluation runs (days before ``D``)."""

    test_offset: int = 99
    train_offsets: tuple[int, ...] = (90, 120, 150)  # after the test cutoff's offset
    select_train_offsets: tuple[int, ...] = (180, 210)
    select_valid_offset: int = 90
    n_resamples: int = 1000
    random_state: int = 7
    top_share: float = 0.10  # the "high" flags mark the top decile
    min_rows: int = 30


@dataclass(frozen=True)
class Cutoffs:
    """The cutoffs of one training run, in days since the epoch."""

    test: float
    train: tuple[float, ...]
    select_train: tuple[float, ...]
    select_valid: float
    current: float  # midnight after the last order day: where thresholds are cut

    @classmethod
    def plan(cls, last_order_day: float, config: TrainConfig) -> Cutoffs:
        """Cutoffs at midnight UTC, counted back from the last order's day."""
        day = math.floor(last_order_day)
        test = float(day - config.test_offset)
        return cls(
            test=test,
            train=tuple(test - o for o in config.train_offsets),
            select_train=tuple(test - o for o in config.select_train_offsets),
            select_valid=test - config.select_valid_offset,
            current=float(day + 1),
        )

    def as_dates(self) -> dict[str, Any]:
        """ISO dates of every cutoff, for the metadata."""

        def iso(day: float) -> str:
            return from_days(day).date().isoformat()

        return {
            "test": iso(self.test),
            "train": [iso(c) for c in self.train],
            "select_train": [iso(c) for c in self.select_train],
            "select_valid": iso(self.select_valid),
            "thresholds": iso(self.current),
        }


@dataclass
class TargetReport:
    """Test ROC-AUC (with interval) of every model for one target."""

    target: str
    chosen: str
    selection_auc: dict[str, float]
    test_auc: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    n_train: int = 0
    n_test: int = 0
    positive_rate_test: float = 0.0


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced."""

    version: str
    folder: Path
    reports: list[TargetReport]
    models: dict[str, Any]  # target → the chosen, fitted estimator
    seconds: float


def stacked_rows(events: Events, cutoffs: tuple[float, ...]) -> pd.DataFrame:
    """Features and labels at each cutoff, stacked; index ``(cutoff, customer_id)``."""
    frames = []
    for cutoff in cutoffs:
        X = features_table(events, cutoff)
        y = labels_table(events, cutoff, X.index)
        frame = X.join(y)
        frame.index = pd.MultiIndex.from_product(
            [[cutoff], frame.index], names=["cutoff", "customer_id"]
        )
        frames.append(frame)
    return pd.concat(frames) if frames else pd.DataFrame(columns=[*FEATURES, *TARGETS])


def _xy(rows: pd.DataFrame, target: str) -> tuple[np.ndarray, np.ndarray]:
    labelled = rows[rows[target].notna()]
    return labelled[list(FEATURES)].to_numpy(np.float64), labelled[target].to_numpy(int)


def _candidate(kind: str, random_state: int) -> Any:
    return (
        make_logistic(random_state)
        if kind == "logistic"
        else make_boosting(random_state)
    )


def _check(y: np.ndarray, what: str, config: TrainConfig) -> None:
    if len(y) < config.min_rows or len(np.unique(y)) < 2:
        raise DataError(
            f"{what}: {len(y)} rows with {int(np.sum(y))} positives; the store holds "
            "too little history for this split"
        )


def train(
    *,
    events: Events,
    out_root: Path,
    config: TrainConfig | None = None,
    promote: bool = True,
) -> TrainResult:
    """Train every target on ``events``, evaluate, save and (by default) promote.

    Raises:
        DataError: the store has too little history for the split.
    """
    with single_threaded():
        return _train(events=events, out_root=out_root, config=config, promote=promote)


def _train(
    *, events: Events, out_root: Path, config: TrainConfig | None, promote: bool
) -> TrainResult:
    config = config or TrainConfig()
    started = time.perf_counter()
    if events.orders.empty:
        raise DataError("the store has no orders; seed it first")
    cutoffs = Cutoffs.plan(events.last_order_day, config)

    train_rows = stacked_rows(events, cutoffs.train)
    test_rows = stacked_rows(events, (cutoffs.test,))
    select_train_rows = stacked_rows(events, cutoffs.select_train)
    select_valid_rows = stacked_rows(events, (cutoffs.select_valid,))
    # The customers as the scorer will see them: features after the last order day
    # (no labels needed). The "high" flags cut this population at its top decile.
    current = features_table(events, cutoffs.current)[list(FEATURES)]
    current_X = current.to_numpy(np.float64)

    version, folder = artifacts.new_version_dir(out_root)
    models_meta: dict[str, Any] = {}
    chosen_models: dict[str, Any] = {}
    reports: list[TargetReport] = []
    rfm = RFMBaseline().fit(train_rows[list(FEATURES)].to_numpy(np.float64))

    for target in TARGETS:
        X_train, y_train = _xy(train_rows, target)
        X_test, y_test = _xy(test_rows, target)
        X_sel, y_sel = _xy(select_train_rows, target)
        X_val, y_val = _xy(select_valid_rows, target)
        for y, what in ((y_train, "training"), (y_test, "test"), (y_sel, "selection")):
            _check(y, f"{target} {what} rows", config)
        _check(y_val, f"{target} validation rows", config)

        # Choose the model one level down, without touching the test cutoff.
        selection = {}
        for kind in CANDIDATES:
            model = _candidate(kind, config.random_state).fit(X_sel, y_sel)
            selection[kind] = roc_auc(y_val, model.predict_proba(X_val)[:, 1])
        chosen = max(CANDIDATES, key=lambda kind: (selection[kind], kind == "logistic"))

        scores = {
            "rfm": RFMBaseline(direction=RFM_DIRECTION[target])
            .fit(X_train)
            .decision_function(X_test)
        }
        fitted = {}
        for kind in CANDIDATES:
            fitted[kind] = _candidate(kind, config.random_state).fit(X_train, y_train)
            scores[kind] = fitted[kind].predict_proba(X_test)[:, 1]
        scores["chosen"] = scores[chosen]

        draws = bootstrap_indices(
            len(y_test),
            n_resamples=config.n_resamples,
            random_state=config.random_state,
        )
        report = TargetReport(
            target=target,
            chosen=chosen,
            selection_auc=selection,
            n_train=len(y_train),
            n_test=len(y_test),
            positive_rate_test=float(np.mean(y_test)),
        )
        for name, score in scores.items():
            low, high = bootstrap_interval(y_test, score, draws)
            report.test_auc[name] = (roc_auc(y_test, score), low, high)
        reports.append(report)

        # TODO(#5): ship a refit on the latest cutoffs (labels up to the last day)
        # once issue 4's quality gate can vet a model that has no test period left.
        model = chosen_models[target] = fitted[chosen]
        joblib.dump(model, folder / MODEL_FILE.format(target=target))
        current_pred = model.predict_proba(current_X)[:, 1]
        labelled = train_rows[train_rows[target].notna()]
        models_meta[target] = {
            "file": MODEL_FILE.format(target=target),
            "kind": chosen,
            "params": {k: repr(v) for k, v in sorted(model.get_params().items())},
            "prior": float(np.mean(y_train)),
            "threshold": float(np.quantile(current_pred, 1 - config.top_share)),
            "selection_auc": selection,
            "test_auc": {
                name: {"auc": a, "ci_low": lo, "ci_high": hi}
                for name, (a, lo, hi) in report.test_auc.items()
            },
            "n_train": len(y_train),
            "n_test": len(y_test),
            "positive_rate_train": float(np.mean(y_train)),
            "positive_rate_test": report.positive_rate_test,
            "reasons": reason_stats(labelled[list(FEATURES)], labelled[target]),
        }

    seconds = time.perf_counter() - started
    artifacts.write_metadata(
        folder,
        {
            "version": version,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "features": list(FEATURES),
            "targets": list(TARGETS),
            "horizon_days": HORIZON_DAYS,
            "last_order_date": from_days(events.last_order_day).date().isoformat(),
            "training_window": {
                "events_from": from_days(events.orders["placed"].min())
                .date()
                .isoformat(),
                "first_cutoff": from_days(min(cutoffs.train)).date().isoformat(),
                "labels_until": from_days(cutoffs.test).date().isoformat(),
            },
            "cutoffs": cutoffs.as_dates(),
            "config": {
                "test_offset": config.test_offset,
                "train_offsets": list(config.train_offsets),
                "select_train_offsets": list(config.select_train_offsets),
                "select_valid_offset": config.select_valid_offset,
                "n_resamples": config.n_resamples,
                "random_state": config.random_state,
                "top_share": config.top_share,
            },
            "thresholds": {
                "high_value_monetary": float(
                    np.quantile(current["monetary"], 1 - config.top_share)
                ),
            },
            "rfm_edges": dict(
                zip(("recency_days", "frequency", "monetary"), rfm.edges_, strict=True)
            ),
            "models": models_meta,
            "train_seconds": round(seconds, 1),
            "library_versions": artifacts.library_versions(),
        },
    )
    if promote:
        artifacts.promote(out_root, version)
    logger.info("scoring.train.done version=%s seconds=%.1f", version, seconds)
    return TrainResult(
        version=version,
        folder=folder,
        reports=reports,
        models=chosen_models,
        seconds=seconds,
    )


def train_from_store(
    *, session: Session, out_root: Path, config: TrainConfig | None = None
) -> TrainResult:
    """Load the store's events and ``train`` on them."""
    return train(events=load_events(session=session), out_root=out_root, config=config)


def format_table(reports: list[TargetReport]) -> str:
    """The test ROC-AUC table (95% bootstrap intervals) as plain text."""
    header = f"{'target':<12} {'n test':>6} {'pos':>5}  " + "  ".join(
        f"{name:^19}" for name in ("RFM", "logistic", "boosting", "chosen")
    )
    lines = [header, "-" * len(header)]
    for r in reports:
        cells = []
        for name in ("rfm", "logistic", "boosting", "chosen"):
            auc, low, high = r.test_auc[name]
            cells.append(f"{auc:.3f} [{low:.3f}-{high:.3f}]")
        lines.append(
            f"{r.target:<12} {r.n_test:>6} {r.positive_rate_test:>5.0%}  "
            + "  ".join(f"{c:^19}" for c in cells)
            + f"  chosen: {r.chosen}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    from crm_models.settings import get_settings
    from crm_models.store.db import session_scope

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="CRM store (default: SHOP_DATABASE_URL)")
    parser.add_argument("--out", type=Path, help="root (default: <models>/scoring)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")

    settings = get_settings()
    root = args.out or settings.models_dir / "scoring"
    config = TrainConfig(random_state=settings.random_seed)
    started = time.perf_counter()
    try:
        with session_scope(args.database_url or settings.database_url) as session:
            result = train_from_store(session=session, out_root=root, config=config)
    except ShopBotError as exc:
        print(f"train: {exc}")  # noqa: T201
        return 1
    print(format_table(result.reports))  # noqa: T201
    print(  # noqa: T201
        f"trained in {result.seconds:.1f} s ({time.perf_counter() - started:.1f} s "
        f"with loading the store); promoted {result.version} -> {result.folder}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
