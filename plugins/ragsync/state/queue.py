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
were handed to someone else. Which documents get queued is decided in :mod:`ragsync.state.intake`;
when a failed row is due again, by the retry policy, which tells ``settle_failed``; the reads
for people are :mod:`ragsync.state.queue_view`.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ragsync.db import Database
from ragsync.documents.model import Document
from ragsync.settings import QueueSettings
from ragsync.state.audit import AuditLog
from ragsync.state.changes import Fingerprints
from ragsync.state.clock import Clock, SystemClock
from ragsync.state.intake import ENQUEUE_CHUNK, EnqueueResult, Intake
from ragsync.state.ledger import Key, Ledger, select_by_keys
from ragsync.state.queue_rows import (
    Claim,
    QueueRow,
    SentBatch,
    SettleResult,
    one_type,
    status_text,
    type_counts,
)
from ragsync.state.queue_view import SORTABLE as SORTABLE  # re-exported: the grid's sorts, read by bench/
from ragsync.state.queue_view import QueueView
from ragsync.state.transaction import in_transaction
from ragsync.vocabulary import OPEN_STATUSES, QUEUE_STATUSES

log = logging.getLogger(__name__)

STATUSES = QUEUE_STATUSES
DELETE_CHUNK = 5000
MAX_ERROR_CHARS = 2000
CLAIM_CANDIDATE_SLACK = 0.25  # extra candidates read, so that rows other workers hold can be skipped
CLAIM_CONTENTION_RETRIES = 20
CURSOR_REFRESH_SECONDS = 5.0  # rescan claimable rows from the start at least this often

# Columns a claimed row carries (its document is read from rag_sync_queue_document after the lock).
_CLAIM_COLUMNS = (
    "q.id, q.entity_type, q.entity_id, q.store_id, q.action, q.content_hash, q.document_bytes, q.attempts, q.source,"
    " q.sequence"
)
# Columns of a row that goes away superseded: its audit trace records them (see _supersede).
_TRACED = "id, entity_type, entity_id, store_id, action, content_hash"


@dataclass(frozen=True)
class _Traced:
    """The traced columns of a queue row, as the ledger reads them."""

    id: int
    entity_type: str
    entity_id: str
    store_id: int
    action: str
    content_hash: str
NO_DOCUMENT_ERROR = ("no document stored for this queue row (rag_sync_queue_document); "
                     "queue the entity again to send it")


def _ids_sql(count: int) -> str:
    return ", ".join(["%s"] * count)


