"""Train, backtest and promote the customer scoring models and segments.

    python -m crm_models.scoring.train [--database-url URL] [--out DIR]

The split is by time. The store's dates are shifted so that the data's last day is
"today"; every cutoff is counted back from the last order's day ``D``:

- a model used at cutoff ``c`` is trained on the cutoffs ``c - 90, c - 120,
  c - 150`` stacked, whose 90-day label windows all close by ``c``: no training
  label ever sees the period the model is judged or used on;
- test cutoff ``T = D - 99`` (its label window ends 9 days before ``D``);
- model choice (RFM score, logistic regression, gradient boosting or the rank
  blend of RFM and logistic regression, per target) at
  the validation cutoff ``T - 90``, the same rule one level down, so the test
  cutoff never influences a choice;
- the shipped model: the chosen kind trained at the current cutoff ``D + 1`` (label
  windows up to the last day), with an isotonic calibration fitted on its
  out-of-fold scores (folds by customer).

The backtest reports ROC-AUC, PR-AUC and the Brier score of every candidate at
``T`` with 95% bootstrap intervals over customers. The "high" flags cut the top
decile of the customers as they stand now. Segments: k-means on scaled RFM of
today's customers (``segments``), stored per customer when a session is given.
Models (joblib) and ``metadata.json`` go to ``<models>/scoring/<version>/``, which
is then promoted.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from collections import Counter
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
from crm_models.scoring import segments as seg
from crm_models.scoring.dataset import Events, from_days, load_events
from crm_models.scoring.evaluation import (
    Estimate,
    bootstrap_indices,
    evaluate,
    roc_auc,
)
from crm_models.scoring.features import FEATURES, features_table
from crm_models.scoring.labels import HORIZON_DAYS, TARGETS, labels_table
from crm_models.scoring.models import (
    KINDS,
    CalibratedModel,
    calibrate,
    make_candidate,
    raw_score,
    single_threaded,
)
from crm_models.scoring.reasons import reason_stats

logger = logging.getLogger(__name__)

# The RFM score's sign per target: high RFM means likely to buy, unlikely to
# churn, and (being active) more likely to return something.
RFM_DIRECTION = {"propensity": 1, "churn_risk": -1, "refund_risk": 1}
CANDIDATES = KINDS
# On a tie at validation the simpler model wins.
SIMPLICITY = {"rfm": 3, "logistic": 2, "blend": 1, "boosting": 0}
MODEL_FILE = "{target}.joblib"
ROC_FILE = "roc.json"  # test-cutoff ROC curves, for the retrain report
_ROC_POINTS = 101


@dataclass(frozen=True)
class TrainConfig:
    """Where the cutoffs fall and how the evaluation runs (days)."""

    test_offset: int = 99  # test cutoff: days before the last order's day
    train_offsets: tuple[int, ...] = (90, 120, 150)  # before the cutoff of use
    validation_offset: int = 90  # validation cutoff: days before the test cutoff
    n_resamples: int = 1000
    calibration_folds: int = 5
    random_state: int = 7
    top_share: float = 0.10  # the "high" flags mark the top decile
    min_rows: int = 30


@dataclass(frozen=True)
class Cutoffs:
    """The cutoffs of one run, in days since the epoch."""

    test: float
    validation: float
    current: float  # midnight after the last order day: the shipped model's cutoff
    train_offsets: tuple[int, ...]

    @classmethod
    def plan(cls, last_order_day: float, config: TrainConfig) -> Cutoffs:
        """Cutoffs at midnight UTC, counted back from the last order's day."""
        day = math.floor(last_order_day)
        test = float(day - config.test_offset)
        return cls(
            test=test,
            validation=test - config.validation_offset,
            current=float(day + 1),
            train_offsets=config.train_offsets,
        )

    def training(self, at: float) -> tuple[float, ...]:
        """The training cutoffs of a model used at ``at``."""
        return tuple(at - offset for offset in self.train_offsets)

    def as_dates(self) -> dict[str, Any]:
        """ISO dates of every cutoff, for the metadata and the report."""

        def iso(day: float) -> str:
            return from_days(day).date().isoformat()

        return {
            "test": iso(self.test),
            "test_training": [iso(c) for c in self.training(self.test)],
            "validation": iso(self.validation),
            "validation_training": [iso(c) for c in self.training(self.validation)],
            "current": iso(self.current),
            "current_training": [iso(c) for c in self.training(self.current)],
        }


