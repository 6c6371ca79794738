"""Run every measurement of the benchmark on one store and collect the results."""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from crm_models import artifacts
from crm_models.bench import latency, machine
from crm_models.bench.recommend_bench import run_recommend
from crm_models.bench.scoring_bench import run_scoring
from crm_models.bench.synthetic import cached_encode, synthetic_catalog
from crm_models.errors import ShopBotError
from crm_models.recommend import embeddings, queries
from crm_models.recommend.ease import EaseConfig
from crm_models.recommend.index import ProductIndex
from crm_models.recommend.purchases import load_purchases
from crm_models.recommend.ranker import SourceConfig
from crm_models.recommend.recommender import Recommender
from crm_models.scoring.dataset import load_events
from crm_models.scoring.train import TrainConfig

logger = logging.getLogger(__name__)

Encoder = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class BenchConfig:
    """Sizes of one run; ``quick()`` for tests and CI, ``full()`` for the report."""

    quick: bool
    n_resamples: int
    calibration_folds: int
    scoring_calls: int
    recommend_requests: int
    synthetic_products: int
    recall_queries: int
    encode_synthetic: bool  # the real encoder, or mixes of real vectors
    max_customers: int | None  # recommendation customers (None: all)
    ease_max_items: int
    random_state: int = 7

    @classmethod
    def full(cls, random_state: int = 7) -> BenchConfig:
        """Every customer, 1,000 resamples, 100,000 encoded synthetic products."""
        return cls(
            quick=False,
            n_resamples=1000,
            calibration_folds=5,
            scoring_calls=2000,
            recommend_requests=200,
            synthetic_products=100_000,
            recall_queries=500,
            encode_synthetic=True,
            max_customers=None,
            ease_max_items=8000,
            random_state=random_state,
        )

    @classmethod
    def quick_run(cls, random_state: int = 7) -> BenchConfig:
        """Small sizes: 10,000 mixed synthetic products, 200 resamples, samples."""
        return cls(
            quick=True,
            n_resamples=200,
            calibration_folds=3,
            scoring_calls=300,
            recommend_requests=30,
            synthetic_products=10_000,
            recall_queries=100,
            encode_synthetic=False,
            max_customers=300,
            ease_max_items=1500,
            random_state=random_state,
        )


def promoted_vectors(
    index_root: Path, items: Sequence[queries.CatalogItem]
) -> np.ndarray | None:
    """The promoted index's vectors of ``items`` if it indexes exactly these names."""
    from crm_models.recommend.build_index import CATALOG_FILE

    try:
        folder = artifacts.current_dir(index_root)
        catalog = json.loads((folder / CATALOG_FILE).read_text(encoding="utf-8"))
        index = ProductIndex.load(folder)
    except (ShopBotError, OSError, ValueError):
        return None
    same = index.metadata_.get("model_name") == embeddings.MODEL_NAME and {
        int(p): n for p, n in catalog.items()
    } == {i.product_id: i.name for i in items}
    if not same:
        return None
    logger.info("bench.vectors.from_index version=%s", folder.name)
    return index.vectors_for([i.product_id for i in items])


