"""The queue as people read it (``rag_sync_queue``): the dashboard's grid and counts, one row, the CLI's views.

Everything here only reads; the outbox's state machine (enqueue, claim, settle, housekeeping) is
:mod:`ragsync.state.queue`. The grid pages with :meth:`QueueView.page`: keyset pagination where
the sort column is never NULL (constant time at any depth), offsets otherwise, with an index
plan chosen so that no page costs more than one scan of the queue (:func:`page_plan`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ragsync.db import Database
from ragsync.state.clock import Clock, SystemClock
from ragsync.state.ledger import Key
from ragsync.vocabulary import ENTITY_TYPES, OPEN_STATUSES, QUEUE_STATUSES

# Columns of the dashboard's list (no document: it can be megabytes).
LIST_COLUMNS = (
    "id", "entity_type", "entity_id", "store_id", "action", "status", "content_hash", "document_bytes",
    "attempts", "next_attempt_at", "lease_expires_at", "last_http_status", "last_error", "batch_id", "source",
    "created_at", "updated_at", "sent_at",
)
SORTABLE = frozenset(LIST_COLUMNS) - {"last_error"}
NULLABLE_SORTS = frozenset({"lease_expires_at", "last_http_status", "batch_id", "sent_at"})
"""Sortable columns that can be NULL: paged by offset only (keyset needs a total order)."""
# Sorts an index serves in (column, id) order (migrations 001-003). The others change on every
# claim or settle, where an index would cost delivery; they are sorted from a scan.
INDEXED_SORTS = frozenset({"id", "entity_type", "entity_id", "store_id", "action", "content_hash", "document_bytes",
                           "source", "created_at", "updated_at", "sent_at"})
# A filter matching at most this many rows is read through its index and sorted; above it a scan
# of the (narrow) queue rows is cheaper than that many row lookups.
SELECTIVE_FILTER_ROWS = 20_000
FILTER_COLUMNS = ("status", "entity_type", "action")
"""The columns the grid filters on (each by equality)."""
WAITING_STATUSES = OPEN_STATUSES
"""Rows waiting for delivery: their age is the lag the dashboard shows."""
# Per type, the statuses the dashboard counts: waiting, and given up.
_BY_TYPE_STATUSES = (*WAITING_STATUSES, "dead")


@dataclass(frozen=True)
class QueuePage:
    """One page of the dashboard's queue list."""

    rows: list[dict[str, Any]]
    total: int | None
    limit: int
    offset: int
    next_after: tuple[Any, int] | None


def _marks(count: int) -> str:
    return ", ".join(["%s"] * count)


def _filter_sql(status: str | None, entity_type: str | None, action: str | None) -> tuple[list[str], list[Any]]:
    """Return the grid filters' conditions and parameters (in FILTER_COLUMNS order)."""
    where: list[str] = []
    params: list[Any] = []
    for column, value in zip(FILTER_COLUMNS, (status, entity_type, action), strict=True):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    return where, params


def page_plan(sort: str, filtered: bool, matching: int | None) -> str:
    """Return the index hint for one page of the grid, so that no page costs more than a scan.

    Left alone, the optimizer walks the sort column's index and checks the filters row by row,
    or reads the filter's index and looks every match up: fast when matches are dense in that
    order or few, seconds on a million rows when they are neither (a rare status sorted by a
    column whose NULLs come last; 100,000 lookups for a common type). So:

    * without filters, an indexed sort walks its index (it stops after one page) and another
      sort scans and sorts, as the optimizer does anyway;
    * a filter with few matches (``matching`` at most ``SELECTIVE_FILTER_ROWS``) finds them
      through its index and sorts them, never walking a sort index;
    * otherwise an indexed non-NULL sort still walks its index (matches are dense in it), and
      every other sort scans the table once: bounded by the size of the queue, not by how the
      filter and the order happen to correlate.
    """
    if not filtered:
        return ""
    if matching is not None and matching <= SELECTIVE_FILTER_ROWS:
        return " USE INDEX FOR ORDER BY ()"
    if sort in INDEXED_SORTS and sort not in NULLABLE_SORTS:
        return ""
    return " FORCE INDEX (PRIMARY)"


