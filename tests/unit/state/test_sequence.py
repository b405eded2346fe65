"""The per-entity ``sequence``: it grows with every newer queued version, in any process; the ledger keeps the
latest delivery by it; the lease is checked (and renewed) right before a POST."""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
from datetime import datetime, timedelta
from typing import Any

import pytest

from ragsync.db import Database
from ragsync.delivery.policy import retry_schedule
from ragsync.documents.model import Document, canonical_json
from ragsync.settings import QueueSettings
from ragsync.state.clock import ManualClock
from ragsync.state.ledger import Ledger
from ragsync.state.queue import QueueRepository

START = datetime(2026, 1, 2, 10, 30)
ENQUEUE = """
import sys
from ragsync.db import Database
from ragsync.documents.model import Document
from ragsync.state.queue import QueueRepository
result = QueueRepository(Database.from_url(sys.argv[1])).enqueue([Document("product", "1", 1, "save", {"v": 2})])
assert result.replaced == 1, result
"""


def doc(i: int | str, **data: Any) -> Document:
    return Document("product", str(i), 1, "save", {"name": f"p{i}", **data}, START)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def queue(ragsync_db: Database, clock: ManualClock) -> QueueRepository:
    return QueueRepository(ragsync_db, clock, QueueSettings(), rng=random.Random(5))


def open_row(db: Database, entity_id: str) -> tuple[int, int, dict[str, Any]]:
    """Return (id, sequence, stored item) of the entity's newest queue row."""
    queue_id, sequence, document = db.query(
        "SELECT q.id, q.sequence, d.document FROM rag_sync_queue q JOIN rag_sync_queue_document d ON d.queue_id = q.id"
        " WHERE q.entity_id = %s ORDER BY q.id DESC LIMIT 1", (entity_id,))[0]
    return int(queue_id), int(sequence), json.loads(document)


def test_sequence_is_in_the_item_but_not_in_the_hash() -> None:
    document = doc(1, updated_at="2026-01-01T00:00:00Z")
    item = json.loads(document.item_json(42))
    assert item["sequence"] == 42 and item["hash"] == document.hash
    assert document.item_json(42) == canonical_json(document.item(42))  # canonical: in its sorted place
    without = {k: v for k, v in item.items() if k != "sequence"}
    assert canonical_json(without) == document.item_json() and "sequence" not in document.item()
    hashed = {"type": "product", "id": "1", "store_id": 1, "action": "save", "data": {"name": "p1"}}
    assert document.hash == hashlib.sha256(canonical_json(hashed).encode()).hexdigest()
    with pytest.raises(ValueError):
        document.item_json(-1)


def test_sequence_grows_on_enqueue_and_on_in_place_replace(queue: QueueRepository, ragsync_db: Database) -> None:
    queue.enqueue([doc(1), doc(2)])
    (id1, seq1, item1), (_id2, seq2, _item2) = open_row(ragsync_db, "1"), open_row(ragsync_db, "2")
    assert seq1 > 0 and seq2 > seq1 and item1["sequence"] == seq1
    assert queue.enqueue([doc(1)]).already_queued == 1  # same content: nothing written, same sequence
    assert open_row(ragsync_db, "1")[1] == seq1
    assert queue.enqueue([doc(1, v=2)]).replaced == 1  # the pending row is rewritten in place
    replaced_id, replaced_seq, replaced_item = open_row(ragsync_db, "1")
    assert replaced_id == id1 and replaced_seq > seq2 and replaced_item["sequence"] == replaced_seq
    assert replaced_item["data"] == {"name": "p1", "v": 2}
    claim = queue.claim_due(10, 60)
    assert {r.entity_id: r.sequence for r in claim.rows}["1"] == replaced_seq
    queue.enqueue([doc(1, v=3)])  # while row 1 is in flight: a new pending row, a newer sequence
    assert open_row(ragsync_db, "1")[0] != id1 and open_row(ragsync_db, "1")[1] > replaced_seq
    ten = queue.reserve_sequences(10)
    assert queue.reserve_sequences(1) >= ten + 10  # never below the microsecond clock, never reused


