"""Benchmark the dashboard's queue grid on a million-row queue: every sort, both orders, with and without filters.

Run ``.venv/bin/python bench/dashboard_queue.py [--rows 1000000] [--keep]``. It uses the MySQL server in
RAGSYNC_MYSQL_URL (default mysql://root@127.0.0.1:3306/), creates the database ``rs_bench_dashboard``
(migrated with the pipeline's migrations), fills it with ``--rows`` queue rows of about 1.5 KB
(70% sent, 20% pending, 6% failed, 1% dead, a few processing; mixed entity types and actions) and a
ledger for the sent ones, then times what one page of the Queue page costs, exactly as the page
computes it (:func:`ragsync.dashboard.views.queue_listing`: the capped count plus one
:meth:`QueueRepository.page`), with the dashboard's session settings, under a statement time limit (``--limit-seconds``, default 3):

* the first page, the next page (the first page's Next link, timed alone) and the last page, for
  every sortable column, both orders (when the first page times out, the other two are not tried);
* the same for a handful of filters (one status, a rare status, a type, type + action, all three);
* the dashboard page (:func:`ragsync.dashboard.views.overview`) and the log page.

Each line prints the milliseconds; pages over one second are marked ``SLOW`` and a statement
stopped by the time limit ``TIMEOUT``. The last line is one JSON object with the summary. With
``--keep`` the database stays for the next run (which then skips the fill); otherwise it is dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "plugins"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "dev"))

import MySQLdb

from ragsync.dashboard import views
from ragsync.dashboard.database import (
    READ_STATEMENT_SECONDS,
    limit_statement_time,
    prefer_plain_plans,
)
from ragsync.db import Database, DbParams
from ragsync.state.migrations import upgrade
from ragsync.state.queue import SORTABLE

DATABASE = "rs_bench_dashboard"
SLOW_SECONDS = 1.0
CHUNK = 100_000
FILTERS: list[dict[str, str]] = [
    {},
    {"status": "failed"},
    {"status": "dead"},
    {"entity_type": "category"},
    {"entity_type": "cms_page", "action": "delete"},
    {"status": "pending", "entity_type": "product", "action": "save"},
]

# One generated row per sequence number n: status, type and action spread by residues of n.
_FILL_SQL = """
INSERT INTO rag_sync_queue (entity_type, entity_id, store_id, action, status, content_hash,
  document_bytes, attempts, next_attempt_at, lease_token, lease_expires_at, last_http_status, last_error,
  batch_id, source, created_at, updated_at, sent_at)
SELECT t.entity_type, CAST(t.n AS CHAR), 1 + t.n % 2, t.action, t.status,
  SHA2(t.n, 256), 1400 + t.n % 300,
  CASE t.status WHEN 'sent' THEN 1 WHEN 'failed' THEN 1 + t.n % 3 WHEN 'dead' THEN 4 ELSE 0 END,
  t.created + INTERVAL (t.n % 3600) SECOND,
  IF(t.status = 'processing', MD5(t.n), NULL), IF(t.status = 'processing', t.created + INTERVAL 1 DAY, NULL),
  CASE t.status WHEN 'sent' THEN 200 WHEN 'failed' THEN 503 WHEN 'dead' THEN 422 ELSE NULL END,
  CASE t.status WHEN 'failed' THEN 'HTTP 503: upstream unavailable' WHEN 'dead' THEN 'HTTP 422: too long'
       ELSE NULL END,
  IF(t.status = 'sent', CONCAT('mag-20260101', LPAD(t.n DIV 50, 6, '0'), '-bench'), NULL),
  ELT(1 + t.n % 4, 'incremental', 'full', 'manual', 'reconcile'),
  t.created, t.created + INTERVAL (t.n % 7200) SECOND,
  IF(t.status = 'sent', t.created + INTERVAL (t.n % 7200) SECOND, NULL)
