"""Candidates from every source, their features, and the ranker that blends them.

For a customer's history (product → last time bought), ``Sources.candidates``
pools the strongest products of each source:

- EASE weights (customers' purchase sets, recent purchases weigh more),
- co-purchase similarity (same orders),
- association rules (confidence and lift),
- embedding similarity to the customer's recent purchases (FAISS),
- what many customers bought in the last 30 days;

and describes each candidate by the same features, whichever source found it.
``Ranker`` is a logistic regression over those features, trained on a past time
split (history before a cutoff, label: a new product bought in the 99 days after)
so that it learns how much each source is worth. Serving and evaluation both go
through ``Sources.candidates`` and ``Ranker.score``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from crm_models.errors import ArtifactMissing, DataError
from crm_models.recommend.copurchase import fit_copurchase
from crm_models.recommend.ease import EaseConfig, fit_ease, recency_weight
from crm_models.recommend.index import ProductIndex
from crm_models.recommend.neighbors import Aggregate, ItemNeighbors
from crm_models.recommend.popularity import ItemStats, fit_stats
from crm_models.recommend.purchases import Purchases
from crm_models.recommend.rules import AssociationRules, fit_rules
from crm_models.recommend.timesplit import TimeSplit

logger = logging.getLogger(__name__)

FEATURES = (
    "ease",  # recency-weighted EASE score
    "ease_share",  # ... over the customer's best EASE score
    "copurchase",  # recency-weighted co-purchase cosine
    "copurchase_share",
    "rule_confidence",  # best confidence of a rule from the history
    "rule_lift",  # log of that rule's lift
    "taste",  # cosine to the customer's recent taste (embeddings)
    "nearest",  # cosine to the most similar recent purchase
    "buyers",  # log(1 + customers who bought it)
    "recent_buyers",  # log(1 + customers who bought it in the last 30 days)
    "age",  # log(1 + days since its first sale)
)
RANKER_FILE = "ranker.json"
SOURCES_FILE = "sources.json"
EASE_FILE = "ease.npz"
COPURCHASE_FILE = "copurchase.npz"
CONFIDENCE_FILE = "rules_confidence.npz"
LIFT_FILE = "rules_lift.npz"
STATS_FILE = "item_stats.npz"
EMBEDDED_HISTORY = 50  # the latest purchases that make up the taste vector


@dataclass(frozen=True)
class SourceConfig:
    """How many candidates each source brings and how the tables are built."""

    pool: int = 50  # per source
    copurchase_top_n: int = 50
    rules_top_n: int = 50
    ease: EaseConfig = field(default_factory=EaseConfig)


@dataclass(frozen=True)
class HistoryContext:
    """A history's aggregated item-to-item scores and its taste (see ``context``)."""

    ease: Aggregate
    co: Aggregate
    conf: Aggregate
    lift: Aggregate
    taste: np.ndarray | None
    recent_ids: np.ndarray
    recent_vectors: np.ndarray


@dataclass(frozen=True)
class Candidates:
    """One customer's candidates: ids, the feature matrix and reason sources.

    Attributes:
        ids: candidate product ids.
        X: one row per candidate, columns ``FEATURES``.
        nearest: per candidate, the most similar recent purchase, -1 if none.
        context: the history's aggregates (for ``because``).
    """

    ids: np.ndarray
    X: np.ndarray
    nearest: np.ndarray
    context: HistoryContext

    def column(self, name: str) -> np.ndarray:
        """One feature column."""
        return self.X[:, FEATURES.index(name)]

    def because(self, product_id: int) -> tuple[str, int]:
        """The strongest item-to-item link of a candidate: ("rules" | "copurchase" |
        "ease" | "", the history product behind it or -1)."""
        for name, agg in (
            ("rules", self.context.conf),
            ("copurchase", self.context.co),
            ("ease", self.context.ease),
        ):
            source = agg.source(product_id)
            if source >= 0:
                return name, source
        return "", -1


