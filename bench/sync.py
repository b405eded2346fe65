"""Benchmark a full product sync end to end: read, hash, deduplicate and queue every document.

Run ``.venv/bin/python bench/sync.py [--products 100000] [--keep]``.

It uses the MySQL server in RAGSYNC_MYSQL_URL (default mysql://root@127.0.0.1:3306/), the same
generated shop as ``bench/extract.py`` (``ragsync_bench_products_<N>``, reused when it exists and
dropped afterwards unless ``--keep``) and a fresh ragsync database of its own, and runs
``SyncService.sync("product")`` for the store views ``default`` and ``fr`` twice, as the
full-sync DAG's task does:

* **first**: an empty queue and ledger, so every save is queued (the bodies written to MySQL);
* **again**: the same sync with nothing changed and nothing delivered yet: the fingerprints of the
  first say every product's rows are as they were, so only the products with special-price dates
  are read (:mod:`ragsync.pipeline.fingerprint`), found already queued, and nothing is written.

Each prints documents/s and the CPU seconds of the syncing process and of its read workers. The
last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "plugins"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "dev"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from extract import STORES, _server_params, drop_shop, ensure_shop, run_worker
from ragsync.db import Database
from ragsync.pipeline.sync import SyncService
from ragsync.settings import Settings
from ragsync.state.migrations import upgrade

DATABASE = "ragsync_bench_sync"


def _cpu() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def run_sync(service: SyncService) -> dict[str, Any]:
    """Run one full product sync and return its counts, seconds and CPU seconds."""
    own_before, children_before = _cpu()
    started = time.perf_counter()
    result = service.sync("product", stores=list(STORES))
    seconds = time.perf_counter() - started
    own_after, children_after = _cpu()
    return {"documents": result.documents, "queued": result.queued, "skipped": result.skipped,
            "unchanged_entities": result.unchanged_entities,
            "seconds": round(seconds, 3), "documents_per_second": round(result.documents / seconds),
            "process_cpu_seconds": round(own_after - own_before, 2),
            "worker_cpu_seconds": round(children_after - children_before, 2)}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep the shop afterwards (an existing one is always reused)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    server = _server_params()
    shop, generated = ensure_shop(server, args.products, reuse=True)
    if generated is not None:
        run_worker("extract", shop, 1000)  # let the server settle after the bulk load
    with Database(server.with_database("")) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS `{DATABASE}`")
        admin.execute(f"CREATE DATABASE `{DATABASE}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
    figures: dict[str, Any] = {"products": args.products, "store_views": len(STORES)}
    try:
        with Database(shop) as magento, Database(server.with_database(DATABASE)) as ragsync:
            upgrade(ragsync)
            service = SyncService(magento, ragsync, Settings())
            for name in ("first", "again"):
                figures[name] = run_sync(service)
                f = figures[name]
                print(f"{name:>5}: {args.products:,} products x {len(STORES)} store views: {f['documents']:,} "
                      f"documents ({f['queued']:,} queued, {f['skipped']:,} skipped) in {f['seconds']:.2f} s = "
                      f"{f['documents_per_second']:,} documents/s; CPU: syncing process "
                      f"{f['process_cpu_seconds']:.1f} s, read workers {f['worker_cpu_seconds']:.1f} s; "
                      f"{f['unchanged_entities']:,} products not read (unchanged since the last full sync)", flush=True)
            ratio = figures["again"]["seconds"] / figures["first"]["seconds"]
            figures["again_vs_first"] = round(ratio, 3)
            print(f"again / first = {ratio:.2f} (target at most 0.33)", flush=True)
    finally:
        with Database(server.with_database("")) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS `{DATABASE}`")
        if not args.keep:
            drop_shop(server, args.products)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
