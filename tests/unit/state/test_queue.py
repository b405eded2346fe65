"""The queue against a real MariaDB: deduplication, skip rules, claims, lease-guarded settles, housekeeping."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest

from ragsync.db import Database
from ragsync.delivery.policy import retry_schedule
from ragsync.documents.model import Document
from ragsync.settings import QueueSettings
from ragsync.state.audit import AuditLog
from ragsync.state.clock import ManualClock
from ragsync.state.ledger import Ledger
from ragsync.state.queue import QueueRepository
from ragsync.state.queue_rows import Claim, SettleResult
from ragsync.state.queue_view import QueueView

START = datetime(2026, 1, 2, 10, 30)


def doc(i: int | str, store: int = 1, **data: Any) -> Document:
    return Document("product", str(i), store, "save", {"name": f"p{i}", **data}, START)


def gone(i: int | str, store: int = 1) -> Document:
    return Document.delete("product", i, store, START)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def queue(ragsync_db: Database, clock: ManualClock) -> QueueRepository:
    return QueueRepository(ragsync_db, clock, QueueSettings(), rng=random.Random(5))


def rows(db: Database) -> list[dict[str, Any]]:
    return db.query_dicts("SELECT q.id, entity_id, store_id, action, status, content_hash, attempts, next_attempt_at,"
                          " source, sequence, d.document FROM rag_sync_queue q"
                          " LEFT JOIN rag_sync_queue_document d ON d.queue_id = q.id ORDER BY q.id")


def fail(queue: QueueRepository, claim: Claim, http_status: int, error: str,
         settings: QueueSettings | None = None, retry_after_seconds: float | None = None) -> SettleResult:
    """Settle a failed attempt as delivery does: the retry policy decides when, the queue writes it."""
    schedule = retry_schedule(claim.rows, settings or QueueSettings(), queue.clock.now(), random.Random(5),
                              retry_after_seconds)
    return queue.settle_failed(claim, http_status, error, retry_at=schedule)


def deliver_all(queue: QueueRepository) -> None:
    claim = queue.claim_due(1000, 60)
    queue.settle_sent(claim, "mag-test", 200)


def test_enqueue_writes_the_item_json_and_counts(queue: QueueRepository, ragsync_db: Database) -> None:
    result = queue.enqueue([doc(1), doc(2, store=2), gone(3)], source="full")
    assert (result.queued, result.skipped_absent_delete) == (2, 1)
    stored = rows(ragsync_db)
    assert [(r["entity_id"], r["store_id"], r["status"], r["source"]) for r in stored] == [
        ("1", 1, "pending", "full"), ("2", 2, "pending", "full")]
    assert stored[0]["document"] == doc(1).item_json(stored[0]["sequence"])
    assert stored[0]["content_hash"] == doc(1).hash
    assert stored[0]["next_attempt_at"] == START


def test_ten_changes_before_delivery_leave_one_row_with_the_last_state(queue: QueueRepository,
                                                                      ragsync_db: Database) -> None:
    for version in range(10):
        queue.enqueue([doc(7, version=version)])
    # and ten in one call
    result = queue.enqueue([doc(8, version=v) for v in range(10)])
    assert (result.queued, result.replaced) == (1, 9)
    stored = {r["entity_id"]: r for r in rows(ragsync_db)}
    assert len(stored) == 2
    assert stored["7"]["content_hash"] == doc(7, version=9).hash
    assert stored["8"]["content_hash"] == doc(8, version=9).hash


def test_same_content_again_is_already_queued_and_keeps_backoff(queue: QueueRepository, ragsync_db: Database,
                                                                clock: ManualClock) -> None:
    queue.enqueue([doc(1)])
    claim = queue.claim_due(10, 60)
    fail(queue, claim, 503, "down")
    before = rows(ragsync_db)[0]
    assert before["status"] == "failed" and before["attempts"] == 1
    result = queue.enqueue([doc(1)], source="full")
    assert result.already_queued == 1 and result.written == 0
    after = rows(ragsync_db)[0]
    assert (after["attempts"], after["next_attempt_at"], after["status"]) == (1, before["next_attempt_at"], "failed")
    # a real change resets the retry budget and makes it due now
    queue.enqueue([doc(1, price=2)])
    changed = rows(ragsync_db)[0]
    assert (changed["status"], changed["attempts"], changed["next_attempt_at"]) == ("pending", 0, START)
    # force resets even without a change
    queue.claim_due(10, 60)


def test_force_requeues_unchanged_and_resets_a_failed_row(queue: QueueRepository, ragsync_db: Database) -> None:
    queue.enqueue([doc(1)])
    fail(queue, queue.claim_due(10, 60), 503, "down")
    result = queue.enqueue([doc(1)], force=True, source="manual")
    assert result.replaced == 1
    row = rows(ragsync_db)[0]
    assert (row["status"], row["attempts"], row["source"]) == ("pending", 0, "manual")


def test_unchanged_documents_are_skipped_forced_ones_are_queued(queue: QueueRepository,
                                                                ragsync_db: Database) -> None:
    docs = [doc(i) for i in range(20)]
    queue.enqueue(docs)
    deliver_all(queue)
    result = queue.enqueue(docs, source="full")
    assert (result.skipped_unchanged, result.written) == (20, 0)
    forced = queue.enqueue(docs, source="full", force=True)
    assert forced.queued == 20
    assert ragsync_db.scalar("SELECT COUNT(*) FROM rag_sync_queue WHERE status = 'pending'") == 20


def test_dead_hash_is_not_revived_until_it_changes(queue: QueueRepository, ragsync_db: Database) -> None:
    queue.enqueue([doc(1)])
    queue.settle_dead(queue.claim_due(10, 60), 422, "bad item")
    assert queue.enqueue([doc(1)]).skipped_dead == 1
    assert queue.enqueue([doc(1)], force=True).queued == 1
    ragsync_db.execute("DELETE FROM rag_sync_queue WHERE status = 'pending'")
    assert queue.enqueue([doc(1, fixed=True)]).queued == 1


def test_deletes_need_a_live_delivery(queue: QueueRepository, ragsync_db: Database) -> None:
    assert queue.enqueue([gone(1)]).skipped_absent_delete == 1
    assert queue.enqueue([gone(1)], force=True).queued == 1
    ragsync_db.execute("DELETE FROM rag_sync_queue")
    queue.enqueue([doc(2)])
    deliver_all(queue)
    assert queue.enqueue([gone(2)]).queued == 1
    deliver_all(queue)
    assert Ledger(ragsync_db).delivered_hashes([("product", "2", 1)])[("product", "2", 1)][1] is True
    assert queue.enqueue([gone(2)]).skipped_absent_delete == 1  # already a tombstone


def test_a_delete_of_a_never_delivered_save_cancels_it(queue: QueueRepository, ragsync_db: Database) -> None:
    queue.enqueue([doc(1)])
    result = queue.enqueue([gone(1)])  # the backend never had it: nothing to send at all
    assert (result.cancelled_reverted, result.written) == (1, 0)
    assert rows(ragsync_db) == []


def test_a_delete_after_a_failed_attempt_of_the_save_is_sent(queue: QueueRepository, ragsync_db: Database) -> None:
    queue.enqueue([doc(1)])
    fail(queue, queue.claim_due(10, 60), 504, "timed out")  # the backend may hold it now
    result = queue.enqueue([gone(1)])
    assert (result.replaced, result.cancelled_reverted) == (1, 0)
    assert [(r["action"], r["status"]) for r in rows(ragsync_db)] == [("delete", "pending")]


def test_a_reverted_change_follows_an_in_flight_one(queue: QueueRepository, ragsync_db: Database) -> None:
    queue.enqueue([doc(1)])
    deliver_all(queue)
    queue.enqueue([doc(1, price=2)])
    queue.claim_due(10, 60)  # v2 in flight
    result = queue.enqueue([doc(1)])  # back to the delivered content: must still follow v2
    assert result.queued == 1


def test_a_change_while_processing_becomes_a_new_row_claimed_after_settle(queue: QueueRepository,
                                                                           ragsync_db: Database) -> None:
    queue.enqueue([doc(1)])
    first = queue.claim_due(10, 60)
    assert queue.enqueue([doc(1, price=2)]).queued == 1
    assert [r["status"] for r in rows(ragsync_db)] == ["processing", "pending"]
    assert not queue.claim_due(10, 60)  # the newer version waits for the one in flight
    queue.settle_sent(first, "mag-1", 200)
    second = queue.claim_due(10, 60)
    assert [r.content_hash for r in second.rows] == [doc(1, price=2).hash]


def test_failed_settle_next_to_a_newer_open_row_is_superseded_with_a_trace(
        queue: QueueRepository, ragsync_db: Database) -> None:
    queue.enqueue([doc(1)])
    claim = queue.claim_due(10, 60)
    queue.enqueue([doc(1, price=2)])
    result = fail(queue, claim, 503, "down")
    assert (result.failed, result.superseded) == (0, 1)
    remaining = rows(ragsync_db)
    assert [(r["status"], r["content_hash"]) for r in remaining] == [("pending", doc(1, price=2).hash)]
    trace = AuditLog(ragsync_db).recent(10, event="superseded")
    assert len(trace) == 1
    assert trace[0].details is not None
    assert trace[0].details["queue_id"] == claim.rows[0].id
    assert trace[0].details["newer_queue_id"] == remaining[0]["id"]
    assert trace[0].details["hash"] == doc(1).hash


def test_release_next_to_a_newer_open_row_is_superseded(queue: QueueRepository, ragsync_db: Database) -> None:
    queue.enqueue([doc(1), doc(2)])
    claim = queue.claim_due(10, 60)
    queue.enqueue([doc(1, price=2)])
    result = queue.release(claim)
    assert (result.released, result.superseded) == (1, 1)
    assert sorted((r["entity_id"], r["status"], r["attempts"]) for r in rows(ragsync_db)) == [
        ("1", "pending", 0), ("2", "pending", 0)]


def test_claim_takes_due_rows_oldest_first_and_skips_locked_ones(queue: QueueRepository, ragsync_db: Database,
                                                                 clock: ManualClock, db_factory: Any) -> None:
    queue.enqueue([doc(i) for i in range(5)])
    clock.advance(seconds=1)
    queue.enqueue([doc(i) for i in range(5, 8)])
    first = queue.claim_due(3, 60)
    assert [r.entity_id for r in first.rows] == ["0", "1", "2"]
    assert all(r.lease_token == first.lease_token for r in first.rows)
    assert first.lease_expires_at == clock.now() + timedelta(seconds=60)
    other = QueueRepository(Database(ragsync_db.params), clock)
    second = other.claim_due(100, 60)
    assert [r.entity_id for r in second.rows] == ["3", "4", "5", "6", "7"]
    assert not queue.claim_due(10, 60)


def test_claim_ignores_rows_not_yet_due_and_takes_failed_ones_when_due(queue: QueueRepository,
                                                                        clock: ManualClock) -> None:
    queue.enqueue([doc(1)])
    fail(queue, queue.claim_due(10, 60), 503, "down")
    assert not queue.claim_due(10, 60)
    clock.advance(minutes=6)  # 5 minutes ± 10%
    assert [r.entity_id for r in queue.claim_due(10, 60).rows] == ["1"]


def test_a_row_without_a_stored_document_goes_dead_with_the_reason_and_the_rest_is_claimed(
        queue: QueueRepository, ragsync_db: Database) -> None:
    queue.enqueue([doc(i) for i in range(3)])
    lost = int(ragsync_db.scalar("SELECT id FROM rag_sync_queue WHERE entity_id = '1'"))
    ragsync_db.execute("DELETE FROM rag_sync_queue_document WHERE queue_id = %s", (lost,))
    claim = queue.claim_due(10, 60)
    assert [r.entity_id for r in claim.rows] == ["0", "2"]
    assert all(r.document.startswith(b"{") for r in claim.rows)
    row = QueueView(ragsync_db).get(lost)
    assert row is not None and row["status"] == "dead" and row["lease_token"] is None
    assert "no document stored" in row["last_error"] and "queue the entity again" in row["last_error"]
    # a claim that only finds such rows buries them and looks again instead of stopping early
    queue.enqueue([doc(7)])
    only = int(ragsync_db.scalar("SELECT id FROM rag_sync_queue WHERE entity_id = '7'"))
    ragsync_db.execute("DELETE FROM rag_sync_queue_document WHERE queue_id = %s", (only,))
    queue.enqueue([doc(8)])
    assert [r.entity_id for r in queue.claim_due(1, 60).rows] == ["8"]


def test_shards_partition_the_rows(queue: QueueRepository) -> None:
    queue.enqueue([doc(i) for i in range(40)])
    claimed = [queue.claim_due(100, 60, shard=s, shards=3) for s in range(3)]
    ids = [[r.id for r in c.rows] for c in claimed]
    assert sum(len(i) for i in ids) == 40
    for shard, shard_ids in enumerate(ids):
        assert shard_ids and all(i % 3 == shard for i in shard_ids)
    with pytest.raises(ValueError):
        queue.claim_due(10, 60, shard=3, shards=3)


def test_settle_is_guarded_by_the_lease_token(queue: QueueRepository, ragsync_db: Database,
                                              clock: ManualClock) -> None:
    queue.enqueue([doc(1)])
    stale = queue.claim_due(10, 60)
    clock.advance(seconds=61)
    assert queue.reset_stuck().released == 1
    fresh = queue.claim_due(10, 60)
    assert fresh.lease_token != stale.lease_token
    assert queue.settle_sent(stale, "mag-old", 200).stale == 1
    assert fail(queue, stale, 503, "x").stale == 1
    assert queue.settle_dead(stale, 422, "x").stale == 1
    assert queue.release(stale).stale == 1
    assert rows(ragsync_db)[0]["status"] == "processing"
    assert queue.settle_sent(fresh, "mag-new", 200).sent == 1
    assert Ledger(ragsync_db).delivered_hashes([("product", "1", 1)]) == {("product", "1", 1): (doc(1).hash, False)}


def test_settle_failed_follows_the_schedule_then_dead(ragsync_db: Database, clock: ManualClock) -> None:
    settings = QueueSettings(max_retries=3, retry_delays_minutes=(5, 15, 60))
    queue = QueueRepository(ragsync_db, clock)
    queue.enqueue([doc(1)])
    for attempt, minutes in enumerate((5, 15, 60), start=1):
        fail(queue, queue.claim_due(10, 60), 503, f"down {attempt}", settings)
        row = rows(ragsync_db)[0]
        assert (row["status"], row["attempts"]) == ("failed", attempt)
        wait = (row["next_attempt_at"] - clock.now()).total_seconds()
        assert minutes * 60 * 0.9 <= wait <= minutes * 60 * 1.1
        clock.set(row["next_attempt_at"])
    result = fail(queue, queue.claim_due(10, 60), 503, "down 4", settings)
    assert result.dead == 1
    row = ragsync_db.query_dicts("SELECT status, attempts, last_error, last_http_status FROM rag_sync_queue")[0]
    assert row == {"status": "dead", "attempts": 4, "last_error": "down 4", "last_http_status": 503}
    ledger = Ledger(ragsync_db).lookup([("product", "1", 1)])[("product", "1", 1)]
    assert (ledger.failed_status, ledger.failed_hash) == ("dead", doc(1).hash)
    assert [e.event for e in AuditLog(ragsync_db).recent(10)][:2] == ["batch_failed", "item_dead"]


def test_settle_failed_writes_the_times_it_is_told_and_none_is_dead(queue: QueueRepository, ragsync_db: Database,
                                                                     clock: ManualClock) -> None:
    queue.enqueue([doc(1), doc(2)])
    claim = queue.claim_due(10, 60)
    first, second = claim.rows
    later = clock.now() + timedelta(minutes=7, seconds=3)
    with pytest.raises(ValueError, match=f"no retry decision for queue rows {second.id}"):
        queue.settle_failed(claim, 503, "down", retry_at={first.id: later})
    assert [r["status"] for r in rows(ragsync_db)] == ["processing", "processing"]  # nothing written
    result = queue.settle_failed(claim, 503, "down", retry_at={first.id: later, second.id: None})
    assert (result.failed, result.dead, result.settled_ids) == (1, 1, [first.id, second.id])
    assert [(r["status"], r["attempts"], r["next_attempt_at"]) for r in rows(ragsync_db)] == [
        ("failed", 1, later), ("dead", 1, START)]


def test_retry_after_only_pushes_the_next_attempt_later(queue: QueueRepository, ragsync_db: Database,
                                                         clock: ManualClock) -> None:
    queue.enqueue([doc(1), doc(2)])
    claim = queue.claim_due(1, 60)
    fail(queue, claim, 429, "slow down", retry_after_seconds=3600)
    assert rows(ragsync_db)[0]["next_attempt_at"] == clock.now() + timedelta(seconds=3600)
    fail(queue, queue.claim_due(1, 60), 429, "slow down", retry_after_seconds=10)
    wait = (rows(ragsync_db)[1]["next_attempt_at"] - clock.now()).total_seconds()
    assert 270 <= wait <= 330  # the schedule's 5 minutes win over a shorter Retry-After


def test_reset_stuck_returns_only_expired_leases(queue: QueueRepository, ragsync_db: Database,
                                                 clock: ManualClock) -> None:
    queue.enqueue([doc(1), doc(2)])
    queue.claim_due(1, 60)
    clock.advance(seconds=30)
    queue.claim_due(1, 60)
    clock.advance(seconds=31)
    result = queue.reset_stuck()
    assert result.released == 1
    assert [(r["entity_id"], r["status"], r["attempts"]) for r in rows(ragsync_db)] == [
        ("1", "pending", 0), ("2", "processing", 0)]


def test_reset_stuck_supersedes_when_a_newer_version_is_queued(queue: QueueRepository, ragsync_db: Database,
                                                               clock: ManualClock) -> None:
    queue.enqueue([doc(1)])
    queue.claim_due(1, 60)
    queue.enqueue([doc(1, price=3)])
    clock.advance(seconds=61)
    result = queue.reset_stuck()
    assert (result.released, result.superseded) == (0, 1)
    assert [(r["status"], r["content_hash"]) for r in rows(ragsync_db)] == [("pending", doc(1, price=3).hash)]


def test_cleanup_deletes_only_old_sent_rows(queue: QueueRepository, ragsync_db: Database,
                                            clock: ManualClock) -> None:
    queue.enqueue([doc(i) for i in range(6)])
    queue.settle_sent(queue.claim_due(2, 60), "mag-a", 200)           # 0, 1 sent long ago
    queue.settle_dead(queue.claim_due(1, 60), 422, "bad")             # 2 dead long ago
    fail(queue, queue.claim_due(1, 60), 503, "down")          # 3 failed long ago
    clock.advance(hours=24 * 8)
    queue.settle_sent(queue.claim_due(1, 60), "mag-b", 200)           # 4 sent now
    assert queue.cleanup_sent(7) == 2
    assert sorted((r["entity_id"], r["status"]) for r in rows(ragsync_db)) == [
        ("2", "dead"), ("3", "failed"), ("4", "sent"), ("5", "pending")]


def test_retry_reopens_failed_and_dead_with_a_fresh_budget(queue: QueueRepository, ragsync_db: Database,
                                                           clock: ManualClock) -> None:
    queue.enqueue([doc(1), doc(2), doc(3)])
    fail(queue, queue.claim_due(1, 60), 503, "down")
    queue.settle_dead(queue.claim_due(1, 60), 422, "bad")
    clock.advance(minutes=1)
    result = queue.retry(("failed", "dead"))
    assert result.released == 2
    assert [(r["status"], r["attempts"], r["next_attempt_at"]) for r in rows(ragsync_db)] == [
        ("pending", 0, clock.now()), ("pending", 0, clock.now()), ("pending", 0, START)]
    with pytest.raises(ValueError):
        queue.retry(("sent",))


def test_retry_of_a_dead_row_with_a_newer_open_version_supersedes_it(queue: QueueRepository,
                                                                     ragsync_db: Database) -> None:
    queue.enqueue([doc(1)])
    claim = queue.claim_due(1, 60)
    queue.enqueue([doc(1, price=2)])
    queue.settle_dead(claim, 422, "bad")
    result = queue.retry(("dead",), username="alice")
    assert (result.released, result.superseded) == (0, 1)
    assert [r["content_hash"] for r in rows(ragsync_db)] == [doc(1, price=2).hash]
    entry = AuditLog(ragsync_db).recent(1, event="superseded")[0]
    assert entry.username == "alice"


def test_retry_by_ids_and_clear_by_status(queue: QueueRepository, ragsync_db: Database) -> None:
    queue.enqueue([doc(i) for i in range(4)])
    queue.settle_dead(queue.claim_due(4, 60), 422, "bad")
    ids = [r["id"] for r in rows(ragsync_db)]
    assert queue.retry(("dead",), ids=ids[:2]).released == 2
    assert queue.counts_by_status() == {"pending": 2, "processing": 0, "sent": 0, "failed": 0, "dead": 2}
    assert queue.clear("dead") == 2
    assert queue.delete([ids[0]]) == 1
    assert queue.clear("all") == 1
    with pytest.raises(ValueError):
        queue.clear("everything")


def test_get_and_page(queue: QueueRepository, ragsync_db: Database) -> None:
    queue.enqueue([doc(i) for i in range(30)] + [Document("category", "5", 1, "save", {"n": 1}, START)])
    queue.settle_dead(queue.claim_due(3, 60), 422, "bad")
    view = QueueView(ragsync_db)
    first = ragsync_db.scalar("SELECT MIN(id) FROM rag_sync_queue")
    row = view.get(first)
    sequence = ragsync_db.scalar("SELECT sequence FROM rag_sync_queue WHERE id = %s", (first,))
    assert row is not None and row["document"] == doc(0).item_json(sequence)
    page = view.page(status="pending", entity_type="product", limit=10)
    assert page.total == 27 and len(page.rows) == 10 and "document" not in page.rows[0]
    ids = [r["id"] for r in page.rows]
    assert ids == sorted(ids, reverse=True)
    second = view.page(status="pending", entity_type="product", limit=10, after=page.next_after)
    assert [r["id"] for r in second.rows] == list(range(ids[-1] - 1, ids[-1] - 11, -1))
    by_offset = view.page(status="pending", entity_type="product", limit=10, offset=10)
    assert [r["id"] for r in by_offset.rows] == [r["id"] for r in second.rows]
    by_entity = view.page(sort="entity_id", descending=False, limit=5)
    assert [r["entity_id"] for r in by_entity.rows] == ["0", "1", "10", "11", "12"]
    after = view.page(sort="entity_id", descending=False, limit=5, after=by_entity.next_after)
    assert [r["entity_id"] for r in after.rows] == ["13", "14", "15", "16", "17"]
    assert view.page(action="delete").total == 0
    assert [r["status"] for r in view.page(sort="status", limit=1).rows] == ["pending"]
    with pytest.raises(ValueError):
        view.page(sort="document; DROP TABLE x")
