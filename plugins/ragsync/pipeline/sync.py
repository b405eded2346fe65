"""The sync use-cases: full sync with safe deletes, incremental capture, and manual syncs of given ids.

Readers turn Magento rows into documents chunk by chunk; the queue drops what the ledger
already has and keeps one open row per entity. A full sync also turns ledger entries that it
did not produce into deletes, but only after the base tables confirm the entity is gone and
only while the run stays under ``reconcile.max_delete_fraction``; otherwise it queues no delete
at all and fails loudly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ragsync.db import Database
from ragsync.documents.model import Document, ReadBatch
from ragsync.errors import ConfigError, RagSyncError
from ragsync.magento.base import EntityReader
from ragsync.magento.context import MagentoContext, StoreView
from ragsync.pipeline.fingerprint import FullSyncShortcut
from ragsync.settings import Settings
from ragsync.state.audit import AuditLog
from ragsync.state.changes import CapturePositions, Fingerprints
from ragsync.state.clock import Clock, SystemClock
from ragsync.state.intake import EnqueueResult
from ragsync.state.ledger import Ledger
from ragsync.state.queue import QueueRepository
from ragsync.state.runs import SyncRuns
from ragsync.vocabulary import ENTITY_TYPES, PROMOTION_KINDS

log = logging.getLogger(__name__)

CHUNK_SIZE = 1000


class DeleteLimitExceeded(RagSyncError):
    """A full sync would delete more than ``reconcile.max_delete_fraction`` of a type's documents."""


WOULD = {
    "queued": "queue", "replaced": "replace", "already_queued": "skip: already queued",
    "skipped_unchanged": "skip: unchanged", "skipped_dead": "skip: dead", "skipped_absent_delete": "skip: absent delete",
    "skipped_older_read": "skip: older read", "cancelled_reverted": "cancel: reverted",
}
"""What a dry run says would happen to a document (its ``would`` key), per queue verdict."""
WOULD_ABORT = "abort: delete limit"
"""The ``would`` of a delete a real run would not queue: the run stops at the delete limit first."""
SKIP_REASONS = ("already_queued", "skipped_unchanged", "skipped_dead", "skipped_absent_delete", "skipped_older_read")


@dataclass
class SyncResult:
    """What one sync of one entity type did."""

    entity_type: str
    kind: str
    documents: int = 0
    saves: int = 0
    deletes: int = 0
    queued: int = 0
    replaced: int = 0
    skipped: int = 0
    cancelled: int = 0
    """Open rows removed because the entity was changed back to what the backend has (``cancelled_reverted``)."""
    unchanged_entities: int = 0
    """Entities a full sync did not read: their rows are as at the last full sync (:mod:`.fingerprint`)."""
    reconciled_deletes: int = 0
    problems: list[str] = field(default_factory=list)
    problem_ids: set[str] = field(default_factory=set)
    dry_run: bool = False
    dry_run_documents: list[dict[str, Any]] = field(default_factory=list)
    """A dry run's documents: the item form plus ``would``, what a real run would do with it (:data:`WOULD`)."""
    outcome: EnqueueResult = field(default_factory=EnqueueResult)
    """What the queue did (a dry run: would do) with the documents, by verdict."""
    delete_limit: str | None = None
    """A dry run of a full sync that a real run would stop at the delete limit: the reason (nothing raised)."""
    message: str = ""

    def add(self, outcome: EnqueueResult) -> None:
        """Count what the queue did (or would do) with a group of documents."""
        self.outcome.add(outcome)
        self.queued += outcome.queued
        self.replaced += outcome.replaced
        self.skipped += outcome.skipped
        self.cancelled += outcome.cancelled_reverted

    def counts(self) -> dict[str, int]:
        """Return the numeric counts (for the run record and the audit log); ``skipped`` also by reason."""
        return {
            "documents": self.documents, "saves": self.saves, "deletes": self.deletes, "queued": self.queued,
            "replaced": self.replaced, "skipped": self.skipped, "cancelled": self.cancelled,
            "queued_deletes": self.outcome.written_deletes, "reconciled_deletes": self.reconciled_deletes,
            "problems": len(self.problems), "unchanged_entities": self.unchanged_entities,
            **{reason: getattr(self.outcome, reason) for reason in SKIP_REASONS},
        }

    def summary(self) -> str:
        """Return a one-line human summary (a dry run's says what a real run would do)."""
        would = "would be " if self.dry_run else ""
        text = (f"{self.entity_type} {self.kind} sync{' dry run' if self.dry_run else ''}: {self.documents} documents"
                f" ({self.saves} saves, {self.deletes} deletes), {self.queued} {would}queued"
                f" ({self.outcome.written_deletes} deletes), {self.replaced} {would}replaced pending,"
                f" {self.skipped} {would}skipped ({self.outcome.skipped_unchanged} unchanged),"
                f" {self.cancelled} {would}cancelled (reverted before delivery),"
                f" {self.reconciled_deletes} removed entities, {len(self.problems)} problems")
        if self.unchanged_entities:
            text += f"; {self.unchanged_entities} entities not read: unchanged since the last full sync"
        if self.delete_limit:
            text += f"; a real run would stop: {self.delete_limit}"
        return text