class Rows:
    """Features and labels per cutoff, computed once and stacked on demand."""

    def __init__(self, events: Events) -> None:
        self.events = events
        self._frames: dict[float, pd.DataFrame] = {}

    def at(self, cutoff: float) -> pd.DataFrame:
        """Features and labels at ``cutoff``; index ``customer_id``."""
        frame = self._frames.get(cutoff)
        if frame is None:
            X = features_table(self.events, cutoff)
            frame = X.join(labels_table(self.events, cutoff, X.index))
            self._frames[cutoff] = frame
        return frame

    def stacked(self, cutoffs: tuple[float, ...]) -> pd.DataFrame:
        """Rows of several cutoffs; index ``(cutoff, customer_id)``."""
        frames = []
        for cutoff in cutoffs:
            frame = self.at(cutoff).copy()
            frame.index = pd.MultiIndex.from_product(
                [[cutoff], frame.index], names=["cutoff", "customer_id"]
            )
            frames.append(frame)
        return pd.concat(frames)


@dataclass(frozen=True)
class Labelled:
    """One target's labelled rows as arrays."""

    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray  # customer ids (the unit of folds and resampling)

    @classmethod
    def of(cls, rows: pd.DataFrame, target: str) -> Labelled:
        labelled = rows[rows[target].notna()]
        customers = labelled.index.get_level_values("customer_id").to_numpy()
        return cls(
            X=labelled[list(FEATURES)].to_numpy(np.float64),
            y=labelled[target].to_numpy(int),
            groups=customers,
        )


@dataclass
class TargetReport:
    """The backtest of one target: validation choice and test metrics."""

    target: str
    chosen: str
    validation_auc: dict[str, float]
    test: dict[str, dict[str, Estimate]] = field(default_factory=dict)
    n_train: int = 0
    n_test: int = 0
    positive_rate_test: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "chosen": self.chosen,
            "validation_auc": {k: round(v, 4) for k, v in self.validation_auc.items()},
            "test": {
                kind: {name: e.as_dict() for name, e in metrics.items()}
                for kind, metrics in self.test.items()
            },
            "n_train": self.n_train,
            "n_test": self.n_test,
            "positive_rate_test": round(self.positive_rate_test, 4),
        }


@dataclass(frozen=True)
class Backtest:
    """What ``backtest`` measured, plus the test-time scores for further use."""

    cutoffs: Cutoffs
    reports: list[TargetReport]
    test_scores: dict[str, dict[str, np.ndarray]]  # target → kind → probability
    test_labels: dict[str, np.ndarray]


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced."""

    version: str
    folder: Path
    backtest: Backtest
    models: dict[str, CalibratedModel]  # target → the shipped model
    segments: seg.SegmentModel
    seconds: float

    @property
    def reports(self) -> list[TargetReport]:
        """The backtest's reports."""
        return self.backtest.reports


def _check(y: np.ndarray, what: str, config: TrainConfig) -> None:
    if len(y) < config.min_rows or len(np.unique(y)) < 2:
        raise DataError(
            f"{what}: {len(y)} rows with {int(np.sum(y))} positives; the store holds "
            "too little history for this split"
        )


def choose(
    rows: Rows, cutoffs: Cutoffs, target: str, config: TrainConfig
) -> tuple[str, dict[str, float]]:
    """The candidate with the best ROC-AUC at the validation cutoff."""
    train = Labelled.of(rows.stacked(cutoffs.training(cutoffs.validation)), target)
    valid = Labelled.of(rows.stacked((cutoffs.validation,)), target)
    _check(train.y, f"{target} selection rows", config)
    _check(valid.y, f"{target} validation rows", config)
    auc = {}
    for kind in CANDIDATES:
        model = make_candidate(
            kind, random_state=config.random_state, direction=RFM_DIRECTION[target]
        ).fit(train.X, train.y)
        auc[kind] = roc_auc(valid.y, raw_score(model, valid.X))
    chosen = max(CANDIDATES, key=lambda kind: (round(auc[kind], 4), SIMPLICITY[kind]))
    return chosen, auc


