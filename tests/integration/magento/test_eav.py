"""The shared EAV value loader on the demo shop: store fallback, scope, selections, bad bytes, one query per table."""

from __future__ import annotations

from typing import Any

from fixtures.shop import SHOP_NOW
from ragsync.db import Database
from ragsync.magento.context import MagentoContext
from ragsync.magento.eav import IdSelection, SubquerySelection, load_values

from .statement_count import count_statements

PRODUCT = "catalog_product_entity"


def product_attributes(ctx: MagentoContext, *codes: str) -> list[Any]:
    """Return product attributes by code."""
    attributes = ctx.attributes("catalog_product")
    return [attributes[c] for c in codes]


def attribute_id(db: Database, code: str) -> int:
    """Return a product attribute's id (test setup only: the loader itself never uses fixed ids)."""
    return int(db.scalar(f"SELECT attribute_id FROM {db.table('eav_attribute')} WHERE attribute_code = %s"
                         " AND entity_type_id = 4", (code,)))


def test_store_fallback_and_scope(demo_shop: Database) -> None:
    ctx = MagentoContext(demo_shop)
    values = load_values(ctx, PRODUCT, product_attributes(ctx, "name", "status", "color", "price"),
                         [1, 10, 11], [1, 2, 3], SHOP_NOW)
    assert values.get(1, "name", 1) == "Aero Daily Fitness Tee"  # store 0 row
    assert values.get(1, "name", 2) == "T-shirt de fitness Aero Daily"  # fr row
    assert values.get(1, "name", 0) == "Aero Daily Fitness Tee"
    assert values.get(1, "name", 3) == "Aero Daily Fitness Tee"  # no store 3 row: the store 0 row
    # website-scope status: Magento writes it per store view; store fallback applies
    assert [values.get(10, "status", s) for s in (1, 2, 3)] == [1, 1, 2]
    assert [values.get(11, "status", s) for s in (0, 1, 2, 3)] == [2, 1, 1, 2]
    assert values.get(1, "price", 2) is not None and float(values.get(1, "price", 2)) == 29.0
    assert values.get(1, "no_such_code", 1, "fallback") == "fallback"
    resolved = values.resolve_all([0, 1, 2, 3])
    assert resolved[2][1]["name"] == "T-shirt de fitness Aero Daily"
    assert resolved[3][11]["status"] == 2
    assert all(values.resolve_all([s]) == {s: resolved[s]} for s in (0, 1, 2, 3))
    assert all(resolved[s][e].get(code) == values.get(e, code, s)
               for s in (0, 1, 2, 3) for e in (1, 10, 11) for code in ("name", "status", "color", "price"))


def test_store_row_with_null_wins_and_global_attributes_ignore_store_rows(make_shop: Any) -> None:
    db = make_shop(products=21)
    t = db.table
    name, color = attribute_id(db, "name"), attribute_id(db, "color")
    # a store view that blanked the name; a leftover store row of the global attribute color
    db.execute(f"INSERT INTO {t('catalog_product_entity_varchar')} (attribute_id, store_id, entity_id, value)"
               " VALUES (%s, 1, 19, NULL)", (name,))
    db.execute(f"INSERT INTO {t('catalog_product_entity_int')} (attribute_id, store_id, entity_id, value)"
               " SELECT attribute_id, 2, entity_id, value + 1 FROM " + t("catalog_product_entity_int") +
               " WHERE attribute_id = %s AND entity_id = 1 AND store_id = 0", (color,))
    ctx = MagentoContext(db)
    values = load_values(ctx, PRODUCT, product_attributes(ctx, "name", "color"), [1, 19], [1, 2])
    assert values.get(19, "name", 1, "missing") is None  # the NULL store row wins, as in Magento
    assert values.get(19, "name", 2) == "Plain Water Bottle"
    assert values.resolve_all([1, 2])[1][19]["name"] is None
    assert values.resolve_all([2])[2][1]["color"] == values.get(1, "color", 0)
    blue = values.get(1, "color", 0)
    assert values.get(1, "color", 2) == blue  # store 2's row is ignored for a global attribute
    assert (1, color, 2) not in values.rows
    assert values.resolve_all([2])[2][1]["color"] == blue


