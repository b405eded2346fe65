"""CategoryReader on the demo shop (real MariaDB): categories as per-store-view documents.

Expected documents are written out by hand from the shop's category tree (``ragsync_dev.demo.shop``):
root 2 "Default Category" for store views 1 default and 2 fr (French names and URL keys), root 3
"Outlet Root" for store view 3 outlet; ids from ``CATEGORY_IDS``; ``updated_at`` of category N is
``SHOP_NOW - (60 + 37 N mod 1380) minutes``; URL rewrites ``<url_path>.html`` per store view.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from fixtures.shop import SHOP_NOW
from ragsync.db import Database
from ragsync.documents.model import Document
from ragsync.magento.base import CLOCK_QUERIES
from ragsync.magento.categories import QUERIES_PER_CHUNK, CategoryReader
from ragsync.magento.context import MagentoContext
from ragsync.magento.products import ProductReader
from ragsync.settings import parse_settings
from ragsync_dev.demo.commerce import STAGED_ENTITIES, convert_to_commerce, schedule_update, staging_version
from ragsync_dev.demo.shop import ShopManifest

from .statement_count import count_statements

GEAR_DEFAULT = {
    "store_code": "default",
    "locale": "en_US",
    "updated_at": "2026-01-14T22:40:00Z",
    "name": "Gear",
    "path": "Gear",
    "level": 2,
    "parent_id": 2,
    "description": "## Gear\n\nBags, fitness equipment and watches.",
    "is_active": True,
    "include_in_menu": True,
    "url": "https://magento.test/gear.html",
    "content": "# Gear\n\n- Path: Gear\n\n## Gear\n\nBags, fitness equipment and watches.\n\n"
               "URL: https://magento.test/gear.html",
}
GEAR_FR = {
    "store_code": "fr",
    "locale": "fr_FR",
    "updated_at": "2026-01-14T22:40:00Z",
    "name": "Équipement",
    "path": "Équipement",
    "level": 2,
    "parent_id": 2,
    "description": "## Équipement\n\nSacs, équipement de fitness et montres.",
    "is_active": True,
    "include_in_menu": True,
    "url": "https://magento.test/fr/equipement.html",
    "content": "# Équipement\n\n- Chemin: Équipement\n\n## Équipement\n\nSacs, équipement de fitness et montres.\n\n"
               "URL: https://magento.test/fr/equipement.html",
}
BAGS_DEFAULT = {
    "store_code": "default",
    "locale": "en_US",
    "updated_at": "2026-01-14T22:03:00Z",
    "name": "Bags",
    "path": "Gear > Bags",
    "level": 3,
    "parent_id": 20,
    "description": None,
    "is_active": True,
    "include_in_menu": True,
    "url": "https://magento.test/gear/bags.html",
    "content": "# Bags\n\n- Path: Gear > Bags\n\nURL: https://magento.test/gear/bags.html",
}
BAGS_FR = {
    "store_code": "fr",
    "locale": "fr_FR",
    "updated_at": "2026-01-14T22:03:00Z",
    "name": "Sacs",
    "path": "Équipement > Sacs",
    "level": 3,
    "parent_id": 20,
    "description": None,
    "is_active": True,
    "include_in_menu": True,
    "url": "https://magento.test/fr/equipement/sacs.html",
    "content": "# Sacs\n\n- Chemin: Équipement > Sacs\n\nURL: https://magento.test/fr/equipement/sacs.html",
}
BACKPACKS_DEFAULT = {
    "store_code": "default",
    "locale": "en_US",
    "updated_at": "2026-01-14T21:26:00Z",
    "name": "Backpacks",
    "path": "Gear > Bags > Backpacks",
    "level": 4,
    "parent_id": 21,
    "description": None,
    "is_active": True,
    "include_in_menu": True,
    "url": "https://magento.test/gear/bags/backpacks.html",
    "content": "# Backpacks\n\n- Path: Gear > Bags > Backpacks\n\nURL: https://magento.test/gear/bags/backpacks.html",
}
BACKPACKS_FR = {
    "store_code": "fr",
    "locale": "fr_FR",
    "updated_at": "2026-01-14T21:26:00Z",
    "name": "Sacs à dos",
    "path": "Équipement > Sacs > Sacs à dos",
    "level": 4,
    "parent_id": 21,
    "description": None,
    "is_active": True,
    "include_in_menu": True,
    "url": "https://magento.test/fr/equipement/sacs/sacs-a-dos.html",
    "content": "# Sacs à dos\n\n- Chemin: Équipement > Sacs > Sacs à dos\n\n"
               "URL: https://magento.test/fr/equipement/sacs/sacs-a-dos.html",
}
OUTLET_JACKETS = {
    "store_code": "outlet",
    "locale": "en_GB",
    "updated_at": "2026-01-15T09:20:00Z",
    "name": "Jackets",
    "path": "Clearance > Women > Jackets",
    "level": 4,
    "parent_id": 39,
    "description": None,
    "is_active": True,
    "include_in_menu": True,
    "url": "https://outlet.magento.test/clearance/women/jackets.html",
    "content": "# Jackets\n\n- Path: Clearance > Women > Jackets\n\nURL: https://outlet.magento.test/clearance/women/jackets.html",
}
WATCHES_DEFAULT = {
    "store_code": "default",
    "locale": "en_US",
    "updated_at": "2026-01-14T18:58:00Z",
    "name": "Watches",
    "path": "Gear > Watches",
    "level": 3,
    "parent_id": 20,
    "description": "Sports watches with GPS and heart-rate monitoring.",
    "is_active": True,
    "include_in_menu": True,
    "url": "https://magento.test/gear/watches.html",
    "content": "# Watches\n\n- Path: Gear > Watches\n\nSports watches with GPS and heart-rate monitoring.\n\n"
               "URL: https://magento.test/gear/watches.html",
}
ARCHIVE_DEFAULT = {
    "store_code": "default",
    "locale": "en_US",
    "updated_at": "2026-01-14T13:25:00Z",
    "name": "Archive",
    "path": "Archive",
    "level": 2,
    "parent_id": 2,
    "description": None,
    "is_active": False,
    "include_in_menu": True,
    "url": "https://magento.test/archive.html",
    "content": "# Archive\n\n- Path: Archive\n\nURL: https://magento.test/archive.html",
}
# An active category under an inactive one (Archive): live, as Magento serves it; its path is the
# breadcrumb, which leaves the inactive ancestor out; its URL is its rewrite.
SEASON_2023_DEFAULT = {
    "store_code": "default",
    "locale": "en_US",
    "updated_at": "2026-01-14T12:48:00Z",
    "name": "Season 2023",
    "path": "Season 2023",
    "level": 3,
    "parent_id": 35,
    "description": None,
    "is_active": True,
    "include_in_menu": True,
    "url": "https://magento.test/archive/season-2023.html",
    "content": "# Season 2023\n\n- Path: Season 2023\n\nURL: https://magento.test/archive/season-2023.html",
}
SEASON_2023_FR = {
    "store_code": "fr",
    "locale": "fr_FR",
    "updated_at": "2026-01-14T12:48:00Z",
    "name": "Saison 2023",
    "path": "Saison 2023",
    "level": 3,
    "parent_id": 35,
    "description": None,
    "is_active": True,
    "include_in_menu": True,
    "url": "https://magento.test/fr/archives/saison-2023.html",
    "content": "# Saison 2023\n\n- Chemin: Saison 2023\n\nURL: https://magento.test/fr/archives/saison-2023.html",
}
JACKETS_2023_FR = {
    "store_code": "fr",
    "locale": "fr_FR",
    "updated_at": "2026-01-14T12:11:00Z",
    "name": "Vestes 2023",
    "path": "Saison 2023 > Vestes 2023",
    "level": 4,
    "parent_id": 36,
    "description": None,
    "is_active": True,
    "include_in_menu": True,
    "url": "https://magento.test/fr/archives/saison-2023/vestes-2023.html",
    "content": "# Vestes 2023\n\n- Chemin: Saison 2023 > Vestes 2023\n\n"
               "URL: https://magento.test/fr/archives/saison-2023/vestes-2023.html",
}
SALE_DEFAULT = {
    "store_code": "default",
    "locale": "en_US",
    "updated_at": "2026-01-14T15:16:00Z",
    "name": "Sale",
    "path": "Sale",
    "level": 2,
    "parent_id": 2,
    "description": None,
    "is_active": True,
    "include_in_menu": False,
    "url": "https://magento.test/sale.html",
    "content": "# Sale\n\n- Path: Sale\n\nURL: https://magento.test/sale.html",
}
DEFAULT_CATEGORY_FR = {
    "store_code": "fr",
    "locale": "fr_FR",
    "updated_at": "2026-01-15T09:46:00Z",
    "name": "Default Category",
    "path": "Default Category",
    "level": 1,
    "parent_id": 1,
    "description": None,
    "is_active": True,
    "include_in_menu": True,
    # no rewrite and no url_key: Magento's getCategoryIdUrl() with the name made a URL key
    "url": "https://magento.test/fr/catalog/category/view/s/default-category/id/2/",
    "content": "# Default Category\n\n- Chemin: Default Category\n\n"
               "URL: https://magento.test/fr/catalog/category/view/s/default-category/id/2/",
}


def reader(db: Database, now: datetime = SHOP_NOW, **raw: Any) -> CategoryReader:
    return CategoryReader(MagentoContext(db), parse_settings(raw or None), None, now)


def by_key(documents: list[Document]) -> dict[tuple[str, int], Document]:
    return {(d.id, d.store_id): d for d in documents}


def without_updated_at(data: dict[str, Any] | None) -> dict[str, Any]:
    assert data is not None
    return {k: v for k, v in data.items() if k != "updated_at"}


def actions(documents: list[Document], category_id: int) -> tuple[str, str, str]:
    """Return the actions of one category in store views 1, 2 and 3."""
    docs = by_key(documents)
    return docs[(str(category_id), 1)].action, docs[(str(category_id), 2)].action, docs[(str(category_id), 3)].action


def test_a_category_of_each_level(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    gear, bags, backpacks = shop_manifest.gear, shop_manifest.gear_bags, shop_manifest.gear_backpacks
    assert (gear, bags, backpacks) == (20, 21, 22)
    assert gear in shop_manifest.categories_by_level[2] and backpacks in shop_manifest.categories_by_level[4]
    batch = reader(demo_shop).read([gear, bags, backpacks, shop_manifest.gear_watches])
    assert batch.problems == []
    docs = by_key(batch.documents)
    assert docs[("20", 1)].data == GEAR_DEFAULT
    assert docs[("20", 2)].data == GEAR_FR
    assert docs[("21", 1)].data == BAGS_DEFAULT
    assert docs[("21", 2)].data == BAGS_FR
    assert docs[("22", 1)].data == BACKPACKS_DEFAULT
    assert docs[("22", 2)].data == BACKPACKS_FR
    assert docs[("26", 1)].data == WATCHES_DEFAULT  # a description without any markup
    # the outlet store view has another root: none of these belong there
    assert all(docs[(str(i), 3)].action == "delete" for i in (gear, bags, backpacks))


def test_categories_of_another_root(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    jackets = shop_manifest.outlet_clearance_women_jackets
    docs = by_key(reader(demo_shop).read([jackets]).documents)
    assert docs[(str(jackets), 3)].data == OUTLET_JACKETS
    assert actions(list(docs.values()), jackets) == ("delete", "delete", "save")


def test_active_children_of_an_inactive_category_are_live(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    branch = [shop_manifest.inactive_category, shop_manifest.inactive_child, shop_manifest.inactive_grandchild]
    assert branch == [35, 36, 37]
    batch = reader(demo_shop).read(branch)
    assert batch.problems == []
    assert len(batch.documents) == 9
    # Magento's canShow(): the category's own is_active and the store's root; not the parent's activity
    assert [actions(batch.documents, i) for i in branch] == [
        ("delete", "delete", "delete"), ("save", "save", "delete"), ("save", "save", "delete")]
    docs = by_key(batch.documents)
    assert docs[("36", 1)].data == SEASON_2023_DEFAULT
    assert docs[("36", 2)].data == SEASON_2023_FR
    assert docs[("37", 2)].data == JACKETS_2023_FR
    grandchild = docs[("37", 1)].data
    assert grandchild is not None
    assert (grandchild["path"], grandchild["url"]) == (
        "Season 2023 > Jackets 2023", "https://magento.test/archive/season-2023/jackets-2023.html")


def test_inactive_branch_with_include_inactive(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    branch = [shop_manifest.inactive_category, shop_manifest.inactive_child, shop_manifest.inactive_grandchild]
    docs = by_key(reader(demo_shop, categories={"include_inactive": True}).read(branch).documents)
    assert docs[("35", 1)].data == ARCHIVE_DEFAULT
    assert docs[("36", 1)].data == SEASON_2023_DEFAULT  # the same as without include_inactive
    assert docs[("36", 2)].data == SEASON_2023_FR
    grandchild = docs[("37", 1)].data
    assert grandchild is not None
    assert (grandchild["path"], grandchild["is_active"]) == ("Season 2023 > Jackets 2023", True)
    assert docs[("36", 3)].action == "delete"  # include_inactive does not move it under another root


def test_inactive_in_one_store_view_only(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    performance = shop_manifest.category_inactive_in_fr
    running = shop_manifest.collections_performance_running
    documents = reader(demo_shop).read([performance, running]).documents
    assert actions(documents, performance) == ("save", "delete", "delete")
    assert actions(documents, running) == ("save", "save", "delete")  # its parent is inactive in fr, it is not
    running_fr = by_key(documents)[(str(running), 2)].data
    assert running_fr is not None
    # the fr breadcrumb leaves the parent out there only
    assert (running_fr["path"], running_fr["is_active"]) == ("Collections > Course à pied", True)
    running_default = by_key(documents)[(str(running), 1)].data
    assert running_default is not None and running_default["path"] == "Collections > Performance Fabrics > Running"
    included = by_key(reader(demo_shop, categories={"include_inactive": True}).read([performance]).documents)
    fr = included[(str(performance), 2)].data
    assert fr is not None
    assert (fr["name"], fr["path"], fr["is_active"]) == ("Tissus techniques", "Collections > Tissus techniques", False)


def test_not_in_menu_is_still_synced(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    docs = by_key(reader(demo_shop).read([shop_manifest.category_not_in_menu]).documents)
    assert docs[("32", 1)].data == SALE_DEFAULT


def test_min_level(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    ids = [1, 2, 3, shop_manifest.gear, shop_manifest.gear_bags, shop_manifest.gear_backpacks]
    default = reader(demo_shop).read(ids).documents
    assert [actions(default, i) for i in ids] == [
        ("delete", "delete", "delete"), ("delete", "delete", "delete"), ("delete", "delete", "delete"),
        ("save", "save", "delete"), ("save", "save", "delete"), ("save", "save", "delete"),
    ]
    level_3 = reader(demo_shop, categories={"min_level": 3}).read(ids).documents
    assert [actions(level_3, i)[0] for i in ids] == ["delete", "delete", "delete", "delete", "save", "save"]
    assert by_key(level_3)[("21", 1)].data == BAGS_DEFAULT
    level_1 = reader(demo_shop, categories={"min_level": 1}).read(ids).documents
    assert [actions(level_1, i) for i in ids[:3]] == [
        ("delete", "delete", "delete"),  # the tree root never
        ("save", "save", "delete"),      # each store's root category itself
        ("delete", "delete", "save"),
    ]
    assert by_key(level_1)[("2", 2)].data == DEFAULT_CATEGORY_FR


def test_store_filter(demo_shop: Database) -> None:
    only_fr = reader(demo_shop, stores=["fr"])
    documents = only_fr.read([20, 21, 40]).documents
    assert [(d.id, d.store_id, d.action) for d in documents] == [
        ("20", 2, "save"), ("21", 2, "save"), ("40", 2, "delete")]
    assert documents[0].data == GEAR_FR


def test_read_all_and_ids(demo_shop: Database) -> None:
    chosen = reader(demo_shop)
    chunks = list(chosen.iter_id_chunks(10))
    assert [len(c) for c in chunks] == [10, 10, 10, 10, 5]
    assert [i for c in chunks for i in c] == list(range(1, 46))
    batches = list(chosen.read_all(chunk_size=10))
    documents = [d for b in batches for d in b.documents]
    assert [p for b in batches for p in b.problems] == []
    assert len(documents) == 45 * 3
    saved = {(d.id, d.store_id) for d in documents if d.action == "save"}
    # base tree: 34 categories minus Archive (its active children stay); fr also loses Performance Fabrics
    assert len([k for k in saved if k[1] == 1]) == 33
    assert len([k for k in saved if k[1] == 2]) == 32
    assert len([k for k in saved if k[1] == 3]) == 8
    assert chosen.existing_ids([20, 99, 45, 46]) == {20, 45}


def test_statements_per_chunk_do_not_depend_on_its_size(demo_shop: Database) -> None:
    chosen = reader(demo_shop)
    chosen.read([4])
    small, _ = count_statements(demo_shop, lambda: chosen.read([22]))
    large, batch = count_statements(demo_shop, lambda: chosen.read(list(range(1, 46))))
    assert len(batch.documents) == 135
    assert small == large == QUERIES_PER_CHUNK + CLOCK_QUERIES == 6


def test_changed_ids_include_descendants(make_shop: Any, shop_manifest: ShopManifest) -> None:
    db = make_shop(products=21)
    chosen = reader(db)
    since, until = SHOP_NOW - timedelta(minutes=30), SHOP_NOW
    assert chosen.changed_ids(since, until) == []  # every updated_at of the shop is at least an hour old
    db.execute(f"UPDATE {db.table('catalog_category_entity')} SET updated_at = %s WHERE entity_id = %s",
               (SHOP_NOW - timedelta(minutes=10), shop_manifest.gear_bags))
    assert chosen.changed_ids(since, until) == [21, 22, 23]  # Bags, Backpacks, Duffle Bags
    assert chosen.changed_ids(since, SHOP_NOW - timedelta(minutes=20)) == []


def test_hash_is_stable_across_a_save_without_change(make_shop: Any) -> None:
    db = make_shop(products=21)
    before = by_key(reader(db).read([21, 22]).documents)
    db.execute(f"UPDATE {db.table('catalog_category_entity')} SET updated_at = %s WHERE entity_id IN (21, 22)",
               (SHOP_NOW - timedelta(minutes=5),))
    after = by_key(reader(db).read([21, 22]).documents)
    assert after[("21", 1)].data is not None and after[("21", 1)].data["updated_at"] == "2026-01-15T11:55:00Z"
    assert {k: d.hash for k, d in before.items()} == {k: d.hash for k, d in after.items()}


def test_bad_categories_are_problems_and_the_rest_goes_on(make_shop: Any) -> None:
    db = make_shop(products=21)
    t = db.table
    name_id = db.scalar(f"SELECT attribute_id FROM {t('eav_attribute')} WHERE attribute_code = 'name'"
                        " AND entity_type_id = 3")
    description_id = db.scalar(f"SELECT attribute_id FROM {t('eav_attribute')}"
                               " WHERE attribute_code = 'description' AND entity_type_id = 3")
    db.execute(f"ALTER TABLE {t('catalog_category_entity_varchar')} MODIFY value VARBINARY(255)")
    db.execute(f"UPDATE {t('catalog_category_entity_varchar')} SET value = %s"
               " WHERE entity_id = 21 AND attribute_id = %s AND store_id = 0", (b"Ba\xffgs", name_id))
    db.execute(f"INSERT INTO {t('catalog_category_entity_text')} (attribute_id, store_id, entity_id, value)"
               " VALUES (%s, 0, 23, %s)", (description_id, "<p>" + "Duffle " * 200_000 + "</p>"))
    db.execute(f"INSERT INTO {t('catalog_category_entity_text')} (attribute_id, store_id, entity_id, value)"
               " VALUES (%s, 0, 22, %s)", (description_id, '<p>Packs {{block id="no-such-block"}} for {{store url=</p>'))
    batch = reader(db, stores=["default"]).read([20, 21, 22, 23])
    problems = sorted((p.entity_id, p.store_id, p.reason) for p in batch.problems)
    assert problems[:3] == [
        ("21", 1, "name (store 0 value): invalid UTF-8 at byte 2"),
        ("22", 1, "block 'no-such-block' is unknown or inactive in this store"),
        ("22", 1, "unclosed directive at 42"),
    ]
    assert len(problems) == 4 and problems[3][:2] == ("23", 1)
    assert re.fullmatch(r"document is \d+ bytes, over the 1000000-byte limit", problems[3][2])
    docs = by_key(batch.documents)
    assert docs[("20", 1)].data == GEAR_DEFAULT
    assert ("21", 1) not in docs and ("23", 1) not in docs
    packs = docs[("22", 1)].data
    assert packs is not None and packs["description"] == "Packs for"  # produced despite the broken directives


def test_prefixed_tables(make_shop: Any) -> None:
    db = make_shop(products=21, table_prefix="m2_")
    docs = by_key(reader(db).read([20, 22, 36, 40]).documents)
    assert docs[("20", 2)].data == GEAR_FR
    assert docs[("22", 1)].data == BACKPACKS_DEFAULT
    assert docs[("36", 1)].data == SEASON_2023_DEFAULT
    assert docs[("40", 3)].data == OUTLET_JACKETS


def test_adobe_commerce_layout(make_shop: Any, demo_shop: Database) -> None:
    db = make_shop(products=21)
    convert_to_commerce(db, now=SHOP_NOW, past_update=0, future_update=0)
    category = next(e for e in STAGED_ENTITIES if e.table == "catalog_category_entity")
    schedule_update(db, 21, staging_version(SHOP_NOW + timedelta(days=7)), {"name": "Luggage"},
                    entity=category, entity_type_code="catalog_category")
    commerce = reader(db)
    assert commerce.ctx.is_commerce
    assert [i for c in commerce.iter_id_chunks() for i in c] == list(range(1, 46))
    docs = by_key([d for b in commerce.read_all(chunk_size=20) for d in b.documents])
    # the conversion rewrote every row, which bumped updated_at (ON UPDATE CURRENT_TIMESTAMP)
    assert without_updated_at(docs[("21", 1)].data) == without_updated_at(BAGS_DEFAULT)
    assert without_updated_at(docs[("22", 2)].data) == without_updated_at(BACKPACKS_FR)
    assert docs[("35", 1)].action == "delete"
    assert without_updated_at(docs[("36", 1)].data) == without_updated_at(SEASON_2023_DEFAULT)
    open_source = by_key(reader(demo_shop).read(list(range(1, 46))).documents)
    assert {k: d.hash for k, d in docs.items()} == {k: d.hash for k, d in open_source.items()}
    # once the scheduled update is live, its name is read, also in the children's paths
    live = by_key(reader(db, now=SHOP_NOW + timedelta(days=8)).read([21, 22]).documents)
    assert live[("21", 1)].data is not None and live[("21", 1)].data["name"] == "Luggage"
    assert live[("22", 1)].data is not None and live[("22", 1)].data["path"] == "Gear > Luggage > Backpacks"


def test_description_widgets_include_blocks_of_the_store_view(make_shop: Any) -> None:
    db = make_shop(products=21)
    description_id = db.scalar(f"SELECT attribute_id FROM {db.table('eav_attribute')}"
                               " WHERE attribute_code = 'description' AND entity_type_id = 3")
    db.execute(f"INSERT INTO {db.table('catalog_category_entity_text')} (attribute_id, store_id, entity_id, value)"
               " VALUES (%s, 0, 22, %s)",
               (description_id, '<p>Our packs.</p>{{widget type="Magento\\Cms\\Block\\Widget\\Block"'
                                ' block_id="bandeau-fr"}}{{block id="shipping-notice"}}'))
    chosen = reader(db)
    chosen.read([20])
    statements, batch = count_statements(db, lambda: chosen.read([22]))
    assert statements == QUERIES_PER_CHUNK + CLOCK_QUERIES + 1  # the chunk that first needs a block reads them all, once
    assert batch.problems == []  # blocks kept to other store views render nothing, silently
    docs = by_key(batch.documents)
    descriptions = {sid: docs[("22", sid)].data["description"] for sid in (1, 2)}  # type: ignore[index]
    assert descriptions == {
        1: "Our packs.\n\nOrders placed before 14:00 ship the same working day.",
        2: "Our packs.\n\nLivraison offerte en France dès 50 € d'achat. Offer valid in mainland France",
    }
    again, _ = count_statements(db, lambda: chosen.read([22]))
    assert again == QUERIES_PER_CHUNK + CLOCK_QUERIES


def _category_attribute(db: Database, code: str) -> int:
    return int(db.scalar(f"SELECT attribute_id FROM {db.table('eav_attribute')}"
                         " WHERE attribute_code = %s AND entity_type_id = 3", (code,)))


ECO_DEFAULT = {
    "store_code": "default",
    "locale": "en_US",
    "updated_at": "2026-01-15T02:49:00Z",
    "name": "Eco Friendly",
    "path": "Eco Friendly",
    "level": 3,
    "parent_id": 27,
    "description": None,
    "is_active": True,
    "include_in_menu": True,
    "url": "https://magento.test/collections/eco-friendly.html",
    "content": "# Eco Friendly\n\n- Path: Eco Friendly\n\nURL: https://magento.test/collections/eco-friendly.html",
}
ORGANIC_FR = {
    "store_code": "fr",
    "locale": "fr_FR",
    "updated_at": "2026-01-15T02:12:00Z",
    "name": "Coton biologique",
    "path": "Écoresponsable > Coton biologique",
    "level": 4,
    "parent_id": 28,
    "description": None,
    "is_active": True,
    "include_in_menu": True,
    "url": "https://magento.test/fr/collections/ecoresponsable/coton-biologique.html",
    "content": "# Coton biologique\n\n- Chemin: Écoresponsable > Coton biologique\n\n"
               "URL: https://magento.test/fr/collections/ecoresponsable/coton-biologique.html",
}


def test_luma_collections_inactive_children_and_their_products_stay(
        make_shop: Any, shop_manifest: ShopManifest) -> None:
    """Luma's sample data: "Collections" is inactive, "New Luma Yoga Collection" below it is active."""
    db = make_shop(products=21)
    collections, eco, organic = 27, 28, 29
    assert (shop_manifest.collections, shop_manifest.collections_eco, shop_manifest.collections_eco_organic) == (
        collections, eco, organic)
    db.execute(f"UPDATE {db.table('catalog_category_entity_int')} SET value = 0"
               " WHERE entity_id = %s AND attribute_id = %s AND store_id = 0",
               (collections, _category_attribute(db, "is_active")))
    batch = reader(db).read([collections, eco, organic])
    assert batch.problems == []
    assert [actions(batch.documents, i) for i in (collections, eco, organic)] == [
        ("delete", "delete", "delete"), ("save", "save", "delete"), ("save", "save", "delete")]
    docs = by_key(batch.documents)
    assert without_updated_at(docs[(str(eco), 1)].data) == without_updated_at(ECO_DEFAULT)
    assert without_updated_at(docs[(str(organic), 2)].data) == without_updated_at(ORGANIC_FR)
    # a product in the active child keeps the category, its path the breadcrumb without "Collections"
    product = shop_manifest.simple_with_overrides
    products = ProductReader(MagentoContext(db), parse_settings(None), None, SHOP_NOW).read([product])
    assert products.problems == []
    paths = {d.store_id: d.data["category_paths"] for d in products.documents if d.data is not None}
    assert paths[1] == ["Eco Friendly > Organic Cotton", "Men > Tops > Tees"]
    assert paths[2] == ["Hommes > Hauts > T-shirts", "Écoresponsable > Coton biologique"]
    categories = {d.store_id: d.data["categories"] for d in products.documents if d.data is not None}
    assert categories[1] == ["Organic Cotton", "Tees"]
    # an inactive category in the middle is skipped, the active ones above it stay in the path
    db.execute(f"UPDATE {db.table('catalog_category_entity_int')} SET value = 0"
               " WHERE entity_id = 21 AND attribute_id = %s AND store_id = 0", (_category_attribute(db, "is_active"),))
    gear = by_key(reader(db).read([20, 21, 22]).documents)
    assert [gear[(i, 1)].action for i in ("20", "21", "22")] == ["save", "delete", "save"]
    backpacks = gear[("22", 2)].data
    assert backpacks is not None and backpacks["path"] == "Équipement > Sacs à dos"


