"""Change capture finds every kind of change, on a shop in schedule mode (changelogs) and in save mode (fingerprints).

Each case changes the demo shop the way Magento writes the change in SQL, runs one capture and
checks that exactly the documents whose content changed are queued: the oracle is a full read
of every entity type compared with what the backend has (the ledger), so a document queued
without a change, or a changed document missed, fails the case. In schedule mode the shop has
Magento's changelogs and triggers (:mod:`tests.fixtures.mview`), and the change must be found
through them where Magento records it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from ragsync.db import Database
from ragsync.magento.context import MagentoContext
from ragsync.pipeline.capture import CaptureResult, capture
from ragsync.pipeline.sync import SyncService, make_reader
from ragsync.settings import parse_settings
from ragsync.state.clock import ManualClock
from ragsync.state.intake import skip_reason
from ragsync.state.ledger import Key
from ragsync.vocabulary import ENTITY_TYPES
from ragsync_dev.demo.mview import process_changelogs, schedule_mode
from ragsync_dev.demo.shop import manifest

KNOWN = manifest()
SETTINGS = parse_settings({"enabled": True, "products": {"attributes": ["color", "material", "manufacturer"]}})
START = datetime(2026, 1, 15, 12, 0, 0)
MODES = ("changelog", "fingerprint")


@dataclass
class Shop:
    """A demo shop, its ragsync database and a service on a clock the test moves."""

    db: Database
    ragsync: Database
    service: SyncService
    clock: ManualClock
    mode: str

    def capture(self) -> CaptureResult:
        """Run one capture, as the queue DAG's task does."""
        self.clock.advance(minutes=1)
        return capture(SyncService(self.db, self.ragsync, SETTINGS, self.clock))

    def deliver(self) -> None:
        """Deliver everything queued (the backend now has it)."""
        while True:
            claim = self.service.queue.claim_due(1000, 60)
            if not claim.rows:
                return
            self.service.queue.settle_sent(claim, "batch", 200)

    def queued(self) -> set[Key]:
        """Return the keys of the open queue rows."""
        rows = self.ragsync.query("SELECT entity_type, entity_id, store_id FROM rag_sync_queue"
                                  " WHERE status IN ('pending', 'failed')")
        return {(t, str(i), int(s)) for t, i, s in rows}

    def stale(self) -> set[Key]:
        """Return the documents a full read builds now that the backend does not have (the oracle)."""
        ctx = MagentoContext(self.db)
        stores = ctx.select_stores([])
        found: set[Key] = set()
        for entity_type in ENTITY_TYPES:
            reader = make_reader(entity_type, ctx, SETTINGS, stores, self.clock.now())
            built: set[Key] = set()
            for batch in reader.read_all(1000, workers=1):
                entries = self.service.ledger.lookup([d.key for d in batch.documents])
                built |= {d.key for d in batch.documents}
                found |= {d.key for d in batch.documents if skip_reason(d, d.hash, entries.get(d.key)) is None}
            # what the backend has of an entity Magento no longer has: a delete
            found |= set(self.service.ledger.keys(entity_type, live_only=True)) - built
        return found

    def sql(self, statement: str, params: Any = None) -> None:
        """Run a statement on Magento's database."""
        self.db.execute(statement, params)


@pytest.fixture(params=MODES)
def shop(request: pytest.FixtureRequest, make_shop: Any, ragsync_db: Database) -> Shop:
    """A shop whose every document was captured once and delivered; no changelog rows left unread."""
    db = make_shop(products=21)
    if request.param == "changelog":
        schedule_mode(db)
    clock = ManualClock(START)
    made = Shop(db, ragsync_db, SyncService(db, ragsync_db, SETTINGS, clock), clock, request.param)
    made.capture()
    made.deliver()
    assert made.capture().sources == {} and made.queued() == set()
    return made


def _attribute(shop: Shop, code: str, entity_type_id: int = 4) -> int:
    return int(shop.db.scalar("SELECT attribute_id FROM eav_attribute WHERE entity_type_id = %s"
                              " AND attribute_code = %s", (entity_type_id, code)))


