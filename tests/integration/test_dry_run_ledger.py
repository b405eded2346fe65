"""A dry run asks the queue and the ledger: it predicts exactly what the real run then does, and writes nothing."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from ragsync.db import Database
from ragsync.pipeline.sync import WOULD, WOULD_ABORT, DeleteLimitExceeded, SyncResult, SyncService
from ragsync.settings import parse_settings
from ragsync_dev.demo.shop import manifest

KNOWN = manifest()
# every product read (the full read a dry run predicts; the shortcut that skips unchanged products is
# tested in test_full_sync_shortcut.py)
SETTINGS = parse_settings({"enabled": True, "capture": {"fingerprints": False}})
STATE_TABLES = ("rag_sync_queue", "rag_sync_queue_document", "rag_sync_log", "rag_sync_run", "rag_sync_ledger",
                "rag_sync_sequence", "rag_sync_watermark")


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    return {table: db.query(f"SELECT * FROM {table} ORDER BY 1") for table in STATE_TABLES}


def deliver_all(service: SyncService) -> None:
    while claim := service.queue.claim_due(1000, 60):
        service.queue.settle_sent(claim, "mag-test", 200)


class Names:
    """Rename products in the shop (every store's name value) and put the old names back."""

    def __init__(self, shop: Database) -> None:
        self.shop = shop
        self.attribute = shop.scalar(
            "SELECT attribute_id FROM eav_attribute WHERE entity_type_id = 4 AND attribute_code = 'name'")
        self.saved: dict[int, list[tuple[Any, ...]]] = {}

    def rename(self, product: int, name: str) -> None:
        self.saved.setdefault(product, self.shop.query(
            "SELECT value_id, value FROM catalog_product_entity_varchar WHERE entity_id = %s AND attribute_id = %s",
            (product, self.attribute)))
        self.shop.execute("UPDATE catalog_product_entity_varchar SET value = %s WHERE entity_id = %s"
                          " AND attribute_id = %s", (name, product, self.attribute))

    def restore(self, product: int) -> None:
        for value_id, value in self.saved.pop(product):
            self.shop.execute("UPDATE catalog_product_entity_varchar SET value = %s WHERE value_id = %s",
                              (value, value_id))


def disable(shop: Database, product: int) -> None:
    status = shop.scalar(
        "SELECT attribute_id FROM eav_attribute WHERE entity_type_id = 4 AND attribute_code = 'status'")
    shop.execute("INSERT INTO catalog_product_entity_int (attribute_id, store_id, entity_id, value) VALUES (%s, 0, %s, 2)"
                 " ON DUPLICATE KEY UPDATE value = 2", (status, product))
    shop.execute("DELETE FROM catalog_product_entity_int WHERE entity_id = %s AND attribute_id = %s AND store_id <> 0",
                 (product, status))


def would(result: SyncResult, product: int, action: str = "save") -> list[str]:
    """Return what the dry run says would happen to a product's documents of one action (one per store)."""
    return [d["would"] for d in result.dry_run_documents if d["id"] == str(product) and d["action"] == action]


def test_a_full_dry_run_predicts_the_real_run_and_writes_nothing(make_shop: Any, ragsync_db: Database) -> None:
    shop = make_shop(products=21)
    service = SyncService(shop, ragsync_db, SETTINGS)
    service.sync("product")
    deliver_all(service)
    names = Names(shop)
    p = KNOWN.products
    renamed, reverted, waiting, rewritten, dead = (p["simple_with_overrides"], p["no_image"], p["special_no_dates"],
                                                   p["product_out_of_stock"], p["special_past"])
    removed, disabled = p["special_current"], p["plain_description"]

    # a version the backend rejected: it stays dead until it changes
    names.rename(dead, "Rejected Name")
    assert service.sync("product", ids=[dead]).queued
    service.queue.settle_dead(service.queue.claim_due(1000, 60), 422, "bad item")
    # changes queued and not delivered yet: one stays, one changes again, one is changed back
    for product in (waiting, rewritten, reverted):
        names.rename(product, f"Queued Name {product}")
    assert service.sync("product", ids=[waiting, rewritten, reverted]).queued
    names.rename(rewritten, "Changed Again")
    names.restore(reverted)
    # and what a full sync finds for the first time: a change, a disabled product, a removed one
    names.rename(renamed, "Renamed Backpack")
    disable(shop, disabled)
    shop.execute("DELETE FROM catalog_product_entity WHERE entity_id = %s", (removed,))

    before = snapshot(ragsync_db)
    dry = service.sync("product", dry_run=True)
    assert snapshot(ragsync_db) == before, "a dry run writes nothing: no queue row, audit entry or run record"

    counts = dry.counts()
    assert dry.delete_limit is None
    assert counts["cancelled"] == len(would(dry, reverted)) > 0
    assert counts["already_queued"] == len(would(dry, waiting)) > 0
    assert counts["skipped_dead"] == len(would(dry, dead)) > 0
    assert counts["replaced"] == len(would(dry, rewritten)) > 0
    assert counts["reconciled_deletes"] > 0 and counts["skipped_unchanged"] > 0
    assert counts["queued_deletes"] == counts["reconciled_deletes"] + would(dry, disabled, "delete").count("queue")
    assert counts["skipped"] == sum(counts[k] for k in ("already_queued", "skipped_unchanged", "skipped_dead",
                                                         "skipped_absent_delete", "skipped_older_read"))
    assert set(would(dry, reverted)) == {"cancel: reverted"}
    assert set(would(dry, waiting)) == {"skip: already queued"}
    assert set(would(dry, dead)) == {"skip: dead"}
    assert set(would(dry, rewritten)) == {"replace"}
    assert set(would(dry, renamed)) == {"queue"}
    assert set(would(dry, removed, "delete")) == {"queue"} and len(would(dry, removed, "delete")) == counts[
        "reconciled_deletes"]
    assert would(dry, disabled) == [] and "queue" in would(dry, disabled, "delete")
    labels = Counter(d["would"] for d in dry.dry_run_documents)
    assert labels == Counter({WOULD[verdict]: n for verdict, n in dry.outcome.as_dict().items()
                              if verdict in WOULD and n})
    assert "would be queued" in dry.summary()

    real = service.sync("product")
    assert real.counts() == counts
    assert ragsync_db.scalar("SELECT COUNT(*) FROM rag_sync_log WHERE event = 'queue_cancelled'") == counts["cancelled"]
    pending = ragsync_db.query("SELECT entity_id, action, COUNT(*) FROM rag_sync_queue WHERE status = 'pending'"
                               " GROUP BY entity_id, action ORDER BY entity_id")
    assert {(int(e), a) for e, a, _n in pending} == {(waiting, "save"), (rewritten, "save"), (renamed, "save"),
                                                    (removed, "delete"), (disabled, "delete")}
    assert sum(n for _e, _a, n in pending) == counts["queued"] + counts["replaced"] + counts["already_queued"]

    # and once all that is queued, a dry run predicts a real run that has nothing to do
    again = service.sync("product", dry_run=True)
    assert (again.queued, again.replaced, again.cancelled) == (0, 0, 0)
    assert again.counts() == service.sync("product").counts()


def test_a_dry_run_reports_the_delete_limit_instead_of_raising(make_shop: Any, ragsync_db: Database) -> None:
    shop = make_shop(products=21)
    settings = parse_settings({"enabled": True, "reconcile": {"max_delete_fraction": 0.05}})
    service = SyncService(shop, ragsync_db, settings)
    service.sync("product")
    deliver_all(service)
    gone = [KNOWN.products["special_current"], KNOWN.products["special_future"], KNOWN.products["no_image"]]
    shop.execute(f"DELETE FROM catalog_product_entity WHERE entity_id IN ({', '.join(['%s'] * len(gone))})", gone)
    Names(shop).rename(KNOWN.products["simple_with_overrides"], "Renamed Backpack")

    before = snapshot(ragsync_db)
    dry = service.sync("product", dry_run=True)
    assert snapshot(ragsync_db) == before
    assert dry.delete_limit is not None and "max_delete_fraction" in dry.delete_limit
    assert "a real run would stop" in dry.summary()
    assert dry.deletes + dry.reconciled_deletes > 0 and dry.counts()["queued_deletes"] == 0
    aborted = [d for d in dry.dry_run_documents if d["would"] == WOULD_ABORT]
    assert set(gone) <= {int(d["id"]) for d in aborted} and all(d["action"] == "delete" for d in aborted)
    assert len(aborted) == dry.deletes + dry.reconciled_deletes  # every delete: held ones and reconcile ones
    assert dry.queued > 0

    with pytest.raises(DeleteLimitExceeded):
        service.sync("product")
    assert ragsync_db.scalar("SELECT COUNT(*) FROM rag_sync_queue WHERE action = 'delete'") == 0
    assert ragsync_db.scalar("SELECT COUNT(*) FROM rag_sync_queue WHERE status = 'pending'") == dry.queued


def test_a_dry_run_of_given_ids_says_what_would_happen_to_each(make_shop: Any, ragsync_db: Database) -> None:
    shop = make_shop(products=21)
    service = SyncService(shop, ragsync_db, SETTINGS)
    product = KNOWN.products["simple_with_overrides"]
    first = service.sync("product", ids=[product], dry_run=True)
    assert first.dry_run_documents and {d["would"] for d in first.dry_run_documents} == {"queue"}
    assert ragsync_db.scalar("SELECT COUNT(*) FROM rag_sync_queue") == 0
    assert service.sync("product", ids=[product]).counts() == first.counts()
    deliver_all(service)
    unchanged = service.sync("product", ids=[product], dry_run=True)
    assert {d["would"] for d in unchanged.dry_run_documents} == {"skip: unchanged"}
    forced = service.sync("product", ids=[product], force=True, dry_run=True)
    assert {d["would"] for d in forced.dry_run_documents} == {"queue"}
    assert ragsync_db.scalar("SELECT COUNT(*) FROM rag_sync_queue WHERE status = 'pending'") == 0