FROM (
  SELECT h.n, h.created,
    CASE WHEN h.hs % 1000 = 999 THEN 'processing' WHEN h.hs % 100 < 70 THEN 'sent' WHEN h.hs % 100 < 90
         THEN 'pending' WHEN h.hs % 100 < 96 THEN 'failed' WHEN h.hs % 100 < 97 THEN 'dead' ELSE 'pending'
         END AS status,
    CASE WHEN h.ht % 20 < 14 THEN 'product' WHEN h.ht % 20 < 16 THEN 'category' WHEN h.ht % 20 = 16 THEN 'cms_page'
         WHEN h.ht % 20 = 17 THEN 'cms_block' ELSE 'promotion' END AS entity_type,
    IF(h.ha % 20 = 3, 'delete', 'save') AS action
  FROM (
    -- independent pseudo-random draws per attribute, so that filters and sort columns are not
    -- correlated by construction (only where the pipeline itself correlates them: attempts, times...)
    SELECT s.seq AS n, '2026-01-01' + INTERVAL (s.seq DIV 10) SECOND AS created,
      CRC32(CONCAT('status', s.seq)) AS hs, CRC32(CONCAT('type', s.seq)) AS ht, CRC32(CONCAT('action', s.seq)) AS ha
    FROM seq_{first}_to_{last} AS s
  ) AS h
) AS t
"""

# The documents of the rows the last _FILL_SQL added (ids above {after}), about 1.5 KB each.
_FILL_DOCUMENTS_SQL = """
INSERT INTO rag_sync_queue_document (queue_id, document)
SELECT q.id, CONCAT('{{"action":"', q.action, '","data":{{"content":"', REPEAT('Lightweight merino layer. ', 55),
                    '"}},"id":"', q.entity_id, '","type":"', q.entity_type, '"}}')
