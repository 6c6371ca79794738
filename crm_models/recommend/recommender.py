"""Product recommendations from a free-text wish, a purchase history, or both.

- A query only: the products whose names are nearest to the query's embedding.
- A known customer with a query: the query's similarity blended with the customer's
  taste (the mean embedding of their recent purchases) and co-purchase counts.
- A known customer without a query: taste and co-purchases alone.
- Nobody and nothing: the bestsellers of the last 90 days.

Products the customer already bought and anything that is not merchandise are never
recommended. Each result carries a short reason ("matches 'gardening'").
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from crm_models import artifacts
from crm_models.errors import ArtifactMissing, DataError
from crm_models.recommend import embeddings, queries
from crm_models.recommend.copurchase import CoPurchase
from crm_models.recommend.index import ProductIndex

logger = logging.getLogger(__name__)

MAX_K = 50
BESTSELLER_POOL = 200  # bestsellers counted and cached per hour
# A query match also names a past purchase when it is at least this similar.
LIKE_BOUGHT_SIMILARITY = 0.6
# Words of a shopping request that say nothing about the product itself.
_FILLER = frozenset(
    """a about am an and any are buy buying can could do does for from get gift gifts
    give have help i i'd i'm im is it kind like likes looking love loves lovely lover
    lovers me my need needs nice of or please present presents recommend show some
    someone somebody something suggest that the their them they this to want wants
    who with would you your""".split()  # noqa: SIM905 - a word list reads better
)
_QUERY_WORD = re.compile(r"[a-z][a-z'-]*")

Encoder = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class Recommendation:
    """One recommended product, its blended score and why it was chosen."""

    product_id: int
    stock_code: str
    name: str
    price_pence: int
    score: float
    reason: str


def _query_words(query: str) -> list[str]:
    words = [w.strip("'-") for w in _QUERY_WORD.findall(query.lower())]
    keep = [w for w in words if len(w) > 2 and w not in _FILLER]
    return list(dict.fromkeys(keep))[:8]


def _normalise(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


@dataclass(frozen=True)
class _Candidate:
    """One candidate product's signals and blended score."""

    product_id: int
    score: float
    query_sim: float
    taste: float
    copurchase: float


class Recommender:
    """Ranks catalogue products for a query and/or a customer.

    With a query, relevance comes from the query alone and a known customer's
    history only boosts it::

        score = q * (1 + taste_boost * taste + copurchase_boost * co)

    where ``q`` and ``taste`` are cosine similarities to the query and to the mean of
    the recent purchases, and ``co`` is the log co-purchase count scaled to 0..1. So
    history re-orders near ties but never pulls in off-topic products. Without a
    query: ``history_taste_weight·taste + (1 − history_taste_weight)·co``.

    Args:
        index: the product embedding index.
        copurchase: co-purchase counts between products.
        version: the index version (for logs and reload checks).
        encode: text → normalised vectors (the MiniLM encoder by default).
        taste_boost: how much taste can lift a query match.
        copurchase_boost: how much co-purchases can lift a query match.
        history_taste_weight: weight of taste against co-purchases with no query.
        history_size: recent distinct purchases that make up the taste.
        pool: candidates taken from the index before filtering.
    """

    def __init__(
        self,
        *,
        index: ProductIndex,
        copurchase: CoPurchase,
        version: str = "",
        encode: Encoder = embeddings.encode,
        taste_boost: float = 0.3,
        copurchase_boost: float = 0.2,
        history_taste_weight: float = 0.6,
        history_size: int = 20,
        pool: int = 200,
    ) -> None:
        self.index = index
        self.copurchase = copurchase
        self.version = version
        self.encode = encode
        self.taste_boost = taste_boost
        self.copurchase_boost = copurchase_boost
        self.history_taste_weight = history_taste_weight
        self.history_size = history_size
        self.pool = pool
        self._bestsellers_cache: (
            tuple[tuple[date, int], list[tuple[int, int]]] | None
        ) = None

    def recommend(
        self,
        *,
        session: Session,
        query: str | None,
        customer_id: int | None,
        k: int = 5,
        max_price_pence: int | None = None,
        now: datetime | None = None,
    ) -> list[Recommendation]:
        """Up to ``k`` products, best first.

        Args:
            session: a CRM store session (read only).
            query: what the shopper asked for, or ``None``.
            customer_id: the verified customer, or ``None`` for a visitor.
            k: how many results (1 to 50).
            max_price_pence: leave out products that cost more.
            now: the reference time for "recent" (``settings.now()`` by default).
        """
        if now is None:
            from crm_models.settings import get_settings

            now = get_settings().now()
        k = max(1, min(int(k), MAX_K))
        query = (query or "").strip() or None

        bought: set[int] = set()
        history: list[int] = []
        if customer_id is not None:
            bought = queries.purchased_ids(session=session, customer_id=customer_id)
            recent = queries.recent_purchases(
                session=session,
                customer_id=customer_id,
                now=now,
                limit=self.history_size,
            )
            history = [p for p in recent if self.index.contains(p)]

        if query is None and not history:
            results = self._bestsellers(
                session=session, now=now, k=k, exclude=bought, max_price=max_price_pence
            )
            mode = "bestsellers"
        else:
            results = self._ranked(
                session=session,
                query=query,
                history=history,
                exclude=bought,
                k=k,
                max_price=max_price_pence,
            )
            mode = "query" if not history else "history" if query is None else "blend"
        logger.info(
            "recommend.done mode=%s k=%s returned=%s index=%s",
            mode,
            k,
            len(results),
            self.version,
        )
        return results

    def _bestsellers(
        self,
        *,
        session: Session,
        now: datetime,
        k: int,
        exclude: set[int],
        max_price: int | None,
    ) -> list[Recommendation]:
        ranked = self._bestseller_ranking(session=session, now=now)
        if k + len(exclude) > len(ranked) == BESTSELLER_POOL:
            ranked = queries.bestsellers(
                session=session, now=now, limit=k + len(exclude) + BESTSELLER_POOL
            )
        items = queries.items_by_id(session=session, product_ids=[p for p, _ in ranked])
        top = max((n for _, n in ranked), default=1)
        results = []
        for product_id, n_orders in ranked:
            item = items.get(product_id)
            if item is None or product_id in exclude:
                continue
            if max_price is not None and item.price_pence > max_price:
                continue
            reason = f"bestseller: in {n_orders} orders in the last 90 days"
            results.append(_recommendation(item, n_orders / top, reason))
            if len(results) == k:
                break
        return results

    def _bestseller_ranking(
        self, *, session: Session, now: datetime
    ) -> list[tuple[int, int]]:
        # The 90-day ranking scans every recent order line: count it once an hour.
        key = (now.date(), now.hour)
        cached = self._bestsellers_cache
        if cached is None or cached[0] != key:
            ranked = queries.bestsellers(
                session=session, now=now, limit=BESTSELLER_POOL
            )
            cached = self._bestsellers_cache = (key, ranked)
        return cached[1]

    def _ranked(
        self,
        *,
        session: Session,
        query: str | None,
        history: list[int],
        exclude: set[int],
        k: int,
        max_price: int | None,
    ) -> list[Recommendation]:
        words = _query_words(query) if query else []
        # Filler ("I'm looking for a present for someone who...") dilutes the
        # embedding: search with the content words when there are any.
        query_vec = self.encode([" ".join(words) or query])[0] if query else None
        history_vecs = self.index.vectors_for(history)
        taste = _normalise(history_vecs.mean(axis=0)) if history else None
        co_scores = self.copurchase.scores(history) if history else {}

        pool = min(self.pool, self.index.size)
        while True:
            ranked = self._score(
                self._candidates(query_vec, taste, co_scores, pool),
                query_vec,
                taste,
                co_scores,
            )
            sellable = queries.items_by_id(
                session=session, product_ids=[c.product_id for c in ranked]
            )
            kept: list[_Candidate] = []
            names: set[str] = set()
            for candidate in ranked:
                item = sellable.get(candidate.product_id)
                if item is None or candidate.product_id in exclude:
                    continue
                if max_price is not None and item.price_pence > max_price:
                    continue
                if item.name in names:  # the same name under another stock code
                    continue
                names.add(item.name)
                kept.append(candidate)
                if len(kept) == k:
                    break
            if len(kept) == k or pool >= self.index.size:
                break
            pool = self.index.size  # the filters left too few: search everything

        explain = _Explainer(
            has_query=query_vec is not None,
            taste_weight=self.history_taste_weight,
            words=words,
            word_vecs=self.encode(words) if words and kept else None,
            history=history,
            history_vecs=history_vecs,
            history_items=queries.items_by_id(
                session=session, product_ids=history, sellable_only=False
            )
            if history and kept
            else {},
            co_scores=co_scores,
        )
        return [
            _recommendation(
                sellable[c.product_id],
                c.score,
                explain.reason(c, self.index.vectors_for([c.product_id])[0]),
            )
            for c in kept
        ]

    def _candidates(
        self,
        query_vec: np.ndarray | None,
        taste: np.ndarray | None,
        co_scores: dict[int, tuple[int, int]],
        pool: int,
    ) -> list[int]:
        ids: list[int] = []
        anchor = query_vec if query_vec is not None else taste
        if anchor is not None:
            _, found = self.index.search(anchor, pool)
            ids.extend(int(p) for p in found[0] if p >= 0)
        if query_vec is None and co_scores:
            by_count = sorted(co_scores.items(), key=lambda kv: (-kv[1][0], kv[0]))
            ids.extend(p for p, _ in by_count[:pool] if self.index.contains(p))
        return list(dict.fromkeys(ids))

    def _score(
        self,
        candidates: list[int],
        query_vec: np.ndarray | None,
        taste: np.ndarray | None,
        co_scores: dict[int, tuple[int, int]],
    ) -> list[_Candidate]:
        if not candidates:
            return []
        vectors = self.index.vectors_for(candidates)
        zeros = np.zeros(len(candidates), dtype=np.float32)
        q_sim = vectors @ query_vec if query_vec is not None else zeros
        t_sim = np.clip(vectors @ taste, 0, 1) if taste is not None else zeros
        top = max((count for count, _ in co_scores.values()), default=0)
        co = np.array(
            [math.log1p(co_scores.get(p, (0, 0))[0]) for p in candidates],
            dtype=np.float32,
        ) / (math.log1p(top) if top else 1.0)

        if query_vec is not None:
            boost = 1 + self.taste_boost * t_sim + self.copurchase_boost * co
            total = q_sim * boost
        else:
            w = self.history_taste_weight
            total = w * t_sim + (1 - w) * co
        rows = [
            _Candidate(
                product_id=pid,
                score=float(total[i]),
                query_sim=float(q_sim[i]),
                taste=float(t_sim[i]),
                copurchase=float(co[i]),
            )
            for i, pid in enumerate(candidates)
        ]
        rows.sort(key=lambda c: (-c.score, c.product_id))
        return rows


