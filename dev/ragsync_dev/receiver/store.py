"""What the reference receiver received, kept in SQLite: deliveries, items and the latest document per key.

One connection is shared by every request thread behind one lock, so each request is exactly one
short transaction (WAL mode, ``synchronous=NORMAL``): an accepted request writes its delivery row,
its items with ``executemany`` and the upserted latest documents, then commits.

Tables:

* ``deliveries`` — every webhook request, accepted or not: when, ``webhook-id``, batch id, kind
  (``single``, ``batch``, ``ping`` or ``unknown`` when the body was not read), item count, body size,
  the status answered, the reason for a rejection, a few non-secret headers, and how many of its
  items were dropped as stale (``stale_dropped``).
* ``items`` — every item of every accepted request, in arrival order (stale ones included).
* ``documents`` — per (type, id, store_id) the latest version received: a save keeps its data, a
  delete replaces it with a tombstone (``action = 'delete'``, ``data`` NULL). An item whose
  ``sequence`` is lower than the stored one is older than what is held and is not applied; an item
  without a sequence (an older sender) is applied in arrival order, as before.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at  TEXT    NOT NULL,
    path         TEXT    NOT NULL,
    webhook_id   TEXT,
    batch_id     TEXT,
    kind         TEXT    NOT NULL,
    item_count   INTEGER NOT NULL,
    body_bytes   INTEGER NOT NULL,
    status       INTEGER NOT NULL,
    error        TEXT,
    duplicate    INTEGER NOT NULL DEFAULT 0,
    headers      TEXT    NOT NULL,
    stale_dropped INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS deliveries_webhook_id ON deliveries (webhook_id, status);
CREATE TABLE IF NOT EXISTS items (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id  INTEGER NOT NULL REFERENCES deliveries (id),
    batch_id     TEXT,
    type         TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    store_id     INTEGER NOT NULL,
    action       TEXT    NOT NULL,
    hash         TEXT    NOT NULL,
    timestamp    TEXT,
    sequence     INTEGER
);
CREATE TABLE IF NOT EXISTS documents (
    type         TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    store_id     INTEGER NOT NULL,
    action       TEXT    NOT NULL,
    hash         TEXT    NOT NULL,
    data         TEXT,
    timestamp    TEXT,
    received_at  TEXT    NOT NULL,
    delivery_id  INTEGER NOT NULL,
    sequence     INTEGER,
    PRIMARY KEY (type, id, store_id)
);
"""
# Columns added after the first version; a store file written before gets them on open.
_ADDED_COLUMNS = (
    ("deliveries", "stale_dropped", "INTEGER NOT NULL DEFAULT 0"),
    ("items", "sequence", "INTEGER"),
    ("documents", "sequence", "INTEGER"),
)

# A stored document is replaced unless the incoming item is older: both carry a sequence and the
# incoming one is lower. The stored sequence is the highest seen (an item without one keeps it).

_UPSERT_DOCUMENT = """
INSERT INTO documents (type, id, store_id, action, hash, data, timestamp, received_at, sequence, delivery_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (type, id, store_id) DO UPDATE SET
    action = excluded.action, hash = excluded.hash, data = excluded.data, timestamp = excluded.timestamp,
    received_at = excluded.received_at, delivery_id = excluded.delivery_id,
    sequence = COALESCE(excluded.sequence, documents.sequence)
WHERE excluded.sequence IS NULL OR documents.sequence IS NULL OR excluded.sequence >= documents.sequence
"""

_INSERT_DELIVERY = """
INSERT INTO deliveries (received_at, path, webhook_id, batch_id, kind, item_count, body_bytes, status, error,
                        duplicate, headers)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

_INSERT_ITEM = """
INSERT INTO items (delivery_id, batch_id, type, id, store_id, action, hash, timestamp, sequence)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

_DOCUMENT_COLUMNS = "type, id, store_id, action, hash, data, timestamp, received_at, delivery_id, sequence"


def utc_now() -> str:
    """Return the current UTC time as ISO 8601 with microseconds and a ``Z``."""
    return datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


@dataclass(frozen=True)
class ReceivedItem:
    """One validated item of an accepted request."""

    type: str
    id: str
    store_id: int
    action: str
    hash: str
    data: dict[str, Any] | None
    timestamp: str | None = None
    sequence: int | None = None
    """The sender's per-entity version (ragsync's ``sequence``); None from senders that send none."""


@dataclass
class DeliveryRecord:
    """One webhook request as the receiver saw it and answered it."""

    path: str
    status: int
    kind: str = "unknown"
    webhook_id: str | None = None
    batch_id: str | None = None
    item_count: int = 0
    body_bytes: int = 0
    error: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    received_at: str = field(default_factory=utc_now)
    stale_dropped: int = 0


