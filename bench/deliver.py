"""Benchmark delivery: queue N ~2 KB documents, time ``deliver()`` against a bare-requests floor.

Run ``.venv/bin/python bench/deliver.py [--documents 20000] [--batch-size 50]``. It uses the MySQL
server in RAGSYNC_MYSQL_URL (default mysql://root@127.0.0.1:3306/), creates and drops its own
database, and starts its own reference receiver on loopback. The floor is the same bodies POSTed
by a plain ``requests.Session`` loop (signed, same headers) to the same receiver: what delivery
would cost with no queue, no ledger and no audit. The last line is one JSON object with the figures.

The receiver runs in a child process, as a backend would: in this process its request threads
would compete with the delivery loop for the GIL, and every database round trip would wait up to
the interpreter's switch interval for it (``--in-process`` shows that effect).
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "plugins"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "dev"))

import requests

from ragsync import USER_AGENT
from ragsync.db import Database, DbParams
from ragsync.delivery.batching import build_body, new_batch_id
from ragsync.delivery.hook import RagWebhookHook
from ragsync.documents.model import Document
from ragsync.pipeline.deliver import deliver
from ragsync.settings import QueueSettings, Settings
from ragsync.signing import signed_headers
from ragsync.state.migrations import upgrade
from ragsync.state.queue import QueueRepository
from ragsync_dev.receiver import ReferenceReceiver

SECRET = "bench-secret"
TENANT = "bench-tenant"
WORDS = ("durable", "waterproof", "merino", "lightweight", "breathable", "trail", "everyday", "organic",
         "recycled", "insulated", "compact", "adjustable", "classic", "performance", "stretch", "cotton")


def make_documents(count: int, seed: int = 7) -> list[Document]:
    """Return ``count`` product documents of about 2 KB each."""
    rng = random.Random(seed)
    now = datetime(2026, 1, 2, 10, 30, tzinfo=UTC)
    documents = []
    for i in range(1, count + 1):
        description = " ".join(rng.choice(WORDS) for _ in range(190))
        data = {
            "sku": f"SKU-{i:07d}", "name": f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} item {i}",
            "description": description, "short_description": description[:160], "price": round(rng.uniform(5, 500), 2),
            "currency": "EUR", "in_stock": rng.random() > 0.1, "categories": ["Gear", "Bags"],
            "attributes": {"color": rng.choice(("Black", "Blue", "Red")), "size": rng.choice(("S", "M", "L"))},
            "url": f"https://shop.example.com/item-{i}.html", "store_code": "default", "locale": "en_US",
            "updated_at": "2026-01-02T10:00:00Z", "content": f"# Item {i}\n\n{description[:300]}",
        }
        documents.append(Document("product", str(i), 1, "save", data, now))
    return documents


def serve_receiver(conn: multiprocessing.connection.Connection, db_path: str) -> None:
    """Run a reference receiver in this (child) process; answer "summary" and "stop" over ``conn``."""
    logging.basicConfig(level=logging.WARNING)
    # Importing ragsync may configure Airflow's logging first (basicConfig is then a no-op): quiet
    # the receiver by name, so that its per-request lines neither cost time nor follow the JSON line.
    logging.getLogger("ragsync").setLevel(logging.WARNING)
    receiver = ReferenceReceiver(SECRET, TENANT, db_path=db_path).start()
    conn.send(receiver.url)
    try:
        while True:
            command = conn.recv()
            if command == "summary":
                conn.send(receiver.summary())
            else:
                break
    finally:
        receiver.stop()


class ReceiverProcess:
    """A reference receiver in a child process."""

    def __init__(self, db_path: str) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=serve_receiver, args=(child, db_path), daemon=True)
        self.process.start()
        if not self.conn.poll(60):
            raise SystemExit("the reference receiver did not start within 60 s")
        self.url: str = self.conn.recv()

    def summary(self) -> dict:
        """Return the receiver's summary."""
        self.conn.send("summary")
        return self.conn.recv()

    def stop(self) -> None:
        """Stop the child process."""
        try:
            self.conn.send("stop")
        except OSError:
            pass
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)


def floor(url: str, bodies: list[bytes]) -> float:
    """POST the bodies with a bare requests.Session loop; return the seconds taken."""
    session = requests.Session()
    static = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "X-Environment": "production",
              "X-Tenant-ID": TENANT}
    started = time.perf_counter()
    for body in bodies:
        headers = {**static, **signed_headers(body, SECRET, new_batch_id(datetime.now(UTC)))}
        response = session.post(url, data=body, headers=headers, timeout=30, allow_redirects=False)
        if response.status_code != 200:
            raise SystemExit(f"floor: the receiver answered HTTP {response.status_code}: {response.text[:200]}")
    elapsed = time.perf_counter() - started
    session.close()
    return elapsed