def backtest(
    events: Events, config: TrainConfig | None = None, rows: Rows | None = None
) -> Backtest:
    """Choose per target at the validation cutoff, measure everything at the test one.

    Raises:
        DataError: the store has too little history for the split.
    """
    config = config or TrainConfig()
    if events.orders.empty:
        raise DataError("the store has no orders; seed it first")
    rows = rows or Rows(events)
    cutoffs = Cutoffs.plan(events.last_order_day, config)
    reports, scores, labels = [], {}, {}
    with single_threaded():
        for target in TARGETS:
            chosen, validation_auc = choose(rows, cutoffs, target, config)
            train = Labelled.of(rows.stacked(cutoffs.training(cutoffs.test)), target)
            test = Labelled.of(rows.stacked((cutoffs.test,)), target)
            _check(train.y, f"{target} training rows", config)
            _check(test.y, f"{target} test rows", config)
            draws = bootstrap_indices(
                len(test.y),
                n_resamples=config.n_resamples,
                random_state=config.random_state,
            )
            report = TargetReport(
                target=target,
                chosen=chosen,
                validation_auc=validation_auc,
                n_train=len(train.y),
                n_test=len(test.y),
                positive_rate_test=float(np.mean(test.y)),
            )
            scores[target] = {}
            for kind in CANDIDATES:
                model = calibrate(
                    kind,
                    train.X,
                    train.y,
                    train.groups,
                    random_state=config.random_state,
                    direction=RFM_DIRECTION[target],
                    n_folds=config.calibration_folds,
                )
                probability = model.predict_proba(test.X)[:, 1]
                scores[target][kind] = probability
                report.test[kind] = evaluate(test.y, probability, draws)
            report.test["chosen"] = report.test[chosen]
            scores[target]["chosen"] = scores[target][chosen]
            labels[target] = test.y
            reports.append(report)
            logger.info(
                "scoring.backtest.target target=%s chosen=%s auc=%.3f",
                target,
                chosen,
                report.test[chosen]["roc_auc"].value,
            )
    return Backtest(
        cutoffs=cutoffs, reports=reports, test_scores=scores, test_labels=labels
    )


def train(
    *,
    events: Events,
    out_root: Path,
    config: TrainConfig | None = None,
    promote: bool = True,
    session: Session | None = None,
    measured: Backtest | None = None,
) -> TrainResult:
    """Backtest, train the shipped models and segments, save and (by default) promote.

    Args:
        events: the store's events.
        out_root: the scoring root; the version folder is made inside it.
        config: cutoffs and evaluation settings.
        promote: point ``current`` at the new version.
        session: when given, each customer's segment is written to the store.
        measured: a backtest already run on these events with this config.

    Raises:
        DataError: the store has too little history for the split.
    """
    config = config or TrainConfig()
    started = time.perf_counter()
    rows = Rows(events)
    result = measured or backtest(events, config, rows)
    cutoffs = result.cutoffs

    # The customers as the scorer sees them now: features need no label.
    current = features_table(events, cutoffs.current)
    current_X = current[list(FEATURES)].to_numpy(np.float64)
    production = rows.stacked(cutoffs.training(cutoffs.current))

    version, folder = artifacts.new_version_dir(out_root)
    models: dict[str, CalibratedModel] = {}
    models_meta: dict[str, Any] = {}
    with single_threaded():
        for report in result.reports:
            target = report.target
            data = Labelled.of(production, target)
            _check(data.y, f"{target} production rows", config)
            model = calibrate(
                report.chosen,
                data.X,
                data.y,
                data.groups,
                random_state=config.random_state,
                direction=RFM_DIRECTION[target],
                n_folds=config.calibration_folds,
            )
            models[target] = model
            joblib.dump(model, folder / MODEL_FILE.format(target=target))
            now_p = model.predict_proba(current_X)[:, 1]
            labelled = production[production[target].notna()]
            models_meta[target] = {
                "file": MODEL_FILE.format(target=target),
                "kind": report.chosen,
                "params": {
                    k: repr(v) for k, v in sorted(model.model.get_params().items())
                },
                "prior": float(np.mean(data.y)),
                "threshold": float(np.quantile(now_p, 1 - config.top_share)),
                "n_train": len(data.y),
                "backtest": report.as_dict(),
                "reasons": reason_stats(labelled[list(FEATURES)], labelled[target]),
            }

    rfm = current[list(seg.RFM_FEATURES)].to_numpy(np.float64)
    segment_model = seg.fit_segments(rfm, random_state=config.random_state)
    assigned = dict(zip(current.index, segment_model.assign(rfm), strict=True))
    if session is not None:
        seg.store_segments(
            session=session,
            segments=assigned,
            version=version,
            now=datetime.now(timezone.utc),
        )

    write_roc_curves(result, folder / ROC_FILE)
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
                "first_cutoff": from_days(min(cutoffs.training(cutoffs.current)))
                .date()
                .isoformat(),
                "labels_until": from_days(cutoffs.current).date().isoformat(),
            },
            "cutoffs": cutoffs.as_dates(),
            "config": {
                "test_offset": config.test_offset,
                "train_offsets": list(config.train_offsets),
                "validation_offset": config.validation_offset,
                "n_resamples": config.n_resamples,
                "calibration_folds": config.calibration_folds,
                "random_state": config.random_state,
                "top_share": config.top_share,
            },
            "thresholds": {
                "high_value_monetary": float(
                    np.quantile(current["monetary"], 1 - config.top_share)
                ),
            },
            "segments": {
                **segment_model.as_dict(),
                "counts": dict(Counter(assigned.values())),
            },
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
        backtest=result,
        models=models,
        segments=segment_model,
        seconds=seconds,
    )


