"""Command line: ``python -m crm_models.bench [--quick] [--out DIR]``.

Measures on the CRM store (``SHOP_DATABASE_URL``, seeded) and writes
``<out>/bench.md`` and ``<out>/bench.json``. ``--quick`` uses small sizes (for
tests and CI); the full run takes several minutes and encodes 100,000 synthetic
product names once (cached under ``var/bench``).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from crm_models.errors import ShopBotError


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the process exit code."""
    from crm_models.bench.report import headline, write_report
    from crm_models.bench.run import BenchConfig, run_bench
    from crm_models.settings import ROOT, get_settings
    from crm_models.store.db import session_scope

    parser = argparse.ArgumentParser(
        prog="python -m crm_models.bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (CI)")
    parser.add_argument("--database-url", help="CRM store (default: SHOP_DATABASE_URL)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "reports", help="report folder"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    for noisy in (
        "faiss.loader",
        "sentence_transformers",
        "crm_models.recommend.recommender",  # one line per request
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    settings = get_settings()
    config = (
        BenchConfig.quick_run(settings.random_seed)
        if args.quick
        else BenchConfig.full(settings.random_seed)
    )
    started = time.perf_counter()
    try:
        with session_scope(args.database_url or settings.database_url) as session:
            results = run_bench(
                session=session,
                seed_dir=settings.seed_dir,
                config=config,
                cache_dir=settings.var_dir / "bench",
                index_root=settings.models_dir / "index",
            )
            session.rollback()  # the benchmark only reads
    except ShopBotError as exc:
        print(f"bench: {exc}")
        return 1
    json_path, md_path = write_report(results, args.out)
    print("\n".join(headline(results)))
    print(f"wrote {md_path} and {json_path} in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
