"""Housekeeping and manual actions: stuck reset, cleanup, retry, clear, connection test, with audit entries."""

from __future__ import annotations

import socket
from datetime import datetime
from typing import Any

import pytest

from fixtures.receiver import RECEIVER_SECRET, RECEIVER_TENANT
from ragsync.db import Database
from ragsync.delivery.hook import RagWebhookHook
from ragsync.delivery.policy import retry_schedule
from ragsync.documents.model import Document
from ragsync.pipeline import maintenance
from ragsync.pipeline.deliver import deliver
from ragsync.settings import QueueSettings, Settings
from ragsync.state.audit import AuditLog
from ragsync.state.clock import ManualClock
from ragsync.state.queue import QueueRepository
from ragsync_dev.receiver import ReferenceReceiver

START = datetime(2026, 1, 2, 10, 30)


def doc(i: int, **data: Any) -> Document:
    return Document("product", str(i), 1, "save", {"name": f"p{i}", **data}, START)


def statuses(db: Database) -> dict[str, int]:
    return QueueRepository(db).counts_by_status()


def test_reset_stuck_only_touches_expired_leases_and_is_audited(ragsync_db: Database) -> None:
    clock = ManualClock(START)
    settings = Settings(queue=QueueSettings(stuck_after_minutes=30))
    queue = QueueRepository(ragsync_db, clock)
    queue.enqueue([doc(i) for i in range(4)])
    queue.claim_due(2, 30 * 60)
    clock.advance(minutes=20)
    queue.claim_due(2, 30 * 60)
    clock.advance(minutes=15)
    assert maintenance.reset_stuck(ragsync_db, settings, clock) == {"reset": 2, "superseded": 0}
    assert statuses(ragsync_db)["processing"] == 2
    entry = AuditLog(ragsync_db).recent(1)[0]
    assert entry.event == "stuck_reset" and entry.details == {"reset": 2, "superseded": 0}
    assert maintenance.reset_stuck(ragsync_db, settings, clock)["reset"] == 0


def test_cleanup_deletes_only_sent_rows_older_than_cleanup_days(ragsync_db: Database,
                                                                receiver: ReferenceReceiver) -> None:
    clock = ManualClock(START)
    settings = Settings(queue=QueueSettings(cleanup_days=7))
    hook = RagWebhookHook.from_values(receiver.url, RECEIVER_SECRET, RECEIVER_TENANT)
    queue = QueueRepository(ragsync_db, clock)
    queue.enqueue([doc(i) for i in range(10)])
    receiver.poison(("product", "9"))
    deliver(ragsync_db, hook, settings, clock)  # 9 sent, 1 dead
    queue.enqueue([doc(20)])
    failing = queue.claim_due(1, 60)
    queue.settle_failed(failing, 503, "down", retry_at=retry_schedule(failing.rows, QueueSettings(), clock.now()))
    clock.advance(hours=24 * 8)
    queue.enqueue([doc(30)])
    deliver(ragsync_db, hook, settings, clock)  # 30 and the retried 20 sent now
    before = statuses(ragsync_db)
    assert (before["sent"], before["dead"]) == (11, 1)
    assert maintenance.cleanup_sent(ragsync_db, settings, clock) == {"deleted": 9, "days": 7}
    assert statuses(ragsync_db) == {"pending": 0, "processing": 0, "sent": 2, "failed": 0, "dead": 1}
    clock.advance(seconds=1)
    assert maintenance.cleanup_sent(ragsync_db, settings, clock, days=0)["deleted"] == 2
    assert statuses(ragsync_db)["dead"] == 1
    assert AuditLog(ragsync_db).recent(1)[0].event == "cleanup"


def test_retry_and_clear_are_audited_with_the_user(ragsync_db: Database) -> None:
    clock = ManualClock(START)
    queue = QueueRepository(ragsync_db, clock)
    queue.enqueue([doc(i) for i in range(6)])
    queue.settle_dead(queue.claim_due(2, 60), 422, "bad")
    failing = queue.claim_due(2, 60)
    queue.settle_failed(failing, 503, "down", retry_at=retry_schedule(failing.rows, QueueSettings(), clock.now()))
    assert maintenance.retry_items(ragsync_db, ["dead"], username="alice", clock=clock) == {
        "retried": 2, "superseded": 0}
    entry = AuditLog(ragsync_db).recent(1)[0]
    assert (entry.event, entry.username) == ("manual_retry", "alice")
    failed_ids = [r[0] for r in ragsync_db.query("SELECT id FROM rag_sync_queue WHERE status = 'failed'")]
    assert maintenance.retry_items(ragsync_db, ["failed"], ids=failed_ids[:1], username="bob",
                                   clock=clock)["retried"] == 1
    assert statuses(ragsync_db) == {"pending": 5, "processing": 0, "sent": 0, "failed": 1, "dead": 0}
    assert maintenance.clear(ragsync_db, "failed", username="carol") == {"deleted": 1, "status": "failed"}
    assert maintenance.clear(ragsync_db, "all", username="carol")["deleted"] == 5
    entry = AuditLog(ragsync_db).recent(1)[0]
    assert (entry.event, entry.username, entry.level) == ("manual_clear", "carol", "warning")
    with pytest.raises(ValueError, match="sent, failed, dead"):
        maintenance.clear(ragsync_db, "old")


def test_delete_items_by_id(ragsync_db: Database) -> None:
    queue = QueueRepository(ragsync_db, ManualClock(START))
    queue.enqueue([doc(i) for i in range(3)])
    ids = [r[0] for r in ragsync_db.query("SELECT id FROM rag_sync_queue ORDER BY id")]
    assert maintenance.delete_items(ragsync_db, ids[:2], username="dave") == {"deleted": 2}
    assert statuses(ragsync_db)["pending"] == 1


def test_connection_test_is_audited(ragsync_db: Database, receiver: ReferenceReceiver) -> None:
    good = RagWebhookHook.from_values(receiver.url, RECEIVER_SECRET, RECEIVER_TENANT)
    result = maintenance.test_connection(ragsync_db, good, username="erin")
    assert result["ok"] is True and "HTTP 200" in result["message"]
    entry = AuditLog(ragsync_db).recent(1)[0]
    assert (entry.event, entry.username, entry.level) == ("connection_test", "erin", "info")
    assert entry.details == {"ok": True, "endpoint": receiver.url}

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    bad = RagWebhookHook.from_values(f"http://127.0.0.1:{port}/", RECEIVER_SECRET)
    result = maintenance.test_connection(ragsync_db, bad)
    assert result["ok"] is False
    assert AuditLog(ragsync_db).recent(1)[0].level == "error"
