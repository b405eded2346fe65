"""Documents into the outbox (``rag_sync_queue``): which ones need a write, and writing them.

The rules of what is queued live here: a document is skipped when the backend already has it
(the ledger's delivered hash), when it is a dead version, a delete of something the backend does
not have, or a read older than the entity's open, in-flight or delivered version (see
:meth:`Intake.enqueue`). A change reverted before it was delivered (the newest read is what the
backend has again, and nothing of the entity is in flight) removes the entity's open row instead,
with an audit entry ``queue_cancelled``. What is written rewrites the entity's open row in place
or adds one (the life cycle is :mod:`ragsync.state.queue`), with a per-entity sequence from one
counter row and the item JSON in ``rag_sync_queue_document``. :meth:`Intake.plan` makes the same
decisions without writing anything (a dry run).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from ragsync.db import Database
from ragsync.documents.model import Document
from ragsync.errors import DatabaseError
from ragsync.state.audit import AuditLog
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
    cancelled_reverted: int = 0
    """The backend has this version already (a save of the delivered hash, a delete of what it does not
    hold) and the entity's open row carried a change made in between: that row was removed, not sent."""
    written_deletes: int = 0
    """Of the documents written (queued or replaced), the deletes."""

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

    def count(self, verdict: str, document: Document) -> None:
        """Count one document's verdict (an :data:`VERDICTS` name)."""
        setattr(self, verdict, getattr(self, verdict) + 1)
        if verdict in _WRITES and document.action == "delete":
            self.written_deletes += 1

    @classmethod
    def of(cls, verdicts: Iterable[tuple[Document, str]]) -> EnqueueResult:
        """Return the counts of ``(document, verdict)`` pairs."""
        result = cls()
        for document, verdict in verdicts:
            result.count(verdict, document)
        return result


VERDICTS = ("queued", "replaced", "already_queued", "skipped_unchanged", "skipped_dead", "skipped_absent_delete",
            "skipped_older_read", "cancelled_reverted")
"""What can happen to one document: the EnqueueResult field that counts it."""
_WRITES = ("queued", "replaced")
_ACTS = (*_WRITES, "cancelled_reverted")  # verdicts that need the write transaction


OpenRow = tuple[str, str, datetime | None, int]
"""An open or in-flight queue row of an entity: ``(status, content_hash, read_at, id)``."""


def older_read(document: Document, rows: Sequence[Sequence[Any]], entry: LedgerEntry | None) -> bool:
    """Return True when the entity's open, in-flight or delivered version was read after ``document``.

    ``rows`` are the entity's open and in-flight rows (``(status, hash, read_at, ...)``). Unknown
    read times (None: rows from before migration 008, documents not built by a reader) order nothing.
    """
    if document.read_at is None:
        return False
    known = [row[2] for row in rows if row[2] is not None]
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


def backend_has(document: Document, digest: str, entry: LedgerEntry | None) -> bool:
    """Return True when the ledger says the backend is already in the state ``document`` describes.

    A save: the backend holds this hash, live. A delete: the backend holds nothing live.
    """
    if document.action == "delete":
        return entry is None or not entry.live
    return entry is not None and entry.live and entry.delivered_hash == digest


def _chunked(documents: Iterable[Document], size: int) -> Iterator[list[Document]]:
    chunk: list[Document] = []
    for document in documents:
        chunk.append(document)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _latest(documents: Sequence[Document]) -> tuple[list[Document], list[Document]]:
    """Return the last document of each key, and the earlier ones it replaces (in the same chunk)."""
    latest: dict[Key, Document] = {}
    superseded: list[Document] = []
    for document in documents:
        if document.key in latest:
            superseded.append(latest[document.key])
        latest[document.key] = document
    return list(latest.values()), superseded


