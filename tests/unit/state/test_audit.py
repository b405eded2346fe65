"""The audit log, watermarks and sync runs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ragsync.db import Database
from ragsync.state.audit import AuditLog
from ragsync.state.clock import ManualClock
from ragsync.state.runs import SyncRuns
from ragsync.state.watermarks import Watermarks


def test_audit_write_and_recent_pages_newest_first(ragsync_db: Database) -> None:
    log = AuditLog(ragsync_db, ManualClock(datetime(2026, 1, 1)))
    ids = [log.write("batch_sent", f"sent {i}", batch_id=f"mag-{i}", details={"items": i}) for i in range(5)]
    log.write("manual_retry", "retry", username="alice", level="warning")
    recent = log.recent(3)
    assert [e.event for e in recent] == ["manual_retry", "batch_sent", "batch_sent"]
    assert recent[0].username == "alice" and recent[0].level == "warning"
    assert recent[1].details == {"items": 4}
    older = log.recent(10, event="batch_sent", before_id=ids[2])
    assert [e.id for e in older] == [ids[1], ids[0]]
    with pytest.raises(ValueError):
        log.write("x", "y", level="loud")


def test_watermarks(ragsync_db: Database) -> None:
    marks = Watermarks(ragsync_db)
    assert marks.get("product") is None
    marks.set("product", datetime(2026, 1, 1, 10, 0, 0, 123456))
    marks.set("category", datetime(2026, 1, 1, 12, tzinfo=UTC))
    marks.set("product", datetime(2026, 1, 2))
    assert marks.get("product") == datetime(2026, 1, 2)
    assert marks.all() == {"product": datetime(2026, 1, 2), "category": datetime(2026, 1, 1, 12)}


def test_sync_runs(ragsync_db: Database) -> None:
    clock = ManualClock(datetime(2026, 1, 1))
    runs = SyncRuns(ragsync_db, clock)
    first = runs.start("product", "full")
    clock.advance(minutes=2)
    runs.finish(first, "success", {"queued": 3})
    second = runs.start("product", "incremental")
    latest = runs.latest("product")
    assert latest is not None and latest.id == second and latest.status == "running"
    full = runs.latest("product", "full")
    assert full is not None and full.counts == {"queued": 3} and full.finished_at == datetime(2026, 1, 1, 0, 2)
    assert runs.latest("product", status="success") == full
    assert runs.latest("category") is None
    with pytest.raises(ValueError):
        runs.start("product", "weekly")
    with pytest.raises(ValueError):
        runs.finish(second, "running", {})
