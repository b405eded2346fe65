"""Benchmark change capture: one run with nothing changed, and with 100 changed products, on both paths.

Run ``.venv/bin/python bench/capture.py [--products 100000] [--keep]``.

It uses the generated shop of ``bench/extract.py`` (``ragsync_bench_products_<N>``, reused when
it exists, dropped afterwards unless ``--keep``) and a fresh ragsync database, syncs products of
the store views ``default`` and ``fr`` once in full (the reference: an unchanged full sync), and
measures :func:`ragsync.pipeline.capture.capture` of products on two paths:

* **changelog**: the shop's indexers in "Update by Schedule" mode (Magento's changelogs and
  triggers, :mod:`ragsync_dev.demo.mview`; removed again at the end);
* **fingerprint**: "Update on Save", no changelog: every product table is fingerprinted, a window
  of ``capture.fingerprint_buckets_per_run`` buckets of 1,000 ids per run.

For each: a capture with nothing changed, then 100 products whose price row is edited the way an
import does it (value rows only, ``updated_at`` untouched) and the captures until all 100 are
queued. Each prints wall seconds, CPU seconds of this process and of ``mariadbd`` (from
``/proc``, when the server runs on this machine) and the rows the server read for the run
(``Handler_read_*`` of the session). The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "plugins"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "dev"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from extract import STORES, _server_params, drop_shop, ensure_shop
from ragsync.db import Database
from ragsync.pipeline.capture import capture
from ragsync.pipeline.sync import SyncService
from ragsync.settings import parse_settings
from ragsync.state.migrations import upgrade
from ragsync_dev.demo.mview import save_mode, schedule_mode

DATABASE = "ragsync_bench_capture"
CHANGED = 100


def _server_cpu() -> float | None:
    """Return the CPU seconds of the local mariadbd/mysqld so far (None when it runs elsewhere)."""
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() in ("mariadbd", "mysqld"):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                return (int(fields[11]) + int(fields[12])) / ticks
        except OSError:
            continue
    return None


def _rows_read(*dbs: Database) -> int:
    total = 0
    for db in dbs:
        for _name, value in db.query("SHOW SESSION STATUS LIKE 'Handler_read%%'"):
            total += int(value)
    return total


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(label: str, work: Any, *dbs: Database, quiet: bool = False) -> dict[str, Any]:
    """Run ``work()`` and return its wall, process CPU, server CPU and rows read."""
    cpu, server, rows = _own_cpu(), _server_cpu(), _rows_read(*dbs)
    started = time.perf_counter()
    value = work()
    seconds = time.perf_counter() - started
    server_after = _server_cpu()
    figures = {"seconds": round(seconds, 3), "process_cpu_seconds": round(_own_cpu() - cpu, 2),
               "mariadbd_cpu_seconds": (round(server_after - server, 2) if server is not None
                                        and server_after is not None else None),
               "rows_read": _rows_read(*dbs) - rows}
    if not quiet:
        print(f"{label}: {figures['seconds']:.3f} s wall, CPU: process {figures['process_cpu_seconds']} s, "
              f"mariadbd {figures['mariadbd_cpu_seconds']} s; {figures['rows_read']:,} rows read", flush=True)
    figures["value"] = value
    return figures


def _queued(state: Database) -> set[int]:
    return {int(r[0]) for r in state.query("SELECT DISTINCT entity_id FROM rag_sync_queue"
                                           " WHERE status = 'pending' AND entity_type = 'product'")}


def _hashes(shop: Database, settings: Any, ids: list[int]) -> dict[Any, str]:
    """Return the document hashes of the products as a reader builds them now."""
    from ragsync.magento.context import MagentoContext
    from ragsync.pipeline.sync import make_reader

    ctx = MagentoContext(shop)
    reader = make_reader("product", ctx, settings, ctx.select_stores(list(STORES)), None)
    return {d.key: d.hash for d in reader.read(ids).documents}


def run_path(path: str, shop: Database, state: Database, products: int, buckets: int,
             full_seconds: float) -> dict[str, Any]:
    """Measure one path: baseline, a capture with nothing changed, 100 changed products."""
    settings = parse_settings({"enabled": True, "stores": list(STORES),
                               "capture": {"fingerprint_buckets_per_run": buckets}})
    baseline = parse_settings({"enabled": True, "stores": list(STORES),
                               "capture": {"fingerprint_buckets_per_run": 100_000}})
    state.execute("DELETE FROM rag_sync_fingerprint")
    state.execute("DELETE FROM rag_sync_capture_position")
    if path == "changelog":
        schedule_mode(shop)
    try:
        # the baseline: every bucket checked once (the first capture of a shop reads everything)
        measure(f"{path}: first capture (baseline)", lambda: capture(SyncService(shop, state, baseline), ["product"]),
                shop, state)
        idle = measure(f"{path}: capture, nothing changed",
                       lambda: capture(SyncService(shop, state, settings), ["product"]), shop, state)
        # 100 products that have a document; those whose document the edit changes are the ones to find
        # (a price row at store 0 under a website-scope price changes nothing a shopper sees)
        ids = random.Random(7).sample(sorted(_queued(state)), CHANGED)
        price = shop.scalar("SELECT attribute_id FROM eav_attribute WHERE attribute_code = 'price'"
                            " AND entity_type_id = 4")
        before = _hashes(shop, settings, ids)
        shop.execute(f"UPDATE catalog_product_entity_decimal SET value = value + 1 WHERE attribute_id = %s"
                     f" AND store_id = 0 AND entity_id IN ({', '.join(['%s'] * len(ids))})", [price, *ids])
        after = _hashes(shop, settings, ids)
        state.execute("DELETE FROM rag_sync_queue WHERE status = 'pending'")
        wanted = {int(key[1]) for key, digest in after.items() if before.get(key) != digest}
        sweep = -(-(products // 1000 + 1) // buckets)  # runs of one fingerprint sweep over the catalog
        runs: list[dict[str, Any]] = []
        while not wanted <= _queued(state) and len(runs) < sweep + 1:
            runs.append(measure(f"{path}: capture {len(runs) + 1} after {CHANGED} price rows changed",
                                lambda: capture(SyncService(shop, state, settings), ["product"]), shop, state,
                                quiet=len(runs) > 2))
        extra = _queued(state) - wanted
        found = len(wanted & _queued(state))
    finally:
        if path == "changelog":
            save_mode(shop)
    for figures in (idle, *runs):
        figures.pop("value", None)
    result = {"idle": idle, "changed_found": found, "changed_wanted": len(wanted), "other_products_queued": len(extra),
              "changed_runs": len(runs), "changed_seconds": round(sum(r["seconds"] for r in runs), 3),
              "changed_run_max_seconds": max((r["seconds"] for r in runs), default=0),
              "changed_rows_read": sum(r["rows_read"] for r in runs),
              "idle_vs_full_sync": round(idle["seconds"] / full_seconds, 4)}
    print(f"{path}: nothing changed = {result['idle_vs_full_sync']:.3f} of an unchanged full sync "
          f"({full_seconds:.2f} s; target at most 0.05); {found}/{len(wanted)} changed products queued "
          f"(and {len(extra)} others) after {len(runs)} capture run(s), {result['changed_seconds']:.2f} s in all",
          flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--buckets-per-run", type=int, default=None,
                        help="capture.fingerprint_buckets_per_run (default: the setting's default)")
    parser.add_argument("--paths", default="changelog,fingerprint")
    parser.add_argument("--keep", action="store_true", help="keep the generated shop for the next run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    buckets = args.buckets_per_run or parse_settings({}).capture.fingerprint_buckets_per_run
    server = _server_params()
    shop_params, _seconds = ensure_shop(server, args.products, reuse=True)
    root = Database(server)
    root.execute(f"DROP DATABASE IF EXISTS `{DATABASE}`")
    root.execute(f"CREATE DATABASE `{DATABASE}`")
    shop, state = Database(shop_params), Database(server.with_database(DATABASE))
    try:
        save_mode(shop)  # a run that was killed may have left its triggers
        upgrade(state)
        service = SyncService(shop, state, parse_settings({"enabled": True, "stores": list(STORES)}))
        service.sync("product")
        full = measure("full product sync, nothing changed (the reference)", lambda: service.sync("product"),
                       shop, state)
        figures: dict[str, Any] = {"products": args.products, "buckets_per_run": buckets,
                                   "full_sync_unchanged_seconds": full["seconds"]}
        for path in [p.strip() for p in args.paths.split(",") if p.strip()]:
            figures[path] = run_path(path, shop, state, args.products, buckets, full["seconds"])
        print(json.dumps(figures))
    finally:
        shop.close()
        state.close()
        root.execute(f"DROP DATABASE IF EXISTS `{DATABASE}`")
        if not args.keep:
            drop_shop(server, args.products)
    return 0


if __name__ == "__main__":
    sys.exit(main())