class Intake:
    """Queue documents: deduplicated against the ledger and the entities' open or in-flight rows."""

    def __init__(self, db: Database, clock: Clock, ledger: Ledger) -> None:
        self.db = db
        self.clock = clock
        self.ledger = ledger
        self.audit = AuditLog(db, clock)

    def enqueue(self, documents: Iterable[Document], source: str = "incremental", force: bool = False,
                chunk_size: int = ENQUEUE_CHUNK) -> EnqueueResult:
        """Queue the documents that the backend does not have yet; return what was done with each.

        Per chunk: one ledger query, one query for the entities' open or in-flight rows, and
        multi-row ``INSERT ... ON DUPLICATE KEY UPDATE`` statements. A document is skipped when
        its hash equals the delivered hash, equals the hash of a dead attempt, or is a delete of
        something the backend does not have -- unless ``force``, or unless an open or in-flight
        row of the same entity carries other content (then the document must follow it).

        A change reverted before delivery is cancelled (``cancelled_reverted``): when the backend
        already has what the document says (:func:`backend_has`), the entity has an open row
        with other content but nothing in flight, and no attempt since the last delivery can have
        reached the backend (the ledger records no failed attempt), that open row is deleted (its stored document
        with it) and an audit entry ``queue_cancelled`` written, instead of sending the version the
        backend has again. With a row in flight, the document is written to follow it; ``force``
        writes it too.

        A document read (``Document.read_at``) before the entity's open, in-flight or delivered
        version was read is older than that one and is never queued, ``force`` or not
        (``skipped_older_read``). Chunks with something to write or cancel decide again inside the
        write transaction, after the sequence counter's lock, so concurrent enqueues cannot interleave.
        """
        if source not in QUEUE_SOURCES:
            raise ValueError(f"queue source must be one of {', '.join(QUEUE_SOURCES)}; got {source!r}")
        total = EnqueueResult()
        for chunk in _chunked(documents, chunk_size):
            total.add(self._enqueue_chunk(chunk, source, force))
        return total

    def plan(self, documents: Iterable[Document], force: bool = False,
             chunk_size: int = ENQUEUE_CHUNK) -> EnqueueResult:
        """Return what :meth:`enqueue` would do with the documents, writing nothing (a dry run)."""
        return EnqueueResult.of(self.decisions(documents, force, chunk_size))

    def decisions(self, documents: Iterable[Document], force: bool = False,
                  chunk_size: int = ENQUEUE_CHUNK) -> Iterator[tuple[Document, str]]:
        """Yield ``(document, verdict)`` for each document as :meth:`enqueue` would decide now; write nothing.

        The verdict is an :data:`VERDICTS` name. The decision is the one an enqueue makes before its
        write transaction (plain reads, no lock), so a concurrent enqueue or claim can still change
        it. Chunks are decided one by one against the database as it is: what an earlier chunk of
        the same call would have written is not seen by a later one (a sync produces each entity once).
        """
        for chunk in _chunked(documents, chunk_size):
            latest, superseded = _latest(chunk)
            yield from ((document, "replaced") for document in superseded)
            yield from self._decide(latest, force)

    def _inflight(self, keys: Sequence[Key]) -> dict[Key, list[OpenRow]]:
        """Return ``key -> [(status, hash, read_at, id)]`` of the open and processing rows of these entities."""
        found: dict[Key, list[OpenRow]] = {}
        rows = select_by_keys(self.db, "entity_type, entity_id, store_id, status, content_hash, read_at, id",
                              "rag_sync_queue FORCE INDEX (RAG_SYNC_QUEUE_ENTITY)", keys,
                              " AND status IN ('pending', 'failed', 'processing')")
        for t, i, s, status, content_hash, read_at, queue_id in rows:
            found.setdefault((t, i, int(s)), []).append((status, content_hash, read_at, int(queue_id)))
        return found

    def _enqueue_chunk(self, documents: Sequence[Document], source: str, force: bool) -> EnqueueResult:
        latest, superseded = _latest(documents)
        replaced_in_chunk = len(superseded)  # older changes in the same chunk, replaced before they were written
        # A first decision from plain reads: a chunk with nothing to write (an unchanged full
        # sync) costs two queries and no transaction. It writes nothing, not even a cancel: it
        # only tells which documents need the transaction, where they are decided again.
        first_verdicts = self._decide(latest, force)
        result = EnqueueResult.of((d, v) for d, v in first_verdicts if v not in _ACTS)
        result.replaced += replaced_in_chunk
        acts = [d for d, v in first_verdicts if v in _ACTS]
        if not acts:
            return result

        def work() -> list[tuple[Document, str]]:
            # The counter row's lock is the first one every enqueue takes, so enqueues run one
            # at a time from here. Deciding again under it (READ COMMITTED: what other enqueues
            # committed while this one waited) keeps a concurrent enqueue of a newer read from
            # being overwritten by this older one.
            first = self.reserve_sequences(len(acts))
            seen: dict[Key, OpenRow] = {}
            verdicts = self._decide(acts, force, seen=seen)
            cancels = [d for d, v in verdicts if v == "cancelled_reverted"]
            missed = self._cancel(cancels, seen) if cancels else []
            if missed:
                # a claim took these rows between the decision and the delete: the document now
                # follows the in-flight row (decided again, cancelling nothing)
                again = {d.key: v for d, v in self._decide(missed, force, cancel=False)}
                verdicts = [(d, again.get(d.key, v)) for d, v in verdicts]
            writes = [d for d, v in verdicts if v in _WRITES]
            if writes:
                self._insert(writes, source, force, first)
            return verdicts

        result.add(EnqueueResult.of(in_transaction(self.db, work, isolation="READ COMMITTED")))
        return result

    def _decide(self, documents: Sequence[Document], force: bool, cancel: bool = True,
                seen: dict[Key, OpenRow] | None = None) -> list[tuple[Document, str]]:
        """Return ``(document, verdict)`` for each document (one per key); plain reads, no write.

        ``seen`` receives the open row each cancelled document's verdict was decided on, so that
        the cancel removes that row only if it is still the same. ``cancel=False`` writes instead.
        """
        keys = [d.key for d in documents]
        ledger = self.ledger.lookup(keys)
        inflight = self._inflight(keys)
        verdicts: list[tuple[Document, str]] = []
        for document in documents:
            rows = inflight.get(document.key, [])
            verdict = self._verdict(document, rows, ledger.get(document.key), force, cancel)
            if verdict == "cancelled_reverted" and seen is not None:
                seen[document.key] = rows[0]  # the open row: nothing is in flight
            verdicts.append((document, verdict))
        return verdicts

    def _verdict(self, document: Document, rows: Sequence[OpenRow], entry: LedgerEntry | None, force: bool,
                 cancel: bool) -> str:
        """Return the verdict of one document given its entity's open and in-flight rows and ledger entry."""
        digest = document.hash
        if older_read(document, rows, entry):
            return "skipped_older_read"
        open_rows = [row for row in rows if row[0] != "processing"]
        if not force:
            if any(row[1] == digest for row in open_rows):
                return "already_queued"
            if not any(row[1] != digest for row in rows):
                reason = skip_reason(document, digest, entry)
                if reason is not None:
                    return reason
            elif (cancel and open_rows and len(open_rows) == len(rows) and backend_has(document, digest, entry)
                  and (entry is None or entry.failed_status is None)):
                # no attempt since the last delivery may have reached the backend (a failed or
                # timed-out POST, a lease that expired mid-send): only then is the open row unsent
                return "cancelled_reverted"
        return "replaced" if open_rows else "queued"

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

    def _cancel(self, documents: Sequence[Document], seen: dict[Key, OpenRow]) -> list[Document]:
        """Delete the open rows of reverted changes, with audit; return the documents whose row was not there.

        In the write transaction, after the decision: the rows decided on are locked by id and
        deleted only while still open (pending or failed) with the hash seen; the stored documents
        go with them (``rag_sync_queue_document`` cascades). A row a claim took in the meantime is
        in flight now, and its document is returned, to be written after it.
        """
        wanted = {seen[d.key][3]: d for d in documents}
        ids = list(wanted)
        locked = self.db.query(
            "SELECT id, entity_type, entity_id, store_id, action, content_hash, status FROM rag_sync_queue"
            f" FORCE INDEX (PRIMARY) WHERE id IN ({', '.join(['%s'] * len(ids))})"
            " AND status IN ('pending', 'failed') FOR UPDATE",
            ids,
        )
        gone = [row for row in locked
                if (row[1], row[2], int(row[3])) == wanted[int(row[0])].key
                and row[5] == seen[wanted[int(row[0])].key][1]]
        gone_ids = [int(row[0]) for row in gone]
        if gone_ids:
            self.db.execute(
                f"DELETE FROM rag_sync_queue WHERE id IN ({', '.join(['%s'] * len(gone_ids))})"
                " AND status IN ('pending', 'failed')", gone_ids)
            self.audit.write_many([self._cancel_audit(row, wanted[int(row[0])]) for row in gone])
        removed = set(gone_ids)
        return [d for queue_id, d in wanted.items() if queue_id not in removed]

    def _cancel_audit(self, row: Sequence[Any], document: Document) -> tuple[Any, ...]:
        queue_id, entity_type, entity_id, store_id, action, content_hash, status = row
        has = ("does not hold it" if document.action == "delete"
               else f"already has (hash {document.hash[:12]})")
        return self.audit.row(
            "queue_cancelled",
            f"queue row {queue_id} ({entity_type} {entity_id}, store {store_id}, {action}, {status}) was removed "
            f"before delivery: the entity was changed back to the version the backend {has}",
            level="info", entity_type=entity_type,
            details={"queue_id": int(queue_id), "entity_id": entity_id, "store_id": int(store_id),
                     "action": action, "status": status, "hash": content_hash,
                     "reverted_to_action": document.action, "reverted_to_hash": document.hash,
                     "reason": "reverted to the delivered version"})
