"""Queue housekeeping and manual actions: stuck reset, cleanup, retry, clear, connection test.

Each function is what one DAG task, CLI command or dashboard button calls; each writes the audit
log (with the user's name when one is given) and returns its counts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from ragsync.db import Database
from ragsync.delivery.hook import RagWebhookHook, safe_url
from ragsync.settings import Settings
from ragsync.state.audit import AuditLog
from ragsync.state.clock import Clock, SystemClock
from ragsync.state.queue import QueueRepository
from ragsync.vocabulary import QUEUE_STATUSES

log = logging.getLogger(__name__)

CLEARABLE = (*QUEUE_STATUSES, "all")


def reset_stuck(db: Database, settings: Settings, clock: Clock | None = None) -> dict[str, int]:
    """Return ``processing`` rows whose lease expired (a worker died) to ``pending``."""
    clock = clock or SystemClock()
    result = QueueRepository(db, clock).reset_stuck(clock.now())
    counts = {"reset": result.released, "superseded": result.superseded}
    if result.released or result.superseded:
        AuditLog(db, clock).write(
            "stuck_reset", f"returned {result.released} stuck item(s) to pending"
            + (f"; {result.superseded} superseded by newer versions" if result.superseded else ""),
            level="warning", details=counts)
        log.warning("stuck reset: %d item(s) back to pending, %d superseded", result.released, result.superseded)
    return counts


def cleanup_sent(db: Database, settings: Settings, clock: Clock | None = None,
                 days: float | None = None) -> dict[str, float]:
    """Delete ``sent`` rows older than ``days`` (default: ``queue.cleanup_days``); nothing else."""
    clock = clock or SystemClock()
    keep_days = settings.queue.cleanup_days if days is None else days
    if keep_days < 0:
        raise ValueError("days must be >= 0")
    deleted = QueueRepository(db, clock).cleanup_sent(keep_days)
    AuditLog(db, clock).write("cleanup", f"deleted {deleted} sent item(s) older than {keep_days:g} day(s)",
                              details={"deleted": deleted, "days": keep_days})
    log.info("cleanup: deleted %d sent rows older than %g days", deleted, keep_days)
    return {"deleted": deleted, "days": keep_days}


def retry_items(db: Database, statuses: Sequence[str] = ("failed", "dead"), ids: Sequence[int] | None = None,
                username: str | None = None, clock: Clock | None = None) -> dict[str, int]:
    """Make failed and/or dead rows due now with a fresh retry budget."""
    clock = clock or SystemClock()
    result = QueueRepository(db, clock).retry(tuple(statuses), ids, username)
    counts = {"retried": result.released, "superseded": result.superseded}
    scope = f"{len(ids)} selected" if ids is not None else "all"
    AuditLog(db, clock).write(
        "manual_retry", f"retry of {scope} {'/'.join(statuses)} item(s): {result.released} queued again"
        + (f", {result.superseded} superseded by newer versions" if result.superseded else ""),
        username=username, details={**counts, "statuses": list(statuses), "ids": list(ids) if ids else None})
    return counts


def clear(db: Database, status: str, username: str | None = None, clock: Clock | None = None) -> dict[str, Any]:
    """Delete every queue row of a status (``all``: every row); the ledger is untouched."""
    if status not in CLEARABLE:
        raise ValueError(f"status must be one of {', '.join(CLEARABLE)}; got {status!r}")
    clock = clock or SystemClock()
    deleted = QueueRepository(db, clock).clear(status)
    AuditLog(db, clock).write("manual_clear", f"cleared {deleted} {status} item(s) from the queue",
                              level="warning" if status in ("pending", "processing", "all") else "info",
                              username=username, details={"deleted": deleted, "status": status})
    return {"deleted": deleted, "status": status}


def delete_items(db: Database, ids: Sequence[int], username: str | None = None,
                 clock: Clock | None = None) -> dict[str, int]:
    """Delete queue rows by id (the dashboard's mass Delete)."""
    clock = clock or SystemClock()
    deleted = QueueRepository(db, clock).delete(ids)
    AuditLog(db, clock).write("manual_clear", f"deleted {deleted} selected item(s) from the queue",
                              username=username, details={"deleted": deleted, "ids": list(ids)[:1000]})
    return {"deleted": deleted}


def test_connection(db: Database, hook: RagWebhookHook, username: str | None = None,
                    clock: Clock | None = None) -> dict[str, Any]:
    """POST a signed ping to the webhook, record the answer in the audit log and return it."""
    ok, message = hook.test_connection()
    try:
        endpoint = safe_url(hook.url)
    except Exception:  # noqa: BLE001 - an unconfigured connection is already in the message
        endpoint = None
    AuditLog(db, clock or SystemClock()).write(
        "connection_test", message, level="info" if ok else "error", username=username,
        details={"ok": ok, "endpoint": endpoint})
    return {"ok": ok, "message": message}


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported
