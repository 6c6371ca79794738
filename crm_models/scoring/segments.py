"""Customer segments: k-means on scaled RFM, named the way a marketer would.

Recency, frequency and monetary value are log-scaled and standardised, then
clustered by k-means. Cluster numbers mean nothing and change between runs, so
each cluster gets its name by matching the centroids to fixed prototypes (an
assignment that minimises the total distance): the same kind of customer keeps the
same name whatever the run, the seed or the order of the rows.

``SegmentModel`` is plain numbers (stored in the scoring metadata), so serving
assigns a customer to the nearest centroid without scikit-learn. ``store_segments``
writes each customer's segment to the ``customer_segments`` table.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)

CHAMPIONS = "champions"
LOYAL = "loyal customers"
PROMISING = "promising newcomers"
AT_RISK = "at risk"
HIBERNATING = "hibernating"
NEW = "new"  # no purchase yet
UNKNOWN = "unknown"  # not a known customer, or no model yet

# Where each named kind of customer sits in standardised log space:
# (recency: + is long ago, frequency: + is often, monetary: + is big spender).
PROTOTYPES: dict[str, tuple[float, float, float]] = {
    CHAMPIONS: (-1.0, 1.6, 1.5),
    LOYAL: (-0.6, 0.5, 0.5),
    PROMISING: (-0.6, -0.7, -0.4),
    AT_RISK: (0.8, 0.4, 0.5),
    HIBERNATING: (1.0, -0.8, -0.7),
}
SEGMENTS = (*PROTOTYPES, NEW, UNKNOWN)
RFM_FEATURES = ("recency_days", "frequency", "monetary")
DESCRIPTIONS = {
    CHAMPIONS: "bought recently, often and a lot",
    LOYAL: "buy regularly",
    PROMISING: "bought recently, but only once or twice",
    AT_RISK: "used to buy often, not lately",
    HIBERNATING: "bought little, long ago",
}


def _log_rfm(rfm: np.ndarray) -> np.ndarray:
    rfm = np.atleast_2d(np.asarray(rfm, dtype=np.float64))
    return np.log1p(np.clip(rfm, 0.0, None))


@dataclass(frozen=True)
class SegmentModel:
    """Scaling and named centroids of a fitted segmentation.

    Attributes:
        mean: of the log RFM columns.
        scale: their standard deviations.
        centroids: one row per segment, in standardised log space.
        names: the segment name of each centroid.
    """

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    centroids: tuple[tuple[float, ...], ...]
    names: tuple[str, ...]

    def standardise(self, rfm: np.ndarray) -> np.ndarray:
        """Rows of (recency_days, frequency, monetary) in standardised log space."""
        return (_log_rfm(rfm) - np.asarray(self.mean)) / np.asarray(self.scale)

    def assign(self, rfm: np.ndarray) -> list[str]:
        """The segment name of each row of (recency_days, frequency, monetary)."""
        z = self.standardise(rfm)
        centroids = np.asarray(self.centroids)
        distance = ((z[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
        return [self.names[i] for i in distance.argmin(axis=1)]

    def segment(self, features: Mapping[str, float]) -> str:
        """The segment of one customer's features."""
        row = np.array([[features[name] for name in RFM_FEATURES]])
        return self.assign(row)[0]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (``from_dict`` reads it back)."""
        return {
            "features": list(RFM_FEATURES),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "centroids": [list(c) for c in self.centroids],
            "names": list(self.names),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SegmentModel:
        """The model saved by ``as_dict``."""
        return cls(
            mean=tuple(float(v) for v in data["mean"]),
            scale=tuple(float(v) for v in data["scale"]),
            centroids=tuple(tuple(float(v) for v in c) for c in data["centroids"]),
            names=tuple(str(n) for n in data["names"]),
        )


def fit_segments(rfm: np.ndarray, *, random_state: int) -> SegmentModel:
    """k-means (one cluster per prototype) on standardised log RFM, named.

    Args:
        rfm: rows of (recency_days, frequency, monetary).
        random_state: k-means seed.

    Raises:
        ValueError: fewer customers than segments.
    """
    from scipy.optimize import linear_sum_assignment
    from sklearn.cluster import KMeans

    from crm_models.scoring.models import single_threaded

    names = list(PROTOTYPES)
    logs = _log_rfm(rfm)
    if len(logs) < len(names):
        raise ValueError(f"{len(logs)} customers cannot make {len(names)} segments")
    mean = logs.mean(axis=0)
    scale = logs.std(axis=0)
    scale[scale == 0] = 1.0
    z = (logs - mean) / scale
    with single_threaded():
        kmeans = KMeans(
            n_clusters=len(names),
            init="k-means++",
            n_init=10,
            max_iter=300,
            tol=1e-4,
            random_state=random_state,
        ).fit(z)
    centroids = kmeans.cluster_centers_
    prototypes = np.array([PROTOTYPES[n] for n in names])
    cost = ((centroids[:, None, :] - prototypes[None, :, :]) ** 2).sum(axis=2)
    rows, cols = linear_sum_assignment(cost)
    order = np.argsort(cols)  # centroids listed in prototype order
    return SegmentModel(
        mean=tuple(float(v) for v in mean),
        scale=tuple(float(v) for v in scale),
        centroids=tuple(tuple(float(v) for v in centroids[rows[i]]) for i in order),
        names=tuple(names[cols[i]] for i in order),
    )


def store_segments(
    *,
    session: Session,
    segments: Mapping[int, str],
    version: str,
    now: datetime,
) -> int:
    """Replace the ``customer_segments`` rows with ``segments`` (customer → name).

    Returns:
        The number of rows written.
    """
    from crm_models.store.schema import CustomerSegment

    CustomerSegment.__table__.create(session.connection(), checkfirst=True)
    session.execute(delete(CustomerSegment))
    rows = [
        {
            "customer_id": int(customer_id),
            "segment": name,
            "model_version": version,
            "computed_at": now,
        }
        for customer_id, name in sorted(segments.items())
    ]
    if rows:
        session.execute(insert(CustomerSegment), rows)
    logger.info("scoring.segments.stored customers=%s", len(rows))
    return len(rows)
