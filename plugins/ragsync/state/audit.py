"""The audit trail in ``rag_sync_log``: what the pipeline did and who asked for it, never the documents."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ragsync.db import Database
from ragsync.state.clock import Clock, SystemClock

log = logging.getLogger(__name__)

LEVELS = ("debug", "info", "warning", "error")
EVENTS = (
    "batch_sent",
    "batch_failed",
    "item_dead",
    "superseded",
    "queue_cancelled",
    "breaker_opened",
    "breaker_closed",
    "breaker_half_open",
    "delivery_paused",
    "manual_retry",
    "manual_clear",
    "stuck_reset",
    "cleanup",
    "sync_started",
    "sync_finished",
    "connection_test",
    "delivery_stopped",
)
MAX_MESSAGE_CHARS = 4000

_COLUMNS = "id, created_at, level, event, entity_type, batch_id, username, message, details"


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit trail."""

    id: int
    created_at: datetime
    level: str
    event: str
    entity_type: str | None
    batch_id: str | None
    username: str | None
    message: str
    details: dict[str, Any] | None


def _entry(row: tuple[Any, ...]) -> AuditEntry:
    details = json.loads(row[8]) if row[8] else None
    return AuditEntry(int(row[0]), row[1], row[2], row[3], row[4], row[5], row[6], row[7], details)


class AuditLog:
    """Append to and read the audit trail."""

    INSERT_SQL = (
        "INSERT INTO rag_sync_log (created_at, level, event, entity_type, batch_id, username, message, details)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    )

    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self.db = db
        self.clock = clock or SystemClock()

    def row(
        self,
        event: str,
        message: str,
        level: str = "info",
        entity_type: str | None = None,
        batch_id: str | None = None,
        username: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> tuple[Any, ...]:
        """Return the parameters of one audit row (for callers that insert it inside their own transaction)."""
        if level not in LEVELS:
            raise ValueError(f"audit level must be one of {', '.join(LEVELS)}; got {level!r}")
        return (
            self.clock.now(),
            level,
            event[:48],
            entity_type,
            batch_id,
            username,
            message[:MAX_MESSAGE_CHARS],
            json.dumps(details, sort_keys=True, default=str) if details is not None else None,
        )

    def write(
        self,
        event: str,
        message: str,
        level: str = "info",
        entity_type: str | None = None,
        batch_id: str | None = None,
        username: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> int:
        """Append one entry and return its id (in the caller's transaction, if one is open)."""
        params = self.row(event, message, level, entity_type, batch_id, username, details)
        with self.db.cursor() as cur:
            cur.execute(self.INSERT_SQL, params)
            return int(cur.lastrowid)

    def write_many(self, rows: list[tuple[Any, ...]]) -> int:
        """Append several entries built with :meth:`row` in one statement."""
        return self.db.executemany(self.INSERT_SQL, rows)

    def recent(self, limit: int = 100, event: str | None = None, before_id: int | None = None) -> list[AuditEntry]:
        """Return the newest entries first; page with ``before_id`` (the last id of the previous page)."""
        where: list[str] = []
        params: list[Any] = []
        if event is not None:
            where.append("event = %s")
            params.append(event)
        if before_id is not None:
            where.append("id < %s")
            params.append(before_id)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        params.append(max(1, min(int(limit), 10_000)))
        rows = self.db.query(
            f"SELECT {_COLUMNS} FROM rag_sync_log{clause} ORDER BY id DESC LIMIT %s", params
        )
        return [_entry(r) for r in rows]