def test_products_in_an_active_child_of_an_inactive_category(
        demo_shop: Database, shop_manifest: ShopManifest) -> None:
    product = shop_manifest.in_inactive_category  # in Archive > Season 2023 > Jackets 2023 and Women > Tops > Jackets
    batch = ProductReader(MagentoContext(demo_shop), parse_settings(None), None, SHOP_NOW).read([product])
    docs = {d.store_id: d.data for d in batch.documents if d.data is not None}
    assert docs[1]["category_paths"] == ["Season 2023 > Jackets 2023", "Women > Tops > Jackets"]
    assert docs[2]["category_paths"] == ["Femmes > Hauts > Vestes", "Saison 2023 > Vestes 2023"]


def test_url_without_a_rewrite_is_magentos_category_id_url(make_shop: Any, shop_manifest: ShopManifest) -> None:
    db = make_shop(products=21)
    backpacks, bags = shop_manifest.gear_backpacks, shop_manifest.gear_bags
    db.execute(f"DELETE FROM {db.table('url_rewrite')} WHERE entity_type = 'category' AND entity_id IN (%s, %s)",
               (backpacks, bags))
    # Backpacks keeps its url_key ("backpacks", fr "sacs-a-dos"); Bags loses it: its name is made one
    db.execute(f"DELETE FROM {db.table('catalog_category_entity_varchar')} WHERE entity_id = %s"
               " AND attribute_id = %s", (bags, _category_attribute(db, "url_key")))
    db.execute(f"UPDATE {db.table('catalog_category_entity_varchar')} SET value = %s WHERE entity_id = %s"
               " AND attribute_id = %s AND store_id = 2", ("Sacs & Bagages à main", bags, _category_attribute(db, "name")))
    docs = by_key(reader(db).read([bags, backpacks]).documents)
    urls = {key: doc.data["url"] for key, doc in docs.items() if doc.data is not None}
    assert urls == {
        (str(bags), 1): "https://magento.test/catalog/category/view/s/bags/id/21/",
        (str(bags), 2): "https://magento.test/fr/catalog/category/view/s/sacs-bagages-a-main/id/21/",
        (str(backpacks), 1): "https://magento.test/catalog/category/view/s/backpacks/id/22/",
        (str(backpacks), 2): "https://magento.test/fr/catalog/category/view/s/sacs-a-dos/id/22/",
    }
    backpacks_fr = docs[(str(backpacks), 2)].data
    assert backpacks_fr is not None
    assert backpacks_fr == {
        **BACKPACKS_FR,
        "path": "Équipement > Sacs & Bagages à main > Sacs à dos",
        "url": "https://magento.test/fr/catalog/category/view/s/sacs-a-dos/id/22/",
        "content": "# Sacs à dos\n\n- Chemin: Équipement > Sacs & Bagages à main > Sacs à dos\n\n"
                   "URL: https://magento.test/fr/catalog/category/view/s/sacs-a-dos/id/22/",
    }
