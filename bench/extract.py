"""Benchmark product extraction: documents/s, peak RSS, and the floor of streaming the same rows bare.

Run ``.venv/bin/python bench/extract.py [--products 100000] [--compare-sizes] [--keep]``.

It uses the MySQL server in RAGSYNC_MYSQL_URL (default mysql://root@127.0.0.1:3306/), generates
the demo shop (``ragsync_dev.demo.shop``) into its own database ``ragsync_bench_products_<N>``, and
measures in separate subprocesses, so that each figure is the process's own:

* **extract**: ``ProductReader.read_all()`` over every product for two store views (``default``
  and ``fr``, one website), with the default settings (``read_workers`` = 2 worker processes):
  documents (saves and deletes) per second and peak RSS: the process's own (``VmHWM``;
  ``ru_maxrss`` where there is no ``/proc``) plus, per worker, the largest worker's peak;
* **floor**: the very statements one chunk of the reader runs, issued once over the whole id
  range and streamed with a bare mysqlclient server-side cursor, rows discarded: what reading the
  same raw rows costs with no Python work on them. The target (at most 3x) is checked against it;
* **chunked floor** (informational): the same statements issued per chunk of ids, exactly as the
  reader issues them (100 chunks x 15 statements at 100,000 products), streamed bare on one
  connection: what the chunked SQL alone costs, before any Python work.

``--compare-sizes`` also runs a 10,000-product shop and compares peak RSS (memory must not grow
with the catalog). ``--keep`` keeps the databases (and reuses them on the next run). The last
line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "plugins"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "dev"))

from ragsync.db import Database, DbParams
from ragsync.magento.base import PARALLEL_MIN_CHUNKS

NOW = datetime(2026, 3, 15, 12, 0, 0)
SEED = 42
STORES = ("default", "fr")
SMALL = 10_000
TARGET_DOCS_PER_SECOND = 5_000
TARGET_FLOOR_RATIO = 3.0
TARGET_PEAK_RSS_MB = 300.0
TARGET_RSS_GROWTH = 0.20


def _server_params() -> DbParams:
    url = os.environ.get("RAGSYNC_MYSQL_URL", "") or "mysql://root@127.0.0.1:3306/"
    if url == "private":
        url = "mysql://root@127.0.0.1:3306/"
    return DbParams.from_url(url)


def _database_name(products: int) -> str:
    return f"ragsync_bench_products_{products}"


def _peak_rss_mb() -> float:
    """Return this process's peak resident set size in MB.

    Linux keeps ``ru_maxrss`` across fork and exec, so a worker started by a parent that has just
    generated a shop would report the parent's peak; the memory map's own high-water mark
    (``VmHWM``, reset by exec) is read instead where it exists.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


# --- shop ------------------------------------------------------------------------------------------
def ensure_shop(params: DbParams, products: int, reuse: bool) -> tuple[DbParams, float | None]:
    """Create the bench database with a generated shop (reused when ``reuse`` and it is complete)."""
    from ragsync_dev.demo.shop import build_demo_database

    name = _database_name(products)
    db_params = params.with_database(name)
    with Database(params.with_database("")) as admin:
        exists = admin.scalar(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s AND table_name = 'bench_meta'",
            (name,),
        )
        if reuse and exists:
            with Database(db_params) as db:
                meta = db.query("SELECT products, seed FROM bench_meta")
            if meta and tuple(meta[0]) == (products, SEED):
                print(f"reusing {name} ({products:,} products)", flush=True)
                return db_params, None
        admin.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
    print(f"generating {products:,} products into {name} ...", flush=True)
    started = time.perf_counter()
    with Database(db_params) as db:
        summary = build_demo_database(db, products=products, seed=SEED, now=NOW)
        db.execute("CREATE TABLE bench_meta (products int NOT NULL, seed int NOT NULL)")
        db.execute("INSERT INTO bench_meta (products, seed) VALUES (%s, %s)", (products, SEED))
        db.execute("ANALYZE TABLE catalog_product_entity, catalog_product_entity_int,"
                   " catalog_product_entity_varchar, catalog_product_entity_text,"
                   " catalog_product_entity_decimal, catalog_product_entity_datetime")
    elapsed = time.perf_counter() - started
    print(f"  {summary.describe()}", flush=True)
    return db_params, elapsed


def drop_shop(params: DbParams, products: int) -> None:
    """Drop the bench database of a size."""
    with Database(params.with_database("")) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS `{_database_name(products)}`")


# --- workers (run in their own process) ------------------------------------------------------------
def _reader(db: Database, chunk_size: int) -> Any:
    from ragsync.magento.context import MagentoContext
    from ragsync.magento.products import ProductReader
    from ragsync.settings import Settings

    ctx = MagentoContext(db)
    return ProductReader(ctx, Settings(), stores=ctx.select_stores(list(STORES)), now=NOW)


