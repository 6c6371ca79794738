"""Product recommendations from a free-text wish, a purchase history, or both.

- A known customer without a query: candidates from every source (EASE, co-purchase,
  association rules, embeddings, recent popularity) ranked by the trained ranker
  (``ranker``), which learned on a past time split how much each source is worth.
- A query only: the products whose names are nearest to the query's embedding.
- A known customer with a query: the query's similarity, lifted by the customer's
  taste and by the ranker's personal score, so history re-orders near ties but
  never pulls in off-topic products.
- Nobody and nothing: the bestsellers of the last 90 days.

Products the customer already bought and anything that is not merchandise are never
recommended, nor anything over a stated price. Each result says why ("often bought
with X, which you bought", "matches 'gardening'").
"""

from __future__ import annotations

import logging
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
from crm_models.recommend.index import ProductIndex
from crm_models.recommend.ranker import RANKER_FILE, Candidates, Ranker, Sources
from crm_models.scoring.dataset import to_days
from crm_models.scoring.models import one_thread

logger = logging.getLogger(__name__)

MAX_K = 50
BESTSELLER_POOL = 200  # bestsellers counted and cached per hour
# A query match also names a past purchase when it is at least this similar.
LIKE_BOUGHT_SIMILARITY = 0.6
# "Similar to X you bought" needs at least this cosine.
SIMILAR_REASON = 0.5
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


def _no_hint(position: int) -> str | None:
    return None


@dataclass(frozen=True)
class _Words:
    """The content words of a query and their vectors."""

    words: list[str]
    vectors: np.ndarray


@dataclass(frozen=True)
class _Ranked:
    """Candidates in score order, with what the reasons need."""

    ids: np.ndarray
    scores: np.ndarray
    hint: Callable[[int], str | None]  # ranked position → what the reason says


