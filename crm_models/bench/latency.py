"""Latency of scoring and recommending, and the index at scale.

- Scoring one customer through ``CustomerScorer.score`` with the feature cache
  warm (its one-off load and an incremental refresh are timed apart).
- One recommendation request through ``Recommender.recommend`` against the store:
  history only, and with a free-text query (encoding the query included).
- The index at the real catalogue size and at a synthetic scale: build time,
  memory, single-query search time and recall@10 against exact search for flat,
  IVF and HNSW, which index ``choose_index`` picks, and full recommendation
  requests against a scratch store holding the synthetic catalogue.

Times are wall-clock on whatever else the machine is doing; the report prints the
load average next to them.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from crm_models import artifacts
from crm_models.bench.metrics import percentiles, recall_at_k
from crm_models.recommend.index import (
    ProductIndex,
    choose_index,
    exact_neighbors,
    sample_queries,
)
from crm_models.recommend.ranker import Ranker, Sources
from crm_models.recommend.recommender import Recommender
from crm_models.scoring.dataset import Events, from_days
from crm_models.scoring.scorer import load_scorer
from crm_models.scoring.train import Backtest, TrainConfig, train
from crm_models.store.db import create_schema, make_engine
from crm_models.store.schema import Customer, Order, OrderLine, Product

logger = logging.getLogger(__name__)

Encoder = Callable[[Sequence[str]], np.ndarray]

SHOPPING_QUERIES = (
    "gardening gift",
    "christmas decorations",
    "something for tea lovers",
    "birthday present for a child",
    "kitchen storage",
    "vintage lunch box",
    "candle holder",
    "party bunting",
    "baking set",
    "retro alarm clock",
    "hot water bottle",
    "wall art sign",
    "picnic basket",
    "doorstop",
    "jewellery box",
    "night light for kids",
)


def _ms(
    samples: Sequence[float], cpu: Sequence[float] | None = None
) -> dict[str, float]:
    """Wall-clock p50/p99/max in ms, and the CPU time's when given.

    Wall-clock includes waiting for a core; CPU time (this thread's) is what the
    code itself costs, so the two apart show how busy the machine was.
    """
    p50, p99 = percentiles([s * 1000 for s in samples], (50, 99))
    figures = {
        "p50_ms": round(p50, 3),
        "p99_ms": round(p99, 3),
        "max_ms": round(max(samples) * 1000, 3) if samples else float("nan"),
        "n": len(samples),
    }
    if cpu is not None:
        c50, c99 = percentiles([s * 1000 for s in cpu], (50, 99))
        figures.update(cpu_p50_ms=round(c50, 3), cpu_p99_ms=round(c99, 3))
    return figures


class Timer:
    """Collects the wall-clock and CPU time of repeated calls."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def __enter__(self) -> Timer:
        self._wall = time.perf_counter()
        self._cpu = time.thread_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu.append(time.thread_time() - self._cpu)
        self.wall.append(time.perf_counter() - self._wall)

    def figures(self) -> dict[str, float]:
        """``_ms`` of what was collected."""
        return _ms(self.wall, self.cpu)


def store_now(events: Events) -> datetime:
    """Noon of the store's last order day: "now" for the measurements."""
    return from_days(math.floor(events.last_order_day)) + timedelta(hours=12)


def scorer_latency(
    *,
    session: Session,
    events: Events,
    config: TrainConfig,
    measured: Backtest,
    workdir: Path,
    n_calls: int,
    random_state: int,
) -> dict[str, Any]:
    """Train the shipped scorer, then time ``score`` for known and unknown customers."""
    trained = train(
        events=events,
        out_root=workdir / "scoring",
        config=config,
        measured=measured,
    )
    scorer = load_scorer(trained.folder, version=trained.version)
    now = store_now(events)
    known = np.unique(events.orders["customer_id"].to_numpy())
    rng = np.random.default_rng(random_state)
    ids: list[int | None] = [int(c) for c in rng.choice(known, size=n_calls)]
    for i in range(0, n_calls, 20):  # one in 20: a visitor or an unknown id
        ids[i] = None if i % 40 == 0 else -1 - i

    started = time.perf_counter()
    scorer.score(session=session, customer_id=ids[1], now=now)
    cache_load = time.perf_counter() - started
    timer = Timer()
    for customer_id in ids:
        with timer:
            scorer.score(session=session, customer_id=customer_id, now=now)
    started = time.perf_counter()
    scorer.cache.refresh(session=session, now=now)
    refresh = time.perf_counter() - started
    segments = artifacts.read_metadata(trained.folder)["segments"]
    return {
        **timer.figures(),
        "cache_load_ms": round(cache_load * 1000, 1),
        "cache_customers": len(scorer.cache),
        "refresh_check_ms": round(refresh * 1000, 2),
        "models": {r.target: r.chosen for r in trained.reports},
        "segments": {"names": segments["names"], "counts": segments["counts"]},
    }


def recommend_latency(
    *,
    session: Session,
    recommender: Recommender,
    customers: Sequence[int],
    now: datetime,
    n_requests: int,
    random_state: int,
) -> dict[str, Any]:
    """Time history-only and query requests (after one warm-up of each)."""
    rng = np.random.default_rng(random_state)
    picked = [int(c) for c in rng.choice(customers, size=n_requests)]
    recommender.recommend(session=session, query=None, customer_id=picked[0], now=now)
    recommender.recommend(
        session=session, query=SHOPPING_QUERIES[0], customer_id=None, now=now
    )
    history, query, visitor = Timer(), Timer(), Timer()
    for i, customer_id in enumerate(picked):
        with history:
            recommender.recommend(
                session=session, query=None, customer_id=customer_id, now=now
            )
        text = SHOPPING_QUERIES[i % len(SHOPPING_QUERIES)]
        with query:
            recommender.recommend(
                session=session, query=text, customer_id=customer_id, now=now
            )
        with visitor:
            recommender.recommend(
                session=session, query=text, customer_id=None, now=now
            )
    return {
        "history": history.figures(),
        "query_with_history": query.figures(),
        "query_visitor": visitor.figures(),
        "catalogue": recommender.index.size,
        "index_kind": recommender.index.kind,
    }


def index_figures(
    vectors: np.ndarray,
    ids: np.ndarray,
    *,
    kinds: Sequence[str],
    n_queries: int,
    random_state: int,
) -> dict[str, Any]:
    """Build time, memory, search latency and recall@10 of each index kind."""
    queries = sample_queries(vectors, n_queries, random_state=random_state)
    exact = exact_neighbors(vectors, queries, 10)
    exact_ids = ids[exact]
    figures: dict[str, Any] = {}
    for kind in kinds:
        started = time.perf_counter()
        if kind == "ivf":
            index, choice = choose_index(vectors, ids, exact_max=0)
            extra = {"nprobe": choice.nprobe, "nlist": index.metadata_.get("nlist")}
        else:
            index = ProductIndex().build(vectors, ids, kind=kind)
            extra = {}
        build = time.perf_counter() - started
        timer, recalls = Timer(), []
        for q, truth in zip(queries, exact_ids, strict=True):
            with timer:
                _, found = index.search(q, 10)
            recalls.append(recall_at_k(found[0].tolist(), truth.tolist(), 10))
        figures[kind] = {
            "build_s": round(build, 2),
            "memory_mb": round(index.memory_bytes() / 1e6, 1),
            "search": timer.figures(),
            "recall_at_10": round(float(np.mean(recalls)), 4),
            **extra,
        }
    return figures


def scratch_store(
    *,
    source: Session,
    path: Path,
    names: Sequence[str],
    customers: Sequence[int],
    random_state: int,
) -> tuple[Any, list[int]]:
    """A SQLite store with the real catalogue, some customers and ``names`` added.

    Returns:
        The engine and the new products' ids.
    """
    engine = make_engine(f"sqlite:///{path}")
    create_schema(engine)
    rng = np.random.default_rng(random_state)

    def rows(model: Any, where: Any = None) -> list[dict[str, Any]]:
        query = select(model.__table__)
        if where is not None:
            query = query.where(where)
        return [dict(r._mapping) for r in source.execute(query)]

    products = rows(Product)
    orders = rows(Order, Order.customer_id.in_(list(customers)))
    order_ids = [o["id"] for o in orders]
    lines = rows(OrderLine, OrderLine.order_id.in_(order_ids)) if order_ids else []
    start = max(p["id"] for p in products) + 1
    new_ids = list(range(start, start + len(names)))
    stamp = products[0]["updated_at"]
    synthetic = [
        {
            "id": pid,
            "stock_code": f"SYN{pid:07d}",
            "name": name,
            "unit_price_pence": int(rng.integers(50, 3000)),
            "is_merchandise": True,
            "active": True,
            "updated_at": stamp,
        }
        for pid, name in zip(new_ids, names, strict=True)
    ]
    with engine.begin() as conn:
        conn.execute(insert(Product), products + synthetic)
        conn.execute(insert(Customer), rows(Customer, Customer.id.in_(list(customers))))
        if orders:
            conn.execute(insert(Order), orders)
        if lines:
            conn.execute(insert(OrderLine), lines)
    return engine, new_ids


def scale_latency(
    *,
    source: Session,
    workdir: Path,
    real_ids: np.ndarray,
    real_vectors: np.ndarray,
    synthetic_names: Sequence[str],
    synthetic_vectors: np.ndarray,
    sources: Sources,
    ranker: Ranker,
    encode: Encoder,
    customers: Sequence[int],
    now: datetime,
    n_requests: int,
    n_queries: int,
    random_state: int,
) -> dict[str, Any]:
    """Index figures and recommendation requests at the synthetic scale."""
    engine, new_ids = scratch_store(
        source=source,
        path=workdir / "scale.db",
        names=synthetic_names,
        customers=customers,
        random_state=random_state,
    )
    ids = np.concatenate([real_ids, np.asarray(new_ids, dtype=np.int64)])
    vectors = np.vstack([real_vectors, synthetic_vectors]).astype(np.float32)
    figures = index_figures(
        vectors,
        ids,
        kinds=("flat", "ivf", "hnsw"),
        n_queries=n_queries,
        random_state=random_state,
    )
    started = time.perf_counter()
    index, choice = choose_index(vectors, ids)
    choice_s = time.perf_counter() - started
    recommender = Recommender(
        index=index,
        sources=dataclasses.replace(sources, index=index),
        ranker=ranker,
        encode=encode,
    )
    with Session(engine) as session:
        requests = recommend_latency(
            session=session,
            recommender=recommender,
            customers=customers,
            now=now,
            n_requests=n_requests,
            random_state=random_state,
        )
    engine.dispose()
    return {
        "products": len(ids),
        "synthetic": len(new_ids),
        "indexes": figures,
        "chosen": {**choice.as_dict(), "build_s": round(choice_s, 2)},
        "requests": requests,
    }