def write_roc_curves(result: Backtest, path: Path) -> None:
    """Save each target's test ROC curve (chosen model and RFM), thinned to ~100 points.

    ``{target: {kind: {"fpr": [...], "tpr": [...], "auc": float}}}``; the retrain
    report draws them before and after.
    """
    from sklearn.metrics import roc_curve

    curves: dict[str, dict[str, Any]] = {}
    for target, by_kind in result.test_scores.items():
        y = result.test_labels[target]
        curves[target] = {}
        for kind in ("chosen", "rfm"):
            fpr, tpr, _ = roc_curve(y, by_kind[kind])
            keep = np.unique(np.linspace(0, len(fpr) - 1, _ROC_POINTS).astype(int))
            curves[target][kind] = {
                "fpr": [round(float(v), 4) for v in fpr[keep]],
                "tpr": [round(float(v), 4) for v in tpr[keep]],
                "auc": round(roc_auc(y, by_kind[kind]), 4),
            }
    path.write_text(json.dumps(curves) + "\n", encoding="utf-8")


def train_from_store(
    *,
    session: Session,
    out_root: Path,
    config: TrainConfig | None = None,
    promote: bool = True,
) -> TrainResult:
    """Load the store's events and ``train`` on them (segments written back)."""
    return train(
        events=load_events(session=session),
        out_root=out_root,
        config=config,
        session=session,
        promote=promote,
    )


def format_table(reports: list[TargetReport]) -> str:
    """The backtest's test ROC-AUC table (95% bootstrap intervals) as plain text."""
    kinds = (*CANDIDATES, "chosen")
    header = f"{'target':<12} {'n test':>6} {'pos':>5}  " + "  ".join(
        f"{name:^19}" for name in kinds
    )
    lines = [header, "-" * len(header)]
    for r in reports:
        cells = []
        for kind in kinds:
            e = r.test[kind]["roc_auc"]
            cells.append(f"{e.value:.3f} [{e.low:.3f}-{e.high:.3f}]")
        brier = r.test["chosen"]["brier"].value
        lines.append(
            f"{r.target:<12} {r.n_test:>6} {r.positive_rate_test:>5.0%}  "
            + "  ".join(f"{c:^19}" for c in cells)
            + f"  chosen: {r.chosen} (Brier {brier:.3f})"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    from crm_models.settings import get_settings
    from crm_models.store.db import session_scope

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="CRM store (default: SHOP_DATABASE_URL)")
    parser.add_argument("--out", type=Path, help="root (default: <models>/scoring)")
    parser.add_argument(
        "--no-promote",
        action="store_true",
        help="keep the new version as a candidate (the retrain's gate promotes it)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")

    settings = get_settings()
    root = args.out or settings.models_dir / "scoring"
    config = TrainConfig(random_state=settings.random_seed)
    started = time.perf_counter()
    try:
        with session_scope(args.database_url or settings.database_url) as session:
            result = train_from_store(
                session=session,
                out_root=root,
                config=config,
                promote=not args.no_promote,
            )
    except ShopBotError as exc:
        print(f"train: {exc}")  # noqa: T201
        return 1
    print(format_table(result.reports))  # noqa: T201
    print(  # noqa: T201
        f"trained in {result.seconds:.1f} s ({time.perf_counter() - started:.1f} s "
        f"with loading the store); "
        f"{'saved' if args.no_promote else 'promoted'} {result.version} "
        f"-> {result.folder}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