def _lookup(agg: Aggregate, ids: np.ndarray) -> np.ndarray:
    """Scores of ``ids`` in an aggregate (0 when absent)."""
    if agg.ids.size == 0:
        return np.zeros(len(ids))
    pos = np.clip(np.searchsorted(agg.ids, ids), 0, agg.ids.size - 1)
    return np.where(agg.ids[pos] == ids, agg.scores[pos], 0.0)


def _top(agg: Aggregate, n: int, exclude: set[int]) -> list[int]:
    order = np.lexsort((agg.ids, -agg.scores))
    picked = []
    for i in order:
        product = int(agg.ids[i])
        if agg.scores[i] > 0 and product not in exclude:
            picked.append(product)
            if len(picked) == n:
                break
    return picked


def _share(values: np.ndarray) -> np.ndarray:
    top = float(values.max()) if values.size else 0.0
    return values / top if top > 0 else np.zeros_like(values)


@dataclass
class Sources:
    """The fitted candidate sources as of ``as_of`` (days)."""

    ease: ItemNeighbors
    copurchase: ItemNeighbors
    rules: AssociationRules
    stats: ItemStats
    index: ProductIndex
    as_of: float
    config: SourceConfig = field(default_factory=SourceConfig)

    def history_weights(self, times: np.ndarray, now: float) -> np.ndarray:
        """Recency weight of each history purchase (EASE's weighting)."""
        return np.asarray(recency_weight(now - times, self.config.ease))

    def taste(
        self, history: Mapping[int, float], now: float
    ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """The taste vector, the recent embedded purchases and their vectors."""
        recent = sorted(history.items(), key=lambda kv: (-kv[1], kv[0]))
        ids = [p for p, _ in recent if self.index.contains(p)][:EMBEDDED_HISTORY]
        if not ids:
            return None, np.zeros(0, np.int64), np.zeros((0, 1), np.float32)
        vectors = self.index.vectors_for(ids)
        times = np.array([history[p] for p in ids])
        mean = self.history_weights(times, now) @ vectors
        norm = float(np.linalg.norm(mean))
        taste = mean / norm if norm > 0 else None
        return taste, np.asarray(ids, np.int64), vectors

    def context(self, history: Mapping[int, float], now: float) -> HistoryContext:
        """Everything the candidates' features need from one customer's history."""
        products = list(history)
        times = np.array([history[p] for p in products], dtype=np.float64)
        weights = self.history_weights(times, now)
        taste, recent_ids, recent_vectors = self.taste(history, now)
        return HistoryContext(
            ease=self.ease.aggregate(products, weights),
            co=self.copurchase.aggregate(products, weights),
            conf=self.rules.confidence.aggregate(products, reduce="max"),
            lift=self.rules.lift.aggregate(products, reduce="max"),
            taste=taste,
            recent_ids=recent_ids,
            recent_vectors=recent_vectors,
        )

    def candidates(
        self,
        history: Mapping[int, float],
        now: float,
        *,
        exclude: set[int] | None = None,
        pool: int | None = None,
    ) -> Candidates:
        """Candidates for a customer with ``history`` (product → last time bought)."""
        pool = pool or self.config.pool
        exclude = set(history) | (exclude or set())
        ctx = self.context(history, now)
        picked: list[int] = []
        for agg in (ctx.ease, ctx.co, ctx.conf):
            picked += _top(agg, pool, exclude)
        if ctx.taste is not None:
            _, found = self.index.search(ctx.taste, pool + min(len(exclude), 4 * pool))
            near = [int(p) for p in found[0] if p >= 0 and int(p) not in exclude]
            picked += near[:pool]
        popular = self.stats.most_popular(pool + len(exclude), recent=True)
        picked += [int(p) for p in popular if int(p) not in exclude][:pool]
        ids = np.array(sorted(set(picked)), dtype=np.int64)
        return self.describe(ids, ctx)

    def describe(self, ids: np.ndarray, ctx: HistoryContext) -> Candidates:
        """The feature rows of ``ids`` for the history behind ``ctx``."""
        ids = np.asarray(ids, dtype=np.int64)
        n = len(ids)
        ease_s = _lookup(ctx.ease, ids)
        co_s = _lookup(ctx.co, ids)
        conf_s = _lookup(ctx.conf, ids)
        lift_s = _lookup(ctx.lift, ids)
        taste_s = np.zeros(n)
        nearest_s = np.zeros(n)
        nearest_id = np.full(n, -1, np.int64)
        embedded = np.array([self.index.contains(int(p)) for p in ids], dtype=bool)
        if ctx.taste is not None and embedded.any():
            vectors = self.index.vectors_for(ids[embedded])
            taste_s[embedded] = vectors @ ctx.taste
            sims = vectors @ ctx.recent_vectors.T
            nearest_s[embedded] = sims.max(axis=1)
            nearest_id[embedded] = ctx.recent_ids[sims.argmax(axis=1)]
        buyers, recent, age = self.stats.lookup(ids)
        if n == 0:
            X = np.zeros((0, len(FEATURES)))
        else:
            X = np.column_stack(
                [
                    ease_s,
                    _share(ease_s),
                    co_s,
                    _share(co_s),
                    conf_s,
                    np.log(np.maximum(lift_s, 1.0)),
                    taste_s,
                    nearest_s,
                    np.log1p(buyers),
                    np.log1p(recent),
                    np.log1p(np.maximum(age, 0.0)),
                ]
            )
        return Candidates(ids=ids, X=X, nearest=nearest_id, context=ctx)

    def save(self, folder: Path) -> None:
        """Write every table and ``sources.json`` into ``folder`` (not the index)."""
        self.ease.save(folder / EASE_FILE)
        self.copurchase.save(folder / COPURCHASE_FILE)
        self.rules.confidence.save(folder / CONFIDENCE_FILE)
        self.rules.lift.save(folder / LIFT_FILE)
        self.stats.save(folder / STATS_FILE)
        meta = {
            "as_of": self.as_of,
            "n_baskets": self.rules.n_baskets,
            "min_count": self.rules.min_count,
            "config": {
                "pool": self.config.pool,
                "copurchase_top_n": self.config.copurchase_top_n,
                "rules_top_n": self.config.rules_top_n,
                "ease": asdict(self.config.ease),
            },
        }
        text = json.dumps(meta, indent=2, sort_keys=True)
        (folder / SOURCES_FILE).write_text(text + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, *, index: ProductIndex) -> Sources:
        """Read what ``save`` wrote, over ``index``.

        Raises:
            ArtifactMissing: a file is missing.
        """
        path = folder / SOURCES_FILE
        if not path.is_file():
            raise ArtifactMissing(f"{path} does not exist")
        meta = json.loads(path.read_text(encoding="utf-8"))
        config = meta["config"]
        return cls(
            ease=ItemNeighbors.load(folder / EASE_FILE),
            copurchase=ItemNeighbors.load(folder / COPURCHASE_FILE),
            rules=AssociationRules(
                confidence=ItemNeighbors.load(folder / CONFIDENCE_FILE),
                lift=ItemNeighbors.load(folder / LIFT_FILE),
                n_baskets=int(meta["n_baskets"]),
                min_count=int(meta["min_count"]),
            ),
            stats=ItemStats.load(folder / STATS_FILE),
            index=index,
            as_of=float(meta["as_of"]),
            config=SourceConfig(
                pool=int(config["pool"]),
                copurchase_top_n=int(config["copurchase_top_n"]),
                rules_top_n=int(config["rules_top_n"]),
                ease=EaseConfig(**config["ease"]),
            ),
        )

    @classmethod
    def empty(cls, index: ProductIndex) -> Sources:
        """Sources with no purchase data: only the embeddings can suggest."""
        none = ItemNeighbors(np.zeros(0), np.zeros(1), np.zeros(0), np.zeros(0))
        stats = ItemStats(
            ids=np.zeros(0, np.int64),
            buyers=np.zeros(0),
            recent_buyers=np.zeros(0),
            first_sold=np.zeros(0),
            as_of=0.0,
        )
        return cls(
            ease=none,
            copurchase=none,
            rules=AssociationRules(none, none, 0, 0),
            stats=stats,
            index=index,
            as_of=0.0,
        )


def fit_sources(
    purchases: Purchases,
    *,
    now: float,
    index: ProductIndex,
    config: SourceConfig | None = None,
) -> Sources:
    """Fit every item-to-item source on ``purchases`` (all before ``now``)."""
    config = config or SourceConfig()
    return Sources(
        ease=fit_ease(purchases, now=now, config=config.ease),
        copurchase=fit_copurchase(purchases, top_n=config.copurchase_top_n),
        rules=fit_rules(purchases, top_n=config.rules_top_n),
        stats=fit_stats(purchases, now=now),
        index=index,
        as_of=now,
        config=config,
    )


@dataclass(frozen=True)
class Ranker:
    """Standardised logistic regression over ``FEATURES`` (plain numbers)."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    features: tuple[str, ...] = FEATURES

    def score(self, X: np.ndarray) -> np.ndarray:
        """The probability-like score of each candidate row."""
        if X.size == 0:
            return np.zeros(len(X))
        z = (X - np.asarray(self.mean)) / np.asarray(self.scale)
        logit = z @ np.asarray(self.coef) + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(logit, -50.0, 50.0)))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "features": list(self.features),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "coef": list(self.coef),
            "intercept": self.intercept,
        }

    def save(self, folder: Path) -> None:
        """Write ``ranker.json`` into ``folder``."""
        text = json.dumps(self.as_dict(), indent=2)
        (folder / RANKER_FILE).write_text(text + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> Ranker:
        """Read ``ranker.json``.

        Raises:
            ArtifactMissing: the file is not there.
            DataError: it was trained on other features.
        """
        path = folder / RANKER_FILE
        if not path.is_file():
            raise ArtifactMissing(f"{path} does not exist")
        data = json.loads(path.read_text(encoding="utf-8"))
        if tuple(data["features"]) != FEATURES:
            raise DataError(f"{path} was trained on other features: rebuild the index")
        return cls(
            mean=tuple(data["mean"]),
            scale=tuple(data["scale"]),
            coef=tuple(data["coef"]),
            intercept=float(data["intercept"]),
        )


def training_rows(
    sources: Sources, split: TimeSplit
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate features, 0/1 labels and customer ids of the customers of ``split``."""
    blocks, labels, groups = [], [], []
    for customer in split.customers:
        found = sources.candidates(split.history[customer], split.cutoff)
        blocks.append(found.X)
        truth = split.truth[customer]
        labels.append(np.array([int(p) in truth for p in found.ids], dtype=int))
        groups.append(np.full(len(found.ids), customer, dtype=np.int64))
    if not blocks:
        return np.zeros((0, len(FEATURES))), np.zeros(0, int), np.zeros(0, np.int64)
    return np.vstack(blocks), np.concatenate(labels), np.concatenate(groups)


def fit_ranker(X: np.ndarray, y: np.ndarray, *, random_state: int = 7) -> Ranker:
    """Fit the ranker on candidate rows.

    Raises:
        DataError: the rows hold only one class.
    """
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(y)) < 2:
        raise DataError("ranker training rows hold one class only")
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(
        C=1.0,
        l1_ratio=0.0,
        fit_intercept=True,
        class_weight=None,
        solver="lbfgs",
        max_iter=2000,
        tol=1e-5,
        random_state=random_state,
    ).fit((X - mean) / scale, y)
    return Ranker(
        mean=tuple(float(v) for v in mean),
        scale=tuple(float(v) for v in scale),
        coef=tuple(float(v) for v in model.coef_[0]),
        intercept=float(model.intercept_[0]),
    )
