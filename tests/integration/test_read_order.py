"""A full sync's read that is queued after a capture delivered a newer version of the same product is not sent."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ragsync.db import Database
from ragsync.magento.context import MagentoContext
from ragsync.pipeline.sync import SyncService, make_reader
from ragsync.settings import parse_settings
from ragsync_dev.demo.shop import manifest

KNOWN = manifest()
SETTINGS = parse_settings({"enabled": True})


def test_an_older_read_queued_after_a_newer_delivery_is_skipped(make_shop: Any, ragsync_db: Database) -> None:
    shop = make_shop(products=21)
    product = KNOWN.products["simple_with_overrides"]
    service = SyncService(shop, ragsync_db, SETTINGS)
    ctx = MagentoContext(shop)

    # a full sync reads the product (then, say, works through the rest of a large catalog)
    before = ctx.clock()
    stale = make_reader("product", ctx, SETTINGS, service.stores(), service.clock.now()).read([product])
    assert stale.documents and all(before <= d.read_at <= ctx.clock() for d in stale.documents if d.read_at)
    assert all(d.read_at is not None for d in stale.documents)

    # meanwhile the product is renamed, and a resync reads and delivers the new name
    name = shop.scalar("SELECT attribute_id FROM eav_attribute WHERE entity_type_id = 4 AND attribute_code = 'name'")
    shop.execute("UPDATE catalog_product_entity_varchar SET value = 'Renamed Backpack' WHERE entity_id = %s"
                 " AND attribute_id = %s", (product, name))
    assert service.sync("product", ids=[product]).queued == len(stale.documents)
    claim = service.queue.claim_due(100, 60)
    service.queue.settle_sent(claim, "batch-new", 200)

    # the full sync now queues what it read: older than what the backend has, so nothing is queued
    outcome = service.queue.enqueue(stale.documents, source="full")
    assert (outcome.skipped_older_read, outcome.written) == (len(stale.documents), 0)
    assert ragsync_db.scalar("SELECT COUNT(*) FROM rag_sync_queue WHERE status = 'pending'") == 0

    # a full sync read after the rename has nothing to send for it either, and a later change goes through
    service.sync("product")
    assert ragsync_db.scalar("SELECT COUNT(*) FROM rag_sync_queue WHERE status = 'pending' AND entity_id = %s",
                             (str(product),)) == 0
    ragsync_db.execute("DELETE FROM rag_sync_queue WHERE status = 'pending'")
    shop.execute("UPDATE catalog_product_entity_varchar SET value = 'Renamed Again' WHERE entity_id = %s"
                 " AND attribute_id = %s", (product, name))
    assert service.sync("product", ids=[product]).queued == len(stale.documents)
    read_at = ragsync_db.query("SELECT MIN(read_at), MAX(read_at) FROM rag_sync_queue WHERE status = 'pending'")[0]
    assert read_at[0] > max(d.read_at for d in stale.documents) and read_at[1] - read_at[0] < timedelta(seconds=5)
    assert isinstance(read_at[0], datetime)