class QueueView:
    """Read the queue for the dashboard and the CLI: counts, one row, pages of rows."""

    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self.db = db
        self.clock = clock or SystemClock()

    # ------------------------------------------------------------------ counts

    def counts_by_status(self) -> dict[str, int]:
        """Return the number of rows per status (every status present, zero when empty)."""
        counts = dict.fromkeys(QUEUE_STATUSES, 0)
        for status, count in self.db.query("SELECT status, COUNT(*) FROM rag_sync_queue GROUP BY status"):
            counts[status] = int(count)
        return counts

    def counts_by_type_and_status(self) -> list[tuple[str, str, int]]:
        """Return ``(entity_type, status, rows)`` of every pair present, ordered by type then status."""
        return [(t, s, int(n)) for t, s, n in self.db.query(
            "SELECT entity_type, status, COUNT(*) FROM rag_sync_queue GROUP BY entity_type, status"
            " ORDER BY entity_type, status")]

    def due_count(self) -> int:
        """Return how many open rows are due now."""
        now = self.clock.now()
        return sum(int(self.db.scalar(
            "SELECT COUNT(*) FROM rag_sync_queue WHERE status = %s AND next_attempt_at <= %s", (status, now)) or 0)
            for status in OPEN_STATUSES)

    def waiting_by_type(self) -> tuple[dict[str, dict[str, int]], dict[str, datetime]]:
        """Return per type the number of pending/failed/dead rows and when its oldest waiting row was queued."""
        counts: dict[str, dict[str, int]] = {t: dict.fromkeys(_BY_TYPE_STATUSES, 0) for t in ENTITY_TYPES}
        oldest_ids: list[int] = []
        # Ranges of the (entity_type, status, action) index, read without touching the rows; MIN(id) is
        # the oldest row because ids grow with created_at and an open row keeps its id when rewritten.
        for entity_type, status, count, min_id in self.db.query(
            "SELECT entity_type, status, COUNT(*), MIN(id) FROM rag_sync_queue"
            f" WHERE entity_type IN ({_marks(len(ENTITY_TYPES))}) AND status IN ({_marks(len(_BY_TYPE_STATUSES))})"
            " GROUP BY entity_type, status",
            [*ENTITY_TYPES, *_BY_TYPE_STATUSES],
        ):
            counts.setdefault(entity_type, dict.fromkeys(_BY_TYPE_STATUSES, 0))[status] = int(count)
            if status in WAITING_STATUSES:
                oldest_ids.append(int(min_id))
        oldest: dict[str, datetime] = {}
        if oldest_ids:
            for entity_type, created_at in self.db.query(
                f"SELECT entity_type, MIN(created_at) FROM rag_sync_queue WHERE id IN ({_marks(len(oldest_ids))})"
                " GROUP BY entity_type", oldest_ids,
            ):
                oldest[entity_type] = created_at
        return counts, oldest

    def count_matching(self, cap: int, status: str | None = None, entity_type: str | None = None,
                       action: str | None = None) -> tuple[int, bool]:
        """Count the rows matching the grid's filters, stopping at ``cap``; return (count, whether it was capped)."""
        where, params = _filter_sql(status, entity_type, action)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        count = int(self.db.scalar(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM rag_sync_queue{clause} LIMIT %s) AS matching", [*params, cap + 1]
        ) or 0)
        return min(count, cap), count > cap

    # ------------------------------------------------------------------ rows

    def get(self, queue_id: int) -> dict[str, Any] | None:
        """Return one row with every column, the document included."""
        rows = self.db.query_dicts(
            "SELECT " + ", ".join(f"q.{c}" for c in (*LIST_COLUMNS, "lease_token")) + ", d.document"
            " FROM rag_sync_queue q LEFT JOIN rag_sync_queue_document d ON d.queue_id = q.id WHERE q.id = %s",
            (queue_id,),
        )
        return rows[0] if rows else None

    def entity_rows(self, key: Key, limit: int = 5) -> list[dict[str, Any]]:
        """Return the newest rows of one entity in one store view (what ``ragsync explain`` shows), newest first."""
        return self.db.query_dicts(
            "SELECT id, status, action, content_hash, attempts, next_attempt_at, last_http_status, last_error"
            " FROM rag_sync_queue WHERE entity_type = %s AND entity_id = %s AND store_id = %s ORDER BY id DESC"
            " LIMIT %s", (*key, limit))

    def page(
        self,
        status: str | None = None,
        entity_type: str | None = None,
        action: str | None = None,
        sort: str = "id",
        descending: bool = True,
        limit: int = 50,
        offset: int = 0,
        after: tuple[Any, int] | None = None,
        with_total: bool = True,
        matching: int | None = None,
    ) -> QueuePage:
        """Return one page of rows (without documents), filtered, sorted by any column.

        Pass the previous page's ``next_after`` as ``after`` for keyset pagination (constant time
        at any depth, for columns that are never NULL); ``offset`` works for every column.
        ``matching`` (how many rows the filters match, when the caller counted them) picks the
        plan: see :func:`page_plan`.
        """
        if sort not in SORTABLE:
            raise ValueError(f"sort must be one of {', '.join(sorted(SORTABLE))}; got {sort!r}")
        limit = max(1, min(int(limit), 1000))
        where, params = _filter_sql(status, entity_type, action)
        filter_sql = (" WHERE " + " AND ".join(where)) if where else ""
        filter_params = list(params)
        direction = "DESC" if descending else "ASC"
        keyset = after is not None and sort not in NULLABLE_SORTS
        if keyset:
            assert after is not None
            op = "<" if descending else ">"
            if sort == "id":
                where.append(f"id {op} %s")
                params.append(after[1])
            else:
                where.append(f"({sort} {op} %s OR ({sort} = %s AND id {op} %s))")
                params += [after[0], after[0], after[1]]
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        order = f"id {direction}" if sort == "id" else f"{sort} {direction}, id {direction}"
        params.append(limit)
        tail = " LIMIT %s"
        if not keyset and offset:
            tail += " OFFSET %s"
            params.append(int(offset))
        hint = page_plan(sort, bool(filter_params), matching)
        rows = self.db.query_dicts(
            f"SELECT {', '.join(LIST_COLUMNS)} FROM rag_sync_queue{hint}{clause} ORDER BY {order}{tail}", params)
        total = None
        if with_total:
            total = int(self.db.scalar(f"SELECT COUNT(*) FROM rag_sync_queue{filter_sql}", filter_params) or 0)
        next_after = None
        if len(rows) == limit and sort not in NULLABLE_SORTS:
            next_after = (rows[-1][sort], int(rows[-1]["id"]))
        return QueuePage(rows, total, limit, 0 if keyset else int(offset), next_after)