def _truncate(text: str | None, limit: int = MAX_ERROR_CHARS) -> str | None:
    if text is None:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
        # Neither is used here (retry times come from the delivery policy, passed to settle_failed);
        # kept so that callers build the repository as before and can read them.
        self.settings = settings or QueueSettings()
        self.rng = rng or random.Random()
        self.ledger = Ledger(db, self.clock)
        self.audit = AuditLog(db, self.clock)
        self.intake = Intake(db, self.clock, self.ledger)
        self._cursor: dict[tuple[str, int | None], tuple[str, int]] = {}
        self._cursor_since = time.monotonic()

    # ------------------------------------------------------------------ enqueue

    def enqueue(self, documents: Iterable[Document], source: str = "incremental", force: bool = False,
                chunk_size: int = ENQUEUE_CHUNK) -> EnqueueResult:
        """Queue the documents that the backend does not have yet; return what was done with each.

        Which documents need a write, and how they are written: :meth:`ragsync.state.intake.Intake.enqueue`.
        """
        return self.intake.enqueue(documents, source, force, chunk_size)

    def plan(self, documents: Iterable[Document], force: bool = False,
             chunk_size: int = ENQUEUE_CHUNK) -> EnqueueResult:
        """Return what :meth:`enqueue` would do with the documents, writing nothing (:meth:`Intake.plan`)."""
        return self.intake.plan(documents, force, chunk_size)

    def decisions(self, documents: Iterable[Document], force: bool = False,
                  chunk_size: int = ENQUEUE_CHUNK) -> Iterator[tuple[Document, str]]:
        """Yield ``(document, verdict)`` as :meth:`enqueue` would decide now, writing nothing (:meth:`Intake.decisions`)."""
        return self.intake.decisions(documents, force, chunk_size)

    def reserve_sequences(self, count: int) -> int:
        """Reserve ``count`` document sequences in the current transaction (:meth:`Intake.reserve_sequences`)."""
        return self.intake.reserve_sequences(count)

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

    def _claim(self, limit: int, token: str, now: datetime, lease_seconds: int,  # noqa: C901 - one claim transaction, step by step
               shard: int | None, shards: int | None) -> tuple[bool, list[QueueRow]]:
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

    def _owned(self, token: str, rows: Sequence[QueueRow]) -> set[int]:
        """Lock and return the ids of the rows still processing under ``token``."""
        ids = [r.id for r in rows]
        return {int(r[0]) for r in self.db.query(
            f"SELECT id FROM rag_sync_queue WHERE id IN ({_ids_sql(len(ids))})"
            " AND lease_token = %s AND status = 'processing' FOR UPDATE",
            [*ids, token],
        )}

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
                    entity_type=one_type(owned), batch_id=batch.batch_id,
                    details={"items": len(owned), "http_status": batch.http_status, **type_counts(owned),
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

    def settle_failed(self, rows: Claim | Sequence[QueueRow], http_status: int | None, error: str | None, *,
                      retry_at: Mapping[int, datetime | None], batch_id: str | None = None,
                      details: dict[str, Any] | None = None) -> SettleResult:
        """Spend an attempt of each row: ``failed`` and due again at ``retry_at[row.id]``, or ``dead`` (None).

        The times are decided by the caller (the retry policy:
        ``delivery.policy.retry_schedule``); this writes them. A row that cannot return
        to ``failed`` because a newer open row exists for its entity is superseded (see the module
        docstring). ``details`` are added to the ``batch_failed`` audit entry.
        """
        listed = rows.rows if isinstance(rows, Claim) else list(rows)
        undecided = [r.id for r in listed if r.id not in retry_at]
        if undecided:
            raise ValueError(f"no retry decision for queue rows {', '.join(map(str, undecided))}")
        result = SettleResult()
        message = _truncate(error)
        for token, group in self._by_token(listed).items():
            now = self.clock.now()

            def work(token: str = token, group: list[QueueRow] = group, now: datetime = now) -> SettleResult:
                part = SettleResult()
                owned = self._owned(token, group)
                part.stale = len(group) - len(owned)
                mine = [r for r in group if r.id in owned]
                to_dead = [r for r in mine if retry_at[r.id] is None]
                to_retry = [r for r in mine if retry_at[r.id] is not None]
                if to_dead:
                    self._mark_dead(to_dead, token, http_status, message, now)
                    part.dead = len(to_dead)
                if to_retry:
                    schedule: list[Any] = []
                    for r in to_retry:
                        schedule += [r.id, retry_at[r.id]]
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
                        f"delivery of {len(mine)} item(s) failed: {_truncate(error, 300) or status_text(http_status)};"
                        f" {part.failed} will be retried, {part.dead} dead",
                        level="warning", entity_type=one_type(mine), batch_id=batch_id,
                        details={"items": len(mine), "http_status": http_status, "error": _truncate(error, 500),
                                 "retry": part.failed, "dead": part.dead, "superseded": part.superseded,
                                 **(details or {})})
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
                owned = self._owned(token, group)
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
                f"attempt(s): {status_text(http_status)}: {_truncate(message, 300) or 'no response text'}",
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
        left = self._still([r.id for r in rows], " AND lease_token = %s AND status = 'processing'", token)
        return self._supersede(left, now, why)

    def _still(self, ids: Sequence[int], condition: str, *params: Any) -> list[tuple[Any, ...]]:
        """Return the traced columns (``_TRACED``) of the rows among ``ids`` that match ``condition``."""
        return self.db.query(f"SELECT {_TRACED} FROM rag_sync_queue WHERE id IN ({_ids_sql(len(ids))}){condition}",
                             [*ids, *params])

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
                    f"SELECT {_TRACED} FROM rag_sync_queue"
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
                superseded = self._supersede(self._still(ids, " AND status = 'processing'"), now, "stuck reset")
                # the lease may have expired after the POST reached the backend: the ledger says so,
                # so that a change reverted before the next delivery is sent again, not cancelled
                self.ledger.record_failed([_Traced(*r) for r in rows], "failed",
                                          "lease expired while processing: the backend may have received it", at=now)
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
                    f"SELECT {_TRACED} FROM rag_sync_queue"
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
                superseded = self._supersede(self._still(chunk_ids, " AND status = 'dead'"), now, "manual retry",
                                             username)
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
                if status != "sent":
                    self._forget_full_fingerprints()
                return total

    def delete(self, ids: Sequence[int]) -> int:
        """Delete rows by id (the dashboard's mass Delete); return how many."""
        total = 0
        for start in range(0, len(ids), DELETE_CHUNK):
            part = [int(i) for i in ids[start:start + DELETE_CHUNK]]
            total += self.db.execute(f"DELETE FROM rag_sync_queue WHERE id IN ({_ids_sql(len(part))})", part)
        if total:
            self._forget_full_fingerprints()
        return total

    def _forget_full_fingerprints(self) -> None:
        """Make the next full sync read every entity: documents it skipped as unchanged were just removed."""
        Fingerprints(self.db).drop_prefix("full:")

    # ------------------------------------------------------------------ reading

    def counts_by_status(self) -> dict[str, int]:
        """Return the number of rows per status (:meth:`QueueView.counts_by_status`, kept here for callers)."""
        return QueueView(self.db, self.clock).counts_by_status()