def test_selections(demo_shop: Database) -> None:
    ctx = MagentoContext(demo_shop)
    dense = IdSelection.of([5, 3, 4, 3])
    assert (dense.ids, dense.sql("e.entity_id")) == ((3, 4, 5), ("e.entity_id BETWEEN %s AND %s", [3, 5]))
    assert dense.exact
    sparse = IdSelection.of([1, 40])
    assert sparse.sql("entity_id") == ("entity_id IN (%s, %s)", [1, 40])
    gappy = IdSelection.of([1, 2, 4])  # a range 1..4 that must not return product 3
    assert gappy.use_range and not gappy.exact
    values = load_values(ctx, PRODUCT, product_attributes(ctx, "name"), gappy, [1])
    assert set(values.resolve_all([1])[1]) == {1, 2, 4}
    assert IdSelection.of([]).sql("x") == ("1=0", [])
    # a subquery: the children of configurable 2
    children = SubquerySelection(f"SELECT product_id FROM {ctx.t('catalog_product_super_link')} WHERE parent_id = %s",
                                 (2,))
    values = load_values(ctx, PRODUCT, product_attributes(ctx, "name"), children, [1])
    assert set(values.resolve_all([1])[1]) == {3, 4, 5, 6, 7, 8}
    assert values.get(3, "name", 1) == "Chaz Kangeroo Hoodie-S-Black"


def test_one_query_per_value_table(demo_shop: Database) -> None:
    ctx = MagentoContext(demo_shop)
    attrs = product_attributes(ctx, "name", "meta_title", "status", "visibility", "price", "sku")  # sku is static
    ctx.attributes("catalog_product")
    _ = ctx.link_fields
    statements, values = count_statements(
        demo_shop, lambda: load_values(ctx, PRODUCT, attrs, list(range(1, 51)), [1, 2, 3]))
    assert statements == 3  # varchar, int, decimal; static sku is a column of the entity table
    assert len(values.resolve_all([1, 2, 3])[1]) == 50


def test_invalid_utf8_is_reported_per_value(make_shop: Any) -> None:
    db = make_shop(products=21)
    t = db.table
    description = attribute_id(db, "description")
    db.execute(f"ALTER TABLE {t('catalog_product_entity_text')} MODIFY `value` MEDIUMBLOB NULL")
    db.execute(f"UPDATE {t('catalog_product_entity_text')} SET value = %s WHERE entity_id = 1"
               " AND attribute_id = %s AND store_id = 0", (b"ok \xc3\x28 broken", description))
    ctx = MagentoContext(db)
    values = load_values(ctx, PRODUCT, product_attributes(ctx, "description", "name"), [1, 2], [1, 2])
    assert values.get(1, "description", 1) is None
    assert values.invalid_reasons(1, 1) == ["description (store 0 value): invalid UTF-8 at byte 3"]
    assert values.invalid_reasons(1, 2) == []  # fr reads its own, valid description
    assert values.get(1, "description", 2).startswith("<div")
    assert values.invalid_reasons(2, 1) == []


def test_attributes_are_found_by_code_not_by_id(make_shop: Any) -> None:
    """Renumber the name attribute as another install would have it; the loader still finds it."""
    db = make_shop(products=21)
    t = db.table
    old = attribute_id(db, "name")
    db.execute("SET SESSION foreign_key_checks = 0")
    for table in ("eav_attribute", "catalog_eav_attribute", "catalog_product_entity_varchar", "eav_entity_attribute"):
        db.execute(f"UPDATE {t(table)} SET attribute_id = 4321 WHERE attribute_id = %s", (old,))
    db.execute("SET SESSION foreign_key_checks = 1")
    ctx = MagentoContext(db)
    values = load_values(ctx, PRODUCT, product_attributes(ctx, "name"), [1], [2])
    assert values.get(1, "name", 2) == "T-shirt de fitness Aero Daily"