class ReceiverStore:
    """Keep deliveries, items and latest documents in one SQLite file, safe to use from many threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._conn.executescript(SCHEMA)
        for table, column, declaration in _ADDED_COLUMNS:
            present = {row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
        self._closed = False

    def close(self) -> None:
        """Close the connection (checkpointing the WAL); later calls raise ``sqlite3.ProgrammingError``."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    # -- writes -----------------------------------------------------------------------------------

    def record_rejected(self, record: DeliveryRecord) -> int:
        """Record a request that stored nothing (rejected, malformed or an injected failure); return its id."""
        with self._lock:
            cursor = self._conn.execute(_INSERT_DELIVERY, self._delivery_row(record, duplicate=False))
            return int(cursor.lastrowid or 0)

    def record_accepted(self, record: DeliveryRecord, items: Sequence[ReceivedItem]) -> tuple[int, bool]:
        """Record an accepted request, its items and the latest documents in one transaction.

        Return the delivery id and whether an earlier request with the same ``webhook-id`` was
        already accepted (a redelivery: stored again, which is harmless because the latest
        document per key is simply replaced by the same content). Items older than the stored
        document (lower ``sequence``) are recorded as items but not applied; their number is
        the delivery's ``stale_dropped`` (also set on ``record``).
        """
        now = record.received_at
        item_rows = []
        document_rows = []
        for item in items:
            item_rows.append((item.type, item.id, item.store_id, item.action, item.hash, item.timestamp,
                              item.sequence))
            data = None if item.data is None else json.dumps(item.data, ensure_ascii=False, separators=(",", ":"))
            document_rows.append((item.type, item.id, item.store_id, item.action, item.hash, data, item.timestamp, now,
                                  item.sequence))
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                duplicate = False
                if record.webhook_id:
                    duplicate = conn.execute(
                        "SELECT 1 FROM deliveries WHERE webhook_id = ? AND status BETWEEN 200 AND 299 LIMIT 1",
                        (record.webhook_id,),
                    ).fetchone() is not None
                cursor = conn.execute(_INSERT_DELIVERY, self._delivery_row(record, duplicate=duplicate))
                delivery_id = int(cursor.lastrowid or 0)
                conn.executemany(
                    _INSERT_ITEM, [(delivery_id, record.batch_id, *row) for row in item_rows]
                )
                changes = conn.total_changes
                conn.executemany(_UPSERT_DOCUMENT, [(*row, delivery_id) for row in document_rows])
                stale = len(document_rows) - (conn.total_changes - changes)  # rows the WHERE kept as they were
                if stale:
                    conn.execute("UPDATE deliveries SET stale_dropped = ? WHERE id = ?", (stale, delivery_id))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        record.stale_dropped = stale
        return delivery_id, duplicate

    @staticmethod
    def _delivery_row(record: DeliveryRecord, duplicate: bool) -> tuple[Any, ...]:
        return (
            record.received_at, record.path, record.webhook_id, record.batch_id, record.kind, record.item_count,
            record.body_bytes, record.status, record.error, int(duplicate),
            json.dumps(record.headers, sort_keys=True),
        )

    # -- reads ------------------------------------------------------------------------------------

    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            cursor = self._conn.cursor()
            cursor.row_factory = sqlite3.Row
            return list(cursor.execute(sql, params))

    def documents(self, type: str | None = None, store_id: int | None = None) -> list[dict[str, Any]]:
        """Return the latest document per (type, id, store_id), tombstones included, ordered by key."""
        where = []
        params: list[Any] = []
        if type is not None:
            where.append("type = ?")
            params.append(type)
        if store_id is not None:
            where.append("store_id = ?")
            params.append(int(store_id))
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        rows = self._fetch(
            f"SELECT {_DOCUMENT_COLUMNS} FROM documents{clause} ORDER BY type, store_id, id",
            params,
        )
        return [self._document(row) for row in rows]

    def document(self, type: str, id: str, store_id: int) -> dict[str, Any] | None:
        """Return the latest document of one key, or None when nothing was received for it."""
        rows = self._fetch(
            f"SELECT {_DOCUMENT_COLUMNS} FROM documents WHERE type = ? AND id = ? AND store_id = ?",
            (type, str(id), int(store_id)),
        )
        return self._document(rows[0]) if rows else None

    @staticmethod
    def _document(row: sqlite3.Row) -> dict[str, Any]:
        document = dict(row)
        document["data"] = None if row["data"] is None else json.loads(row["data"])
        return document

    def items(self) -> list[dict[str, Any]]:
        """Return every item received, in arrival order."""
        rows = self._fetch(
            "SELECT seq, delivery_id, batch_id, type, id, store_id, action, hash, timestamp, sequence FROM items"
            " ORDER BY seq"
        )
        return [dict(row) for row in rows]

    def deliveries(self) -> list[dict[str, Any]]:
        """Return every webhook request, in arrival order."""
        rows = self._fetch(
            "SELECT id, received_at, path, webhook_id, batch_id, kind, item_count, body_bytes, status, error,"
            " duplicate, headers, stale_dropped FROM deliveries ORDER BY id"
        )
        result = []
        for row in rows:
            delivery = dict(row)
            delivery["duplicate"] = bool(row["duplicate"])
            delivery["headers"] = json.loads(row["headers"])
            result.append(delivery)
        return result

    def stale_dropped(self) -> int:
        """Return how many received items were older than the stored document (lower sequence) and not applied."""
        with self._lock:
            return int(self._conn.execute("SELECT COALESCE(SUM(stale_dropped), 0) FROM deliveries").fetchone()[0])

    def summary(self) -> dict[str, Any]:
        """Return live documents per type and store_id (latest action save), and the delivery and item counts."""
        with self._lock:
            live = self._conn.execute(
                "SELECT type, store_id, COUNT(*) FROM documents WHERE action = 'save'"
                " GROUP BY type, store_id ORDER BY type, store_id"
            ).fetchall()
            deliveries = self._conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0]
            items = self._conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]
        documents: dict[str, dict[int, int]] = {}
        for entity_type, store_id, count in live:
            documents.setdefault(entity_type, {})[int(store_id)] = int(count)
        return {"documents": documents, "deliveries": int(deliveries), "items": int(items)}
