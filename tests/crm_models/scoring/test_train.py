"""Training on a small synthetic store: it runs, saves, promotes and loads back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session

from crm_models import artifacts
from crm_models.errors import DataError
from crm_models.scoring.dataset import Events, from_days, load_events
from crm_models.scoring.features import FEATURES
from crm_models.scoring.labels import TARGETS
from crm_models.scoring.scorer import get_scorer, load_scorer
from crm_models.scoring.segments import PROTOTYPES
from crm_models.scoring.train import (
    CANDIDATES,
    Rows,
    TrainConfig,
    TrainResult,
    format_table,
    train,
)
from crm_models.store.db import create_schema, make_engine
from crm_models.store.schema import CustomerSegment
from tests.crm_models.scoring.builders import CUTOFF, synthetic_history

pytestmark = pytest.mark.ml
CONFIG = TrainConfig(n_resamples=50, calibration_folds=3)


@pytest.fixture(scope="module")
def synthetic_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('synthetic')}/crm.db")
    create_schema(engine)
    with Session(engine) as session:
        synthetic_history(session, n_customers=300, seed=1)
        session.commit()
        yield session
    engine.dispose()


@pytest.fixture(scope="module")
def events(synthetic_session: Session) -> Events:
    return load_events(session=synthetic_session)


@pytest.fixture(scope="module")
def trained(
    events: Events,
    synthetic_session: Session,
    tmp_path_factory: pytest.TempPathFactory,
) -> TrainResult:
    return train(
        events=events,
        out_root=tmp_path_factory.mktemp("scoring"),
        config=CONFIG,
        session=synthetic_session,
    )


def test_training_writes_models_and_metadata_and_promotes(
    trained: TrainResult, events: Events
) -> None:
    root = trained.folder.parent
    last_day = from_days(events.last_order_day).date()
    meta = artifacts.read_metadata(trained.folder)

    assert artifacts.current_version(root) == trained.version
    assert {p.name for p in trained.folder.iterdir()} == {
        "metadata.json",
        "roc.json",
        *(f"{target}.joblib" for target in TARGETS),
    }
    assert meta["features"] == list(FEATURES)
    cutoffs = meta["cutoffs"]
    assert cutoffs["test"] == (last_day - timedelta(days=99)).isoformat()
    assert cutoffs["test_training"][0] == (last_day - timedelta(days=189)).isoformat()
    assert cutoffs["validation"] == (last_day - timedelta(days=189)).isoformat()
    # The shipped model learns from label windows that end with the data.
    assert cutoffs["current_training"][0] == (last_day - timedelta(days=89)).isoformat()
    assert set(meta["models"]) == set(TARGETS)
    for target in TARGETS:
        model = meta["models"][target]
        assert model["kind"] in CANDIDATES
        tested = model["backtest"]["test"]
        assert set(tested) == {*CANDIDATES, "chosen"}
        assert set(tested["chosen"]) == {"roc_auc", "pr_auc", "brier"}
        assert 0 < model["threshold"] < 1
    assert meta["segments"]["names"] == list(PROTOTYPES)
    assert "scikit-learn" in meta["library_versions"]


def test_training_saves_the_test_roc_curves(trained: TrainResult) -> None:
    curves = json.loads((trained.folder / "roc.json").read_text())
    meta = artifacts.read_metadata(trained.folder)

    assert set(curves) == set(TARGETS)
    for target in TARGETS:
        for kind in ("chosen", "rfm"):
            curve = curves[target][kind]
            assert curve["fpr"][0] == 0.0
            assert curve["tpr"][-1] == 1.0
            assert curve["fpr"] == sorted(curve["fpr"])
            assert len(curve["fpr"]) == len(curve["tpr"]) <= 101
        tested = meta["models"][target]["backtest"]["test"]
        assert curves[target]["chosen"]["auc"] == tested["chosen"]["roc_auc"]["value"]


def test_the_models_learn_something(trained: TrainResult) -> None:
    by_target = {report.target: report for report in trained.reports}

    # The synthetic customers buy at steady, individual rates: history predicts.
    assert by_target["propensity"].test["chosen"]["roc_auc"].value > 0.7
    assert by_target["churn_risk"].test["chosen"]["roc_auc"].value > 0.6
    assert by_target["propensity"].test["chosen"]["brier"].value < 0.25
    assert "propensity" in format_table(trained.reports)


def test_each_customer_gets_a_stored_segment(
    trained: TrainResult, synthetic_session: Session
) -> None:
    rows = synthetic_session.query(CustomerSegment).all()

    assert len(rows) > 100
    assert {r.segment for r in rows} <= set(PROTOTYPES)
    assert {r.model_version for r in rows} == {trained.version}


def test_saved_models_give_the_same_predictions(
    trained: TrainResult, events: Events
) -> None:
    X = (
        Rows(events)
        .at(float(np.floor(events.last_order_day)))[list(FEATURES)]
        .to_numpy()
    )

    loaded = load_scorer(trained.folder, version=trained.version)

    for target in TARGETS:
        expected = trained.models[target].predict_proba(X)[:, 1]
        np.testing.assert_array_equal(
            loaded.models[target].predict_proba(X)[:, 1], expected
        )


def test_the_promoted_models_score_a_customer(
    trained: TrainResult, synthetic_session: Session
) -> None:
    scorer = get_scorer(trained.folder.parent)

    scores = scorer.score(session=synthetic_session, customer_id=7, now=CUTOFF)

    assert scorer.version == trained.version
    assert 0 <= scores.propensity <= 1
    assert scores.segment in PROTOTYPES
    assert all(scores.reasons[target] for target in TARGETS)


def test_training_is_repeatable(
    trained: TrainResult, events: Events, tmp_path: Path
) -> None:
    again = train(events=events, out_root=tmp_path, config=CONFIG, promote=False)

    assert [r.as_dict() for r in again.reports] == [
        r.as_dict() for r in trained.reports
    ]
    assert artifacts.current_version(tmp_path) is None  # nothing promoted


def test_a_store_without_history_is_refused(session: Session, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no orders"):
        train(events=load_events(session=session), out_root=tmp_path)