def run_bench(
    *,
    session: Session,
    seed_dir: Path,
    config: BenchConfig,
    encode: Encoder | None = None,
    cache_dir: Path | None = None,
    index_root: Path | None = None,
) -> dict[str, Any]:
    """Every figure of the report, as one JSON-ready dictionary.

    Args:
        session: the CRM store (read; nothing is written to it).
        seed_dir: where the seed files are (their checksums go in the report).
        config: the run's sizes.
        encode: text → normalised vectors (MiniLM by default).
        cache_dir: where encoded vectors are kept between runs (none: no cache).
        index_root: a promoted product index whose vectors are reused when it
            holds exactly this catalogue (saves encoding it again).
    """
    encode = encode or embeddings.encode
    started = time.perf_counter()
    timings: dict[str, float] = {}
    report: dict[str, Any] = {
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": asdict(config),
        "machine": machine.machine(),
        "inputs": machine.inputs(session=session, seed_dir=seed_dir),
    }
    seed = report["inputs"]["store_seed"]
    shift = seed["shift_days"] if seed else None

    step = time.perf_counter()
    events = load_events(session=session)
    train_config = TrainConfig(
        n_resamples=config.n_resamples,
        calibration_folds=config.calibration_folds,
        random_state=config.random_state,
    )
    report["scoring"], measured = run_scoring(events, train_config, shift_days=shift)
    timings["scoring"] = time.perf_counter() - step

    step = time.perf_counter()
    items = queries.merchandise(session=session)
    names = {i.product_id: embeddings.display_name(i.name) for i in items}
    ids = np.array([i.product_id for i in items], dtype=np.int64)
    vectors = promoted_vectors(index_root, items) if index_root else None
    if vectors is None:
        vectors = cached_encode(
            [names[int(p)] for p in ids],
            encode=encode,
            cache_dir=cache_dir,
            tag=embeddings.MODEL_NAME,
        )
    index = ProductIndex().build(vectors, ids, kind="flat")
    timings["embeddings"] = time.perf_counter() - step

    step = time.perf_counter()
    purchases = load_purchases(session=session)
    source_config = SourceConfig(ease=EaseConfig(max_items=config.ease_max_items))
    report["recommend"], fitted = run_recommend(
        purchases,
        index,
        names,
        encode=encode,
        config=source_config,
        n_resamples=config.n_resamples,
        random_state=config.random_state,
        max_customers=config.max_customers,
        shift_days=shift,
    )
    timings["recommend"] = time.perf_counter() - step

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        workdir = Path(tmp)
        step = time.perf_counter()
        scoring = latency.scorer_latency(
            session=session,
            events=events,
            config=train_config,
            measured=measured,
            workdir=workdir,
            n_calls=config.scoring_calls,
            random_state=config.random_state,
        )
        timings["scoring_latency"] = time.perf_counter() - step

        step = time.perf_counter()
        now = latency.store_now(events)
        customers = fitted.split.customers
        recommender = Recommender(
            index=index, sources=fitted.sources, ranker=fitted.ranker, encode=encode
        )
        real = latency.recommend_latency(
            session=session,
            recommender=recommender,
            customers=customers,
            now=now,
            n_requests=config.recommend_requests,
            random_state=config.random_state,
        )
        real["indexes"] = latency.index_figures(
            vectors,
            ids,
            kinds=("flat",),
            n_queries=config.recall_queries,
            random_state=config.random_state,
        )
        timings["recommend_latency"] = time.perf_counter() - step

        step = time.perf_counter()
        catalog = synthetic_catalog(
            [names[int(p)] for p in ids],
            vectors,
            config.synthetic_products,
            encode=encode if config.encode_synthetic else None,
            cache_dir=cache_dir,
            random_state=config.random_state,
            tag=embeddings.MODEL_NAME,
        )
        timings["synthetic_catalogue"] = time.perf_counter() - step

        step = time.perf_counter()
        rng = np.random.default_rng(config.random_state)
        sample = sorted(
            int(c) for c in rng.choice(customers, size=min(100, len(customers)))
        )
        scale = latency.scale_latency(
            source=session,
            workdir=workdir,
            real_ids=ids,
            real_vectors=vectors,
            synthetic_names=[n.upper() for n in catalog.names],
            synthetic_vectors=catalog.vectors,
            sources=fitted.sources,
            ranker=fitted.ranker,
            encode=encode,
            customers=sample,
            now=now,
            n_requests=config.recommend_requests,
            n_queries=config.recall_queries,
            random_state=config.random_state,
        )
        scale["vectors"] = catalog.method
        timings["scale"] = time.perf_counter() - step

    report["latency"] = {"scoring": scoring, "recommend": real, "scale": scale}
    report["machine"]["load_average_at_end"] = machine.load_average()
    timings["total"] = time.perf_counter() - started
    report["seconds"] = {name: round(value, 1) for name, value in timings.items()}
    logger.info("bench.done seconds=%.0f", timings["total"])
    return report
