"""The scorer: priors for unknown customers and before any training, flags, reload."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sqlalchemy.orm import Session

from crm_models import artifacts
from crm_models.scoring.feature_cache import FeatureCache
from crm_models.scoring.features import FEATURES
from crm_models.scoring.labels import TARGETS
from crm_models.scoring.scorer import (
    NO_MODEL,
    NO_ORDERS,
    UNKNOWN_CUSTOMER,
    CustomerScorer,
    get_scorer,
)
from crm_models.scoring.segments import CHAMPIONS, HIBERNATING, SegmentModel
from tests.crm_models.scoring.builders import CUTOFF, StoreBuilder, days


class ConstantModel:
    """Stands in for a fitted classifier: always the same probability."""

    def __init__(self, probability: float) -> None:
        self.probability = probability

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.tile([1 - self.probability, self.probability], (len(X), 1))


def _metadata(priors: dict[str, float]) -> dict[str, Any]:
    neutral = {f: {"direction": 0.0, "median": 0.0, "scale": 1.0} for f in FEATURES}

    def recency(direction: float) -> dict[str, dict[str, float]]:
        stats = {"direction": direction, "median": 60.0, "scale": 30.0}
        return dict(neutral, recency_days=stats)

    # A recent order raises propensity and lowers churn risk.
    reasons = {"propensity": recency(-1.0), "churn_risk": recency(1.0)}
    reasons["refund_risk"] = neutral
    # Two segments in log RFM space: recent, frequent, big spenders, and the rest.
    segments = SegmentModel(
        mean=(0.0, 0.0, 0.0),
        scale=(1.0, 1.0, 1.0),
        centroids=((1.8, 1.8, 5.5), (6.0, 0.7, 3.0)),
        names=(CHAMPIONS, HIBERNATING),
    )
    return {
        "features": list(FEATURES),
        "thresholds": {"high_value_monetary": 100.0},
        "segments": segments.as_dict(),
        "models": {
            target: {
                "file": f"{target}.joblib",
                "prior": priors[target],
                "threshold": 0.5,
                "reasons": reasons[target],
            }
            for target in TARGETS
        },
    }


PRIORS = {"propensity": 0.4, "churn_risk": 0.3, "refund_risk": 0.2}
PROBABILITIES = {"propensity": 0.9, "churn_risk": 0.1, "refund_risk": 0.6}


@pytest.fixture
def scorer() -> CustomerScorer:
    return CustomerScorer(
        models={t: ConstantModel(p) for t, p in PROBABILITIES.items()},
        metadata=_metadata(PRIORS),
        version="v1",
    )


@pytest.fixture
def store(session: Session) -> StoreBuilder:
    b = StoreBuilder(session)
    b.customer(1)
    b.customer(2)  # never ordered
    for age in (400, 200, 100, 50, 5):
        b.order(1, CUTOFF - days(age), 5_000)
    return b


@pytest.mark.parametrize(
    ("customer_id", "reason", "segment"),
    [
        (None, UNKNOWN_CUSTOMER, "unknown"),  # a visitor
        (999, UNKNOWN_CUSTOMER, "unknown"),  # no such customer
        (2**63, UNKNOWN_CUSTOMER, "unknown"),  # no store holds such an id
        (-1, UNKNOWN_CUSTOMER, "unknown"),
        (2, NO_ORDERS, "new"),  # a customer who never ordered
    ],
)
def test_customers_without_history_get_the_priors(
    scorer: CustomerScorer,
    store: StoreBuilder,
    customer_id: int | None,
    reason: str,
    segment: str,
) -> None:
    scores = scorer.score(session=store.session, customer_id=customer_id, now=CUTOFF)

    assert (scores.propensity, scores.churn_risk, scores.refund_risk) == (0.4, 0.3, 0.2)
    assert (scores.high_propensity, scores.high_risk_refund, scores.high_value) == (
        False,
        False,
        False,
    )
    assert scores.segment == segment
    assert scores.reasons == {target: [reason] for target in TARGETS}


def test_a_known_customer_gets_scores_flags_segment_and_reasons(
    scorer: CustomerScorer, store: StoreBuilder
) -> None:
    scores = scorer.score(session=store.session, customer_id=1, now=CUTOFF)

    assert scores.propensity == pytest.approx(0.9)
    assert scores.high_propensity  # over the 0.5 cut
    assert scores.high_risk_refund
    assert scores.high_value  # £250 spent, the cut is £100
    assert scores.segment == CHAMPIONS  # last order 5 days ago, 5 orders, £250
    # Propensity is above its prior: explained by what raises it.
    assert scores.reasons["propensity"] == ["last order 5 days ago"]
    # Churn risk is below its prior: explained by what lowers it.
    assert scores.reasons["churn_risk"] == ["last order 5 days ago"]


def test_without_a_trained_model_everyone_gets_default_priors(
    store: StoreBuilder, tmp_path: Path
) -> None:
    scorer = get_scorer(tmp_path / "scoring")

    scores = scorer.score(session=store.session, customer_id=1, now=CUTOFF)

    assert not scorer.trained
    assert scores.reasons["propensity"] == [NO_MODEL]
    assert scores.segment == "unknown"


def _save_version(root: Path, probability: float) -> str:
    version, folder = artifacts.new_version_dir(root)
    for target in TARGETS:
        joblib.dump(ConstantModel(probability), folder / f"{target}.joblib")
    artifacts.write_metadata(folder, _metadata(PRIORS))
    artifacts.promote(root, version)
    return version


def test_the_scorer_follows_the_promoted_version(
    store: StoreBuilder, tmp_path: Path
) -> None:
    root = tmp_path / "scoring"
    first = _save_version(root, 0.2)
    assert get_scorer(root).version == first

    second = _save_version(root, 0.7)
    scorer = get_scorer(root)

    assert scorer.version == second
    assert (
        scorer.score(session=store.session, customer_id=1, now=CUTOFF).propensity == 0.7
    )


def test_an_unusable_version_falls_back_to_priors(
    store: StoreBuilder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "scoring"
    version = _save_version(root, 0.2)
    (root / version / "churn_risk.joblib").unlink()

    with caplog.at_level(logging.WARNING):
        scorer = get_scorer(root)

    assert not scorer.trained
    assert "scoring.models.unusable" in caplog.text
    assert scorer.score(session=store.session, customer_id=1, now=CUTOFF).reasons[
        "propensity"
    ] == [NO_MODEL]


def test_a_corrupt_model_file_falls_back_to_priors(
    store: StoreBuilder, tmp_path: Path
) -> None:
    root = tmp_path / "scoring"
    version = _save_version(root, 0.2)
    (root / version / "refund_risk.joblib").write_bytes(b"not a pickle")

    scorer = get_scorer(root)

    assert not scorer.trained
    assert scorer.version == version  # not retried until another version comes


def test_a_new_order_shows_once_the_cache_refreshes(store: StoreBuilder) -> None:
    scorer = CustomerScorer(
        models={t: ConstantModel(p) for t, p in PROBABILITIES.items()},
        metadata=_metadata(PRIORS),
        version="v1",
        cache=FeatureCache(refresh_seconds=0),
    )
    before = scorer.score(session=store.session, customer_id=2, now=CUTOFF)

    store.order(2, CUTOFF - days(1), 30_000)
    after = scorer.score(session=store.session, customer_id=2, now=CUTOFF)

    assert before.segment == "new"
    assert after.high_value  # £300 now: the cache reloaded customer 2
    assert after.reasons["propensity"] != [NO_ORDERS]


def test_a_customer_created_after_the_cache_loaded_is_found(
    scorer: CustomerScorer, store: StoreBuilder
) -> None:
    scorer.score(session=store.session, customer_id=1, now=CUTOFF)  # loads the cache

    store.customer(3)
    scores = scorer.score(session=store.session, customer_id=3, now=CUTOFF)

    assert scores.segment == "new"
    assert scores.reasons["propensity"] == [NO_ORDERS]


def test_a_warm_up_loads_the_cache_before_the_first_score(
    scorer: CustomerScorer, store: StoreBuilder
) -> None:
    scorer.warm_up(session=store.session, now=CUTOFF)

    assert scorer.cache.loaded
    assert scorer.cache.history(1) is not None
