"""Which keys of a fingerprint group changed since it was stored, and what a full sync need not read.

Capture and the full product sync compare the same way (:func:`diff_group`): per bucket of 1,000
keys the XOR of the row digests Magento computes now against the stored one, then per key only
inside the buckets that moved. Nothing is stored until the caller has queued what it found
(:func:`save`), so a crash compares again instead of missing.

:class:`FullSyncShortcut` lets a full product sync read only the products whose rows changed
since the last full sync of the same store views. Its group's name carries a digest of
everything else a product document embeds (categories, option and attribute labels, the store
views' URLs, locale and currency, the settings, the ragsync version), so when any of that
changed the group is new and every product is read. Products with special-price dates are
always read (their documents change with the date), so are the configurable parents of changed
children, and so are products whose queued or delivered version another path (capture, a
resync) read after the last full sync ended, or whose last attempt failed. ``force``, Adobe Commerce (row versions activate by time) and
``capture.fingerprints: false`` read everything, as before.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ragsync import __version__
from ragsync.magento import changes
from ragsync.magento.changes import BUCKET, END, Source
from ragsync.magento.context import MagentoContext, StoreView
from ragsync.settings import Settings
from ragsync.state.changes import BUCKET_LEVEL, KEY_LEVEL, CapturePositions, Fingerprints

Write = tuple[str, int, list[tuple[int, int]], dict[int, int]]
"""A pending replace of stored checksums: group, level, id spans, values."""


@dataclass
class GroupDiff:
    """The keys of a group that changed, and the checksums to store once they are queued."""

    changed: set[int] = field(default_factory=set)
    writes: list[Write] = field(default_factory=list)


def diff_group(ctx: MagentoContext, fingerprints: Fingerprints, group: str, sources: Sequence[Source],
               first: int, last: int, keys_first_time: bool = True) -> GroupDiff:
    """Compare the group's keys in [first, last] with what is stored: buckets first, keys inside moved ones.

    With nothing stored, every key is new; ``keys_first_time=False`` then stores the buckets only
    (the caller reads everything anyway): a bucket that moves later has no keys to compare with,
    so all its keys count as changed once, and are stored from then on.
    """
    stored = fingerprints.load(group, BUCKET_LEVEL, first // BUCKET, last // BUCKET)
    if not stored and not keys_first_time:
        now = changes.bucket_checksums(ctx, sources, first, last)
        return GroupDiff(set(), [(group, BUCKET_LEVEL, [(first // BUCKET, last // BUCKET)], now)])
    if not stored:
        # nothing to compare with: every key is new, and a bucket's checksum is the XOR of its keys'
        now_keys = changes.key_checksums(ctx, sources, range(first // BUCKET, min(last, _top(ctx, sources)) // BUCKET + 1))
        now_buckets: dict[int, int] = {}
        for key, value in now_keys.items():
            now_buckets[key // BUCKET] = now_buckets.get(key // BUCKET, 0) ^ value
        spans = [(first // BUCKET, last // BUCKET)]
        return GroupDiff(set(now_keys), [(group, BUCKET_LEVEL, spans, now_buckets),
                                         (group, KEY_LEVEL, [(first, last)], now_keys)])
    now_buckets = changes.bucket_checksums(ctx, sources, first, last)
    diff = GroupDiff(writes=[(group, BUCKET_LEVEL, [(first // BUCKET, last // BUCKET)], now_buckets)])
    moved = sorted(b for b in set(now_buckets) | set(stored) if now_buckets.get(b) != stored.get(b))
    if moved:
        now_keys = changes.key_checksums(ctx, sources, moved)
        before = fingerprints.load_keys(group, moved, BUCKET)
        diff.changed = {k for k in set(now_keys) | set(before) if now_keys.get(k) != before.get(k)}
        diff.writes.append((group, KEY_LEVEL, [(b * BUCKET, b * BUCKET + BUCKET - 1) for b in moved], now_keys))
    return diff


def _top(ctx: MagentoContext, sources: Sequence[Source]) -> int:
    """Return the highest key of the sources' target (the end of a first comparison's range)."""
    return changes.highest_key(ctx, sources[0].target) + BUCKET if sources else 0


def save(fingerprints: Fingerprints, writes: Iterable[Write], unread: set[int], unread_in: str) -> None:
    """Store the pending checksums, leaving out keys in ``unread`` of groups starting with ``unread_in``.

    A key that could not be read (a problem) is left out, and so is its bucket: the next
    comparison finds it changed and reads it again.
    """
    unread_buckets = {k // BUCKET for k in unread}
    for group, level, spans, values in writes:
        if unread and group.startswith(unread_in):
            dropped = unread if level == KEY_LEVEL else unread_buckets
            values = {k: v for k, v in values.items() if k not in dropped}
        fingerprints.replace(group, level, spans, values)


def _digest(value: object) -> str:
    return hashlib.sha1(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


class FullSyncShortcut:
    """What a full product sync must read: the products that changed since the last full sync."""

    PREFIX = "full:product:"

    def __init__(self, ctx: MagentoContext, fingerprints: Fingerprints, positions: CapturePositions,
                 settings: Settings, views: Sequence[StoreView]) -> None:
        self.ctx = ctx
        self.fingerprints = fingerprints
        self.positions = positions
        self.settings = settings
        self.views = list(views)
        self.diff = GroupDiff()
        self.group = ""

    @classmethod
    def applies(cls, ctx: MagentoContext, settings: Settings, entity_type: str, force: bool) -> bool:
        """Return whether a full sync of ``entity_type`` may skip unchanged entities."""
        return entity_type == "product" and not force and settings.capture.fingerprints and not ctx.is_commerce

    def to_read(self) -> set[int] | None:
        """Return the product ids to read (None: every product), and prepare what :meth:`commit` stores."""
        present = changes.existing_tables(self.ctx, {s.table for s in changes.SOURCES}
                                          | {s.via[0] for s in changes.SOURCES if s.via})
        usable = [s for s in changes.SOURCES if s.table in present and (s.via is None or s.via[0] in present)]
        products = [s for s in usable if s.target == changes.PRODUCT]
        embedded = [s for s in usable if s.target in (changes.CATEGORY, changes.OPTION, changes.ATTRIBUTE)]
        around = {
            "sources": [[s.table, s.key, s.columns, s.where] for s in products],
            "embedded": {t: changes.bucket_checksums(self.ctx, [s for s in embedded if s.target == t], 0,
                                                     changes.highest_key(self.ctx, t))
                         for t in sorted({s.target for s in embedded})},
            "stores": changes.store_checksums(self.ctx, self.views),
            "settings": {k: v for k, v in self.settings.to_dict().items()
                         if k not in ("queue", "breaker", "alerts", "reconcile", "capture", "enabled", "debug",
                                      "log_file", "read_workers")},
            "version": __version__,
        }
        self.group = self.PREFIX + _digest(around)
        known = self.group in self.fingerprints.groups()
        self.diff = diff_group(self.ctx, self.fingerprints, self.group, products, 0, END,
                               keys_first_time=known)
        ended = self.positions.all().get(self.group, (None, None))[1]
        if not known or ended is None:
            return None
        wanted = (set(self.diff.changed) | changes.products_with_special_dates(self.ctx)
                  | self.read_since("product", ended))
        return wanted | changes.parents_of(self.ctx, wanted)

    def read_since(self, entity_type: str, ended: datetime) -> set[int]:
        """Return entities whose queued or delivered version was read after the last full sync ended.

        Another path (capture, a resync) read them from rows that may have differed then and are
        as before now: their rows alone do not say the queue and the backend have this version.
        """
        rows = self.fingerprints.db.query(
            "SELECT DISTINCT entity_id FROM rag_sync_queue WHERE entity_type = %s"
            " AND status IN ('pending', 'failed', 'processing') AND (read_at IS NULL OR read_at > %s)"
            " UNION SELECT DISTINCT entity_id FROM rag_sync_ledger WHERE entity_type = %s"
            " AND (delivered_read_at IS NULL OR delivered_read_at > %s OR failed_status IS NOT NULL)",
            (entity_type, ended, entity_type, ended))
        return {int(r[0]) for r in rows if str(r[0]).isdigit()}

    def commit(self, unread: set[int]) -> None:
        """Store the new checksums (the queue holds what they led to), when this sync ended, and drop older groups."""
        save(self.fingerprints, self.diff.writes, unread, self.PREFIX)
        self.positions.save(moments={self.group: self.ctx.clock()})
        stale = sorted(g for g in self.fingerprints.groups() if g.startswith(self.PREFIX) and g != self.group)
        self.fingerprints.drop_groups(stale)
        self.positions.forget(stale)