def test_sequence_grows_across_processes(queue: QueueRepository, ragsync_db: Database) -> None:
    queue.enqueue([Document("product", "1", 1, "save", {"v": 1})])
    first = open_row(ragsync_db, "1")[1]
    other = subprocess.run([sys.executable, "-c", ENQUEUE, ragsync_db.params.url()], capture_output=True, text=True,
                           timeout=60)
    assert other.returncode == 0, other.stderr[-2000:]
    second = open_row(ragsync_db, "1")
    assert second[1] > first and second[2]["data"] == {"v": 2}
    queue.enqueue([Document("product", "1", 1, "save", {"v": 3})])
    assert open_row(ragsync_db, "1")[1] > second[1]


def test_sequence_survives_a_reset_counter(queue: QueueRepository, ragsync_db: Database) -> None:
    queue.enqueue([doc(1)])
    before = open_row(ragsync_db, "1")[1]
    ragsync_db.execute("DELETE FROM rag_sync_sequence")  # tables dropped and created again, or an old backup
    queue.enqueue([doc(1, v=2)])
    assert open_row(ragsync_db, "1")[1] > before


def test_the_ledger_keeps_the_latest_delivery_by_sequence(queue: QueueRepository, ragsync_db: Database) -> None:
    ledger = Ledger(ragsync_db)
    key = ("product", "1", 1)
    queue.enqueue([doc(1)])
    older_id, older_seq, _ = open_row(ragsync_db, "1")
    queue.settle_sent(queue.claim_due(10, 60), "mag-1", 200)
    queue.enqueue([doc(1, v=2)])
    newer_id, newer_seq, _ = open_row(ragsync_db, "1")
    queue.settle_sent(queue.claim_due(10, 60), "mag-2", 200)
    assert (ledger.lookup([key])[key].delivered_hash, ledger.lookup([key])[key].delivered_sequence) == (
        doc(1, v=2).hash, newer_seq)
    queue.enqueue([doc(1, v=3)])
    failing = queue.claim_due(10, 60)
    queue.settle_failed(failing, 503, "down", retry_at=retry_schedule(failing.rows, QueueSettings(), queue.clock.now()))
    # a late 2xx of the older version (e.g. from a worker frozen past its lease) changes nothing
    ledger.record_sent_from_queue([older_id])
    entry = ledger.lookup([key])[key]
    assert (entry.delivered_hash, entry.delivered_sequence) == (doc(1, v=2).hash, newer_seq)
    assert (entry.failed_hash, entry.failed_status) == (doc(1, v=3).hash, "failed")
    ledger.record_sent_from_queue([newer_id])  # the same sequence again (a redelivery) is recorded
    assert ledger.lookup([key])[key].delivered_sequence == newer_seq and older_seq < newer_seq


def test_extend_lease_renews_owned_rows_and_drops_the_others(queue: QueueRepository, ragsync_db: Database,
                                                             clock: ManualClock) -> None:
    queue.enqueue([doc(i) for i in range(4)])
    first = queue.claim_due(2, 60)
    second = queue.claim_due(2, 60)
    rows = [*first.rows, *second.rows]
    assert queue.extend_lease(rows, 60) == rows  # a fresh lease: checked, not renewed
    clock.advance(seconds=30)
    assert queue.extend_lease(first.rows, 60) == first.rows  # half the lease left: renewed to now + 60 s
    clock.advance(seconds=40)  # second's lease (claimed 70 s ago) expired, first's (renewed 40 s ago) did not
    assert queue.extend_lease(rows, 60) == first.rows
    expiry = ragsync_db.scalar("SELECT MIN(lease_expires_at) FROM rag_sync_queue WHERE lease_token = %s",
                               (first.lease_token,))
    assert expiry == clock.now() + timedelta(seconds=60)
    assert queue.reset_stuck().released == 2
    reclaimed = queue.claim_due(2, 60)
    assert queue.extend_lease(second.rows, 60) == [] and queue.extend_lease(reclaimed.rows, 60) == reclaimed.rows
    queue.settle_sent(first, "mag-1", 200)
    assert queue.extend_lease(first.rows, 60) == []  # settled rows are no longer leased