FROM rag_sync_queue q WHERE q.id > {after}
"""


def server_params() -> DbParams:
    """Return the MySQL server to use (RAGSYNC_MYSQL_URL, else 127.0.0.1:3306)."""
    url = os.environ.get("RAGSYNC_MYSQL_URL", "")
    return DbParams.from_url(url if url and url != "private" else "mysql://root@127.0.0.1:3306/")


def fill(db: Database, rows: int) -> float:
    """Fill the queue with ``rows`` generated rows and the ledger with the sent ones; return the seconds taken."""
    started = time.perf_counter()
    has_sequence = bool(db.query("SELECT ENGINE FROM information_schema.ENGINES WHERE ENGINE = 'SEQUENCE'"
                                 " AND SUPPORT IN ('YES', 'DEFAULT')"))
    if not has_sequence:
        raise SystemExit("this benchmark fills the queue with MariaDB's SEQUENCE engine; use a MariaDB server")
    for first in range(1, rows + 1, CHUNK):
        last = min(rows, first + CHUNK - 1)
        after = int(db.scalar("SELECT COALESCE(MAX(id), 0) FROM rag_sync_queue") or 0)
        db.execute(_FILL_SQL.format(first=first, last=last))
        db.execute(_FILL_DOCUMENTS_SQL.format(after=after))
        print(f"filled {last:,} of {rows:,} rows ({time.perf_counter() - started:.0f} s)", flush=True)
    db.execute(
        "INSERT IGNORE INTO rag_sync_ledger (entity_type, entity_id, store_id, delivered_hash, delivered_at,"
        " is_tombstone) SELECT entity_type, entity_id, store_id, content_hash, sent_at, action = 'delete'"
        " FROM rag_sync_queue WHERE status = 'sent'")
    # One batch_sent audit entry per delivered batch, as delivery writes them (single-type batches name their type).
    db.execute(
        "INSERT INTO rag_sync_log (created_at, level, event, entity_type, batch_id, message, details)"
        " SELECT MAX(b.sent_at), 'info', 'batch_sent', IF(COUNT(*) = 1, MIN(b.entity_type), NULL), b.batch_id,"
        " CONCAT('delivered ', SUM(b.items), ' item(s) in batch ', b.batch_id),"
        " JSON_OBJECT('items', SUM(b.items), 'types', JSON_OBJECTAGG(b.entity_type, b.items))"
        " FROM (SELECT batch_id, entity_type, COUNT(*) AS items, MAX(sent_at) AS sent_at FROM rag_sync_queue"
        " WHERE status = 'sent' GROUP BY batch_id, entity_type) AS b GROUP BY b.batch_id ORDER BY MAX(b.sent_at)")
    db.execute("ANALYZE TABLE rag_sync_queue, rag_sync_ledger, rag_sync_log")
    return time.perf_counter() - started


def timed(call: Callable[[], Any]) -> tuple[float, str]:
    """Return (seconds, outcome) of one call: ok, or TIMEOUT when the statement limit stopped it."""
    started = time.perf_counter()
    try:
        call()
        outcome = "ok"
    except MySQLdb.OperationalError as exc:
        if not exc.args or exc.args[0] not in (1969, 3024):
            raise
        outcome = "TIMEOUT"
    return time.perf_counter() - started, outcome


Case = tuple[str, str, str, list[tuple[str, Callable[[], Any]]]]  # filter, sort, order, [(page kind, call)]


def page_cases(db: Database) -> list[Case]:
    """Return the first, next and last page of every sort, in both orders, for every filter."""
    cases: list[Case] = []
    for filters in FILTERS:
        label = ",".join(f"{k}={v}" for k, v in filters.items()) or "no filter"
        for sort in sorted(SORTABLE):
            for order in ("desc", "asc"):
                query = views.QueueQuery.parse(**filters, sort=sort, order=order, per_page=50)

                def first(query: views.QueueQuery = query) -> views.QueueListing:
                    return views.queue_listing(db, query)

                def second(query: views.QueueQuery = query) -> Callable[[], Any]:
                    """Load the first page (untimed), return the load of the page its Next link opens."""
                    listing = views.queue_listing(db, query)
                    following = views.QueueQuery.parse(**(listing.next or query.params()))
                    return lambda: views.queue_listing(db, following)

                def last(query: views.QueueQuery = query) -> views.QueueListing:
                    return views.queue_listing(db, views.QueueQuery.parse(**query.params(last=1)))

                cases.append((label, sort, order, [("first", first), ("next", second), ("last", last)]))
    return cases


def main() -> int:
    """Fill (unless kept from a previous run), time every page kind, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="queue rows to generate (default 1,000,000)")
    parser.add_argument("--keep", action="store_true", help="keep the database for the next run")
    parser.add_argument("--limit-seconds", type=int, default=3,
                        help=f"statement time limit while timing (the dashboard uses {READ_STATEMENT_SECONDS} s;"
                             " anything over 1 s is slow anyway; default 3)")
    args = parser.parse_args()
    server = server_params()
    admin = Database(server.with_database(""))
    db = Database(server.with_database(DATABASE))
    filled_seconds = 0.0
    try:
        admin.execute(f"CREATE DATABASE IF NOT EXISTS `{DATABASE}` CHARACTER SET utf8mb4")
        upgrade(db)
        present = int(db.scalar("SELECT COUNT(*) FROM rag_sync_queue") or 0)
        if present != args.rows:
            db.execute("SET FOREIGN_KEY_CHECKS = 0")  # TRUNCATE refuses a table a foreign key refers to
            for table in ("rag_sync_queue_document", "rag_sync_queue", "rag_sync_ledger", "rag_sync_log"):
                db.execute(f"TRUNCATE TABLE {table}")
            db.execute("SET FOREIGN_KEY_CHECKS = 1")
            filled_seconds = fill(db, args.rows)
        limit_statement_time(db, args.limit_seconds)
        prefer_plain_plans(db)  # the dashboard's session settings
        seconds, _outcome = timed(lambda: views.overview(db, "http://rag.example.com/hook", None))
        print(f"{seconds * 1000:8.0f} ms  dashboard page (overview)", flush=True)
        overview_ms = round(seconds * 1000)
        seconds, _outcome = timed(lambda: views.log_page(db))
        print(f"{seconds * 1000:8.0f} ms  log page", flush=True)
        results: list[tuple[str, str, str, str, float, str]] = []
        for label, sort, order, pages in page_cases(db):
            for kind, call in pages:
                if kind == "next":
                    try:
                        call = call()  # the first page, untimed: the user is on it when clicking Next
                    except MySQLdb.OperationalError:
                        break
                seconds, outcome = timed(call)
                mark = "TIMEOUT" if outcome != "ok" else ("SLOW" if seconds > SLOW_SECONDS else "")
                print(f"{seconds * 1000:8.0f} ms  {label:<44} {sort:<17} {order:<4} {kind:<10} {mark}".rstrip(),
                      flush=True)
                results.append((label, sort, order, kind, seconds, outcome))
                if outcome != "ok":
                    break  # the next and last pages run the same query shape: they would time out too
        slow = [r for r in results if r[4] > SLOW_SECONDS or r[5] != "ok"]
        summary = {
            "rows": args.rows,
            "fill_seconds": round(filled_seconds, 1),
            "overview_ms": overview_ms,
            "pages_timed": len(results),
            "pages_over_1s": len(slow),
            "unfiltered_pages_over_1s": sum(1 for r in slow if r[0] == "no filter"),
            "median_page_ms": round(statistics.median(r[4] for r in results) * 1000),
            "slow_sorts_by_filter": {
                label: sorted({f"{r[1]} {r[2]}" for r in slow if r[0] == label})
                for label in dict.fromkeys(r[0] for r in slow)
            },
        }
        print(json.dumps(summary))
        return 0
    finally:
        db.close()
        if not args.keep:
            admin.execute(f"DROP DATABASE IF EXISTS `{DATABASE}`")
        admin.close()


if __name__ == "__main__":
    sys.exit(main())