class Recommender:
    """Ranks catalogue products for a query and/or a customer.

    With a query::

        score = q * (1 + taste_boost * taste + personal_boost * personal)

    where ``q`` and ``taste`` are cosine similarities to the query and to the
    customer's recent purchases, and ``personal`` the ranker's score of the product
    for this customer over the best such score among the query's candidates.

    Args:
        index: the product embedding index.
        sources: the fitted candidate sources (embeddings only when ``None``).
        ranker: blends the sources (ranks by taste alone when ``None``).
        version: the artefacts' version (for logs and reload checks).
        encode: text → normalised vectors (the MiniLM encoder by default).
        taste_boost: how much taste can lift a query match.
        personal_boost: how much the personal score can lift a query match.
        pool: query candidates taken from the index before filtering.
    """

    def __init__(
        self,
        *,
        index: ProductIndex,
        sources: Sources | None = None,
        ranker: Ranker | None = None,
        version: str = "",
        encode: Encoder = embeddings.encode,
        taste_boost: float = 0.3,
        personal_boost: float = 0.2,
        pool: int = 200,
    ) -> None:
        self.index = index
        self.sources = sources if sources is not None else Sources.empty(index)
        self.ranker = ranker
        self.version = version
        self.encode = encode
        self.taste_boost = taste_boost
        self.personal_boost = personal_boost
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

        with one_thread():
            return self._recommend(
                session=session,
                query=query,
                customer_id=customer_id,
                k=k,
                max_price_pence=max_price_pence,
                now=now,
            )

    def _recommend(
        self,
        *,
        session: Session,
        query: str | None,
        customer_id: int | None,
        k: int,
        max_price_pence: int | None,
        now: datetime,
    ) -> list[Recommendation]:
        history: dict[int, float] = {}
        if customer_id is not None:
            bought = queries.purchase_history(
                session=session, customer_id=customer_id, now=now
            )
            history = {p: to_days(t) for p, t in bought.items()}
        embedded = any(self.index.contains(p) for p in history)

        if query is None and not embedded and not self._has_sources(history):
            results = self._bestsellers(
                session=session,
                now=now,
                k=k,
                exclude=set(history),
                max_price=max_price_pence,
            )
            mode = "bestsellers"
        elif query is None:
            ranked = self._for_history(history, to_days(now))
            results = self._finish(session, ranked, history, k, max_price_pence)
            mode = "history"
        else:
            ranked, words = self._for_query(query, history, to_days(now))
            results = self._finish(
                session, ranked, history, k, max_price_pence, words=words
            )
            mode = "blend" if history else "query"
        logger.info(
            "recommend.done mode=%s k=%s returned=%s index=%s",
            mode,
            k,
            len(results),
            self.version,
        )
        return results

    # ------------------------------------------------------------ ranking

    def _has_sources(self, history: dict[int, float]) -> bool:
        return any(len(self.sources.ease.row(p)[0]) for p in history)

    def _for_history(self, history: dict[int, float], now: float) -> _Ranked:
        found = self.sources.candidates(history, now)
        if self.ranker is not None:
            scores = self.ranker.score(found.X)
        else:
            scores = found.column("taste")
        order = np.lexsort((found.ids, -scores))
        return _Ranked(
            ids=found.ids[order],
            scores=scores[order],
            hint=lambda position: self._history_hint(found, int(order[position])),
        )

    @staticmethod
    def _history_hint(found: Candidates, i: int) -> str | None:
        """The reason of candidate row ``i``: a placeholder naming a product id
        (``_Explainer`` puts in its name) or a finished phrase."""
        link, source = found.because(int(found.ids[i]))
        if link in ("rules", "copurchase"):
            return f"with:{source}"
        if link == "ease":
            return f"also:{source}"
        if found.nearest[i] >= 0 and found.column("nearest")[i] >= SIMILAR_REASON:
            return f"like:{int(found.nearest[i])}"
        recent = found.column("recent_buyers")[i]
        if recent > 0:
            n = round(float(np.expm1(recent)))
            return f"popular lately: {n} customers bought it in the last 30 days"
        return None

    def _for_query(
        self, query: str, history: dict[int, float], now: float
    ) -> tuple[_Ranked, _Words]:
        words = _query_words(query)
        # Filler ("I'm looking for a present for someone who...") dilutes the
        # embedding: search with the content words when there are any.
        # One forward pass for the query and its words (the words name the reason).
        vectors = self.encode([" ".join(words) or query, *words])
        query_vec, word_vectors = vectors[0], vectors[1:]
        _, found = self.index.search(query_vec, min(self.pool, self.index.size))
        ids = np.array([int(p) for p in found[0] if p >= 0], dtype=np.int64)
        if ids.size == 0:
            return _Ranked(ids, np.zeros(0), _no_hint), _Words(words, word_vectors)
        q = self.index.vectors_for(ids) @ query_vec
        boost = np.ones(len(ids))
        if history:
            ctx = self.sources.context(history, now)
            described = self.sources.describe(ids, ctx)
            taste = np.clip(described.column("taste"), 0, 1)
            boost += self.taste_boost * taste
            if self.ranker is not None:
                personal = self.ranker.score(described.X)
                top = float(personal.max())
                if top > 0:
                    boost += self.personal_boost * personal / top
        scores = q * boost
        order = np.lexsort((ids, -scores))
        return _Ranked(ids[order], scores[order], _no_hint), _Words(words, word_vectors)

    # ------------------------------------------------------------ output

    def _finish(
        self,
        session: Session,
        ranked: _Ranked,
        history: dict[int, float],
        k: int,
        max_price: int | None,
        *,
        words: _Words | None = None,
    ) -> list[Recommendation]:
        """Filter (sellable, not bought, price, one per name) and add reasons."""
        kept: list[int] = []
        names: set[str] = set()
        sellable: dict[int, queries.CatalogItem] = {}
        chunk = max(4 * k, 20)
        # Read the catalogue rows a chunk at a time: most requests need one.
        for start in range(0, len(ranked.ids), chunk):
            ids = ranked.ids[start : start + chunk]
            sellable.update(queries.items_by_id(session=session, product_ids=ids))
            for position in range(start, start + len(ids)):
                product_id = int(ranked.ids[position])
                item = sellable.get(product_id)
                if item is None or product_id in history:
                    continue
                if max_price is not None and item.price_pence > max_price:
                    continue
                if item.name in names:  # the same name under another stock code
                    continue
                names.add(item.name)
                kept.append(position)
                if len(kept) == k:
                    break
            if len(kept) == k:
                break
        if not kept:
            return []
        hints = [ranked.hint(i) for i in kept]
        referenced = [
            int(h.partition(":")[2])
            for h in hints
            if h and ":" in h and h.partition(":")[2].isdigit()
        ]
        explain = _Explainer(
            session=session,
            index=self.index,
            words=words,
            history=history,
            known=queries.items_by_id(
                session=session, product_ids=referenced, sellable_only=False
            ),
        )
        return [
            _recommendation(
                sellable[int(ranked.ids[i])],
                float(ranked.scores[i]),
                explain.reason(int(ranked.ids[i]), hint),
            )
            for i, hint in zip(kept, hints, strict=True)
        ]

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