def _stock(shop: Shop) -> None:
    product = KNOWN.products["simple_with_overrides"]
    shop.sql("UPDATE cataloginventory_stock_item SET qty = 0, is_in_stock = 0 WHERE product_id = %s", (product,))


def _msi_stock(shop: Shop) -> None:
    # the MSI source item of the default source, and the legacy stock item Magento keeps in step with it
    sku = KNOWN.skus["simple_with_overrides"]
    shop.sql("UPDATE inventory_source_item SET quantity = 0, status = 0 WHERE sku = %s", (sku,))
    shop.sql("UPDATE cataloginventory_stock_item s JOIN catalog_product_entity p ON p.entity_id = s.product_id"
             " SET s.qty = 0, s.is_in_stock = 0 WHERE p.sku = %s", (sku,))


def _price_row(shop: Shop) -> None:
    shop.sql("UPDATE catalog_product_entity_decimal SET value = 123.45 WHERE entity_id = %s AND attribute_id = %s"
             " AND store_id = 0", (KNOWN.products["plain_description"], _attribute(shop, "price")))


def _mass_update(shop: Shop) -> None:
    # Catalog > Products > Update attributes, store view "fr": value rows only, updated_at untouched
    name = _attribute(shop, "name")
    for product in (KNOWN.products["simple_with_overrides"], KNOWN.products["no_image"]):
        shop.sql("INSERT INTO catalog_product_entity_varchar (attribute_id, store_id, entity_id, value)"
                 " VALUES (%s, %s, %s, 'Nom en solde') ON DUPLICATE KEY UPDATE value = VALUES(value)",
                 (name, KNOWN.stores["fr"], product))


def _option_label(shop: Shop) -> None:
    shop.sql("UPDATE eav_attribute_option_value SET value = 'Charcoal' WHERE option_id = %s AND store_id = 0",
             (KNOWN.options["color"]["Black"],))


def _category_rename(shop: Shop) -> None:
    # the admin's save: the name value and the entity's updated_at
    category = KNOWN.categories["men_tops"]
    shop.sql("UPDATE catalog_category_entity_varchar SET value = 'Tops & Tees' WHERE entity_id = %s"
             " AND attribute_id = %s AND store_id = 0", (category, _attribute(shop, "name", 3)))
    shop.sql("UPDATE catalog_category_entity SET updated_at = UTC_TIMESTAMP() WHERE entity_id = %s", (category,))


def _category_move(shop: Shop) -> None:
    # Category::move(): the category's parent, path and level, and its subtree's paths (no updated_at)
    moved, parent = KNOWN.categories["women_jackets"], KNOWN.categories["men_tops"]
    old_path, parent_path = (shop.db.scalar("SELECT path FROM catalog_category_entity WHERE entity_id = %s", (c,))
                             for c in (moved, parent))
    new_path = f"{parent_path}/{moved}"
    shop.sql("UPDATE catalog_category_entity SET path = CONCAT(%s, SUBSTRING(path, %s)),"
             " level = level + 1 WHERE path = %s OR path LIKE %s",
             (new_path, len(old_path) + 1, old_path, f"{old_path}/%"))
    shop.sql("UPDATE catalog_category_entity SET parent_id = %s WHERE entity_id = %s", (parent, moved))


def _url_rewrite(shop: Shop) -> None:
    shop.sql("UPDATE url_rewrite SET request_path = 'renamed-backpack.html' WHERE entity_type = 'product'"
             " AND entity_id = %s AND store_id = %s AND redirect_type = 0 AND metadata IS NULL",
             (KNOWN.products["simple_with_overrides"], KNOWN.stores["default"]))


def _child_price(shop: Shop) -> None:
    child = KNOWN.configurable_children[0]
    shop.sql("UPDATE catalog_product_entity_decimal SET value = 7.5 WHERE entity_id = %s AND attribute_id = %s"
             " AND store_id = 0", (child, _attribute(shop, "price")))


