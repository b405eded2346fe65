"""Change capture: queue what changed in Magento since the last run, whatever path made the change.

One run (the queue DAG's capture task, or ``ragsync capture``) collects changed keys from every
source the shop has (:mod:`ragsync.magento.changes`): ``updated_at`` where no changelog covers
the entity table, Magento's mview changelogs, fingerprints of the tables no changelog covers,
and price and rule windows that opened or closed. It then follows what each change reaches (a
category's products and subcategories, the products using an option or attribute, a child's
parent, every document of a store view whose config changed), reads those entities and queues
what differs from what the backend has. Positions move only after the queue holds the result.

A changelog whose rows Magento deleted before capture read them, and a type's first capture,
read the entity type in full instead of missing changes; a fingerprint group seen for the first
time counts each of its keys as changed once (products over one sweep). The queue skips what the
backend already has.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ragsync.magento import changes
from ragsync.magento.changes import BUCKET, SWEPT, SourcePlan
from ragsync.magento.context import MagentoContext, StoreView
from ragsync.pipeline.fingerprint import Write, diff_group, save
from ragsync.pipeline.sync import CHUNK_SIZE, SyncResult, SyncService, make_reader
from ragsync.state.changes import BUCKET_LEVEL, KEY_LEVEL, CapturePositions, Fingerprints
from ragsync.state.watermarks import Watermarks
from ragsync.vocabulary import ENTITY_TYPES

log = logging.getLogger(__name__)

CAPTURE_OVERLAP = timedelta(minutes=2)
"""How far before its watermark capture looks at ``updated_at`` (a transaction committed late)."""

_TARGETS_OF_TYPE = {
    "product": (changes.PRODUCT, changes.OPTION, changes.ATTRIBUTE),
    "category": (changes.CATEGORY,),
    "cms_page": (changes.CMS_PAGE, changes.CMS_BLOCK),
    "cms_block": (changes.CMS_BLOCK,),
    "promotion": (changes.CART_RULE, changes.CATALOG_RULE),
}
_VIEW_TYPES = {changes.PRODUCT: "product", changes.SOURCE_ITEM: "product", changes.CATEGORY: "category",
               changes.CATALOG_RULE: "promotion"}
_UPDATED_AT_TABLES = {"product": "catalog_product_entity", "category": "catalog_category_entity"}
STORE_GROUP = "store"


@dataclass
class Changed:
    """What one capture run found: keys per target, entity types and store views to read in full."""

    keys: dict[str, set[int]] = field(default_factory=dict)
    ids: dict[str, set[Any]] = field(default_factory=dict)
    everything: set[str] = field(default_factory=set)
    stores: set[int] = field(default_factory=set)
    sources: Counter[str] = field(default_factory=Counter)

    def add_keys(self, target: str, keys: Iterable[int], source: str) -> None:
        """Record changed keys of a target, counted under ``source``."""
        found = set(keys)
        if found:
            self.keys.setdefault(target, set()).update(found)
            self.sources[source] += len(found)

    def add_ids(self, entity_type: str, ids: Iterable[Any], source: str) -> None:
        """Record entity ids to read again, counted under ``source``."""
        found = set(ids)
        if found:
            self.ids.setdefault(entity_type, set()).update(found)
            self.sources[source] += len(found)


@dataclass
class _Pending:
    """Positions to store once the queue holds what they led to."""

    versions: dict[str, int | None] = field(default_factory=dict)
    moments: dict[str, datetime | None] = field(default_factory=dict)
    fingerprints: list[Write] = field(default_factory=list)
    drop_groups: list[str] = field(default_factory=list)
    watermarks: dict[str, datetime] = field(default_factory=dict)


@dataclass
class CaptureResult:
    """What a capture run did, per entity type, and where its changes came from."""

    results: dict[str, SyncResult]
    sources: dict[str, int]
    changelogs: list[str]
    fingerprinted_tables: list[str]

    def counts(self) -> dict[str, Any]:
        """Return per-type counts plus the sources (the task's XCom and the CLI's JSON)."""
        return {"types": {t: r.counts() for t, r in self.results.items()}, "sources": dict(self.sources),
                "changelogs": self.changelogs, "fingerprinted_tables": self.fingerprinted_tables}


class Capture:
    """One change-capture run over the enabled entity types."""

    def __init__(self, service: SyncService) -> None:
        self.service = service
        self.settings = service.settings
        self.ctx = MagentoContext(service.magento)  # fresh: store config and attributes as they are now
        self.positions = CapturePositions(service.ragsync, service.clock)
        self.fingerprints = Fingerprints(service.ragsync)
        self.watermarks = Watermarks(service.ragsync, service.clock)

    def run(self, types: Sequence[str] = ENTITY_TYPES) -> CaptureResult:
        """Collect changes from every source, read what they reach, queue it, then move the positions."""
        views = self.ctx.select_stores(list(self.settings.stores))
        plan, processed = changes.plan_sources(self.ctx)
        until = self.ctx.clock()
        now = self.service.clock.now()
        positions = self.positions.all()
        found = Changed()
        pending = _Pending()
        for entity_type in types:
            if self.watermarks.get(entity_type) is None:
                found.everything.add(entity_type)
                found.sources[f"first capture: {entity_type}"] += 1
            pending.watermarks[entity_type] = until
        self._changelogs(plan, processed, positions, types, found, pending)
        self._updated_at(plan, types, until, found)
        if self.settings.capture.fingerprints:
            self._fingerprints(plan, types, positions, found, pending)
        self._stores(views, found, pending)
        self._windows(views, types, positions, now, found, pending)
        self._follow(types, found)
        results = {t: self._read(t, views, now, found) for t in types}
        self._save(pending, results)
        outcome = CaptureResult(results, dict(found.sources), [v.view_id for v in plan.views],
                                sorted({s.table for s in plan.fingerprinted}))
        if any(r.queued or r.problems for r in results.values()):
            log.info("capture: %s; sources %s", "; ".join(r.message for r in results.values()), dict(found.sources))
        return outcome

    # --- sources ---------------------------------------------------------------------------------
    def _changelogs(self, plan: SourcePlan, processed: dict[str, int | None],
                    positions: dict[str, tuple[int | None, datetime | None]], types: Sequence[str],
                    found: Changed, pending: _Pending) -> None:
        for view in plan.views:
            entity_type = _VIEW_TYPES[view.target]
            if entity_type not in types:
                continue
            name = f"changelog:{view.view_id}"
            window = changes.changelog_window(self.ctx, view, positions.get(name, (None, None))[0],
                                              processed.get(view.view_id))
            if window.lost:
                log.warning("Magento removed rows of %s that capture had not read (after version %d), or the "
                            "changelog was created again: reading every %s instead", view.changelog,
                            window.after, entity_type)
                found.everything.add(entity_type)
                found.sources[f"lost changelog: {view.view_id}"] += 1
            else:
                found.add_keys(view.target, changes.changelog_ids(self.ctx, view, window), f"changelog {view.view_id}")
            pending.versions[name] = window.upto

    def _updated_at(self, plan: SourcePlan, types: Sequence[str], until: datetime, found: Changed) -> None:
        for entity_type in types:
            table = _UPDATED_AT_TABLES.get(entity_type)
            if entity_type in found.everything or (table and plan.covered(table)):
                continue  # a changelog records what updated_at would show
            if entity_type == "promotion" and self.settings.capture.fingerprints:
                continue  # rules have no timestamps: their fingerprints say which changed
            since = self.watermarks.get(entity_type)
            if since is None:
                continue
            reader = make_reader(entity_type, self.ctx, self.settings, None, self.service.clock.now())
            found.add_ids(entity_type, reader.changed_ids(since - CAPTURE_OVERLAP, until), f"updated_at {entity_type}")

    def _fingerprints(self, plan: SourcePlan, types: Sequence[str],
                      positions: dict[str, tuple[int | None, datetime | None]], found: Changed,
                      pending: _Pending) -> None:
        targets = sorted({t for entity_type in types for t in _TARGETS_OF_TYPE[entity_type]})
        current = {f"{t}:{plan.signature(t)}" for t in targets if plan.group(t)}
        known = self.fingerprints.groups()
        pending.drop_groups = sorted(g for g in known if g.split(":")[0] in targets and g not in current)
        for target in targets:
            sources = plan.group(target)
            if not sources:
                continue
            group = f"{target}:{plan.signature(target)}"
            # up to the highest id now or stored: entities deleted at the top of the range are seen
            stored_top = max(self.fingerprints.load(group, BUCKET_LEVEL), default=0)
            top_bucket = max(changes.highest_key(self.ctx, target) // BUCKET, stored_top)
            if target in SWEPT:
                first, last = self._sweep_window(target, top_bucket, positions, pending)
            else:  # small: every key, every run
                first, last = 0, top_bucket * BUCKET + BUCKET - 1
            diff = diff_group(self.ctx, self.fingerprints, group, sources, first, last)
            pending.fingerprints.extend(diff.writes)
            found.add_keys(target, diff.changed, f"fingerprint {target}")

    def _sweep_window(self, target: str, top_bucket: int, positions: dict[str, tuple[int | None, datetime | None]],
                      pending: _Pending) -> tuple[int, int]:
        """Return the keys [first, last] this run checks of a target as large as the catalog, and move on."""
        name = f"sweep:{target}"
        start = positions.get(name, (None, None))[0] or 0
        if start > top_bucket:
            start = 0
        stop = min(start + self.settings.capture.fingerprint_buckets_per_run - 1, top_bucket)
        pending.versions[name] = stop + 1 if stop < top_bucket else 0
        return start * BUCKET, stop * BUCKET + BUCKET - 1

    def _stores(self, views: Sequence[StoreView], found: Changed, pending: _Pending) -> None:
        now_sums = changes.store_checksums(self.ctx, views)
        stored = self.fingerprints.load(STORE_GROUP, KEY_LEVEL)
        moved = {sid for sid, value in now_sums.items() if stored.get(sid) != value}
        if moved and stored:
            found.stores |= moved
            found.sources["store config"] += len(moved)
        pending.fingerprints.append((STORE_GROUP, KEY_LEVEL, [(0, 2**63 - 1)], now_sums))

    def _windows(self, views: Sequence[StoreView], types: Sequence[str],
                 positions: dict[str, tuple[int | None, datetime | None]], now: datetime, found: Changed,
                 pending: _Pending) -> None:
        for entity_type in ("product", "promotion"):
            if entity_type not in types:
                continue
            name = f"window:{entity_type}"
            since = positions.get(name, (None, None))[1]
            pending.moments[name] = now
            if since is None or since >= now:
                continue
            if entity_type == "product":
                found.add_ids("product", changes.window_products(self.ctx, views, since, now), "price window")
            else:
                for kind, table in (("cart", "salesrule"), ("catalog", "catalogrule")):
                    rules = changes.window_rules(self.ctx, table, views, since, now)
                    found.add_ids("promotion", {f"{kind}-{r}" for r in rules}, "rule window")

    # --- what a change reaches -----------------------------------------------------------------
    def _follow(self, types: Sequence[str], found: Changed) -> None:
        keys = found.keys
        ctx = self.ctx
        categories = keys.get(changes.CATEGORY, set()) | set(found.ids.get("category", set()))
        if categories:
            below = changes.categories_below(ctx, categories)
            found.add_ids("category", below, "category and its subcategories")
            found.add_ids("product", changes.products_in_categories(ctx, below), "products of changed categories")
        found.add_ids("product", keys.get(changes.PRODUCT, set()), "product rows")
        if keys.get(changes.OPTION):
            found.add_ids("product", changes.products_with_options(ctx, keys[changes.OPTION]), "option labels")
        if keys.get(changes.ATTRIBUTE):
            found.add_ids("product", changes.products_with_attributes(ctx, keys[changes.ATTRIBUTE]), "attributes")
        if keys.get(changes.SOURCE_ITEM):
            found.add_ids("product", changes.products_of_source_items(ctx, keys[changes.SOURCE_ITEM]), "MSI stock")
        catalog_rules = keys.get(changes.CATALOG_RULE, set())
        if catalog_rules:
            found.add_ids("promotion", {f"catalog-{r}" for r in catalog_rules}, "catalog rules")
            found.add_ids("product", changes.products_of_catalog_rules(ctx, catalog_rules), "catalog rule products")
        found.add_ids("promotion", {f"cart-{r}" for r in keys.get(changes.CART_RULE, set())}, "cart rules")
        if categories or keys.get(changes.OPTION) or keys.get(changes.ATTRIBUTE):
            # rule conditions name categories, attributes and options: the few rules are read again
            rules = make_reader("promotion", ctx, self.settings, None, self.service.clock.now())
            found.add_ids("promotion", {i for chunk in rules.iter_id_chunks(CHUNK_SIZE) for i in chunk},
                          "names in rule conditions")
        found.add_ids("cms_page", keys.get(changes.CMS_PAGE, set()), "cms pages")
        blocks = keys.get(changes.CMS_BLOCK, set())
        if blocks:
            for entity_type in ("cms_block", "cms_page"):
                if entity_type in types:
                    reader: Any = make_reader(entity_type, ctx, self.settings, None, self.service.clock.now())
                    found.add_ids(entity_type, reader.including_blocks(blocks), "blocks they include")
            found.add_ids("cms_block", blocks, "cms blocks")
        products = set(found.ids.get("product", set()))
        if products:
            found.add_ids("product", changes.parents_of(ctx, products) - products, "configurable parents")

    # --- reading and queueing --------------------------------------------------------------------
    def _read(self, entity_type: str, views: Sequence[StoreView], now: datetime, found: Changed) -> SyncResult:
        result = SyncResult(entity_type, "incremental")
        reader = make_reader(entity_type, self.ctx, self.settings, views, now)
        if entity_type in found.everything:
            for chunk in reader.iter_id_chunks(CHUNK_SIZE):
                self._queue(reader.read(chunk), result)
            self._queue_removed(reader, views, result)
        else:
            ids = sorted(found.ids.get(entity_type, set()), key=str)
            for start in range(0, len(ids), CHUNK_SIZE):
                self._queue(reader.read(ids[start:start + CHUNK_SIZE]), result)
            for view in [v for v in views if v.store_id in found.stores]:
                per_store = make_reader(entity_type, self.ctx, self.settings, [view], now)
                for chunk in per_store.iter_id_chunks(CHUNK_SIZE):
                    self._queue(per_store.read(chunk), result)
        result.message = result.summary()
        return result

    def _queue(self, batch: Any, result: SyncResult) -> None:
        self.service.consume(batch, result, dry_run=False)
        self.service.enqueue(batch.documents, result, "incremental", force=False)

    def _queue_removed(self, reader: Any, views: Sequence[StoreView], result: SyncResult) -> None:
        """Queue deletes of delivered entities Magento no longer has (when a type is read in full)."""
        from ragsync.documents.model import Document

        checked_at = self.ctx.clock()
        removed = self.service.removed_since_delivery(reader, views)
        result.reconciled_deletes = len(removed)
        now = self.service.clock.now()
        for start in range(0, len(removed), CHUNK_SIZE):
            chunk = removed[start:start + CHUNK_SIZE]
            self.service.enqueue([Document.delete(reader.entity_type, eid, sid, now, checked_at)
                                   for eid, sid in chunk], result, "incremental", force=False)

    def _save(self, pending: _Pending, results: dict[str, SyncResult]) -> None:
        """Store positions and fingerprints now that the queue holds what they led to."""
        problems = {int(i) for r in results.values() if r.entity_type == "product"
                    for i in r.problem_ids if str(i).isdigit()}
        save(self.fingerprints, pending.fingerprints, problems, f"{changes.PRODUCT}:")
        if pending.drop_groups:
            self.fingerprints.drop_groups(pending.drop_groups)
        self.positions.save(pending.versions, pending.moments)
        for entity_type, until in pending.watermarks.items():
            self.watermarks.set(entity_type, until)


def capture(service: SyncService, types: Sequence[str] | None = None) -> CaptureResult:
    """Run one capture over ``types`` (default: every entity type enabled in the settings)."""
    from ragsync.pipeline.sync import is_type_enabled

    wanted = [t for t in (types or ENTITY_TYPES) if is_type_enabled(service.settings, t)]
    return Capture(service).run(wanted)