def worker_extract(params: DbParams, chunk_size: int) -> dict[str, Any]:
    """Read every product document; return count, seconds and peak RSS of this process."""
    with Database(params) as db:
        reader = _reader(db, chunk_size)
        rss_before = _peak_rss_mb()
        started = time.perf_counter()
        documents = saves = problems = chunks = 0
        for batch in reader.read_all(chunk_size):
            chunks += 1
            documents += len(batch.documents)
            saves += sum(1 for d in batch.documents if d.action == "save")
            problems += len(batch.problems)
        seconds = time.perf_counter() - started
    # the reader's worker processes have been joined: the largest one's peak, counted once per worker
    workers = reader.settings.read_workers if chunks >= PARALLEL_MIN_CHUNKS else 1
    worker_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0 if workers > 1 else 0.0
    own_rss = _peak_rss_mb()
    return {"documents": documents, "saves": saves, "deletes": documents - saves, "problems": problems,
            "chunks": chunks, "seconds": seconds, "workers": workers, "own_rss_mb": own_rss,
            "worker_rss_mb": worker_rss, "peak_rss_mb": own_rss + (workers if workers > 1 else 0) * worker_rss,
            "rss_before_mb": rss_before}


class _RecordingDatabase(Database):
    """A Database that records the SELECTs it is given and returns no rows (to capture a chunk's statements).

    Magento's clock, which a reader reads before each chunk, is recorded too and answered with a fixed time.
    """

    def __init__(self, params: DbParams) -> None:
        super().__init__(params)
        self.recorded: list[tuple[str, list[Any]]] = []

    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        self.recorded.append((sql, list(params or [])))
        return [(datetime(2026, 1, 1),)] if sql == "SELECT UTC_TIMESTAMP(6)" else []


def worker_floor(params: DbParams, chunk_size: int, chunked: bool = False) -> dict[str, Any]:
    """Stream the rows the reader's chunk statements select with a bare cursor.

    The floor proper issues each statement once over the whole id range; ``chunked`` issues them
    per chunk of ids, as the reader does (informational: what the chunked SQL alone costs).
    """
    from ragsync.magento.eav import IdSelection

    with Database(params) as db:
        reader = _reader(db, chunk_size)
        reader.prepare()
        if chunked:
            chunks = [IdSelection.of(ids) for ids in reader.iter_id_chunks(chunk_size)]
        else:
            first, last = db.query("SELECT MIN(entity_id), MAX(entity_id) FROM catalog_product_entity")[0]
            chunks = [IdSelection(ids=tuple(range(int(first), int(last) + 1)), first=int(first), last=int(last),
                                  use_range=True)]
        recorder = _RecordingDatabase(params)
        reader.ctx.db = recorder
        for selection in chunks:
            reader.fetch_chunk(selection)
        statements = recorder.recorded
    return _stream_bare(params, statements)


def _stream_bare(params: DbParams, statements: list[tuple[str, list[Any]]]) -> dict[str, Any]:
    """Run the statements on one bare mysqlclient connection, streaming and discarding every row."""
    import MySQLdb
    import MySQLdb.cursors

    conn = MySQLdb.connect(host=params.host, port=params.port, user=params.user, passwd=params.password,
                           db=params.database, charset="utf8mb4", use_unicode=True,
                           init_command="SET time_zone = '+00:00'")
    rows = 0
    started = time.perf_counter()
    try:
        for sql, args in statements:
            cur = conn.cursor(MySQLdb.cursors.SSCursor)
            cur.execute(sql, args)
            while True:
                batch = cur.fetchmany(10_000)
                if not batch:
                    break
                rows += len(batch)
            cur.close()
    finally:
        conn.close()
    seconds = time.perf_counter() - started
    return {"statements": len(statements), "rows": rows, "seconds": seconds, "peak_rss_mb": _peak_rss_mb()}


