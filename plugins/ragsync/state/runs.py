"""Sync runs (``rag_sync_run``): one row per full, incremental or manual sync, for the dashboard."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ragsync.db import Database
from ragsync.state.clock import Clock, SystemClock
from ragsync.vocabulary import RUN_KINDS, RUN_STATUSES

_COLUMNS = "id, entity_type, kind, status, started_at, finished_at, counts, message"


@dataclass(frozen=True)
class SyncRun:
    """One recorded sync run."""

    id: int
    entity_type: str
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, Any]
    message: str | None


def _run(row: tuple[Any, ...]) -> SyncRun:
    return SyncRun(int(row[0]), row[1], row[2], row[3], row[4], row[5], json.loads(row[6]) if row[6] else {},
                   row[7])


class SyncRuns:
    """Record the start and end of sync runs and read the latest ones."""

    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self.db = db
        self.clock = clock or SystemClock()

    def start(self, entity_type: str, kind: str) -> int:
        """Record a running sync and return its id."""
        if kind not in RUN_KINDS:
            raise ValueError(f"run kind must be one of {', '.join(RUN_KINDS)}; got {kind!r}")
        with self.db.cursor() as cur:
            cur.execute(
                "INSERT INTO rag_sync_run (entity_type, kind, status, started_at) VALUES (%s, %s, 'running', %s)",
                (entity_type, kind, self.clock.now()),
            )
            return int(cur.lastrowid)

    def finish(self, run_id: int, status: str, counts: dict[str, Any], message: str | None = None) -> None:
        """Record how a run ended, with its counts."""
        if status not in RUN_STATUSES or status == "running":
            raise ValueError(f"a finished run's status must be success, failed or aborted; got {status!r}")
        self.db.execute(
            "UPDATE rag_sync_run SET status = %s, finished_at = %s, counts = %s, message = %s WHERE id = %s",
            (status, self.clock.now(), json.dumps(counts, sort_keys=True, default=str), message, run_id),
        )

    def get(self, run_id: int) -> SyncRun | None:
        """Return one run by id."""
        rows = self.db.query(f"SELECT {_COLUMNS} FROM rag_sync_run WHERE id = %s", (run_id,))
        return _run(rows[0]) if rows else None

    def latest(self, entity_type: str, kind: str | None = None, status: str | None = None) -> SyncRun | None:
        """Return the newest run of a type (optionally of one kind and status)."""
        where, params = ["entity_type = %s"], [entity_type]
        if kind is not None:
            where.append("kind = %s")
            params.append(kind)
        if status is not None:
            where.append("status = %s")
            params.append(status)
        rows = self.db.query(
            f"SELECT {_COLUMNS} FROM rag_sync_run WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT 1", params
        )
        return _run(rows[0]) if rows else None