def reset_queue(db: Database) -> None:
    """Make every queued document due again and forget what was delivered (between deliver rounds)."""
    db.execute("UPDATE rag_sync_queue SET status = 'pending', attempts = 0, sent_at = NULL, batch_id = NULL,"
               " last_http_status = NULL")
    db.execute("DELETE FROM rag_sync_ledger")
    db.execute("DELETE FROM rag_sync_log")
    time.sleep(2)  # let InnoDB purge the old index entries before the timed run


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds of floor and deliver, taking turns (median; timings on a shared machine drift)")
    parser.add_argument("--in-process", action="store_true", help="run the receiver in this process")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    for name in ("ragsync", "ragsync_dev.receiver.server"):
        logging.getLogger(name).setLevel(logging.WARNING)

    server = DbParams.from_url(os.environ.get("RAGSYNC_MYSQL_URL") or "mysql://root@127.0.0.1:3306/")
    if os.environ.get("RAGSYNC_MYSQL_URL") == "private":
        server = DbParams.from_url("mysql://root@127.0.0.1:3306/")
    name = f"rs_bench_{uuid.uuid4().hex[:8]}"
    admin = Database(server.with_database(""))
    admin.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    db = Database(server.with_database(name))
    tmp = tempfile.TemporaryDirectory(prefix="ragsync-bench-")
    receiver_path = str(Path(tmp.name) / "receiver.sqlite")
    receiver: ReferenceReceiver | ReceiverProcess = (
        ReferenceReceiver(SECRET, TENANT, db_path=receiver_path).start() if args.in_process
        else ReceiverProcess(receiver_path))
    try:
        upgrade(db)
        settings = Settings(queue=QueueSettings(batch_size=args.batch_size))
        documents = make_documents(args.documents)
        queue = QueueRepository(db)
        started = time.perf_counter()
        queue.enqueue(documents, source="full")
        enqueue_seconds = time.perf_counter() - started
        rows = db.query("SELECT document FROM rag_sync_queue_document ORDER BY queue_id")
        avg_bytes = statistics.mean(len(r[0].encode("utf-8")) for r in rows)
        now = datetime.now(UTC).replace(tzinfo=None)
        bodies = [build_body([r[0] for r in rows[i:i + args.batch_size]], new_batch_id(now), now)
                  for i in range(0, len(rows), args.batch_size)]
        print(f"queued {len(rows):,} documents of {avg_bytes:,.0f} bytes on average in {enqueue_seconds:.2f} s "
              f"({len(rows) / enqueue_seconds:,.0f} documents/s); {len(bodies)} bodies of up to {args.batch_size}")

        floor(receiver.url, bodies[: max(1, len(bodies) // 10)])  # warm up the receiver and its SQLite
        hook = RagWebhookHook.from_values(receiver.url, SECRET, TENANT)
        floor_runs: list[float] = []
        deliver_runs: list[float] = []
        batches = 0
        for round_number in range(max(1, args.rounds)):
            # floor and deliver take turns, so that a change in the machine's load hits both alike
            floor_runs.append(floor(receiver.url, bodies))
            if round_number:
                reset_queue(db)
            started = time.perf_counter()
            result = deliver(db, hook, settings, time_budget_seconds=3600)
            deliver_runs.append(time.perf_counter() - started)
            if result.sent != len(rows):
                raise SystemExit(f"deliver sent {result.sent} of {len(rows)}: {result.as_dict()}")
            batches = result.batches
        hook.close()
        received = receiver.summary()
        live = sum(received["documents"].get("product", {}).values())
        if live != len(rows):
            raise SystemExit(f"the receiver holds {live} documents, expected {len(rows)}")
        floor_seconds = statistics.median(floor_runs)
        deliver_seconds = statistics.median(deliver_runs)

        floor_rate = len(rows) / floor_seconds
        deliver_rate = len(rows) / deliver_seconds
        ratio = deliver_seconds / floor_seconds
        print(f"floor  : {floor_rate:,.0f} documents/s ({floor_seconds:.2f} s, median of {len(floor_runs)}: "
              f"{', '.join(f'{s:.2f}' for s in floor_runs)})")
        print(f"deliver: {deliver_rate:,.0f} documents/s ({deliver_seconds:.2f} s, median of {len(deliver_runs)}: "
              f"{', '.join(f'{s:.2f}' for s in deliver_runs)}; {batches} batches a run)")
        print(f"ratio  : deliver takes {ratio:.2f}x the floor (target <= 1.5x); target >= 3,000 documents/s: "
              f"{'met' if deliver_rate >= 3000 else 'NOT met'}")
        print(json.dumps({
            "bench": "deliver", "documents": len(rows), "avg_document_bytes": round(avg_bytes),
            "batch_size": args.batch_size, "enqueue_docs_per_s": round(len(rows) / enqueue_seconds),
            "floor_docs_per_s": round(floor_rate), "deliver_docs_per_s": round(deliver_rate),
            "ratio": round(ratio, 3), "floor_seconds": round(floor_seconds, 3),
            "deliver_seconds": round(deliver_seconds, 3), "batches": batches, "rounds": len(deliver_runs),
            "receiver": "in-process" if args.in_process else "child process",
        }))
        return 0
    finally:
        receiver.stop()
        tmp.cleanup()
        db.close()
        admin.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


if __name__ == "__main__":
    raise SystemExit(main())