def is_type_enabled(settings: Settings, entity_type: str) -> bool:
    """Return whether an entity type is switched on in the settings."""
    section: Any = {
        "product": settings.products, "category": settings.categories, "cms_page": settings.cms_pages,
        "cms_block": settings.cms_blocks, "promotion": settings.promotions,
    }[entity_type]
    return bool(section.enabled)


def make_reader(entity_type: str, ctx: MagentoContext, settings: Settings,
                stores: Sequence[StoreView] | None, now: datetime | None) -> EntityReader[Any]:
    """Return the reader of an entity type."""
    if entity_type == "product":
        from ragsync.magento.products import ProductReader
        return ProductReader(ctx, settings, stores, now)
    if entity_type == "category":
        from ragsync.magento.categories import CategoryReader
        return CategoryReader(ctx, settings, stores, now)
    if entity_type == "cms_page":
        from ragsync.magento.cms import CmsPageReader
        return CmsPageReader(ctx, settings, stores, now)
    if entity_type == "cms_block":
        from ragsync.magento.cms import CmsBlockReader
        return CmsBlockReader(ctx, settings, stores, now)
    if entity_type == "promotion":
        from ragsync.magento.promotions import PromotionReader
        return PromotionReader(ctx, settings, stores, now)
    raise ConfigError(f"unknown entity type {entity_type!r}; allowed: {', '.join(ENTITY_TYPES)}")


def parse_ids(entity_type: str, ids: Iterable[Any] | str | None) -> list[Any] | None:
    """Validate ids given by a user: integers, or ``cart-N``/``catalog-N`` for promotions."""
    if ids is None:
        return None
    if isinstance(ids, str):
        ids = [part.strip() for part in ids.split(",") if part.strip()]
    parsed: list[Any] = []
    for raw in ids:
        text = str(raw).strip()
        if entity_type == "promotion":
            kind, _, number = text.partition("-")
            if kind in PROMOTION_KINDS and number.isdigit():
                parsed.append(f"{kind}-{int(number)}")
                continue
            raise ConfigError(f"invalid promotion id {text!r}: use cart-<rule_id> or catalog-<rule_id>, e.g. cart-3")
        if isinstance(raw, bool) or not text.isdigit() or int(text) <= 0:
            raise ConfigError(f"invalid {entity_type} id {text!r}: ids are positive whole numbers, e.g. 12,57")
        parsed.append(int(text))
    if not parsed:
        raise ConfigError(f"no {entity_type} ids given")
    return list(dict.fromkeys(parsed))


