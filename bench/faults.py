"""Fault soak: 4 delivery workers through 20,000 queued items while everything that can go wrong does.

Run ``.venv/bin/python bench/faults.py [--items 20000] [--workers 4]``. It uses the MySQL server in
RAGSYNC_MYSQL_URL (default mysql://root@127.0.0.1:3306/), creates and drops its own database, and
starts a reference receiver in a child process. While the workers (separate processes, each calling
``ragsync.pipeline.deliver.deliver`` in a loop, as ``ragsync queue process`` does) deliver:

* a writer queues newer versions of random entities (saves and deletes), so that versions race;
* workers are killed (SIGKILL, then restarted) and frozen (SIGSTOP past their lease, then SIGCONT);
* the stuck reset runs every two seconds, as ``ragsync_reset_stuck_items`` would;
* the receiver answers 5xx, 429 with ``Retry-After``, slowly, drops connections, and answers 200 with
  an HTML page or invalid JSON (garbage a real 2xx-only check would take for delivered).

At the end the queue is drained without faults, and the receiver's final state is compared with
the newest version queued per entity:

* lost: an entity whose newest version is neither at the receiver nor dead in the queue;
* stale: an entity for which the receiver holds an older version than the newest one queued;
* duplicated: deliveries of a version the receiver had already applied (allowed: at-least-once);
* dead: items given up on (none expected: the backend rejects nothing for its content).

The lease is a few seconds (``--lease``) so that freezes past it fit a short run. The last line is
one JSON object with the figures; the exit code is 1 when anything was lost or stale.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(0, str(ROOT / "dev"))

from ragsync.db import Database, DbParams  # noqa: E402
from ragsync.documents.model import Document  # noqa: E402
from ragsync.pipeline.maintenance import reset_stuck  # noqa: E402
from ragsync.settings import BreakerSettings, QueueSettings, Settings  # noqa: E402
from ragsync.state.migrations import upgrade  # noqa: E402
from ragsync.state.queue import QueueRepository  # noqa: E402
from ragsync_dev.receiver import ReferenceReceiver  # noqa: E402

SECRET = "faults-secret"
TENANT = "faults-tenant"

WORKER = r"""
import json, logging, sys, time
sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[2])
logging.basicConfig(level=logging.ERROR)
from ragsync.db import Database, DbParams
from ragsync.delivery.hook import RagWebhookHook
from ragsync.pipeline.deliver import deliver
from ragsync.settings import BreakerSettings, QueueSettings, Settings
spec = json.loads(sys.argv[3])
settings = Settings(queue=QueueSettings(**spec["queue"]), breaker=BreakerSettings(**spec["breaker"]))
db = Database(DbParams.from_url(spec["db"]))
hook = RagWebhookHook.from_values(spec["url"], spec["secret"], spec["tenant"], timeout=spec["timeout"], ack=spec["ack"])
while True:
    result = deliver(db, hook, settings, time_budget_seconds=15, worker=spec["name"])
    if result.sent == 0:
        time.sleep(0.3)
