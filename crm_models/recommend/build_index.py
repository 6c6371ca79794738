"""Build or update the product index and the recommendation sources.

    python -m crm_models.recommend.build_index [--database-url URL] [--out DIR]
        [--force]

A full build embeds the title-cased names of every active merchandise product,
picks the index kind by catalogue size (``index.choose_index``), fits the candidate
sources on every purchase (EASE, co-purchase, association rules, popularity),
trains the ranker on the last 99 days (sources fitted on what came before), writes
it all into ``<models>/index/<version>/`` and promotes that version.

``update_index`` follows catalogue changes without a rebuild: products added,
renamed or removed since the promoted version are embedded and added to (or
removed from) a copy of its FAISS index, the sources are carried over, and the
copy is promoted. The command chooses: nothing when neither the catalogue nor the
purchases changed, an update when only the catalogue did, a full build otherwise
(or with ``--force``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_models import artifacts
from crm_models.errors import DataError, ShopBotError
from crm_models.recommend import embeddings, queries
from crm_models.recommend.index import (
    IDS_FILE,
    INDEX_FILE,
    ProductIndex,
    catalog_checksum,
    choose_index,
)
from crm_models.recommend.purchases import load_purchases
from crm_models.recommend.ranker import (
    RANKER_FILE,
    SourceConfig,
    fit_ranker,
    fit_sources,
    training_rows,
)
from crm_models.recommend.timesplit import time_split
from crm_models.store.schema import Order

logger = logging.getLogger(__name__)

CATALOG_FILE = "catalog.json"
RANKER_DAYS = 99  # the ranker learns from the new products of the last 99 days


@dataclass(frozen=True)
class BuildResult:
    """What a build did: the promoted version and whether it is new."""

    version: str
    built: bool
    count: int
    seconds: float
    updated: dict[str, int] = field(default_factory=dict)  # an update's counts


def orders_checksum(*, session: Session) -> str:
    """sha256 of every order's id and status: changes with new or cancelled orders.

    Product changes do not move it, so a catalogue change alone is an update.
    """
    digest = hashlib.sha256()
    rows = session.execute(select(Order.id, Order.status).order_by(Order.id)).all()
    digest.update(json.dumps([[i, str(s)] for i, s in rows]).encode("utf-8"))
    return digest.hexdigest()


def _promoted(root: Path) -> tuple[str | None, dict[str, Any]]:
    version = artifacts.current_version(root)
    if version is None:
        return None, {}
    try:
        return version, artifacts.read_metadata(root / version)
    except ShopBotError:
        logger.warning("index.build.unreadable_current version=%s", version)
        return version, {}


def build(
    *,
    session: Session,
    root: Path,
    force: bool = False,
    config: SourceConfig | None = None,
) -> BuildResult:
    """Build (or update) and promote the index under ``root`` when something changed.

    Raises:
        DataError: the store has no merchandise products.
    """
    started = time.perf_counter()
    items = queries.merchandise(session=session)
    if not items:
        raise DataError("the store has no merchandise products; seed it first")
    checksum = catalog_checksum((i.product_id, i.name, i.price_pence) for i in items)
    bought = orders_checksum(session=session)

    current, meta = _promoted(root)
    same_purchases = meta.get("purchases_checksum") == bought
    if current is not None and not force and same_purchases:
        if meta.get("catalog_checksum") == checksum:
            logger.info("index.build.skipped version=%s", current)
            return BuildResult(
                current, False, len(items), time.perf_counter() - started
            )
        if (root / current / CATALOG_FILE).is_file():
            return update_index(session=session, root=root)

    purchases = load_purchases(session=session)
    names = {i.product_id: i.name for i in items}
    vectors = embeddings.encode([embeddings.display_name(i.name) for i in items])
    ids = [i.product_id for i in items]
    index, choice = choose_index(vectors, ids)
    now = float(math.floor(purchases.last_day) + 1) if len(purchases) else 0.0
    sources = fit_sources(purchases, now=now, index=index, config=config)
    ranker = None
    ranker_rows = 0
    if len(purchases):
        split = time_split(purchases, now - RANKER_DAYS, now)
        past = fit_sources(split.train, now=split.cutoff, index=index, config=config)
        X, y, _ = training_rows(past, split)
        ranker_rows = len(y)
        try:
            ranker = fit_ranker(X, y)
        except DataError:
            logger.warning("index.build.no_ranker rows=%s", len(y))

    version, folder = artifacts.new_version_dir(root)
    index.metadata_.update(
        version=version,
        model_name=embeddings.MODEL_NAME,
        text="title-cased product name",
        built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        catalog_checksum=checksum,
        purchases_checksum=bought,  # of the orders: ids and statuses
        purchases=len(purchases),
        index_choice=choice.as_dict(),
        ranker_rows=ranker_rows,
        library_versions=artifacts.library_versions(),
    )
    sources.save(folder)
    if ranker is not None:
        ranker.save(folder)
    _write_catalog(folder, names)
    index.save(folder)
    artifacts.promote(root, version)
    seconds = time.perf_counter() - started
    logger.info("index.build.done version=%s count=%s", version, index.size)
    return BuildResult(version, True, index.size, seconds)


def _write_catalog(folder: Path, names: Mapping[int, str]) -> None:
    data = {str(p): n for p, n in sorted(names.items())}
    (folder / CATALOG_FILE).write_text(json.dumps(data) + "\n", encoding="utf-8")


def _read_catalog(folder: Path) -> dict[int, str]:
    data = json.loads((folder / CATALOG_FILE).read_text(encoding="utf-8"))
    return {int(p): str(n) for p, n in data.items()}


def update_index(*, session: Session, root: Path) -> BuildResult:
    """Apply catalogue changes to a copy of the promoted index and promote it.

    Products no longer sellable are removed; new ones are embedded and added;
    renamed ones get a new vector. Prices are read live by the recommender, so a
    price change only updates the checksum.

    Raises:
        ArtifactMissing: nothing is promoted yet.
        DataError: the promoted index cannot remove vectors (HNSW).
    """
    started = time.perf_counter()
    current = artifacts.current_dir(root)
    index = ProductIndex.load(current)
    indexed = _read_catalog(current)
    items = queries.merchandise(session=session)
    names = {i.product_id: i.name for i in items}

    removed = sorted(set(indexed) - set(names))
    added = sorted(set(names) - set(indexed))
    renamed = sorted(p for p in names if p in indexed and indexed[p] != names[p])
    fresh = added + renamed
    index.remove(removed)
    if fresh:
        vectors = embeddings.encode([embeddings.display_name(names[p]) for p in fresh])
        index.upsert(vectors, fresh)

    version, folder = artifacts.new_version_dir(root)
    for path in current.iterdir():
        if path.name not in {INDEX_FILE, IDS_FILE, artifacts.METADATA, CATALOG_FILE}:
            shutil.copy2(path, folder / path.name)
    counts = {"added": len(added), "renamed": len(renamed), "removed": len(removed)}
    index.metadata_.update(
        version=version,
        updated_from=current.name,
        updated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        update=counts,
        catalog_checksum=catalog_checksum(
            (i.product_id, i.name, i.price_pence) for i in items
        ),
    )
    _write_catalog(folder, names)
    index.save(folder)
    artifacts.promote(root, version)
    logger.info(
        "index.update.done version=%s added=%s renamed=%s removed=%s",
        version,
        len(added),
        len(renamed),
        len(removed),
    )
    return BuildResult(
        version, True, index.size, time.perf_counter() - started, updated=counts
    )


def has_ranker(folder: Path) -> bool:
    """Whether a version folder holds a trained ranker."""
    return (folder / RANKER_FILE).is_file()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    from crm_models.settings import get_settings
    from crm_models.store.db import session_scope

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="CRM store (default: SHOP_DATABASE_URL)")
    parser.add_argument("--out", type=Path, help="index root (default: <models>/index)")
    parser.add_argument(
        "--force", action="store_true", help="full rebuild even if unchanged"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    for noisy in ("faiss.loader", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    settings = get_settings()
    root = args.out or settings.models_dir / "index"
    try:
        with session_scope(args.database_url or settings.database_url) as session:
            result = build(session=session, root=root, force=args.force)
    except ShopBotError as exc:
        print(f"build_index: {exc}")  # noqa: T201
        return 1
    if result.updated:
        print(  # noqa: T201
            f"updated index {result.version}: {result.updated} "
            f"in {result.seconds:.1f} s -> {root / result.version}"
        )
    elif result.built:
        print(  # noqa: T201
            f"built index {result.version}: {result.count} products "
            f"in {result.seconds:.1f} s -> {root / result.version}"
        )
    else:
        print(  # noqa: T201
            f"catalogue and purchases unchanged (matches {result.version}); "
            "build skipped"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
