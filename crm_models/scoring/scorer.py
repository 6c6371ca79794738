"""Score one customer: propensity, churn and refund risk, flags, segment, reasons.

``get_scorer()`` hands out a process-wide scorer over the promoted models under
``<models>/scoring``; it notices a newly promoted version and loads it without a
restart. With no trained model, or for an unknown customer, the scorer answers
with priors and says so in the reasons; it never raises for a missing customer.

Features come from a ``FeatureCache`` (every customer's history in memory, loaded
on the first call and refreshed incrementally), so a score costs no query for a
customer with orders and no data frame at all.
"""

from __future__ import annotations

import logging
import pickle
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sqlalchemy.orm import Session

from crm_models import artifacts
from crm_models.errors import ArtifactMissing, DataError
from crm_models.scoring import segments
from crm_models.scoring.feature_cache import FeatureCache
from crm_models.scoring.features import FEATURES
from crm_models.scoring.labels import TARGETS
from crm_models.scoring.reasons import explain

logger = logging.getLogger(__name__)
_MAX_ID = 2**63  # ids are 64-bit integers in every store

# Used only before any model is trained: neutral guesses, flagged in the reasons.
DEFAULT_PRIORS = {"propensity": 0.5, "churn_risk": 0.5, "refund_risk": 0.1}
NO_MODEL = "no model trained yet"
UNKNOWN_CUSTOMER = "unknown customer: the average of all customers"
NO_ORDERS = "no orders yet: the average of all customers"


@dataclass(frozen=True)
class CustomerScores:
    """Scores of one customer as of a moment; ``reasons`` maps score → phrases."""

    propensity: float
    churn_risk: float
    refund_risk: float
    high_risk_refund: bool
    high_propensity: bool
    high_value: bool
    segment: str
    reasons: dict[str, list[str]] = field(default_factory=dict)


class CustomerScorer:
    """Applies one promoted model version (or priors when there is none).

    Args:
        models: target → fitted estimator with ``predict_proba``.
        metadata: the version's ``metadata.json``.
        version: the version's name, ``None`` when untrained.
        cache: the customers' histories (a fresh, lazily loaded one by default).
    """

    def __init__(
        self,
        *,
        models: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        version: str | None = None,
        cache: FeatureCache | None = None,
    ) -> None:
        self.models = dict(models or {})
        self.metadata = dict(metadata or {})
        self.version = version
        self.cache = cache if cache is not None else FeatureCache()
        self._segments: segments.SegmentModel | None = None
        if self.trained:
            self._segments = segments.SegmentModel.from_dict(self.metadata["segments"])

    @property
    def trained(self) -> bool:
        """Whether a model is loaded for every target."""
        return all(target in self.models for target in TARGETS)

    def priors(self, reason: str) -> CustomerScores:
        """The base rates, with ``reason`` for every score."""
        if self.trained:
            prior = {t: float(self.metadata["models"][t]["prior"]) for t in TARGETS}
        else:
            prior = DEFAULT_PRIORS
        return CustomerScores(
            propensity=prior["propensity"],
            churn_risk=prior["churn_risk"],
            refund_risk=prior["refund_risk"],
            high_risk_refund=False,
            high_propensity=False,
            high_value=False,
            segment=segments.UNKNOWN,
            reasons={target: [reason] for target in TARGETS},
        )

    def warm_up(self, *, session: Session, now: datetime) -> None:
        """Load the feature cache now (under a second for a few thousand
        customers) instead of on the first customer's score."""
        if self.trained:
            self.cache.ensure_fresh(session=session, now=now)

    def score(
        self, *, session: Session, customer_id: int | None, now: datetime
    ) -> CustomerScores:
        """Score ``customer_id`` as of ``now`` from the store.

        Unknown or ``None`` customers get the priors; a customer with no purchase
        before ``now`` gets the priors and the segment "new".
        """
        if not self.trained:
            return self.priors(NO_MODEL)
        if customer_id is None or not 0 < int(customer_id) < _MAX_ID:
            return self.priors(UNKNOWN_CUSTOMER)  # no store could hold this id
        features = self.cache.features(
            session=session, customer_id=customer_id, now=now
        )
        if features is None:
            if not self.cache.known_customer(session=session, customer_id=customer_id):
                return self.priors(UNKNOWN_CUSTOMER)
            return replace(self.priors(NO_ORDERS), segment=segments.NEW)
        return self.score_features(features)

    def score_features(self, features: Mapping[str, float]) -> CustomerScores:
        """Score one customer's features (``FEATURES`` → value).

        Raises:
            ArtifactMissing: no model is loaded.
        """
        if not self.trained or self._segments is None:
            raise ArtifactMissing("no scoring model is loaded")
        row = np.array([[features[name] for name in FEATURES]], dtype=np.float64)
        probability = {
            target: float(self.models[target].predict_proba(row)[0, 1])
            for target in TARGETS
        }
        meta = self.metadata["models"]
        return CustomerScores(
            propensity=probability["propensity"],
            churn_risk=probability["churn_risk"],
            refund_risk=probability["refund_risk"],
            high_risk_refund=probability["refund_risk"]
            >= meta["refund_risk"]["threshold"],
            high_propensity=probability["propensity"]
            >= meta["propensity"]["threshold"],
            high_value=features["monetary"]
            >= self.metadata["thresholds"]["high_value_monetary"],
            segment=self._segments.segment(features),
            reasons={
                target: explain(
                    features,
                    meta[target]["reasons"],
                    target=target,
                    above_average=probability[target] >= meta[target]["prior"],
                )
                for target in TARGETS
            },
        )