def _special_window(shop: Shop) -> None:
    # no row changes: special_future's window opens at midnight in the store views' timezone (Europe/Paris)
    opens = shop.db.scalar("SELECT value FROM catalog_product_entity_datetime WHERE entity_id = %s"
                           " AND attribute_id = %s", (KNOWN.products["special_future"],
                                                      _attribute(shop, "special_from_date")))
    shop.clock.set(opens - timedelta(hours=1, minutes=2))  # 23:58 in Paris, the day before
    shop.capture()  # special_current's window closed on the way here: delivered
    assert ("product", str(KNOWN.products["special_current"]), KNOWN.stores["default"]) in shop.queued()
    shop.deliver()
    shop.clock.set(opens - timedelta(minutes=59))  # the next capture runs at 00:02 in Paris


def _catalog_rule(shop: Shop) -> None:
    shop.sql("UPDATE catalogrule SET discount_amount = discount_amount + 5 WHERE rule_id = %s",
             (KNOWN.catalog_rules["catalog_active"],))


def _store_config(shop: Shop) -> None:
    shop.sql("INSERT INTO core_config_data (scope, scope_id, path, value) VALUES ('stores', %s,"
             " 'web/unsecure/base_url', 'http://fr.example.test/')", (KNOWN.stores["fr"],))
    shop.sql("INSERT INTO core_config_data (scope, scope_id, path, value) VALUES ('stores', %s,"
             " 'web/secure/base_url', 'https://fr.example.test/')", (KNOWN.stores["fr"],))


def _home_page(shop: Shop) -> None:
    # Stores > Configuration > Web > Default Pages, store view "fr": another CMS home page
    shop.sql("INSERT INTO core_config_data (scope, scope_id, path, value) VALUES ('stores', %s,"
             " 'web/default/cms_home_page', 'about-us')", (KNOWN.stores["fr"],))


def _cart_rule_coupon(shop: Shop) -> None:
    shop.sql("UPDATE salesrule_label SET label = 'Winter deal' WHERE rule_id = %s",
             (KNOWN.cart_rules["cart_no_coupon"],))


def _cms_block_store(shop: Shop) -> None:
    # a block assigned to one more store view: cms_block_store only, update_time untouched
    block = KNOWN.cms_blocks["bandeau-fr"]
    shop.sql("INSERT IGNORE INTO cms_block_store (block_id, store_id) VALUES (%s, %s)", (block, KNOWN.stores["outlet"]))


def _child_unlinked(shop: Shop) -> None:
    # a child taken out of its configurable: the link rows go, the child's own rows stay
    child = KNOWN.configurable_children[0]
    shop.sql("DELETE FROM catalog_product_super_link WHERE product_id = %s", (child,))
    shop.sql("DELETE FROM catalog_product_relation WHERE child_id = %s", (child,))


def _product_deleted(shop: Shop) -> None:
    shop.sql("DELETE FROM catalog_product_entity WHERE entity_id = %s", (KNOWN.products["no_image"],))


