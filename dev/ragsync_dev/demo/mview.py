"""Put a demo shop's indexers in "Update by Schedule" mode, as Magento does: changelogs, triggers, mview_state.

The subscriptions below are Magento 2.4's ``etc/mview.xml`` (Catalog, CatalogInventory, CatalogRule,
CatalogSearch, InventoryIndexer), written out here on purpose, apart from the copy capture reads
(:data:`ragsync.magento.changes.VIEWS`): these triggers are what Magento installs, and capture has
to find the changes from what they write. Tests and ``bench/capture.py`` use it. Triggers follow
``Magento\\Framework\\Mview\\View\\Subscription``: one per table and event, carrying an
``INSERT IGNORE INTO <view>_cl (entity_id) VALUES (NEW.<column>)`` (``OLD.`` on delete) for every
view subscribed to the table.
"""

from __future__ import annotations

from collections.abc import Iterable

from ragsync.db import Database

_VALUES = ("datetime", "decimal", "int", "text", "varchar")
SUBSCRIPTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "catalogsearch_fulltext": (
        ("catalog_product_entity", "entity_id"), *((f"catalog_product_entity_{v}", "entity_id") for v in _VALUES),
        ("catalog_product_website", "product_id"), ("cataloginventory_stock_item", "product_id"),
        ("catalog_product_super_link", "product_id"), ("catalog_product_link", "product_id")),
    "catalog_product_price": (
        ("catalog_product_entity", "entity_id"), ("catalog_product_entity_datetime", "entity_id"),
        ("catalog_product_entity_decimal", "entity_id"), ("catalog_product_entity_int", "entity_id"),
        ("catalog_product_entity_tier_price", "entity_id"), ("catalog_product_link", "product_id"),
        ("catalog_product_website", "product_id")),
    "catalog_product_attribute": (
        ("catalog_product_entity_decimal", "entity_id"), ("catalog_product_entity_int", "entity_id"),
        ("catalog_product_entity_varchar", "entity_id"), ("catalog_product_link", "product_id")),
    "cataloginventory_stock": (
        ("cataloginventory_stock_item", "product_id"), ("catalog_product_entity_int", "entity_id"),
        ("catalog_product_link", "product_id")),
    "catalog_product_category": (
        ("catalog_category_product", "product_id"), ("catalog_product_entity_int", "entity_id"),
        ("catalog_product_website", "product_id")),
    "catalog_category_product": (("catalog_category_entity", "entity_id"), ("catalog_category_entity_int", "entity_id")),
    "catalogrule_rule": (("catalogrule", "rule_id"),),
    "inventory": (("inventory_source_item", "source_item_id"),),
}


def schedule_mode(db: Database, views: Iterable[str] = tuple(SUBSCRIPTIONS)) -> None:
    """Switch the views to "Update by Schedule": create their changelogs and triggers, set mview_state."""
    wanted = list(views)
    existing = {r[0] for r in db.query("SELECT table_name FROM information_schema.tables"
                                       " WHERE table_schema = DATABASE()")}
    by_table: dict[str, list[tuple[str, str]]] = {}
    for view in wanted:
        db.execute(f"CREATE TABLE IF NOT EXISTS `{view}_cl` (`version_id` int unsigned NOT NULL AUTO_INCREMENT,"
                   " `entity_id` int unsigned NOT NULL DEFAULT 0, PRIMARY KEY (`version_id`)) ENGINE=InnoDB")
        db.execute("INSERT INTO mview_state (view_id, mode, status, updated, version_id)"
                   " VALUES (%s, 'enabled', 'idle', NOW(), 0)", (view,))
        for table, column in SUBSCRIPTIONS[view]:
            if table in existing:
                by_table.setdefault(table, []).append((view, column))
    for table, targets in by_table.items():
        for event, row in (("insert", "NEW"), ("update", "NEW"), ("delete", "OLD")):
            body = " ".join(f"INSERT IGNORE INTO `{view}_cl` (`entity_id`) VALUES ({row}.`{column}`);"
                            for view, column in targets)
            db.execute(f"CREATE TRIGGER `trg_{table}_after_{event}` AFTER {event.upper()} ON `{table}`"
                       f" FOR EACH ROW BEGIN {body} END")


def process_changelogs(db: Database) -> None:
    """Do what Magento's indexer cron does with the changelogs: mark every row processed, then clean them up."""
    for (view,) in db.query("SELECT view_id FROM mview_state WHERE mode = 'enabled'"):
        newest = db.scalar(f"SELECT MAX(version_id) FROM `{view}_cl`")
        if newest is not None:
            db.execute("UPDATE mview_state SET version_id = %s WHERE view_id = %s", (newest, view))
            db.execute(f"DELETE FROM `{view}_cl` WHERE version_id <= %s", (newest,))


def save_mode(db: Database) -> None:
    """Switch every view back to "Update on Save", as Magento does: drop the triggers and changelogs."""
    for (name,) in db.query("SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = DATABASE()"
                            " AND trigger_name LIKE 'trg\\_%%'"):
        db.execute(f"DROP TRIGGER IF EXISTS `{name}`")
    for view in SUBSCRIPTIONS:
        db.execute(f"DROP TABLE IF EXISTS `{view}_cl`")
    db.execute("DELETE FROM mview_state")