def load_scorer(folder: Path, *, version: str | None = None) -> CustomerScorer:
    """A scorer over the models saved in ``folder``.

    Raises:
        ArtifactMissing: the metadata or a model file is missing.
        DataError: the metadata does not describe the features this code computes.
    """
    metadata = artifacts.read_metadata(folder)
    if list(metadata.get("features", [])) != list(FEATURES):
        raise DataError(
            f"{folder.name} was trained on other features; train the models again"
        )
    models = {}
    try:
        for target in TARGETS:
            path = folder / metadata["models"][target]["file"]
            if not path.is_file():
                raise ArtifactMissing(f"{path} does not exist")
            models[target] = joblib.load(path)
        return CustomerScorer(models=models, metadata=metadata, version=version)
    except (KeyError, TypeError) as exc:
        raise DataError(f"{folder.name}: incomplete metadata ({exc!r})") from exc
    except (pickle.UnpicklingError, AttributeError, ImportError, EOFError) as exc:
        raise DataError(
            f"{folder.name}: a model file cannot be read ({exc!r})"
        ) from exc


_lock = threading.Lock()
_cache: dict[str, CustomerScorer] = {}


def get_scorer(root: Path | None = None) -> CustomerScorer:
    """The process-wide scorer over the promoted models (reloaded when they move).

    Args:
        root: the scoring root (``settings.models_dir / "scoring"`` by default).

    Never raises for missing or unreadable models: it logs a warning and scores
    with priors until a good version is promoted.
    """
    if root is None:
        from crm_models.settings import get_settings

        root = get_settings().models_dir / "scoring"
    version = artifacts.current_version(root)
    key = str(root)
    cached = _cache.get(key)
    if cached is not None and cached.version == version:
        return cached
    with _lock:
        cached = _cache.get(key)
        if cached is not None and cached.version == version:
            return cached
        scorer = CustomerScorer(version=version)
        if version is not None:
            try:
                scorer = load_scorer(artifacts.current_dir(root), version=version)
                logger.info("scoring.models.loaded version=%s", version)
            except (ArtifactMissing, DataError):
                logger.warning(
                    "scoring.models.unusable version=%s", version, exc_info=True
                )
        else:
            logger.info("scoring.models.none root=%s", root)
        _cache[key] = scorer
        return scorer