def run_worker(kind: str, params: DbParams, chunk_size: int) -> dict[str, Any]:
    """Run a worker in a fresh Python process and return its JSON result."""
    command = [sys.executable, __file__, "--worker", kind, "--worker-url", params.url(),
               "--chunk-size", str(chunk_size)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        raise SystemExit(f"{kind} worker failed with exit code {result.returncode}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def measure(params: DbParams, chunk_size: int, runs: int) -> dict[str, Any]:
    """Return the median extract and floor figures of ``runs`` runs on one shop."""
    extracts = [run_worker("extract", params, chunk_size) for _ in range(runs)]
    floors = [run_worker("floor", params, chunk_size) for _ in range(runs)]
    chunked_floors = [run_worker("floor-chunked", params, chunk_size) for _ in range(runs)]
    extract = sorted(extracts, key=lambda r: r["seconds"])[len(extracts) // 2]
    floor = sorted(floors, key=lambda r: r["seconds"])[len(floors) // 2]
    chunked_floor = sorted(chunked_floors, key=lambda r: r["seconds"])[len(chunked_floors) // 2]
    return {
        "documents": extract["documents"], "saves": extract["saves"], "deletes": extract["deletes"],
        "problems": extract["problems"], "chunks": extract["chunks"],
        "extract_seconds": round(extract["seconds"], 3),
        "extract_seconds_all": [round(r["seconds"], 3) for r in extracts],
        "documents_per_second": round(extract["documents"] / extract["seconds"]),
        "peak_rss_mb": round(statistics.median(r["peak_rss_mb"] for r in extracts), 1),
        "workers": extract["workers"],
        "own_rss_mb": round(extract["own_rss_mb"], 1), "worker_rss_mb": round(extract["worker_rss_mb"], 1),
        "floor_seconds": round(floor["seconds"], 3),
        "floor_rows": floor["rows"], "floor_statements": floor["statements"],
        "ratio_to_floor": round(extract["seconds"] / floor["seconds"], 2),
        "chunked_floor_seconds": round(chunked_floor["seconds"], 3),
        "chunked_floor_statements": chunked_floor["statements"],
        "ratio_to_chunked_floor": round(extract["seconds"] / chunked_floor["seconds"], 2),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with --worker, one measurement inside this process)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--compare-sizes", action="store_true", help=f"also run {SMALL:,} products and compare RSS")
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the generated databases")
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=1, help="runs per measurement; the median is reported")
    parser.add_argument("--worker", choices=("extract", "floor", "floor-chunked"), help=argparse.SUPPRESS)
    parser.add_argument("--worker-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        params = DbParams.from_url(args.worker_url)
        if args.worker == "extract":
            result = worker_extract(params, args.chunk_size)
        else:
            result = worker_floor(params, args.chunk_size, chunked=args.worker == "floor-chunked")
        print(json.dumps(result))
        return 0

    server = _server_params()
    sizes = sorted({SMALL, args.products}) if args.compare_sizes else [args.products]
    figures: dict[int, dict[str, Any]] = {}
    try:
        for size in sizes:
            params, generated = ensure_shop(server, size, reuse=args.keep)
            if generated is not None:
                # Right after a bulk load the server is still flushing and purging: a run then is
                # several times slower at 10,000 products. One discarded run lets it settle.
                run_worker("extract", params, args.chunk_size)
            figures[size] = measure(params, args.chunk_size, args.runs)
            if generated is not None:
                figures[size]["generation_seconds"] = round(generated, 1)
            f = figures[size]
            print(f"{size:>8,} products x {len(STORES)} store views: {f['documents']:,} documents "
                  f"({f['saves']:,} saves, {f['deletes']:,} deletes, {f['problems']} problems) in "
                  f"{f['extract_seconds']:.2f} s = {f['documents_per_second']:,} documents/s; "
                  f"{f['workers']} worker process(es); peak RSS {f['peak_rss_mb']:.0f} MB"
                  f" ({f['own_rss_mb']:.0f} MB + {f['workers'] if f['workers'] > 1 else 0} x "
                  f"{f['worker_rss_mb']:.0f} MB); floor {f['floor_seconds']:.2f} s "
                  f"({f['floor_rows']:,} rows, {f['floor_statements']} statements) -> "
                  f"{f['ratio_to_floor']:.2f}x the floor; the same statements per chunk "
                  f"({f['chunked_floor_statements']:,}) take {f['chunked_floor_seconds']:.2f} s bare -> "
                  f"{f['ratio_to_chunked_floor']:.2f}x", flush=True)
    finally:
        if not args.keep:
            for size in sizes:
                drop_shop(server, size)

    main_figures = figures[args.products]
    summary: dict[str, Any] = {"products": args.products, "store_views": len(STORES), **main_figures}
    checks = {
        "documents_per_second": main_figures["documents_per_second"] >= TARGET_DOCS_PER_SECOND,
        "ratio_to_floor": main_figures["ratio_to_floor"] <= TARGET_FLOOR_RATIO,
        "peak_rss_mb": main_figures["peak_rss_mb"] <= TARGET_PEAK_RSS_MB,
    }
    if args.compare_sizes and SMALL in figures and SMALL != args.products:
        small, large = figures[SMALL]["peak_rss_mb"], main_figures["peak_rss_mb"]
        growth = (large - small) / small
        summary.update({"rss_small_products": SMALL, "rss_small_mb": small, "rss_large_mb": large,
                        "rss_growth": round(growth, 3)})
        checks["rss_growth"] = growth <= TARGET_RSS_GROWTH
        print(f"peak RSS {SMALL:,} vs {args.products:,} products: {small:.0f} MB vs {large:.0f} MB "
              f"({growth:+.1%})")
    for name, ok in checks.items():
        print(f"target {name}: {'met' if ok else 'MISSED'}")
    summary["targets_met"] = checks
    print(json.dumps(summary))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
