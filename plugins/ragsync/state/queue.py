"""The outbox (``rag_sync_queue``): enqueue with deduplication, claim with leases, settle, housekeeping.

Row life cycle::

    pending -> processing -> sent
                  |  \\-> failed -> (due again) -> processing ...
                  |  \\-> dead   (retries used up, or the backend rejected the lone item)
                  \\-> pending  (released: breaker open / probe failed; or lease expired, stuck reset)

At most one *open* (pending or failed) row exists per (entity_type, entity_id, store_id): the
generated ``open_slot`` column is part of a UNIQUE key. A newer change rewrites the open row in
place. A ``processing`` row is never rewritten; a change that arrives while it is in flight becomes
a new pending row, which is not claimed until the in-flight row is settled (so one entity's
versions are delivered in order, even with several workers).

When an in-flight row has to go back to an open state (failed, released, stuck reset, manual
retry) while a newer open row exists for the same entity, the newer row already carries the newer
state: the older row is *superseded*, i.e. deleted, and an audit entry ``superseded`` records its
id, entity, hash and the id of the row that replaced it. No row disappears without such a trace.

Every claim and settle is one short explicit transaction; HTTP never happens inside one. Settles
are guarded by the claim's lease token, so a worker whose lease expired cannot settle rows that
were handed to someone else.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import MySQLdb
from MySQLdb.times import format_TIMESTAMP

from ragsync.db import Database
from ragsync.documents.model import Document
from ragsync.errors import DatabaseError
from ragsync.settings import QueueSettings
from ragsync.state.audit import AuditLog
from ragsync.state.clock import Clock, SystemClock
from ragsync.state.ledger import Key, Ledger, LedgerEntry, select_by_keys
from ragsync.vocabulary import OPEN_STATUSES, QUEUE_SOURCES, QUEUE_STATUSES

log = logging.getLogger(__name__)

T = TypeVar("T")

STATUSES = QUEUE_STATUSES
SOURCES = QUEUE_SOURCES
ENQUEUE_CHUNK = 1000
DELETE_CHUNK = 5000
MAX_ERROR_CHARS = 2000
_RETRYABLE_MYSQL_ERRORS = (1205, 1213)  # lock wait timeout, deadlock
_INSERT_STATEMENT_BYTES = 1 << 20
CLAIM_CANDIDATE_SLACK = 0.25  # extra candidates read, so that rows other workers hold can be skipped
CLAIM_CONTENTION_RETRIES = 20
CURSOR_REFRESH_SECONDS = 5.0  # rescan claimable rows from the start at least this often

# Columns a claimed row carries (its document is read from rag_sync_queue_document after the lock).
_CLAIM_COLUMNS = (
    "q.id, q.entity_type, q.entity_id, q.store_id, q.action, q.content_hash, q.document_bytes, q.attempts, q.source,"
    " q.sequence"
)
# Columns of the dashboard's list (no document: it can be megabytes).
LIST_COLUMNS = (
    "id", "entity_type", "entity_id", "store_id", "action", "status", "content_hash", "document_bytes",
    "attempts", "next_attempt_at", "lease_expires_at", "last_http_status", "last_error", "batch_id", "source",
    "created_at", "updated_at", "sent_at",
)
# Sortable columns; the ones that can be NULL are paged by offset only (keyset needs a total order).
SORTABLE = frozenset(LIST_COLUMNS) - {"last_error"}
_NULLABLE = frozenset({"lease_expires_at", "last_http_status", "batch_id", "sent_at"})
# Sorts an index serves in (column, id) order (migrations 001-003). The others change on every
# claim or settle, where an index would cost delivery; they are sorted from a scan.
_INDEXED_SORTS = frozenset({"id", "entity_type", "entity_id", "store_id", "action", "content_hash", "document_bytes",
                            "source", "created_at", "updated_at", "sent_at"})
# A filter matching at most this many rows is read through its index and sorted; above it a scan
# of the (narrow) queue rows is cheaper than that many row lookups.
SELECTIVE_FILTER_ROWS = 20_000
NO_DOCUMENT_ERROR = ("no document stored for this queue row (rag_sync_queue_document); "
                     "queue the entity again to send it")


def in_transaction(db: Database, work: Callable[[], T], attempts: int = 5,
                   isolation: str | None = None) -> T:
    """Run ``work`` in one explicit transaction, retrying it on deadlock or lock-wait timeout."""
    for attempt in range(1, attempts + 1):
        try:
            if isolation is not None:
                # Applies to the next transaction only; READ COMMITTED avoids gap locks on claim.
                db.execute(f"SET TRANSACTION ISOLATION LEVEL {isolation}")
            with db.transaction():
                return work()
        except MySQLdb.OperationalError as exc:
            if exc.args and exc.args[0] in _RETRYABLE_MYSQL_ERRORS and attempt < attempts:
                log.info("transaction hit MySQL error %s; retrying (%d/%d)", exc.args[0], attempt, attempts)
                time.sleep(random.uniform(0.005, 0.02) * attempt)
                continue
            raise
    raise AssertionError("unreachable")


def _older_read(document: Document, rows: Sequence[tuple[str, str, datetime | None]],
                entry: LedgerEntry | None) -> bool:
    """Return True when the entity's open, in-flight or delivered version was read after ``document``.

    Unknown read times (None: rows from before migration 008, documents not built by a reader)
    order nothing.
    """
    if document.read_at is None:
        return False
    known = [read_at for _status, _hash, read_at in rows if read_at is not None]
    if entry is not None and entry.delivered_read_at is not None:
        known.append(entry.delivered_read_at)
    return bool(known) and document.read_at < max(known)


def _ids_sql(count: int) -> str:
    return ", ".join(["%s"] * count)


def _truncate(text: str | None, limit: int = MAX_ERROR_CHARS) -> str | None:
    if text is None:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class QueueRow:
    """A claimed queue row: what a worker needs to send and settle it."""

    id: int
    entity_type: str
    entity_id: str
    store_id: int
    action: str
    content_hash: str
    document: bytes
    """The stored item JSON as UTF-8 bytes, exactly as it goes into a body."""
    document_bytes: int
    attempts: int
    source: str
    lease_token: str
    sequence: int = 0
    """The document's per-entity version (the item's ``sequence``), larger for every newer version."""

    @property
    def key(self) -> Key:
        """Return (type, id, store_id)."""
        return (self.entity_type, self.entity_id, self.store_id)


@dataclass(frozen=True)
class Claim:
    """Rows a worker leased for delivery, all under one lease token."""

    rows: list[QueueRow]
    lease_token: str
    lease_expires_at: datetime
    claimed_at: datetime

    def __len__(self) -> int:
        return len(self.rows)

    def __bool__(self) -> bool:
        return bool(self.rows)


@dataclass
class EnqueueResult:
    """What an enqueue did with the documents it was given."""

    queued: int = 0
    replaced: int = 0
    already_queued: int = 0
    skipped_unchanged: int = 0
    skipped_dead: int = 0
    skipped_absent_delete: int = 0
    skipped_older_read: int = 0
    """Read before the open, in-flight or delivered version of the entity was read: that one is newer."""

    @property
    def written(self) -> int:
        """Return how many rows were inserted or rewritten."""
        return self.queued + self.replaced

    @property
    def skipped(self) -> int:
        """Return how many documents needed no write."""
        return (self.already_queued + self.skipped_unchanged + self.skipped_dead + self.skipped_absent_delete
                + self.skipped_older_read)

    def add(self, other: EnqueueResult) -> EnqueueResult:
        """Add another result's counts to this one and return self."""
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)
        return self

    def as_dict(self) -> dict[str, int]:
        """Return the counts as a dict."""
        return asdict(self)