@dataclass(frozen=True)
class _Explainer:
    """Writes the one-line reason of a recommendation."""

    has_query: bool
    taste_weight: float
    words: list[str]
    word_vecs: np.ndarray | None
    history: list[int]
    history_vecs: np.ndarray
    history_items: dict[int, queries.CatalogItem]
    co_scores: dict[int, tuple[int, int]]

    def _name(self, product_id: int) -> str | None:
        item = self.history_items.get(product_id)
        return embeddings.display_name(item.name) if item else None

    def _nearest_bought(self, vector: np.ndarray) -> tuple[str | None, float]:
        if not self.history:
            return None, 0.0
        sims = self.history_vecs @ vector
        best = int(np.argmax(sims))
        return self._name(self.history[best]), float(sims[best])

    def reason(self, candidate: _Candidate, vector: np.ndarray) -> str:
        bought, similarity = self._nearest_bought(vector)
        if self.has_query:
            if self.word_vecs is None:
                return "matches your search"
            word = self.words[int(np.argmax(self.word_vecs @ vector))]
            if bought and similarity >= LIKE_BOUGHT_SIMILARITY:
                return f"matches '{word}', like {bought} you bought"
            return f"matches '{word}'"
        partner = self.co_scores.get(candidate.product_id, (0, None))[1]
        w = self.taste_weight
        if (1 - w) * candidate.copurchase > w * candidate.taste and partner is not None:
            name = self._name(partner)
            if name:
                return f"often bought with {name}, which you bought"
        return f"similar to {bought}, which you bought" if bought else "picked for you"


def _recommendation(
    item: queries.CatalogItem, score: float, reason: str
) -> Recommendation:
    return Recommendation(
        product_id=item.product_id,
        stock_code=item.stock_code,
        name=embeddings.display_name(item.name),
        price_pence=item.price_pence,
        score=round(float(score), 4),
        reason=reason,
    )


def load_recommender(folder: Path, *, version: str = "") -> Recommender:
    """A recommender over the index saved in ``folder``.

    Raises:
        ArtifactMissing: a file of the index is missing.
        DataError: the index was built with a different encoder.
    """
    index = ProductIndex.load(folder)
    model_name = index.metadata_.get("model_name")
    if model_name != embeddings.MODEL_NAME:
        raise DataError(
            f"index {folder.name} was built with {model_name!r}, "
            f"not {embeddings.MODEL_NAME!r}: rebuild it"
        )
    return Recommender(index=index, copurchase=CoPurchase.load(folder), version=version)


_lock = threading.Lock()
_cache: dict[str, Recommender] = {}


def get_recommender(root: Path | None = None) -> Recommender:
    """The process-wide recommender over the promoted index (reloaded when it moves).

    Args:
        root: the index root (``settings.models_dir / "index"`` by default).

    Raises:
        ArtifactMissing: no index has been built yet.
    """
    if root is None:
        from crm_models.settings import get_settings

        root = get_settings().models_dir / "index"
    version = artifacts.current_version(root)
    if version is None:
        raise ArtifactMissing(
            f"no product index under {root}: build it with "
            "`python -m crm_models.recommend.build_index`"
        )
    key = str(root)
    cached = _cache.get(key)
    if cached is not None and cached.version == version:
        return cached
    with _lock:
        cached = _cache.get(key)
        if cached is None or cached.version != version:
            cached = load_recommender(artifacts.current_dir(root), version=version)
            _cache[key] = cached
            logger.info("recommend.index.loaded version=%s", version)
    return cached
