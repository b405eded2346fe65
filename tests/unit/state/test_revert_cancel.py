"""A change reverted before delivery cancels the open row instead of sending what the backend has again."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest
from tests.unit.state.test_queue import START, doc, gone

from ragsync.db import Database
from ragsync.delivery.policy import retry_schedule
from ragsync.documents.model import Document
from ragsync.settings import QueueSettings
from ragsync.state.audit import AuditLog
from ragsync.state.clock import ManualClock
from ragsync.state.intake import Intake, OpenRow
from ragsync.state.ledger import Key
from ragsync.state.queue import QueueRepository


@pytest.fixture
def queue(ragsync_db: Database) -> QueueRepository:
    return QueueRepository(ragsync_db, ManualClock(START), QueueSettings(), rng=random.Random(5))


def deliver_all(queue: QueueRepository) -> None:
    queue.settle_sent(queue.claim_due(1000, 60), "mag-test", 200)


def open_rows(db: Database) -> list[tuple[Any, ...]]:
    return db.query("SELECT entity_id, status, content_hash FROM rag_sync_queue WHERE status IN ('pending', 'failed')"
                    " ORDER BY entity_id")


def cancelled_entries(db: Database) -> list[Any]:
    return [e for e in AuditLog(db).recent(100) if e.event == "queue_cancelled"]


def test_a_change_reverted_before_delivery_removes_the_open_row_with_a_trace(
        queue: QueueRepository, ragsync_db: Database) -> None:
    queue.enqueue([doc(1)])
    deliver_all(queue)  # the backend has A
    assert queue.enqueue([doc(1, price=2)]).queued == 1  # B pending
    pending_id = int(ragsync_db.scalar("SELECT id FROM rag_sync_queue WHERE status = 'pending'") or 0)

    result = queue.enqueue([doc(1)])  # back to A before B was delivered
    assert (result.cancelled_reverted, result.written, result.skipped) == (1, 0, 0)
    assert open_rows(ragsync_db) == []
    assert ragsync_db.scalar("SELECT COUNT(*) FROM rag_sync_queue_document WHERE queue_id = %s", (pending_id,)) == 0
    assert not queue.claim_due(10, 60)
    [entry] = cancelled_entries(ragsync_db)
    assert entry.entity_type == "product" and "changed back" in entry.message
    assert entry.details is not None
    assert {k: entry.details[k] for k in ("queue_id", "entity_id", "store_id", "action", "status", "hash",
                                          "reverted_to_hash", "reason")} == {
        "queue_id": pending_id, "entity_id": "1", "store_id": 1, "action": "save", "status": "pending",
        "hash": doc(1, price=2).hash, "reverted_to_hash": doc(1).hash, "reason": "reverted to the delivered version"}

    # the same read again: the backend has it, nothing is open, so it is simply unchanged
    again = queue.enqueue([doc(1)])
    assert (again.skipped_unchanged, again.cancelled_reverted, again.written) == (1, 0, 0)


def test_a_reverted_change_after_a_failed_attempt_is_sent_not_cancelled(queue: QueueRepository,
                                                                         ragsync_db: Database) -> None:
    queue.enqueue([doc(1)])
    deliver_all(queue)
    queue.enqueue([doc(1, price=2)])
    claim = queue.claim_due(10, 60)
    queue.settle_failed(claim, 503, "down", retry_at=retry_schedule(claim.rows, QueueSettings(), START,
                                                                    random.Random(5)))
    assert [r[1] for r in open_rows(ragsync_db)] == ["failed"]
    # the failed POST may have stored B on the backend: A is sent again to be sure
    result = queue.enqueue([doc(1)])
    assert (result.replaced, result.cancelled_reverted) == (1, 0)
    assert open_rows(ragsync_db) == [("1", "pending", doc(1).hash)] and cancelled_entries(ragsync_db) == []


def test_a_reverted_change_after_a_lease_expired_mid_send_is_sent(queue: QueueRepository,
                                                                  ragsync_db: Database) -> None:
    queue.enqueue([doc(1)])
    deliver_all(queue)
    queue.enqueue([doc(1, price=2)])
    queue.claim_due(10, 60)  # a worker takes B and dies after its POST
    queue.clock.advance(minutes=5)  # type: ignore[attr-defined]
    assert queue.reset_stuck().released == 1
    result = queue.enqueue([doc(1)])
    assert (result.replaced, result.cancelled_reverted) == (1, 0)


def test_a_reverted_change_follows_a_row_in_flight(queue: QueueRepository, ragsync_db: Database) -> None:
    queue.enqueue([doc(1)])
    deliver_all(queue)
    queue.enqueue([doc(1, price=2)])
    queue.claim_due(10, 60)  # B in flight
    queue.enqueue([doc(1, price=3)])  # C pending behind it
    result = queue.enqueue([doc(1)])  # back to A: B may still land, so A must follow it
    assert (result.replaced, result.cancelled_reverted) == (1, 0)
    assert open_rows(ragsync_db) == [("1", "pending", doc(1).hash)]
    assert cancelled_entries(ragsync_db) == []


def test_force_writes_the_reverted_version(queue: QueueRepository, ragsync_db: Database) -> None:
    queue.enqueue([doc(1)])
    deliver_all(queue)
    queue.enqueue([doc(1, price=2)])
    result = queue.enqueue([doc(1)], force=True, source="manual")
    assert (result.replaced, result.cancelled_reverted) == (1, 0)
    assert open_rows(ragsync_db) == [("1", "pending", doc(1).hash)]


def test_deletes_and_undeletes_before_delivery_cancel(queue: QueueRepository, ragsync_db: Database) -> None:
    queue.enqueue([doc(1), doc(2)])
    deliver_all(queue)  # the backend has 1 and 2
    queue.enqueue([gone(1), doc(3)])  # 1 deleted, 3 created (never delivered)
    # 1 comes back as it was, 3 is deleted again: the backend is already in both states
    result = queue.enqueue([doc(1), gone(3), doc(2, price=9)])
    assert (result.cancelled_reverted, result.queued, result.written_deletes) == (2, 1, 0)
    assert open_rows(ragsync_db) == [("2", "pending", doc(2, price=9).hash)]
    assert {(e.details or {}).get("entity_id") for e in cancelled_entries(ragsync_db)} == {"1", "3"}


def test_a_planned_cancel_writes_nothing(queue: QueueRepository, ragsync_db: Database) -> None:
    queue.enqueue([doc(1)])
    deliver_all(queue)
    queue.enqueue([doc(1, price=2)])
    before = ragsync_db.query("SELECT id, status, content_hash FROM rag_sync_queue ORDER BY id")
    planned = queue.plan([doc(1), doc(2), doc(1, price=2)])
    # one document per key and chunk: the last doc(1) is already queued, the first was replaced by it
    assert (planned.replaced, planned.queued, planned.already_queued) == (1, 1, 1)
    assert queue.plan([doc(1)]).cancelled_reverted == 1
    assert [v for _d, v in queue.decisions([doc(1), gone(9)])] == ["cancelled_reverted", "skipped_absent_delete"]
    assert ragsync_db.query("SELECT id, status, content_hash FROM rag_sync_queue ORDER BY id") == before
    assert cancelled_entries(ragsync_db) == []


class ClaimBeforeCancel(Intake):
    """An intake whose open rows are claimed by another worker right after its decision under the lock."""

    def _cancel(self, documents: Sequence[Document], seen: dict[Key, OpenRow]) -> list[Document]:
        other = QueueRepository(Database(self.db.params), self.clock)
        try:
            assert len(other.claim_due(10, 60).rows) == len(documents)
        finally:
            other.db.close()
        return super()._cancel(documents, seen)


def test_a_row_claimed_between_the_decision_and_the_cancel_is_followed(queue: QueueRepository,
                                                                       ragsync_db: Database) -> None:
    queue.enqueue([doc(1)])
    deliver_all(queue)
    queue.enqueue([doc(1, price=2)])
    racing = ClaimBeforeCancel(ragsync_db, queue.clock, queue.ledger)
    result = racing.enqueue([doc(1)])
    assert (result.queued, result.cancelled_reverted) == (1, 0)
    statuses = ragsync_db.query("SELECT status, content_hash FROM rag_sync_queue WHERE status <> 'sent' ORDER BY id")
    assert statuses == [("processing", doc(1, price=2).hash), ("pending", doc(1).hash)]
    assert cancelled_entries(ragsync_db) == []