@dataclass
class SettleResult:
    """What a settle did: rows moved per status, rows superseded, rows no longer owned."""

    sent: int = 0
    failed: int = 0
    dead: int = 0
    released: int = 0
    superseded: int = 0
    stale: int = 0
    settled_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        """Return the counts (without ids) as a dict."""
        return {k: v for k, v in asdict(self).items() if k != "settled_ids"}


@dataclass(frozen=True)
class SentBatch:
    """A delivered batch to settle: its rows, batch id, HTTP status and audit details."""

    rows: list[QueueRow]
    batch_id: str
    http_status: int | None
    details: dict[str, Any] | None = None


@dataclass(frozen=True)
class QueuePage:
    """One page of the dashboard's queue list."""

    rows: list[dict[str, Any]]
    total: int | None
    limit: int
    offset: int
    next_after: tuple[Any, int] | None


class QueueRepository:
    """Read and write the delivery queue."""

    def __init__(
        self,
        db: Database,
        clock: Clock | None = None,
        settings: QueueSettings | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.clock = clock or SystemClock()
        self.settings = settings or QueueSettings()
        self.rng = rng or random.Random()
        self.ledger = Ledger(db, self.clock)
        self.audit = AuditLog(db, self.clock)
        self._cursor: dict[tuple[str, int | None], tuple[str, int]] = {}
        self._cursor_since = time.monotonic()

    # ------------------------------------------------------------------ enqueue

    def enqueue(self, documents: Iterable[Document], source: str = "incremental", force: bool = False,
                chunk_size: int = ENQUEUE_CHUNK) -> EnqueueResult:
        """Queue the documents that the backend does not have yet; return what was done with each.

        Per chunk: one ledger query, one query for the entities' open or in-flight rows, and
        multi-row ``INSERT ... ON DUPLICATE KEY UPDATE`` statements. A document is skipped when
        its hash equals the delivered hash, equals the hash of a dead attempt, or is a delete of
        something the backend does not have -- unless ``force``, or unless an open or in-flight
        row of the same entity carries other content (then the document must follow it).

        A document read (``Document.read_at``) before the entity's open, in-flight or delivered
        version was read is older than that one and is never queued, ``force`` or not
        (``skipped_older_read``). Chunks with something to write decide again inside the write
        transaction, after the sequence counter's lock, so concurrent enqueues cannot interleave.
        """
        if source not in SOURCES:
            raise ValueError(f"queue source must be one of {', '.join(SOURCES)}; got {source!r}")
        total = EnqueueResult()
        chunk: list[Document] = []
        for document in documents:
            chunk.append(document)
            if len(chunk) >= chunk_size:
                total.add(self._enqueue_chunk(chunk, source, force))
                chunk = []
        if chunk:
            total.add(self._enqueue_chunk(chunk, source, force))
        return total

    def _inflight(self, keys: Sequence[Key]) -> dict[Key, list[tuple[str, str, datetime | None]]]:
        """Return ``key -> [(status, hash, read_at)]`` of the open and processing rows of these entities."""
        found: dict[Key, list[tuple[str, str, datetime | None]]] = {}
        rows = select_by_keys(self.db, "entity_type, entity_id, store_id, status, content_hash, read_at",
                              "rag_sync_queue FORCE INDEX (RAG_SYNC_QUEUE_ENTITY)", keys,
                              " AND status IN ('pending', 'failed', 'processing')")
        for t, i, s, status, content_hash, read_at in rows:
            found.setdefault((t, i, int(s)), []).append((status, content_hash, read_at))
        return found

    def _enqueue_chunk(self, documents: Sequence[Document], source: str, force: bool) -> EnqueueResult:
        latest: dict[Key, Document] = {}
        replaced_in_chunk = 0
        for document in documents:
            if document.key in latest:
                replaced_in_chunk += 1  # an older change in the same chunk, replaced before it was written
            latest[document.key] = document
        # A first decision from plain reads: a chunk with nothing to write (an unchanged full
        # sync) costs two queries and no transaction.
        result, writes = self._decide(list(latest.values()), force)
        if not writes:
            result.replaced += replaced_in_chunk
            return result

        def work() -> tuple[EnqueueResult, list[Document]]:
            # The counter row's lock is the first one every enqueue takes, so enqueues run one
            # at a time from here. Deciding again under it (READ COMMITTED: what other enqueues
            # committed while this one waited) keeps a concurrent enqueue of a newer read from
            # being overwritten by this older one.
            first = self.reserve_sequences(len(writes))
            decided, final = self._decide(writes, force)
            if final:
                self._insert(final, source, force, first)
            return decided, final

        decided, _final = in_transaction(self.db, work, isolation="READ COMMITTED")
        # the first decision's skips stand; what it would have written is counted by the second
        result.queued = result.replaced = 0
        result.add(decided)
        result.replaced += replaced_in_chunk
        return result

    def _decide(self, documents: Sequence[Document], force: bool) -> tuple[EnqueueResult, list[Document]]:
        """Return what to do with each document (one per key) and the ones to write."""
        keys = [d.key for d in documents]
        ledger = self.ledger.lookup(keys)
        inflight = self._inflight(keys)
        result = EnqueueResult()
        writes: list[Document] = []
        for document in documents:
            key = document.key
            digest = document.hash
            rows = inflight.get(key, [])
            entry = ledger.get(key)
            if _older_read(document, rows, entry):
                result.skipped_older_read += 1
                continue
            open_hashes = [h for status, h, _read_at in rows if status != "processing"]
            if not force:
                if digest in open_hashes:
                    result.already_queued += 1
                    continue
                if not any(h != digest for _status, h, _read_at in rows):
                    reason = self._skip_reason(document, digest, entry)
                    if reason is not None:
                        setattr(result, reason, getattr(result, reason) + 1)
                        continue
            if open_hashes:
                result.replaced += 1
            else:
                result.queued += 1
            writes.append(document)
        return result, writes

    @staticmethod
    def _skip_reason(document: Document, digest: str, entry: LedgerEntry | None) -> str | None:
        if document.action == "delete" and (entry is None or not entry.live):
            return "skipped_absent_delete"
        if entry is None:
            return None
        if entry.delivered_hash == digest:
            return "skipped_unchanged"
        if entry.failed_status == "dead" and entry.failed_hash == digest:
            return "skipped_dead"
        return None

    def reserve_sequences(self, count: int) -> int:
        """Reserve ``count`` document sequences in the current transaction; return the first one.

        One counter row (``rag_sync_sequence``) serves every entity: its row lock, held until
        the caller's transaction ends, orders reservations like commits, so a newer version of
        an entity always carries a larger sequence than the one it replaces or follows, in any
        process. The counter never falls below the server's time in microseconds since 1970, so
        sequences keep increasing after the tables are dropped and created again, or restored
        from an older backup (receivers keep the highest sequence they saw per entity).
        """
        if count < 1:
            raise ValueError("reserve at least one sequence")
        floor = "CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS UNSIGNED)"
        self.db.execute(
            "INSERT INTO rag_sync_sequence (name, value) VALUES ('document', LAST_INSERT_ID(" + floor + " + %s))"
            " ON DUPLICATE KEY UPDATE value = LAST_INSERT_ID(GREATEST(value, " + floor + ") + %s)",
            (count, count),
        )
        last = int(self.db.scalar("SELECT LAST_INSERT_ID()") or 0)
        return last - count + 1

    def _insert(self, writes: Sequence[Document], source: str, force: bool, first: int) -> None:
        """Write the documents with the sequences reserved from ``first`` on (in the caller's transaction)."""
        # the SQL text of the time, once per chunk (mysqlclient would format it three times per row)
        now = format_TIMESTAMP(self.clock.now())
        params: list[tuple[Any, ...]] = []
        bodies: dict[Key, str] = {}
        for offset, document in enumerate(writes):
            sequence = first + offset
            item_json = document.item_json(sequence)
            bodies[document.key] = item_json
            params.append((
                document.type, document.id, document.store_id, document.action, "pending", document.hash,
                len(item_json.encode("utf-8")), 0, now, source, now, now, sequence, document.read_at,
            ))
        # ON DUPLICATE KEY UPDATE fires on the open-row key: the pending/failed row of the same
        # entity. Assignments run left to right, so the comparisons with content_hash see the old
        # value until content_hash itself is assigned last. Same content (a failed row queued
        # again by a full sync) keeps its attempts and backoff unless forced. The sequence and the
        # document (which carries it) are always rewritten: a rewrite is a newer version.
        same = "0" if force else "content_hash = VALUES(content_hash)"
        sql = (
            "INSERT INTO rag_sync_queue (entity_type, entity_id, store_id, action, status, content_hash,"
            " document_bytes, attempts, next_attempt_at, source, created_at, updated_at, sequence, read_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON DUPLICATE KEY UPDATE"
            f" attempts = IF({same}, attempts, 0),"
            f" next_attempt_at = IF({same}, next_attempt_at, VALUES(next_attempt_at)),"
            f" last_http_status = IF({same}, last_http_status, NULL),"
            f" last_error = IF({same}, last_error, NULL),"
            f" status = IF({same}, status, 'pending'),"
            " action = VALUES(action), document_bytes = VALUES(document_bytes), sequence = VALUES(sequence),"
            " read_at = VALUES(read_at),"
            " source = VALUES(source), updated_at = VALUES(updated_at), content_hash = VALUES(content_hash)"
        )
        with self.db.cursor() as cur:
            cur.executemany(sql, params)
        # The documents go to their own table, keyed by the open row each entity now has (the one
        # just inserted or updated in place; this transaction still holds its lock).
        open_rows = select_by_keys(self.db, "id, entity_type, entity_id, store_id",
                                   "rag_sync_queue FORCE INDEX (RAG_SYNC_QUEUE_ONE_OPEN_ROW)", bodies,
                                   " AND open_slot = 1")
        documents = [(int(queue_id), bodies[(t, i, int(s))]) for queue_id, t, i, s in open_rows]
        if len(documents) != len(bodies):
            raise DatabaseError(f"queued {len(bodies)} documents but found {len(documents)} open queue rows for them")
        with self.db.cursor() as cur:
            cur.max_stmt_length = _INSERT_STATEMENT_BYTES
            cur.executemany(
                "INSERT INTO rag_sync_queue_document (queue_id, document) VALUES (%s, %s)"
                " ON DUPLICATE KEY UPDATE document = VALUES(document)",
                documents,
            )

    # ------------------------------------------------------------------ claim

    def claim_due(self, limit: int, lease_seconds: int, shard: int | None = None,
                  shards: int | None = None) -> Claim:
        """Lease up to ``limit`` due rows (oldest due first) to this worker in one short transaction.

        Rows another worker is claiming are skipped (``SKIP LOCKED``). A row whose entity has
        another row in flight is left for later, so one entity's versions go out in order. With
        ``shards``, only rows with ``id % shards == shard`` are taken. An empty claim means that
        nothing is due (or everything due is being claimed by other workers right now).
        """
        if limit < 1:
            raise ValueError("claim limit must be at least 1")
        if shards is not None or shard is not None:
            if shards is None or shard is None or not 0 <= shard < shards:
                raise ValueError("give both shard and shards, with 0 <= shard < shards")
        token = uuid.uuid4().hex
        for attempt in range(CLAIM_CONTENTION_RETRIES + 1):
            now = self.clock.now()

            def work(now: datetime = now) -> tuple[bool, list[QueueRow]]:
                return self._claim(limit, token, now, lease_seconds, shard, shards)

            contended, rows = in_transaction(self.db, work, isolation="READ COMMITTED")
            if rows or not contended:
                return Claim(rows, token, now + timedelta(seconds=lease_seconds), now)
            # Every candidate was taken by another worker between the two reads: look again.
            time.sleep(min(0.002 * (attempt + 1), 0.02))
        log.info("claim found due rows but other workers held all of them; leaving them to those workers")
        return Claim([], token, now + timedelta(seconds=lease_seconds), now)

    def _candidates(self, status: str, now: datetime, shard_clause: str, shard: int | None, shards: int | None,
                    wanted: int, cursor: tuple[str, int] | None) -> list[tuple[Any, ...]]:
        """Return ``(id, next_attempt_at)`` of due rows of one status, in claim order, after ``cursor``.

        Both columns are in the claim index (InnoDB appends the primary key), so the read does
        not touch the table rows. The time comes back as its fixed-width text (``datetime(6)``),
        which sorts like the time and serves as a cursor value, without a conversion per row.
        """
        params: list[Any] = [status, now]
        after = ""
        if cursor is not None:
            after = " AND (q.next_attempt_at > %s OR (q.next_attempt_at = %s AND q.id > %s))"
            params += [cursor[0], cursor[0], cursor[1]]
        if shards is not None:
            params += [shards, shard]
        params.append(wanted)
        return list(self.db.query(
            "SELECT q.id, CAST(q.next_attempt_at AS CHAR) FROM rag_sync_queue q"
            " FORCE INDEX (RAG_SYNC_QUEUE_CLAIM) WHERE q.status = %s AND q.next_attempt_at <= %s" + after
            + shard_clause + " ORDER BY q.next_attempt_at, q.id LIMIT %s",
            params,
        ))

    def _in_flight(self, keys: Iterable[Key]) -> set[Key]:
        """Return the keys among ``keys`` that have a ``processing`` row.

        Looked up per key through the entity index, which status changes never touch; a
        ``NOT EXISTS`` in the candidate read was materialized by scanning the ``processing``
        range of the claim index, the range with the most churn.
        """
        return {(t, i, int(s)) for t, i, s in select_by_keys(
            self.db, "entity_type, entity_id, store_id", "rag_sync_queue FORCE INDEX (RAG_SYNC_QUEUE_ENTITY)",
            keys, " AND status = 'processing'")}

    def _claim(self, limit: int, token: str, now: datetime, lease_seconds: int, shard: int | None,
               shards: int | None) -> tuple[bool, list[QueueRow]]:
        """Return (whether other workers held every candidate, rows leased) for one claim transaction.

        1. Candidate ids come from a plain (non-locking) read of the claim index alone, one read
           per claimable status (a single ``status IN (...)`` would make the server sort every
           due row before the LIMIT). Each read starts after the last row this repository
           claimed (a keyset cursor): the head of the range is full of entries that recent claims
           delete-marked and purge has not removed yet, and rescanning them on every claim grew
           to most of a claim's cost. A short read, and every few seconds, scans from the start
           again, so rows that became due behind the cursor are not left out.
        2. The candidates are locked through the primary key with ``FOR UPDATE SKIP LOCKED`` and
           checked again. A locking scan of the secondary index is avoided on purpose: InnoDB
           infers implicit locks on secondary-index records from the page's newest transaction,
           so SKIP LOCKED there skips free rows on pages another worker just modified (measured:
           claims coming back empty while their shard still had hundreds of due rows).
        3. Rows whose entity has another row in flight are left pending (:meth:`_in_flight`).
        """
        shard_clause = " AND MOD(q.id, %s) = %s" if shards is not None else ""
        wanted = limit + max(1, int(limit * CLAIM_CANDIDATE_SLACK))
        if time.monotonic() - self._cursor_since > CURSOR_REFRESH_SECONDS:
            self._cursor.clear()
            self._cursor_since = time.monotonic()
        found: list[tuple[str, int, str]] = []  # (next_attempt_at text, id, status)
        for status in OPEN_STATUSES:
            cursor = self._cursor.get((status, shard))
            rows = self._candidates(status, now, shard_clause, shard, shards, wanted, cursor)
            if cursor is not None and len(rows) < wanted:
                rows = self._candidates(status, now, shard_clause, shard, shards, wanted, None)
            found += [(due, int(queue_id), status) for queue_id, due in rows]
        if not found:
            return False, []
        found.sort()
        candidates = [queue_id for _due, queue_id, _status in found]
        chosen: dict[int, tuple[Any, ...]] = {}
        locked_any = False
        position = 0
        while len(chosen) < limit and position < len(candidates):
            window = candidates[position:position + limit - len(chosen)]
            position += len(window)
            locked = self.db.query(
                f"SELECT {_CLAIM_COLUMNS} FROM rag_sync_queue q FORCE INDEX (PRIMARY)"
                f" WHERE q.id IN ({_ids_sql(len(window))}) AND q.status IN ('pending', 'failed')"
                " AND q.next_attempt_at <= %s FOR UPDATE SKIP LOCKED",
                [*window, now],
            )
            locked_any = locked_any or bool(locked)
            busy = self._in_flight((r[1], r[2], int(r[3])) for r in locked) if locked else set()
            for row in locked:
                if (row[1], row[2], int(row[3])) not in busy:
                    chosen[int(row[0])] = row
        if not chosen:
            return not locked_any, []
        taken = []
        for due, queue_id, status in found:  # in claim order
            picked = chosen.get(queue_id)
            if picked is not None:
                taken.append(picked)
                self._cursor[(status, shard)] = (due, queue_id)
        ids = [int(r[0]) for r in taken]
        # The rows are locked: their documents cannot change under this read. They come back as
        # bytes (the UTF-8 that goes into the body), neither decoded here nor encoded again.
        documents = dict(self.db.query(
            "SELECT queue_id, CAST(document AS BINARY) FROM rag_sync_queue_document"
            f" WHERE queue_id IN ({_ids_sql(len(ids))})", ids))
        missing = [i for i in ids if not documents.get(i)]
        if missing:
            self._bury_without_document(missing, now)
            taken = [r for r in taken if documents.get(int(r[0]))]
            ids = [int(r[0]) for r in taken]
            if not ids:
                return True, []  # look again: the buried rows are no longer candidates
        # updated_at is left alone here (it records enqueue and settle): the claim is already
        # timestamped by lease_expires_at, and not touching it spares an index update per row.
        self.db.execute(
            "UPDATE rag_sync_queue SET status = 'processing', lease_token = %s, lease_expires_at = %s"
            f" WHERE id IN ({_ids_sql(len(ids))})",
            [token, now + timedelta(seconds=lease_seconds), *ids],
        )
        return True, [QueueRow(int(r[0]), r[1], r[2], int(r[3]), r[4], r[5], documents[int(r[0])], int(r[6]),
                               int(r[7]), r[8], token, int(r[9])) for r in taken]

    def extend_lease(self, rows: Sequence[QueueRow], lease_seconds: float) -> list[QueueRow]:
        """Check the lease of rows about to be sent; return those this worker still owns, in order.

        Called right before a POST: a row whose lease expired (the worker was frozen or slow past
        it, and the stuck reset may have handed it to another worker) must not be sent. One
        indexed read through the primary key, guarded by the lease token, the status and the
        expiry. When half the lease or less is left, the owned rows' lease is also renewed to a
        full one (an UPDATE with the same guard), so the POST that follows is always covered by
        at least half a lease; a fresh claim's rows need no write, so the check costs no commit.
        """
        if not rows:
            return []
        owned: list[QueueRow] = []
        for token, group in self._by_token(rows).items():
            now = self.clock.now()
            ids = [r.id for r in group]
            leased = {int(queue_id): expires for queue_id, expires in self.db.query(
                f"SELECT id, lease_expires_at FROM rag_sync_queue WHERE id IN ({_ids_sql(len(ids))})"
                " AND lease_token = %s AND status = 'processing' AND lease_expires_at > %s", [*ids, token, now])}
            if leased and min(leased.values()) <= now + timedelta(seconds=lease_seconds / 2):
                mine = list(leased)
                renewed = self.db.execute(
                    "UPDATE rag_sync_queue SET lease_expires_at = %s"
                    f" WHERE id IN ({_ids_sql(len(mine))}) AND lease_token = %s AND status = 'processing'"
                    " AND lease_expires_at > %s",
                    [now + timedelta(seconds=lease_seconds), *mine, token, now],
                )
                if renewed != len(mine):  # lost meanwhile (or the expiry was already the new one): look again
                    leased = {int(r[0]): None for r in self.db.query(
                        f"SELECT id FROM rag_sync_queue WHERE id IN ({_ids_sql(len(mine))}) AND lease_token = %s"
                        " AND status = 'processing' AND lease_expires_at > %s", [*mine, token, now])}
            owned += [r for r in group if r.id in leased]
        if len(owned) != len(rows):
            keep = {r.id for r in owned}
            owned = [r for r in rows if r.id in keep]
            log.warning("%d of %d queue rows were no longer leased to this worker right before sending them "
                        "(lease expired); they are not sent and left to their new owner",
                        len(rows) - len(owned), len(rows))
        return owned

    def _bury_without_document(self, ids: list[int], now: datetime) -> None:
        """Mark rows that have no stored document ``dead`` (inside the claim), saying what to do.

        Only a row written by hand or a damaged table has none; sending it would put an empty item
        into a batch. The row stays visible (dashboard, CLI) and the entity can be queued again.
        """
        self.db.execute(
            "UPDATE rag_sync_queue SET status = 'dead', last_error = %s, updated_at = %s, lease_token = NULL,"
            f" lease_expires_at = NULL WHERE id IN ({_ids_sql(len(ids))})",
            [NO_DOCUMENT_ERROR, now, *ids],
        )
        log.error("queue rows %s have no document in rag_sync_queue_document and were marked dead; "
                  "queue their entities again (e.g. a manual run of the sync DAG with their ids)",
                  ", ".join(map(str, ids)))

    # ------------------------------------------------------------------ settle

    @staticmethod
    def _by_token(rows: Claim | Sequence[QueueRow]) -> dict[str, list[QueueRow]]:
        grouped: dict[str, list[QueueRow]] = {}
        for row in rows.rows if isinstance(rows, Claim) else rows:
            grouped.setdefault(row.lease_token, []).append(row)
        return grouped

    def _owned(self, token: str, rows: Sequence[QueueRow]) -> list[tuple[Any, ...]]:
        """Lock and return ``(id, attempts)`` of the rows still processing under ``token``."""
        ids = [r.id for r in rows]
        return self.db.query(
            f"SELECT id, attempts FROM rag_sync_queue WHERE id IN ({_ids_sql(len(ids))})"
            " AND lease_token = %s AND status = 'processing' FOR UPDATE",
            [*ids, token],
        )

    def _warn_stale(self, what: str, count: int) -> None:
        if count:
            log.warning("%d queue rows were no longer leased to this worker when settling %s "
                        "(lease expired and reset); left to their new owner", count, what)

    def settle_sent(self, rows: Claim | Sequence[QueueRow], batch_id: str, http_status: int | None,
                    details: dict[str, Any] | None = None) -> SettleResult:
        """Mark delivered rows ``sent``, record them in the ledger and write ``batch_sent``, atomically."""
        listed = rows.rows if isinstance(rows, Claim) else list(rows)
        return self.settle_sent_many([SentBatch(listed, batch_id, http_status, details)])

    def settle_sent_many(self, batches: Sequence[SentBatch]) -> SettleResult:
        """Settle several delivered batches in one transaction (one commit for the group).

        Per batch one guarded UPDATE (each row keeps its own batch id); one ledger write and one
        audit insert for the whole group.
        """
        result = SettleResult()
        batches = [b for b in batches if b.rows]
        if not batches:
            return result
        now = self.clock.now()

        def work() -> list[tuple[SentBatch, list[QueueRow]]]:
            settled: list[tuple[SentBatch, list[QueueRow]]] = []
            for batch in batches:
                for token, group in self._by_token(batch.rows).items():
                    ids = [r.id for r in group]
                    changed = self.db.execute(
                        "UPDATE rag_sync_queue SET status = 'sent', attempts = attempts + 1, sent_at = %s,"
                        " updated_at = %s, batch_id = %s, last_http_status = %s, last_error = NULL,"
                        " lease_token = NULL, lease_expires_at = NULL"
                        f" WHERE id IN ({_ids_sql(len(ids))}) AND lease_token = %s AND status = 'processing'",
                        [now, now, batch.batch_id, batch.http_status, *ids, token],
                    )
                    owned = group
                    if changed != len(group):
                        sent_ids = {r[0] for r in self.db.query(
                            f"SELECT id FROM rag_sync_queue WHERE id IN ({_ids_sql(len(ids))})"
                            " AND status = 'sent' AND batch_id = %s", [*ids, batch.batch_id])}
                        owned = [r for r in group if r.id in sent_ids]
                    settled.append((batch, owned))
            self.ledger.record_sent_from_queue([r.id for _b, owned in settled for r in owned], at=now)
            self.audit.write_many([
                self.audit.row(
                    "batch_sent",
                    f"delivered {len(owned)} item(s) in batch {batch.batch_id} (HTTP {batch.http_status})",
                    entity_type=_one_type(owned), batch_id=batch.batch_id,
                    details={"items": len(owned), "http_status": batch.http_status, **_type_counts(owned),
                             **(batch.details or {})})
                for batch, owned in settled if owned
            ])
            return settled

        for batch, owned in in_transaction(self.db, work):
            result.sent += len(owned)
            result.stale += len(batch.rows) - len(owned)
            result.settled_ids += [r.id for r in owned]
        self._warn_stale("sent", result.stale)
        return result

    def settle_failed(self, rows: Claim | Sequence[QueueRow], http_status: int | None, error: str | None,
                      retry_after_seconds: float | None = None, batch_id: str | None = None,
                      details: dict[str, Any] | None = None) -> SettleResult:
        """Spend an attempt: schedule the next one (±10% jitter, not before Retry-After) or mark ``dead``.

        ``max_retries`` retries follow the first attempt; retry *i* waits ``retry_delays_minutes[i-1]``
        (the last delay repeats if the list is shorter). A row that cannot return to ``failed``
        because a newer open row exists for its entity is superseded (see the module docstring).
        """
        from ragsync.delivery.policy import retry_delay

        result = SettleResult()
        message = _truncate(error)
        for token, group in self._by_token(rows).items():
            now = self.clock.now()

            def work(token: str = token, group: list[QueueRow] = group, now: datetime = now) -> SettleResult:
                part = SettleResult()
                owned = {int(r[0]): int(r[1]) for r in self._owned(token, group)}
                part.stale = len(group) - len(owned)
                mine = [r for r in group if r.id in owned]
                to_dead = [r for r in mine if owned[r.id] + 1 > self.settings.max_retries]
                to_retry = [r for r in mine if owned[r.id] + 1 <= self.settings.max_retries]
                if to_dead:
                    self._mark_dead(to_dead, token, http_status, message, now)
                    part.dead = len(to_dead)
                if to_retry:
                    schedule: list[Any] = []
                    for r in to_retry:
                        delay = retry_delay(owned[r.id] + 1, self.settings.retry_delays_minutes, rng=self.rng)
                        if retry_after_seconds is not None:
                            delay = max(delay, retry_after_seconds)
                        schedule += [r.id, now + timedelta(seconds=delay)]
                    ids = [r.id for r in to_retry]
                    moved = self.db.execute(
                        "UPDATE IGNORE rag_sync_queue SET status = 'failed', attempts = attempts + 1,"
                        " next_attempt_at = CASE id" + " WHEN %s THEN %s" * len(to_retry) + " END,"
                        " last_http_status = %s, last_error = %s, updated_at = %s,"
                        " lease_token = NULL, lease_expires_at = NULL"
                        f" WHERE id IN ({_ids_sql(len(ids))}) AND lease_token = %s AND status = 'processing'",
                        [*schedule, http_status, message, now, *ids, token],
                    )
                    superseded = self._supersede_leftovers(to_retry, token, now, "failed") if moved != len(
                        to_retry) else []
                    part.failed = len(to_retry) - len(superseded)
                    part.superseded = len(superseded)
                    gone = set(superseded)
                    self.ledger.record_failed([r for r in to_retry if r.id not in gone], "failed", message, at=now)
                if mine:
                    self.audit.write(
                        "batch_failed",
                        f"delivery of {len(mine)} item(s) failed: {_truncate(error, 300) or _status_text(http_status)};"
                        f" {part.failed} will be retried, {part.dead} dead",
                        level="warning", entity_type=_one_type(mine), batch_id=batch_id,
                        details={"items": len(mine), "http_status": http_status, "error": _truncate(error, 500),
                                 "retry": part.failed, "dead": part.dead, "superseded": part.superseded,
                                 "retry_after_seconds": retry_after_seconds, **(details or {})})
                part.settled_ids = [r.id for r in mine]
                return part

            part = in_transaction(self.db, work)
            for name in ("failed", "dead", "superseded", "stale"):
                setattr(result, name, getattr(result, name) + getattr(part, name))
            result.settled_ids += part.settled_ids
        self._warn_stale("failed", result.stale)
        return result

    def settle_dead(self, rows: Claim | Sequence[QueueRow], http_status: int | None, error: str | None,
                    batch_id: str | None = None) -> SettleResult:
        """Give up on rows now (the backend rejected them): mark them ``dead`` with the response text."""
        result = SettleResult()
        message = _truncate(error)
        for token, group in self._by_token(rows).items():
            now = self.clock.now()

            def work(token: str = token, group: list[QueueRow] = group, now: datetime = now) -> list[QueueRow]:
                owned = {int(r[0]) for r in self._owned(token, group)}
                mine = [r for r in group if r.id in owned]
                if mine:
                    self._mark_dead(mine, token, http_status, message, now, batch_id)
                return mine

            mine = in_transaction(self.db, work)
            result.dead += len(mine)
            result.stale += len(group) - len(mine)
            result.settled_ids += [r.id for r in mine]
        self._warn_stale("dead", result.stale)
        return result

    def _mark_dead(self, rows: Sequence[QueueRow], token: str, http_status: int | None, message: str | None,
                   now: datetime, batch_id: str | None = None) -> None:
        ids = [r.id for r in rows]
        self.db.execute(
            "UPDATE rag_sync_queue SET status = 'dead', attempts = attempts + 1, last_http_status = %s,"
            " last_error = %s, updated_at = %s, lease_token = NULL, lease_expires_at = NULL"
            f" WHERE id IN ({_ids_sql(len(ids))}) AND lease_token = %s AND status = 'processing'",
            [http_status, message, now, *ids, token],
        )
        self.ledger.record_failed(rows, "dead", message, at=now)
        self.audit.write_many([
            self.audit.row(
                "item_dead",
                f"{r.entity_type} {r.entity_id} (store {r.store_id}, {r.action}) is dead after {r.attempts + 1} "
                f"attempt(s): {_status_text(http_status)}: {_truncate(message, 300) or 'no response text'}",
                level="error", entity_type=r.entity_type, batch_id=batch_id,
                details={"queue_id": r.id, "entity_id": r.entity_id, "store_id": r.store_id, "action": r.action,
                         "hash": r.content_hash, "http_status": http_status, "error": message})
            for r in rows
        ])

    def release(self, rows: Claim | Sequence[QueueRow], reason: str = "released") -> SettleResult:
        """Return leased rows to ``pending`` without spending an attempt (breaker open, failed probe)."""
        result = SettleResult()
        for token, group in self._by_token(rows).items():
            now = self.clock.now()

            def work(token: str = token, group: list[QueueRow] = group, now: datetime = now) -> tuple[int, int]:
                ids = [r.id for r in group]
                moved = self.db.execute(
                    "UPDATE IGNORE rag_sync_queue SET status = 'pending', lease_token = NULL,"
                    " lease_expires_at = NULL, updated_at = %s"
                    f" WHERE id IN ({_ids_sql(len(ids))}) AND lease_token = %s AND status = 'processing'",
                    [now, *ids, token],
                )
                superseded = self._supersede_leftovers(group, token, now, reason)
                return moved, len(superseded)

            moved, superseded = in_transaction(self.db, work)
            result.released += moved
            result.superseded += superseded
            result.stale += len(group) - moved - superseded
        self._warn_stale("released", result.stale)
        return result

    def _supersede_leftovers(self, rows: Sequence[QueueRow], token: str, now: datetime, why: str) -> list[int]:
        """Delete the rows still processing under ``token`` after an UPDATE IGNORE skipped them, with audit."""
        ids = [r.id for r in rows]
        left = self.db.query(
            "SELECT id, entity_type, entity_id, store_id, action, content_hash FROM rag_sync_queue"
            f" WHERE id IN ({_ids_sql(len(ids))}) AND lease_token = %s AND status = 'processing'",
            [*ids, token],
        )
        return self._supersede(left, now, why)

    def _supersede(self, rows: Sequence[tuple[Any, ...]], now: datetime, why: str,
                   username: str | None = None) -> list[int]:
        """Delete older rows whose entity has a newer open row; audit each with the newer row's id."""
        if not rows:
            return []
        keys = [(r[1], r[2], int(r[3])) for r in rows]
        newer = {
            (t, i, int(s)): int(nid)
            for nid, t, i, s in select_by_keys(self.db, "id, entity_type, entity_id, store_id", "rag_sync_queue",
                                               keys, " AND open_slot = 1")
        }
        ids = [int(r[0]) for r in rows]
        self.db.execute(f"DELETE FROM rag_sync_queue WHERE id IN ({_ids_sql(len(ids))})", ids)
        self.audit.write_many([
            self.audit.row(
                "superseded",
                f"queue row {r[0]} ({r[1]} {r[2]}, store {r[3]}, {r[4]}) was removed instead of going back to "
                f"the queue ({why}): newer row {newer.get((r[1], r[2], int(r[3])))} carries a newer version",
                level="info", entity_type=r[1], username=username,
                details={"queue_id": int(r[0]), "entity_id": r[2], "store_id": int(r[3]), "action": r[4],
                         "hash": r[5], "newer_queue_id": newer.get((r[1], r[2], int(r[3]))), "reason": why})
            for r in rows
        ])
        log.info("superseded %d queue rows (%s) by newer open rows of the same entities", len(ids), why)
        return ids

    # ------------------------------------------------------------------ housekeeping

    def reset_stuck(self, expired_before: datetime | None = None, chunk: int = DELETE_CHUNK) -> SettleResult:
        """Return ``processing`` rows whose lease expired to ``pending`` (attempts unchanged)."""
        cutoff = expired_before or self.clock.now()
        result = SettleResult()
        while True:
            now = self.clock.now()

            def work(now: datetime = now) -> tuple[int, int, int]:
                rows = self.db.query(
                    "SELECT id, entity_type, entity_id, store_id, action, content_hash FROM rag_sync_queue"
                    " FORCE INDEX (RAG_SYNC_QUEUE_CLAIM)"  # few rows are processing at any time
                    " WHERE status = 'processing' AND lease_expires_at <= %s LIMIT %s FOR UPDATE",
                    (cutoff, chunk),
                )
                if not rows:
                    return 0, 0, 0
                ids = [r[0] for r in rows]
                moved = self.db.execute(
                    "UPDATE IGNORE rag_sync_queue SET status = 'pending', lease_token = NULL,"
                    " lease_expires_at = NULL, updated_at = %s, last_error = %s"
                    f" WHERE id IN ({_ids_sql(len(ids))}) AND status = 'processing' ORDER BY id DESC",
                    [now, "lease expired while processing; returned to pending by the stuck reset", *ids],
                )
                left = [r for r in self.db.query(
                    f"SELECT id, entity_type, entity_id, store_id, action, content_hash FROM rag_sync_queue"
                    f" WHERE id IN ({_ids_sql(len(ids))}) AND status = 'processing'", ids)]
                superseded = self._supersede(left, now, "stuck reset")
                return len(rows), moved, len(superseded)

            seen, moved, superseded = in_transaction(self.db, work)
            result.released += moved
            result.superseded += superseded
            if seen < chunk:
                return result

    def cleanup_sent(self, older_than_days: float, chunk: int = DELETE_CHUNK) -> int:
        """Delete ``sent`` rows sent more than ``older_than_days`` ago (nothing else); return how many."""
        cutoff = self.clock.now() - timedelta(days=older_than_days)
        total = 0
        while True:
            deleted = self.db.execute(
                "DELETE FROM rag_sync_queue WHERE status = 'sent' AND sent_at < %s ORDER BY sent_at LIMIT %s",
                (cutoff, chunk),
            )
            total += deleted
            if deleted < chunk:
                return total

    def retry(self, statuses: Sequence[str] = ("failed", "dead"), ids: Sequence[int] | None = None,
              username: str | None = None) -> SettleResult:
        """Make failed/dead rows due now with a fresh retry budget; superseded ones are removed with audit."""
        bad = [s for s in statuses if s not in ("failed", "dead")]
        if bad or not statuses:
            raise ValueError(f"only failed and dead rows can be retried; got {list(statuses)!r}")
        if ids is not None and not ids:
            return SettleResult()
        result = SettleResult()
        last_id = 0
        while True:
            now = self.clock.now()

            def work(now: datetime = now, after: int = last_id) -> tuple[int, int, int, int]:
                params: list[Any] = [*statuses, after]
                id_clause = ""
                if ids is not None:
                    id_clause = f" AND id IN ({_ids_sql(len(ids))})"
                    params += list(ids)
                params.append(DELETE_CHUNK)
                rows = self.db.query(
                    "SELECT id, entity_type, entity_id, store_id, action, content_hash FROM rag_sync_queue"
                    f" WHERE status IN ({_ids_sql(len(statuses))}) AND id > %s{id_clause}"
                    " ORDER BY id LIMIT %s FOR UPDATE",
                    params,
                )
                if not rows:
                    return 0, 0, 0, after
                chunk_ids = [r[0] for r in rows]
                # Newest first, so that of two dead versions of one entity the newer one reopens.
                moved = self.db.execute(
                    "UPDATE IGNORE rag_sync_queue SET status = 'pending', attempts = 0, next_attempt_at = %s,"
                    " updated_at = %s"
                    f" WHERE id IN ({_ids_sql(len(chunk_ids))}) AND status IN ('failed', 'dead') ORDER BY id DESC",
                    [now, now, *chunk_ids],
                )
                left = self.db.query(
                    "SELECT id, entity_type, entity_id, store_id, action, content_hash FROM rag_sync_queue"
                    f" WHERE id IN ({_ids_sql(len(chunk_ids))}) AND status = 'dead'", chunk_ids)
                superseded = self._supersede(left, now, "manual retry", username)
                return len(rows), moved, len(superseded), int(chunk_ids[-1])

            seen, moved, superseded, last_id = in_transaction(self.db, work)
            result.released += moved
            result.superseded += superseded
            if seen < DELETE_CHUNK:
                return result

    def clear(self, status: str) -> int:
        """Delete every row of a status (``all``: every row); return how many."""
        if status != "all" and status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join((*STATUSES, 'all'))}; got {status!r}")
        total = 0
        while True:
            if status == "all":
                deleted = self.db.execute("DELETE FROM rag_sync_queue ORDER BY id LIMIT %s", (DELETE_CHUNK,))
            else:
                deleted = self.db.execute(
                    "DELETE FROM rag_sync_queue WHERE status = %s ORDER BY id LIMIT %s", (status, DELETE_CHUNK))
            total += deleted
            if deleted < DELETE_CHUNK:
                return total

    def delete(self, ids: Sequence[int]) -> int:
        """Delete rows by id (the dashboard's mass Delete); return how many."""
        total = 0
        for start in range(0, len(ids), DELETE_CHUNK):
            part = [int(i) for i in ids[start:start + DELETE_CHUNK]]
            total += self.db.execute(f"DELETE FROM rag_sync_queue WHERE id IN ({_ids_sql(len(part))})", part)
        return total

    # ------------------------------------------------------------------ reading

    def counts_by_status(self) -> dict[str, int]:
        """Return the number of rows per status (every status present, zero when empty)."""
        counts = dict.fromkeys(STATUSES, 0)
        for status, count in self.db.query("SELECT status, COUNT(*) FROM rag_sync_queue GROUP BY status"):
            counts[status] = int(count)
        return counts

    def due_count(self) -> int:
        """Return how many open rows are due now."""
        now = self.clock.now()
        return sum(int(self.db.scalar(
            "SELECT COUNT(*) FROM rag_sync_queue WHERE status = %s AND next_attempt_at <= %s", (status, now)) or 0)
            for status in OPEN_STATUSES)

    def get(self, queue_id: int) -> dict[str, Any] | None:
        """Return one row with every column, the document included."""
        rows = self.db.query_dicts(
            "SELECT " + ", ".join(f"q.{c}" for c in (*LIST_COLUMNS, "lease_token")) + ", d.document"
            " FROM rag_sync_queue q LEFT JOIN rag_sync_queue_document d ON d.queue_id = q.id WHERE q.id = %s",
            (queue_id,),
        )
        return rows[0] if rows else None

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
        plan: see :func:`_page_plan`.
        """
        if sort not in SORTABLE:
            raise ValueError(f"sort must be one of {', '.join(sorted(SORTABLE))}; got {sort!r}")
        limit = max(1, min(int(limit), 1000))
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("status", status), ("entity_type", entity_type), ("action", action)):
            if value is not None:
                where.append(f"{column} = %s")
                params.append(value)
        filter_sql = (" WHERE " + " AND ".join(where)) if where else ""
        filter_params = list(params)
        direction = "DESC" if descending else "ASC"
        keyset = after is not None and sort not in _NULLABLE
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
        hint = _page_plan(sort, bool(filter_params), matching)
        rows = self.db.query_dicts(
            f"SELECT {', '.join(LIST_COLUMNS)} FROM rag_sync_queue{hint}{clause} ORDER BY {order}{tail}", params)
        total = None
        if with_total:
            total = int(self.db.scalar(f"SELECT COUNT(*) FROM rag_sync_queue{filter_sql}", filter_params) or 0)
        next_after = None
        if len(rows) == limit and sort not in _NULLABLE:
            next_after = (rows[-1][sort], int(rows[-1]["id"]))
        return QueuePage(rows, total, limit, 0 if keyset else int(offset), next_after)


def _page_plan(sort: str, filtered: bool, matching: int | None) -> str:
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
    if sort in _INDEXED_SORTS and sort not in _NULLABLE:
        return ""
    return " FORCE INDEX (PRIMARY)"


def _one_type(rows: Sequence[QueueRow]) -> str | None:
    types = {r.entity_type for r in rows}
    return types.pop() if len(types) == 1 else None


def _type_counts(rows: Sequence[QueueRow]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.entity_type] = counts.get(r.entity_type, 0) + 1
    return {"types": counts}


def _status_text(http_status: int | None) -> str:
    return f"HTTP {http_status}" if http_status is not None else "no HTTP response"
