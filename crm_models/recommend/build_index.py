"""Build the product index from the store's catalogue.

    python -m crm_models.recommend.build_index [--database-url URL] [--out DIR]
        [--force]

Embeds the title-cased names of every active merchandise product, counts
co-purchases over the store's orders, writes both into ``<models>/index/<version>/``
and promotes that version. Nothing is rebuilt while the catalogue checksum (ids, names
and prices) equals the promoted version's, unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy.orm import Session

from crm_models import artifacts
from crm_models.errors import DataError, ShopBotError
from crm_models.recommend import embeddings, queries
from crm_models.recommend.copurchase import CoPurchase
from crm_models.recommend.index import ProductIndex, catalog_checksum

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildResult:
    """What a build did: the promoted version and whether it is new."""

    version: str
    built: bool
    count: int
    seconds: float


def _promoted_checksum(root: Path) -> tuple[str | None, str | None]:
    version = artifacts.current_version(root)
    if version is None:
        return None, None
    try:
        checksum = artifacts.read_metadata(root / version).get("catalog_checksum")
    except ShopBotError:
        logger.warning("index.build.unreadable_current version=%s", version)
        return version, None
    return version, checksum


def build(*, session: Session, root: Path, force: bool = False) -> BuildResult:
    """Build and promote a new index under ``root`` unless the catalogue is unchanged.

    Raises:
        DataError: the store has no merchandise products.
    """
    started = time.perf_counter()
    items = queries.merchandise(session=session)
    if not items:
        raise DataError("the store has no merchandise products; seed it first")
    checksum = catalog_checksum((i.product_id, i.name, i.price_pence) for i in items)

    current, current_checksum = _promoted_checksum(root)
    if current is not None and current_checksum == checksum and not force:
        logger.info("index.build.skipped version=%s", current)
        return BuildResult(current, False, len(items), time.perf_counter() - started)

    vectors = embeddings.encode([embeddings.display_name(i.name) for i in items])
    order_ids, product_ids = queries.order_baskets(session=session)
    copurchase = CoPurchase().fit(order_ids, product_ids)

    version, folder = artifacts.new_version_dir(root)
    index = ProductIndex().build(
        vectors,
        [i.product_id for i in items],
        metadata={
            "version": version,
            "model_name": embeddings.MODEL_NAME,
            "text": "title-cased product name",
            "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "catalog_checksum": checksum,
            "copurchase_order_lines": len(order_ids),
            "library_versions": artifacts.library_versions(),
        },
    )
    copurchase.save(folder)
    index.save(folder)
    artifacts.promote(root, version)
    seconds = time.perf_counter() - started
    logger.info("index.build.done version=%s count=%s", version, index.size)
    # TODO(#5): prune old version folders once rollback (issue 4) says how many to keep.
    return BuildResult(version, True, index.size, seconds)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    from crm_models.settings import get_settings
    from crm_models.store.db import session_scope

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="CRM store (default: SHOP_DATABASE_URL)")
    parser.add_argument("--out", type=Path, help="index root (default: <models>/index)")
    parser.add_argument(
        "--force", action="store_true", help="rebuild even if unchanged"
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
    if result.built:
        print(  # noqa: T201
            f"built index {result.version}: {result.count} products "
            f"in {result.seconds:.1f} s -> {root / result.version}"
        )
    else:
        print(  # noqa: T201
            f"catalogue unchanged (checksum matches {result.version}); build skipped"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