"""


def serve_receiver(conn: Any, db_path: str, seed: int) -> None:
    """Run the reference receiver in this child process, with a thread that keeps injecting faults."""
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("ragsync").setLevel(logging.ERROR)
    logging.getLogger("ragsync_dev").setLevel(logging.ERROR)
    receiver = ReferenceReceiver(SECRET, TENANT, db_path=db_path).start()
    conn.send(receiver.url)
    chaos = threading.Event()
    rng = random.Random(seed)

    def inject() -> None:
        while True:
            time.sleep(rng.uniform(0.2, 0.8))
            if not chaos.is_set():
                continue
            kind = rng.choice(("5xx", "429", "slow", "drop", "html", "badjson"))
            if kind == "5xx":
                receiver.fail_next(rng.randint(1, 3), status=rng.choice((500, 502, 503)))
            elif kind == "429":
                receiver.fail_next(1, status=429, retry_after=str(rng.randint(1, 3)))
            elif kind == "slow":
                receiver.fail_next(rng.randint(1, 2), status=200, delay=rng.uniform(1.0, 3.0))
            elif kind == "drop":
                receiver.fail_next(1, drop=True)
            else:
                receiver.fail_next(1, status=200, garbage="html" if kind == "html" else "json")

    threading.Thread(target=inject, daemon=True).start()
    try:
        while True:
            command = conn.recv()
            if command == "chaos on":
                chaos.set()
                conn.send("ok")
            elif command == "chaos off":
                chaos.clear()
                receiver.reset()
                conn.send("ok")
            elif command == "state":
                conn.send({"documents": receiver.documents(), "items": receiver.items(),
                           "requests": receiver.request_count, "stale_dropped": receiver.stale_dropped})
            else:
                break
    finally:
        receiver.stop()


class ReceiverProcess:
    """The reference receiver in a child process, controlled over a pipe."""

    def __init__(self, db_path: str, seed: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=serve_receiver, args=(child, db_path, seed), daemon=True)
        self.process.start()
        if not self.conn.poll(60):
            raise SystemExit("the reference receiver did not start within 60 s")
        self.url: str = self.conn.recv()

    def ask(self, command: str) -> Any:
        """Send a command and return the answer."""
        self.conn.send(command)
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


@dataclass
class Workers:
    """The delivery worker processes, with the faults done to them."""

    spec: dict[str, Any]
    count: int
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    frozen: dict[int, float] = field(default_factory=dict)
    kills: int = 0
    freezes: int = 0

    def start(self, slot: int) -> None:
        """Start (or restart) the worker in ``slot``."""
        spec = {**self.spec, "name": f"w{slot}"}
        self.processes[slot] = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(ROOT / "plugins"), str(ROOT / "dev"), json.dumps(spec)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start_all(self) -> None:
        """Start every worker."""
        for slot in range(self.count):
            self.start(slot)

    def kill(self, slot: int) -> None:
        """SIGKILL a worker (mid-POST or mid-settle: wherever it is) and start a new one."""
        process = self.processes[slot]
        if slot in self.frozen:
            return
        process.send_signal(signal.SIGKILL)
        process.wait()
        self.kills += 1
        self.start(slot)

    def freeze(self, slot: int, seconds: float) -> None:
        """SIGSTOP a worker; :meth:`thaw` resumes it after ``seconds``."""
        if slot in self.frozen:
            return
        self.processes[slot].send_signal(signal.SIGSTOP)
        self.frozen[slot] = time.monotonic() + seconds
        self.freezes += 1

    def thaw(self, force: bool = False) -> None:
        """SIGCONT the workers whose freeze is over."""
        for slot, until in list(self.frozen.items()):
            if force or time.monotonic() >= until:
                self.processes[slot].send_signal(signal.SIGCONT)
                del self.frozen[slot]

    def stop(self) -> None:
        """Stop every worker."""
        self.thaw(force=True)
        for process in self.processes.values():
            process.send_signal(signal.SIGKILL)
            process.wait()


def document(entity_id: int, version: int, rng: random.Random) -> Document:
    """Return version ``version`` of a product document (about 1 KB), or a delete now and then."""
    now = datetime.now(UTC)
    if version > 1 and rng.random() < 0.05:
        return Document.delete("product", entity_id, 1, now)
    text = " ".join(rng.choice(("merino", "trail", "waterproof", "classic", "recycled")) for _ in range(120))
    data = {"sku": f"SKU-{entity_id:06d}", "name": f"Item {entity_id} v{version}", "description": text,
            "price": round(rng.uniform(5, 500), 2), "store_code": "default", "locale": "en_US",
            "updated_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "content": f"# Item {entity_id} v{version}\n\n{text}"}
    return Document("product", str(entity_id), 1, "save", data, now)


def pending(db: Database) -> int:
    """Return the rows not delivered or dead yet."""
    return int(db.scalar("SELECT COUNT(*) FROM rag_sync_queue WHERE status IN ('pending', 'processing', 'failed')"))


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=20_000, help="documents queued in all (default 20000)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--lease", type=float, default=6.0, help="lease seconds of a claimed batch (default 6)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--limit", type=float, default=900.0, help="give up after this many seconds")
    parser.add_argument("--chaos", type=float, default=60.0, help="seconds of faults at least (default 60)")
    parser.add_argument("--rate", type=int, default=150, help="newer versions queued per second (default 150)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("ragsync").setLevel(logging.ERROR)
    rng = random.Random(args.seed)

    url = os.environ.get("RAGSYNC_MYSQL_URL") or "mysql://root@127.0.0.1:3306/"
    server = DbParams.from_url("mysql://root@127.0.0.1:3306/" if url == "private" else url)
    name = f"rs_faults_{uuid.uuid4().hex[:8]}"
    admin = Database(server.with_database(""))
    admin.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    db = Database(server.with_database(name))
    tmp = tempfile.TemporaryDirectory(prefix="ragsync-faults-")
    receiver = ReceiverProcess(str(Path(tmp.name) / "receiver.sqlite"), args.seed)
    queue_spec = {"batch_size": 50, "max_retries": 50, "retry_delays_minutes": [0.02, 0.05],
                  "stuck_after_minutes": args.lease / 60}
    breaker_spec = {"failure_threshold": 5, "open_seconds": 2}
    settings = Settings(queue=QueueSettings(**queue_spec), breaker=BreakerSettings(**breaker_spec))  # type: ignore[arg-type]
    workers = Workers({"db": db.params.url(), "url": receiver.url, "secret": SECRET, "tenant": TENANT,
                       "timeout": 5, "ack": "json", "queue": queue_spec, "breaker": breaker_spec}, args.workers)
    started = time.monotonic()
    try:
        upgrade(db)
        queue = QueueRepository(db)
        entities = max(1, args.items // 4)
        newest: dict[int, Document] = {}
        versions = dict.fromkeys(range(1, entities + 1), 0)
        written = 0

        def write(ids: list[int]) -> None:
            nonlocal written
            batch = []
            for entity_id in ids:
                versions[entity_id] += 1
                doc = document(entity_id, versions[entity_id], rng)
                batch.append(doc)
                newest[entity_id] = doc
            queue.enqueue(batch, source="incremental")
            written += len(batch)

        write(list(range(1, entities + 1)))
        receiver.ask("chaos on")
        receiver_chaos = True
        workers.start_all()
        last_reset = last_fault = time.monotonic()
        while True:
            now = time.monotonic()
            chaos = written < args.items or now - started < args.chaos
            if not chaos and not pending(db):
                break
            if now - started > args.limit:
                raise SystemExit(f"gave up after {args.limit:.0f} s with {pending(db)} rows not delivered")
            if written < args.items:
                write(rng.sample(range(1, entities + 1), min(max(1, args.rate // 5), args.items - written)))
            if chaos and now - last_fault > rng.uniform(1.0, 3.0):
                last_fault = now
                slot = rng.randrange(args.workers)
                if rng.random() < 0.5:
                    workers.kill(slot)
                else:
                    workers.freeze(slot, args.lease + rng.uniform(1, 4))
            elif not chaos and workers.frozen is not None and receiver_chaos:
                receiver.ask("chaos off")  # the tail: let the rest drain without faults
                receiver_chaos = False
                workers.thaw(force=True)
            workers.thaw()
            if now - last_reset > 2:
                reset_stuck(db, settings)
                last_reset = now
            time.sleep(0.2)
        workers.thaw(force=True)
        time.sleep(args.lease + 1)  # a thawed worker's last POST would land now, if it sent one
        reset_stuck(db, settings)
        while pending(db) and time.monotonic() - started < args.limit:
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        workers.stop()
        state = receiver.ask("state")
    finally:
        workers.stop()
        receiver.stop()

    held = {(d["id"]): d for d in state["documents"] if d["type"] == "product"}
    dead_ids = {int(r[0]) for r in db.query("SELECT entity_id FROM rag_sync_queue WHERE status = 'dead'")}
    lost = stale = 0
    for entity_id, doc in newest.items():
        got = held.get(str(entity_id))
        if entity_id in dead_ids:
            continue
        if got is None:
            lost += doc.action == "save"
        elif got["hash"] != doc.hash or got["action"] != doc.action:
            stale += 1
    applied: dict[tuple[str, str], int] = {}
    for item in state["items"]:
        key = (item["id"], item["hash"])
        applied[key] = applied.get(key, 0) + 1
    duplicated = sum(n - 1 for n in applied.values())
    figures = {
        "items": written, "entities": len(newest), "workers": args.workers, "seconds": round(elapsed, 1),
        "kills": workers.kills, "freezes": workers.freezes, "requests": state["requests"],
        "lost": lost, "stale": stale, "duplicated": duplicated, "dead": len(dead_ids),
        "stale_dropped_by_receiver": state["stale_dropped"],
        "sent_rows": int(db.scalar("SELECT COUNT(*) FROM rag_sync_queue WHERE status = 'sent'")),
    }
    print(f"{written:,} items for {len(newest):,} entities, {args.workers} workers, {elapsed:.0f} s: "
          f"{workers.kills} kills, {workers.freezes} freezes past the lease, {state['requests']:,} requests")
    print(f"lost {lost}, stale {stale}, duplicated {duplicated}, dead {len(dead_ids)}, "
          f"older deliveries dropped by the receiver {state['stale_dropped']}")
    print(json.dumps(figures))
    db.close()
    admin.execute(f"DROP DATABASE IF EXISTS `{name}`")
    admin.close()
    tmp.cleanup()
    return 1 if lost or stale else 0


if __name__ == "__main__":
    sys.exit(main())
