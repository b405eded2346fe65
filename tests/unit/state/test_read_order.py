"""An older read never follows a newer one: ``Document.read_at`` against the open, in-flight and delivered
versions of the entity, decided again under the enqueue lock so concurrent enqueues cannot interleave."""

from __future__ import annotations

import json
import random
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import pytest

from ragsync.db import Database
from ragsync.documents.model import Document
from ragsync.settings import QueueSettings
from ragsync.state.clock import ManualClock
from ragsync.state.queue import EnqueueResult, QueueRepository

START = datetime(2026, 1, 2, 10, 30)
EARLY = datetime(2026, 1, 2, 10, 0, 0, 250_000)
LATE = datetime(2026, 1, 2, 10, 0, 1, 500_000)


def doc(name: str, read_at: datetime | None, action: str = "save") -> Document:
    data = None if action == "delete" else {"name": name}
    return Document("product", "7", 1, action, data, START, read_at)


@pytest.fixture
def queue(ragsync_db: Database) -> QueueRepository:
    return QueueRepository(ragsync_db, ManualClock(START), QueueSettings(), rng=random.Random(5))


def rows(db: Database) -> list[tuple[str, str, Any]]:
    """Return (status, stored name, read_at) of every queue row of the entity, oldest first."""
    found = db.query("SELECT q.status, d.document, q.read_at FROM rag_sync_queue q"
                     " JOIN rag_sync_queue_document d ON d.queue_id = q.id ORDER BY q.id")
    return [(status, (json.loads(document)["data"] or {}).get("name", "<delete>"), read_at)
            for status, document, read_at in found]


def deliver(queue: QueueRepository) -> None:
    claim = queue.claim_due(10, 60)
    assert claim
    queue.settle_sent(claim, "batch-1", 200)


def test_an_older_read_is_not_queued_after_a_newer_one_was_delivered(queue: QueueRepository,
                                                                      ragsync_db: Database) -> None:
    assert queue.enqueue([doc("new", LATE)]).queued == 1
    deliver(queue)
    entry = queue.ledger.lookup([("product", "7", 1)])[("product", "7", 1)]
    assert entry.delivered_read_at == LATE

    for force in (False, True):
        result = queue.enqueue([doc("old", EARLY)], source="full", force=force)
        assert (result.skipped_older_read, result.written) == (1, 0)
    assert queue.enqueue([doc("old", EARLY, "delete")]).skipped_older_read == 1
    assert [status for status, _name, _at in rows(ragsync_db)] == ["sent"]

    assert queue.enqueue([doc("newer", LATE + timedelta(seconds=1))]).queued == 1
    assert rows(ragsync_db)[-1][:2] == ("pending", "newer")


def test_an_older_read_does_not_replace_a_newer_open_or_in_flight_row(queue: QueueRepository,
                                                                      ragsync_db: Database) -> None:
    queue.enqueue([doc("new", LATE)])
    assert queue.enqueue([doc("old", EARLY)]).skipped_older_read == 1
    assert rows(ragsync_db) == [("pending", "new", LATE)]

    claim = queue.claim_due(10, 60)  # in flight: an older read must not queue behind it either
    assert queue.enqueue([doc("old", EARLY)]).skipped_older_read == 1
    assert [r[:2] for r in rows(ragsync_db)] == [("processing", "new")]
    queue.settle_sent(claim, "batch-1", 200)

    # the same read (equal time) is ordered by content as before: a change is queued
    assert queue.enqueue([doc("new again", LATE)]).queued == 1


def test_unknown_read_times_order_nothing(queue: QueueRepository, ragsync_db: Database) -> None:
    queue.enqueue([doc("read", LATE)])
    assert queue.enqueue([doc("tool", None)]).replaced == 1  # a document not built by a reader
    assert rows(ragsync_db)[-1][:2] == ("pending", "tool")
    ragsync_db.execute("UPDATE rag_sync_queue SET read_at = NULL")  # a row queued before migration 008
    assert queue.enqueue([doc("read", EARLY)]).replaced == 1


def _lock_waits(db: Database) -> int:
    return int(db.scalar("SELECT COUNT(*) FROM information_schema.innodb_trx WHERE trx_state = 'LOCK WAIT'") or 0)


def test_a_concurrent_newer_enqueue_wins_whatever_order_the_checks_ran(ragsync_db: Database,
                                                                       db_factory: Any) -> None:
    """Both enqueues decide "write" from their first reads; the newer one commits first, the older one
    then decides again under the lock and skips."""
    def repository() -> QueueRepository:
        return QueueRepository(Database(ragsync_db.params), ManualClock(START), QueueSettings())

    holder = Database(ragsync_db.params)
    holder.execute("INSERT INTO rag_sync_sequence (name, value) VALUES ('document', 1)"
                   " ON DUPLICATE KEY UPDATE value = value")
    results: dict[str, EnqueueResult] = {}

    def enqueue(label: str, document: Document) -> None:
        results[label] = repository().enqueue([document], source="full")

    def wait_for(waits: int) -> None:
        deadline = time.monotonic() + 10
        while _lock_waits(holder) < waits:
            assert time.monotonic() < deadline, "the enqueue never waited for the sequence lock"
            time.sleep(0.2)  # InnoDB refreshes innodb_trx only when it was not read for 0.1 s

    with holder.transaction():
        holder.query("SELECT value FROM rag_sync_sequence WHERE name = 'document' FOR UPDATE")
        newer = threading.Thread(target=enqueue, args=("newer", doc("new", LATE)))
        newer.start()
        wait_for(1)  # the newer enqueue read, found nothing, and waits for the counter
        older = threading.Thread(target=enqueue, args=("older", doc("old", EARLY)))
        older.start()
        wait_for(2)  # so did the older one, behind it
    newer.join(10)
    older.join(10)
    assert results["newer"].queued == 1
    assert (results["older"].skipped_older_read, results["older"].written) == (1, 0)
    assert [r[:2] for r in rows(ragsync_db)] == [("pending", "new")]
