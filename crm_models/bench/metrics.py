"""Ranking metrics and bootstrap intervals for the benchmark.

Every ranking metric is computed per customer (or per query) and averaged, so the
bootstrap resamples those units. Classification metrics live in
``crm_models.scoring.evaluation``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np


def hit_at_k(ranked: Sequence[int], relevant: Collection[int], k: int) -> float:
    """1.0 when any of the first ``k`` items is relevant, else 0.0."""
    return float(any(item in relevant for item in ranked[:k]))


def ndcg_at_k(ranked: Sequence[int], relevant: Collection[int], k: int) -> float:
    """Normalised discounted cumulative gain with binary relevance.

    DCG sums ``1 / log2(rank + 1)`` over the relevant items in the first ``k``
    (ranks from 1); the ideal DCG puts ``min(k, |relevant|)`` relevant items first.
    """
    if not relevant:
        return 0.0
    gains = [
        1.0 / np.log2(rank + 2)
        for rank, item in enumerate(ranked[:k])
        if item in relevant
    ]
    ideal = sum(1.0 / np.log2(rank + 2) for rank in range(min(k, len(relevant))))
    return float(sum(gains) / ideal)


def recall_at_k(found: Sequence[int], exact: Sequence[int], k: int) -> float:
    """Share of the exact top ``k`` that an approximate search also returned."""
    truth = set(list(exact)[:k])
    if not truth:
        return float("nan")
    return len(truth & set(list(found)[:k])) / len(truth)


def coverage(rankings: Mapping[int, Sequence[int]], n_items: int, k: int) -> float:
    """Share of the catalogue that appears in at least one top ``k``."""
    if n_items <= 0:
        return 0.0
    shown = {item for ranked in rankings.values() for item in ranked[:k]}
    return len(shown) / n_items


def per_user(
    rankings: Mapping[int, Sequence[int]],
    truth: Mapping[int, Collection[int]],
    k: int,
) -> dict[str, np.ndarray]:
    """HitRate@k and NDCG@k per user of ``truth`` (in ``truth``'s order).

    A user with no ranking counts as a miss.
    """
    users = list(truth)
    hits = np.array([hit_at_k(rankings.get(u, ()), truth[u], k) for u in users])
    ndcg = np.array([ndcg_at_k(rankings.get(u, ()), truth[u], k) for u in users])
    return {"hit_rate": hits, "ndcg": ndcg}


def bootstrap_mean_ci(
    values: np.ndarray,
    *,
    n_resamples: int,
    random_state: int,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile interval of the mean of ``values`` resampled with replacement."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(random_state)
    draws = rng.integers(0, values.size, size=(n_resamples, values.size))
    means = values[draws].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def percentiles(samples: Sequence[float], points: Sequence[float]) -> list[float]:
    """The given percentiles of ``samples`` (e.g. latencies), NaN when empty."""
    if len(samples) == 0:
        return [float("nan")] * len(points)
    return [float(v) for v in np.percentile(np.asarray(samples), list(points))]
