"""A realistic queue for the dashboard tests and the screenshot, written through the real repositories.

Mixed entity types in two store views; rows delivered (sent), failing with HTTP 503 (failed), given
up after an HTTP 422 (dead), in flight (processing) and waiting (pending); full sync runs per type,
one of them failed; a closed circuit breaker with a recent success. Times run up to "now", so the
pages' "… ago" columns read naturally.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ragsync.db import Database
from ragsync.delivery.batching import new_batch_id
from ragsync.delivery.policy import retry_schedule
from ragsync.documents.model import Document
from ragsync.settings import QueueSettings
from ragsync.state.breaker import CircuitBreaker
from ragsync.state.clock import ManualClock
from ragsync.state.queue import QueueRepository
from ragsync.state.runs import SyncRuns
from ragsync.vocabulary import ENTITY_TYPES

LEASE_SECONDS = 600


@dataclass
class SeededQueue:
    """Which queue ids ended in which status."""

    by_status: dict[str, list[int]] = field(default_factory=dict)
    clock: ManualClock | None = None

    def ids(self, status: str) -> list[int]:
        """Return the ids seeded with ``status``."""
        return list(self.by_status.get(status, []))


def _documents(now: datetime) -> list[Document]:
    """Return documents of every type, interleaved so that each status gets a mix of types."""
    by_type: dict[str, list[Document]] = {"product": [], "category": [], "cms_page": [], "cms_block": [],
                                          "promotion": []}
    for store_id, code in ((1, "default"), (2, "fr")):
        for n in range(1, 25):
            price = 19.0 + n * 7.5
            by_type["product"].append(Document("product", str(100 + n), store_id, "save", {
                "sku": f"MH{n:02d}-{code.upper()}", "name": f"Helios Trail Jacket {n}", "price": price,
                "currency": "EUR" if code == "fr" else "USD", "in_stock": n % 4 != 0, "store_code": code,
                "locale": "fr_FR" if code == "fr" else "en_US", "url": f"https://shop.example.com/{code}/jacket-{n}.html",
                "categories": ["Men", "Jackets"], "updated_at": now.isoformat(),
                "content": f"# Helios Trail Jacket {n}\n\nWind- and water-resistant shell for fast hikes.\n\n"
                           f"- Weight: {300 + n * 5} g\n- Packs into its own pocket\n\n**Price:** {price:.2f}",
            }, now))
        for n in range(1, 6):
            by_type["category"].append(Document("category", str(10 + n), store_id, "save", {
                "name": f"Category {n}", "path": f"Default Category > Category {n}", "level": 2,
                "store_code": code, "content": f"# Category {n}", "updated_at": now.isoformat(),
            }, now))
        for n, ident in enumerate(("about-us", "shipping-policy", "faq"), start=1):
            by_type["cms_page"].append(Document("cms_page", str(n), store_id, "save", {
                "identifier": ident, "title": ident.replace("-", " ").title(), "document_type": "policy",
                "store_code": code, "content": f"# {ident}\n\nText.", "updated_at": now.isoformat(),
            }, now))
        by_type["cms_block"].append(Document("cms_block", "7", store_id, "save", {
            "identifier": "footer-links", "title": "Footer links", "store_code": code, "content": "Links",
            "updated_at": now.isoformat()}, now))
    for n in range(1, 4):
        by_type["promotion"].append(Document("promotion", f"cart-{n}", 1, "save", {
            "rule_type": "cart", "name": f"Summer sale {n}", "discount": {"sentence": f"{n * 10}% off"},
            "store_code": "default", "content": f"{n * 10}% off everything", "updated_at": now.isoformat()}, now))
    by_type["product"].append(Document.delete("product", 999, 1, now))
    by_type["category"].append(Document.delete("category", 99, 2, now))
    mixed: list[Document] = []
    while any(by_type.values()):
        for docs in by_type.values():
            if docs:
                mixed.append(docs.pop(0))
    return mixed


def seed_queue(db: Database, endpoint: str) -> SeededQueue:
    """Fill an empty ragsync database with a queue in every status, sync runs and a breaker row."""
    now = datetime.now(UTC).replace(tzinfo=None)
    clock = ManualClock(now - timedelta(hours=3))
    settings = QueueSettings(max_retries=3, retry_delays_minutes=(5, 15, 60))
    repo = QueueRepository(db, clock, settings)
    runs = SyncRuns(db, clock)
    run_ids = {t: runs.start(t, "full") for t in ENTITY_TYPES}
    documents = _documents(clock.now())
    # Deletes of entities the backend never had are skipped; force them in so the grid shows deletes.
    repo.enqueue([d for d in documents if d.action == "save"], source="full")
    repo.enqueue([d for d in documents if d.action == "delete"], source="reconcile", force=True)
    clock.advance(minutes=20)
    for entity_type, run_id in run_ids.items():
        if entity_type == "promotion":
            runs.finish(run_id, "failed", {"documents": 2, "queued": 2},
                        "salesrule table not readable: SELECT command denied to user 'magento_ro'")
        else:
            queued = sum(1 for d in documents if d.type == entity_type)
            runs.finish(run_id, "success", {"documents": queued, "queued": queued, "skipped_unchanged": 0})
    breaker = CircuitBreaker(db, endpoint, clock=clock)
    failing = repo.claim_due(6, LEASE_SECONDS)
    repo.settle_failed(failing, 503, "HTTP 503: upstream embedding service unavailable",
                      retry_at=retry_schedule(failing.rows, settings, clock.now()))
    breaker.record_failure("HTTP 503: upstream embedding service unavailable")
    clock.advance(minutes=5)
    rejected = repo.claim_due(4, LEASE_SECONDS)
    repo.settle_dead(rejected, 422, '{"error": "data.content exceeds the 32k token limit"}')
    clock.advance(minutes=30)
    first = repo.claim_due(30, LEASE_SECONDS)
    clock.advance(seconds=2)
    repo.settle_sent(first.rows[:20], new_batch_id(clock.now()), 200)
    repo.settle_sent(first.rows[20:], new_batch_id(clock.now()), 202)
    breaker.record_success()
    clock.set(now - timedelta(minutes=2))
    more = repo.claim_due(10, LEASE_SECONDS)
    repo.settle_sent(more, new_batch_id(clock.now()), 200)
    breaker.record_success()
    repo.claim_due(2, LEASE_SECONDS)  # in flight: leased, not settled
    seeded = SeededQueue(clock=clock)
    for queue_id, status in db.query("SELECT id, status FROM rag_sync_queue ORDER BY id"):
        seeded.by_status.setdefault(status, []).append(int(queue_id))
    return seeded


def counts_in_db(db: Database) -> dict[str, Any]:
    """Return the queue's counts per status as the database has them."""
    return QueueRepository(db).counts_by_status()