Case = Callable[[Shop], None]
CASES: dict[str, tuple[Case, set[tuple[str, str]], str]] = {
    # name: (change, documents that must be among the queued ones, the source kind in schedule mode)
    "stock": (_stock, {("product", str(KNOWN.products["simple_with_overrides"]))}, "changelog"),
    "msi_stock": (_msi_stock, {("product", str(KNOWN.products["simple_with_overrides"]))}, "changelog"),
    "price_row": (_price_row, {("product", str(KNOWN.products["plain_description"]))}, "changelog"),
    "mass_update": (_mass_update, {("product", str(KNOWN.products["no_image"]))}, "changelog"),
    "option_label": (_option_label, {("product", str(KNOWN.products["configurable"]))}, "fingerprint"),
    "category_rename": (_category_rename, {("category", str(KNOWN.categories["men_tops"]))}, "changelog"),
    "category_move": (_category_move, {("category", str(KNOWN.categories["women_jackets"]))}, "changelog"),
    "url_rewrite": (_url_rewrite, {("product", str(KNOWN.products["simple_with_overrides"]))}, "fingerprint"),
    "child_price": (_child_price, {("product", str(KNOWN.products["configurable"]))}, "changelog"),
    "special_window": (_special_window, {("product", str(KNOWN.products["special_future"]))}, "price window"),
    "catalog_rule": (_catalog_rule, {("promotion", f"catalog-{KNOWN.catalog_rules['catalog_active']}")},
                     "changelog"),
    "home_page": (_home_page, {("cms_page", str(KNOWN.cms_pages["about-us"]))}, "store config"),
    "cart_rule": (_cart_rule_coupon, {("promotion", f"cart-{KNOWN.cart_rules['cart_no_coupon']}")}, "fingerprint"),
    "store_config": (_store_config, {("cms_page", str(KNOWN.cms_pages["home"]))}, "store config"),
    "cms_block_store": (_cms_block_store, {("cms_block", str(KNOWN.cms_blocks["bandeau-fr"]))},
                        "fingerprint"),
    "child_unlinked": (_child_unlinked, {("product", str(KNOWN.products["configurable"]))}, "fingerprint"),
    "product_deleted": (_product_deleted, {("product", str(KNOWN.products["no_image"]))}, "changelog"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_one_capture_queues_exactly_the_changed_documents(shop: Shop, case: str) -> None:
    change, must, source = CASES[case]
    change(shop)
    expected = shop.stale()
    assert must <= {(t, i) for t, i, _s in expected}, f"the change did not reach {must}: the case tests nothing {expected}"
    outcome = shop.capture()
    assert shop.queued() == expected
    wanted = source if shop.mode == "changelog" or source != "changelog" else "fingerprint"
    assert any(name.startswith(wanted) for name in outcome.sources), outcome.sources
    # and the next capture queues nothing more
    shop.deliver()
    assert sum(r.queued for r in shop.capture().results.values()) == 0 and shop.queued() == set()


def test_changelog_rows_magento_cleaned_before_capture_read_them_read_the_type_in_full(
        make_shop: Any, ragsync_db: Database) -> None:
    db = make_shop(products=21)
    schedule_mode(db)
    clock = ManualClock(START)
    made = Shop(db, ragsync_db, SyncService(db, ragsync_db, SETTINGS, clock), clock, "changelog")
    made.capture()
    made.deliver()
    # rows capture has read are cleaned: nothing lost, nothing read again
    _price_row(made)
    made.capture()
    made.deliver()
    process_changelogs(db)
    assert made.capture().sources == {}
    # a change Magento's indexer processes and cleans up before capture runs
    _child_price(made)
    process_changelogs(db)
    expected = made.stale()
    outcome = made.capture()
    assert any(name.startswith("lost changelog") for name in outcome.sources), outcome.sources
    assert made.queued() == expected and ("product", str(KNOWN.products["configurable"]), 1) in expected


def test_no_change_reads_no_entity(shop: Shop) -> None:
    outcome = shop.capture()
    assert outcome.sources == {}
    assert all(r.documents == 0 for r in outcome.results.values())
    if shop.mode == "changelog":
        assert "catalog_product_entity_varchar" not in outcome.fingerprinted_tables
        assert "catalogsearch_fulltext" in outcome.changelogs
    else:
        assert outcome.changelogs == [] and "catalog_product_entity_varchar" in outcome.fingerprinted_tables


def test_a_change_reverted_before_delivery_is_cancelled_not_sent(shop: Shop) -> None:
    product, price = KNOWN.products["plain_description"], _attribute(shop, "price")
    before = shop.db.scalar("SELECT value FROM catalog_product_entity_decimal WHERE entity_id = %s"
                            " AND attribute_id = %s AND store_id = 0", (product, price))
    _price_row(shop)
    shop.capture()
    changed = shop.queued()
    assert changed and {i for _t, i, _s in changed} == {str(product)}
    # changed back before the queue DAG delivered it: the backend already has this version
    shop.sql("UPDATE catalog_product_entity_decimal SET value = %s WHERE entity_id = %s AND attribute_id = %s"
             " AND store_id = 0", (before, product, price))
    outcome = shop.capture()
    assert shop.queued() == set() and shop.stale() == set()
    assert outcome.results["product"].cancelled == len(changed)
    audit = shop.ragsync.query("SELECT entity_type, JSON_VALUE(details, '$.entity_id') FROM rag_sync_log"
                               " WHERE event = 'queue_cancelled'")
    assert sorted(audit) == sorted(("product", str(product)) for _ in changed)