def _chunks(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


class SyncService:
    """Run syncs of one Magento database into one ragsync database."""

    def __init__(self, magento: Database, ragsync: Database, settings: Settings,
                 clock: Clock | None = None) -> None:
        self.magento = magento
        self.ragsync = ragsync
        self.settings = settings
        self.clock = clock or SystemClock()
        self.ctx = MagentoContext(magento)
        self.queue = QueueRepository(ragsync, self.clock)
        self.ledger = Ledger(ragsync)
        self.audit = AuditLog(ragsync, self.clock)
        self.runs = SyncRuns(ragsync, self.clock)

    def stores(self, wanted: Sequence[str | int] | str | None = None) -> list[StoreView]:
        """Resolve the store filter of a run (param, else settings.stores, else all active)."""
        if isinstance(wanted, str | int):
            wanted = [wanted]
        return self.ctx.select_stores(list(wanted or self.settings.stores))

    def enqueue(self, documents: list[Document], result: SyncResult, source: str, force: bool,
                 dry_run: bool = False) -> None:
        if not documents:
            return
        if not dry_run:
            result.add(self.queue.enqueue(documents, source=source, force=force))
            return
        # a dry run asks the queue what it would do, and writes nothing
        verdicts = list(self.queue.decisions(documents, force=force))
        result.add(EnqueueResult.of(verdicts))
        for doc, verdict in verdicts:
            self._dry_run_document(result, doc, WOULD[verdict])

    @staticmethod
    def _dry_run_document(result: SyncResult, doc: Document, would: str) -> None:
        result.dry_run_documents.append({**doc.item(), "would": would})
        log.info("dry run: %s %s store %s %s hash %s: would %s", doc.type, doc.id, doc.store_id, doc.action,
                 doc.hash[:12], would)

    def consume(self, batch: ReadBatch, result: SyncResult, dry_run: bool) -> None:
        result.documents += len(batch.documents)
        for doc in batch.documents:
            if doc.action == "save":
                result.saves += 1
            else:
                result.deletes += 1
        for problem in batch.problems:
            result.problems.append(str(problem))
            result.problem_ids.add(problem.entity_id)
            log.warning("problem: %s", problem)
        if dry_run:
            # the documents are listed with what would happen to them, when the queue is asked (enqueue)
            log.debug("dry run: read %d documents", len(batch.documents))

    def sync(self, entity_type: str, ids: Sequence[Any] | None = None,
             stores: Sequence[str | int] | str | None = None, force: bool = False, dry_run: bool = False,
             kind: str | None = None) -> SyncResult:
        """Sync one entity type: given ids exactly (no reconcile), or everything with reconcile.

        ``dry_run`` writes nothing to ragsync's database (no queue row, audit entry or run record):
        the result counts what a real run would queue, replace, skip (by reason), cancel and delete,
        as the queue decides it now, and lists each document with what would happen to it. A full
        dry run also finds the reconcile deletes and, instead of raising, reports in
        ``delete_limit`` when a real run would stop at ``reconcile.max_delete_fraction``.
        """
        ids = parse_ids(entity_type, ids)
        views = self.stores(stores)
        kind = kind or ("manual" if ids is not None else "full")
        source = "manual" if ids is not None else "full"
        now = self.clock.now()
        reader = make_reader(entity_type, self.ctx, self.settings, views, now)
        result = SyncResult(entity_type, kind, dry_run=dry_run)
        run_id = None if dry_run else self.runs.start(entity_type, kind)
        if run_id is not None:
            self.audit.write("sync_started", f"{entity_type} {kind} sync started", entity_type=entity_type,
                             details={"ids": len(ids) if ids else None, "stores": [v.code for v in views],
                                      "force": force})
        try:
            if ids is not None:
                for chunk in _chunks(ids, CHUNK_SIZE):
                    batch = reader.read(chunk)
                    self.consume(batch, result, dry_run)
                    self.enqueue(batch.documents, result, source, force, dry_run)
            else:
                self._full(reader, views, result, dry_run, force)
        except Exception as exc:
            if run_id is not None:
                status = "aborted" if isinstance(exc, DeleteLimitExceeded) else "failed"
                self.runs.finish(run_id, status, result.counts(), str(exc))
                self.audit.write("sync_finished", f"{entity_type} {kind} sync {status}: {exc}", level="error",
                                 entity_type=entity_type, details=result.counts())
            raise
        result.message = result.summary()
        if run_id is not None:
            self.runs.finish(run_id, "success", result.counts(), result.message)
            self.audit.write("sync_finished", result.message, entity_type=entity_type, details=result.counts())
        log.info("%s", result.message)
        return result

    def _full(self, reader: EntityReader[Any], views: Sequence[StoreView], result: SyncResult, dry_run: bool,
              force: bool) -> None:
        shortcut = self._shortcut(reader.entity_type, views, force)
        produced, held_deletes = self._read_full(reader, views, result, dry_run, force, shortcut)
        # a dry run goes on from here too: every read below is read-only
        checked_at = self.ctx.clock()  # the deletes below are read (found absent) after this
        gone = self._confirmed_gone(reader, views, produced)
        result.reconciled_deletes = len(gone)
        live = self.ledger.live_count(reader.entity_type, [v.store_id for v in views])
        live_deletes = self._live_keys(reader.entity_type, [d.key for d in held_deletes]) + len(gone)
        limit = self.settings.reconcile.max_delete_fraction
        now = self.clock.now()
        if live and live_deletes / live > limit:
            message = (
                f"{reader.entity_type} full sync would delete {live_deletes} of {live} live documents "
                f"({live_deletes / live:.0%}), more than reconcile.max_delete_fraction={limit:.0%}; "
                "no delete was queued. If this is intended (e.g. a catalog clean-up), raise "
                "reconcile.max_delete_fraction in the ragsync_config Variable for one run."
            )
            if not dry_run:
                raise DeleteLimitExceeded(message)
            result.delete_limit = message
            log.warning("dry run: a real run would stop here: %s", message)
            for doc in held_deletes:
                self._dry_run_document(result, doc, WOULD_ABORT)
            for eid, sid in gone:
                self._dry_run_document(result, Document.delete(reader.entity_type, eid, sid, now, checked_at),
                                       WOULD_ABORT)
            return
        for chunk in _chunks(held_deletes, CHUNK_SIZE):
            self.enqueue(chunk, result, "full", False, dry_run)
        for keys in _chunks(gone, CHUNK_SIZE):
            deletes = [Document.delete(reader.entity_type, eid, sid, now, checked_at) for eid, sid in keys]
            self.enqueue(deletes, result, "reconcile", False, dry_run)
        if shortcut is not None and not dry_run:
            shortcut.commit({int(i) for i in result.problem_ids if str(i).isdigit()})

    def _read_full(self, reader: EntityReader[Any], views: Sequence[StoreView], result: SyncResult, dry_run: bool,
                   force: bool, shortcut: FullSyncShortcut | None) -> tuple[set[tuple[str, int]], list[Document]]:
        """Read every entity (or, with a shortcut, what changed) and queue the saves; return what was produced."""
        produced: set[tuple[str, int]] = set()
        held_deletes: list[Document] = []
        wanted = shortcut.to_read() if shortcut is not None else None
        if wanted is None:
            batches: Iterable[ReadBatch] = reader.read_all(CHUNK_SIZE)
        else:
            # only what changed since the last full sync; the others are as they were then
            unchanged = {str(i) for i in self._all_ids(reader)} - {str(i) for i in wanted}
            result.unchanged_entities = len(unchanged)
            produced |= {(eid, v.store_id) for eid in unchanged for v in views}
            batches = (reader.read(chunk) for chunk in _chunks(sorted(wanted), CHUNK_SIZE))
        for batch in batches:
            self.consume(batch, result, dry_run)
            for doc in batch.documents:
                produced.add((doc.id, doc.store_id))
            self.enqueue([d for d in batch.documents if d.action == "save"], result, "full", force, dry_run)
            held_deletes.extend(d for d in batch.documents if d.action == "delete")
        for entity_id in result.problem_ids:
            # an entity that could not be read is not gone: keep what the backend has
            for view in views:
                produced.add((entity_id, view.store_id))
        return produced, held_deletes

    def _shortcut(self, entity_type: str, views: Sequence[StoreView], force: bool) -> FullSyncShortcut | None:
        """Return what lets a full sync skip unchanged products (None: it reads everything)."""
        if not FullSyncShortcut.applies(self.ctx, self.settings, entity_type, force):
            return None
        return FullSyncShortcut(MagentoContext(self.magento), Fingerprints(self.ragsync),
                                CapturePositions(self.ragsync, self.clock), self.settings, views)

    @staticmethod
    def _all_ids(reader: EntityReader[Any]) -> Iterator[Any]:
        for chunk in reader.iter_id_chunks(CHUNK_SIZE * 10):
            yield from chunk

    def _live_keys(self, entity_type: str, keys: Sequence[tuple[str, str, int]]) -> int:
        live = 0
        for chunk in _chunks(list(keys), CHUNK_SIZE):
            hashes = self.ledger.delivered_hashes(chunk)
            live += sum(1 for value in hashes.values() if value and not value[1])
        return live

    def _confirmed_gone(self, reader: EntityReader[Any], views: Sequence[StoreView],
                        produced: set[tuple[str, int]]) -> list[tuple[str, int]]:
        """Return ledger keys (id, store) not produced whose entity is confirmed absent from Magento."""
        store_ids = [v.store_id for v in views]
        candidates = [(eid, sid) for (_t, eid, sid) in self.ledger.keys(reader.entity_type, store_ids, live_only=True)
                      if (eid, sid) not in produced]
        if not candidates:
            return []
        gone: list[tuple[str, int]] = []
        for chunk in _chunks(candidates, CHUNK_SIZE):
            typed = [_typed_id(reader.entity_type, eid) for eid, _ in chunk]
            existing = {str(i) for i in reader.existing_ids(typed)}
            gone.extend((eid, sid) for eid, sid in chunk if eid not in existing)
        return gone

    def removed_since_delivery(self, reader: EntityReader[Any], views: Sequence[StoreView]) -> list[tuple[str, int]]:
        """Return live ledger keys whose entity no longer exists in Magento (one query per 1,000 ids)."""
        store_ids = [v.store_id for v in views]
        keys = [(eid, sid) for (_t, eid, sid) in self.ledger.keys(reader.entity_type, store_ids, live_only=True)]
        removed: list[tuple[str, int]] = []
        for chunk in _chunks(keys, CHUNK_SIZE * 5):
            typed = list({_typed_id(reader.entity_type, eid) for eid, _ in chunk})
            existing = {str(i) for i in reader.existing_ids(typed)}
            removed.extend((eid, sid) for eid, sid in chunk if eid not in existing)
        return removed


def _typed_id(entity_type: str, entity_id: str) -> Any:
    return entity_id if entity_type == "promotion" else int(entity_id)
