"""Documents into the outbox (``rag_sync_queue``): which ones need a write, and writing them.

The rules of what is queued live here: a document is skipped when the backend already has it
(the ledger's delivered hash), when it is a dead version, a delete of something the backend does
not have, or a read older than the entity's open, in-flight or delivered version (see
:meth:`Intake.enqueue`). What is written rewrites the entity's open row in place or adds one
(the life cycle is :mod:`ragsync.state.queue`), with a per-entity sequence from one counter row
and the item JSON in ``rag_sync_queue_document``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from ragsync.db import Database
from ragsync.documents.model import Document
from ragsync.errors import DatabaseError
from ragsync.state.clock import Clock
from ragsync.state.ledger import Key, Ledger, LedgerEntry, select_by_keys
from ragsync.state.transaction import in_transaction
from ragsync.vocabulary import QUEUE_SOURCES

ENQUEUE_CHUNK = 1000
_INSERT_STATEMENT_BYTES = 1 << 20


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


def older_read(document: Document, rows: Sequence[tuple[str, str, datetime | None]],
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


def skip_reason(document: Document, digest: str, entry: LedgerEntry | None) -> str | None:
    """Return the EnqueueResult field of a document the ledger says needs no write (None: write it)."""
    if document.action == "delete" and (entry is None or not entry.live):
        return "skipped_absent_delete"
    if entry is None:
        return None
    if entry.delivered_hash == digest:
        return "skipped_unchanged"
    if entry.failed_status == "dead" and entry.failed_hash == digest:
        return "skipped_dead"
    return None


class Intake:
    """Queue documents: deduplicated against the ledger and the entities' open or in-flight rows."""

    def __init__(self, db: Database, clock: Clock, ledger: Ledger) -> None:
        self.db = db
        self.clock = clock
        self.ledger = ledger

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
        if source not in QUEUE_SOURCES:
            raise ValueError(f"queue source must be one of {', '.join(QUEUE_SOURCES)}; got {source!r}")
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
            if older_read(document, rows, entry):
                result.skipped_older_read += 1
                continue
            open_hashes = [h for status, h, _read_at in rows if status != "processing"]
            if not force:
                if digest in open_hashes:
                    result.already_queued += 1
                    continue
                if not any(h != digest for _status, h, _read_at in rows):
                    reason = skip_reason(document, digest, entry)
                    if reason is not None:
                        setattr(result, reason, getattr(result, reason) + 1)
                        continue
            if open_hashes:
                result.replaced += 1
            else:
                result.queued += 1
            writes.append(document)
        return result, writes

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
        from MySQLdb.times import format_TIMESTAMP

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