@dataclass
class _Explainer:
    """Writes the one-line reason of a recommendation."""

    session: Session
    index: ProductIndex
    words: _Words | None
    history: dict[int, float]
    known: dict[int, queries.CatalogItem]  # products the reasons name, read at once

    def __post_init__(self) -> None:
        self._names: dict[int, str | None] = {
            p: embeddings.display_name(item.name) for p, item in self.known.items()
        }
        self._recent: tuple[list[int], np.ndarray] | None = None

    def _name(self, product_id: int) -> str | None:
        if product_id not in self._names:
            items = queries.items_by_id(
                session=self.session, product_ids=[product_id], sellable_only=False
            )
            item = items.get(product_id)
            self._names[product_id] = (
                embeddings.display_name(item.name) if item else None
            )
        return self._names[product_id]

    def _nearest_bought(self, product_id: int) -> tuple[str | None, float]:
        if self._recent is None:
            recent = sorted(self.history, key=lambda p: (-self.history[p], p))
            ids = [p for p in recent if self.index.contains(p)][:50]
            self._recent = (ids, self.index.vectors_for(ids))
        ids, vectors = self._recent
        if not ids or not self.index.contains(product_id):
            return None, 0.0
        sims = vectors @ self.index.vectors_for([product_id])[0]
        best = int(np.argmax(sims))
        return self._name(ids[best]), float(sims[best])

    def reason(self, product_id: int, hint: str | None) -> str:
        if self.words is not None:  # a query
            if not self.words.words or not self.index.contains(product_id):
                return "matches your search"
            vector = self.index.vectors_for([product_id])[0]
            best = int(np.argmax(self.words.vectors @ vector))
            word = self.words.words[best]
            bought, similarity = self._nearest_bought(product_id)
            if bought and similarity >= LIKE_BOUGHT_SIMILARITY:
                return f"matches '{word}', like {bought} you bought"
            return f"matches '{word}'"
        if hint is not None and ":" in hint:
            tag, _, ref = hint.partition(":")
            name = self._name(int(ref)) if ref.isdigit() else None
            if name and tag == "with":
                return f"often bought with {name}, which you bought"
            if name and tag == "also":
                return f"customers who bought {name} also bought this"
            if name and tag == "like":
                return f"similar to {name}, which you bought"
        elif hint:
            return hint
        bought, similarity = self._nearest_bought(product_id)
        if bought and similarity >= SIMILAR_REASON:
            return f"similar to {bought}, which you bought"
        return "picked for you"


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
    """A recommender over the index and sources saved in ``folder``.

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
    ranker = Ranker.load(folder) if (folder / RANKER_FILE).is_file() else None
    return Recommender(
        index=index,
        sources=Sources.load(folder, index=index),
        ranker=ranker,
        version=version,
    )


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
