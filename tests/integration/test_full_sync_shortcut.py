"""A full product sync reads only the products whose rows changed since the last one, and stays a safety net.

The oracle is the same as capture's: after a change, a full read of every product compared with
the ledger says which documents differ; the shortcut sync must queue exactly those, reading
fewer products, and fall back to reading everything whenever something every product embeds
changed (a category, an option label, the settings), with ``force``, or after queue rows were cleared.
"""

from __future__ import annotations

from typing import Any

import pytest

from ragsync.db import Database
from ragsync.magento.context import MagentoContext
from ragsync.pipeline.sync import SyncResult, SyncService, make_reader
from ragsync.settings import Settings, parse_settings
from ragsync.state.intake import skip_reason
from ragsync.state.ledger import Key
from ragsync_dev.demo.shop import manifest

KNOWN = manifest()
SETTINGS = parse_settings({"enabled": True})
PRODUCTS = 60


class Shop:
    """A demo shop synced in full once, everything delivered."""

    def __init__(self, db: Database, ragsync: Database) -> None:
        self.db, self.ragsync = db, ragsync
        first = self.sync()
        assert first.unchanged_entities == 0 and first.documents > 0  # the first full sync reads everything
        self.deliver()
        # the first change in a bucket reads the whole bucket (only bucket checksums were stored), and
        # stores its keys' checksums: from then on only the changed keys are read
        self.price(KNOWN.products["special_no_dates"], 31.0)
        assert self.sync().unchanged_entities == 0
        self.deliver()

    def sync(self, settings: Settings = SETTINGS, **kwargs: Any) -> SyncResult:
        return SyncService(self.db, self.ragsync, settings).sync("product", **kwargs)

    def deliver(self) -> None:
        service = SyncService(self.db, self.ragsync, SETTINGS)
        while claim := service.queue.claim_due(1000, 60):
            service.queue.settle_sent(claim, "batch", 200)

    def stale(self, settings: Settings = SETTINGS) -> set[Key]:
        ctx = MagentoContext(self.db)
        service = SyncService(self.db, self.ragsync, settings)
        reader = make_reader("product", ctx, settings, ctx.select_stores([]), service.clock.now())
        found: set[Key] = set()
        built: set[Key] = set()
        for batch in reader.read_all(1000, workers=1):
            entries = service.ledger.lookup([d.key for d in batch.documents])
            built |= {d.key for d in batch.documents}
            found |= {d.key for d in batch.documents if skip_reason(d, d.hash, entries.get(d.key)) is None}
        return found | (set(service.ledger.keys("product", live_only=True)) - built)

    def queued(self) -> set[Key]:
        return {(t, str(i), int(s)) for t, i, s in self.ragsync.query(
            "SELECT entity_type, entity_id, store_id FROM rag_sync_queue WHERE status = 'pending'")}

    def price(self, product: int, value: float) -> None:
        self.db.execute("UPDATE catalog_product_entity_decimal v JOIN eav_attribute a ON a.attribute_id ="
                        " v.attribute_id AND a.attribute_code = 'price' AND a.entity_type_id = 4"
                        " SET v.value = %s WHERE v.entity_id = %s AND v.store_id = 0", (value, product))


@pytest.fixture
def shop(make_shop: Any, ragsync_db: Database) -> Shop:
    return Shop(make_shop(products=PRODUCTS), ragsync_db)


def test_nothing_changed_reads_only_the_dated_products_and_queues_nothing(shop: Shop) -> None:
    again = shop.sync()
    assert again.queued == 0 and again.reconciled_deletes == 0 and shop.queued() == set()
    dated = {KNOWN.products[n] for n in ("special_past", "special_current", "special_future")}
    assert again.unchanged_entities >= PRODUCTS - len(dated) - 10
    assert again.documents < again.unchanged_entities


def test_a_price_row_edit_is_read_and_queued_with_the_parent(shop: Shop) -> None:
    shop.price(KNOWN.configurable_children[0], 7.5)  # no updated_at: only a full read or a fingerprint sees it
    shop.price(KNOWN.products["plain_description"], 12.5)
    expected = shop.stale()
    assert {i for _t, i, _s in expected} >= {str(KNOWN.products["plain_description"]),
                                            str(KNOWN.products["configurable"])}
    result = shop.sync()
    assert shop.queued() == expected and result.unchanged_entities > 0


@pytest.mark.parametrize("change", ["category", "option", "settings", "force", "cleared"])
def test_what_every_product_embeds_or_an_operator_reads_everything(shop: Shop, change: str) -> None:
    settings = SETTINGS
    if change == "category":
        shop.db.execute("UPDATE catalog_category_entity_varchar v JOIN eav_attribute a ON a.attribute_id ="
                        " v.attribute_id AND a.attribute_code = 'name' AND a.entity_type_id = 3"
                        " SET v.value = 'Tops & Tees' WHERE v.entity_id = %s AND v.store_id = 0",
                        (KNOWN.categories["men_tops"],))
    elif change == "option":
        shop.db.execute("UPDATE eav_attribute_option_value SET value = 'Charcoal' WHERE option_id = %s",
                        (KNOWN.options["color"]["Black"],))
    elif change == "settings":
        settings = parse_settings({"enabled": True, "products": {"attributes": ["material"]}})
    elif change == "cleared":
        shop.price(KNOWN.products["plain_description"], 12.5)
        SyncService(shop.db, shop.ragsync, SETTINGS).sync("product", ids=[KNOWN.products["plain_description"]])
        assert SyncService(shop.db, shop.ragsync, SETTINGS).queue.clear("pending") > 0  # never delivered now
    expected = shop.stale(settings)
    result = shop.sync(settings, force=True) if change == "force" else shop.sync(settings)
    assert result.unchanged_entities == 0
    assert shop.queued() == expected if change != "force" else result.queued > 0
    if change in ("category", "option", "settings", "cleared"):
        assert expected, "the change reached no document: the case tests nothing"


def test_a_deleted_product_becomes_deletes_although_the_others_are_not_read(shop: Shop) -> None:
    gone = KNOWN.products["no_image"]
    shop.db.execute("DELETE FROM catalog_product_entity WHERE entity_id = %s", (gone,))
    expected = shop.stale()
    result = shop.sync()
    assert expected and result.unchanged_entities > 0
    assert shop.queued() == expected
    assert {r[0] for r in shop.ragsync.query("SELECT action FROM rag_sync_queue WHERE status = 'pending'")} == {
        "delete"}


def test_a_version_another_path_queued_since_is_read_again(shop: Shop) -> None:
    product = KNOWN.products["plain_description"]
    before = shop.db.scalar("SELECT v.value FROM catalog_product_entity_decimal v JOIN eav_attribute a"
                            " ON a.attribute_id = v.attribute_id AND a.attribute_code = 'price'"
                            " AND a.entity_type_id = 4 WHERE v.entity_id = %s AND v.store_id = 0", (product,))
    shop.price(product, 12.5)
    assert SyncService(shop.db, shop.ragsync, SETTINGS).sync("product", ids=[product]).queued  # a resync queues it
    shop.price(product, float(before))  # and the rows go back to what the last full sync saw
    result = shop.sync()
    assert result.cancelled > 0 and shop.queued() == set() == shop.stale()
