"""The generated demo shop: it loads into MariaDB with Magento's carried schema and has every feature the readers need.

Everything is checked with SQL against the generated database, reading EAV values the way
Magento does (store row first, then store 0).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from fixtures.shop import SHOP_NOW, SHOP_PRODUCTS
from ragsync.db import Database
from ragsync_dev.demo.shop import (
    FIRST_BULK_PRODUCT_ID,
    ShopManifest,
    ShopSummary,
    generate_shop,
    main,
    manifest,
)
from ragsync_dev.demo.shop_content import WIDGET_BLOCK

TODAY = SHOP_NOW.date()
DAY = timedelta(days=1)


# --- helpers ------------------------------------------------------------------------------------

def attribute_id(db: Database, code: str, entity_type: int = 4) -> int:
    return int(db.scalar(f"SELECT attribute_id FROM {db.table('eav_attribute')}"
                         " WHERE entity_type_id = %s AND attribute_code = %s", (entity_type, code)))


def raw_value(db: Database, code: str, entity_id: int, store_id: int, entity: str = "product") -> Any:
    """Return the value row of exactly one store (no fallback), or None."""
    entity_type = 4 if entity == "product" else 3
    backend = db.scalar(f"SELECT backend_type FROM {db.table('eav_attribute')}"
                        " WHERE entity_type_id = %s AND attribute_code = %s", (entity_type, code))
    table = db.table(f"catalog_{entity}_entity_{backend}")
    return db.scalar(f"SELECT value FROM {table} WHERE attribute_id = %s AND entity_id = %s AND store_id = %s",
                     (attribute_id(db, code, entity_type), entity_id, store_id))


def store_value(db: Database, code: str, entity_id: int, store_id: int, entity: str = "product") -> Any:
    """Return the value for a store view with Magento's fallback to store 0."""
    value = raw_value(db, code, entity_id, store_id, entity)
    return value if value is not None else raw_value(db, code, entity_id, 0, entity)


def option_label(db: Database, option_id: int, store_id: int) -> str:
    t = db.table("eav_attribute_option_value")
    rows = dict(db.query(f"SELECT store_id, value FROM {t} WHERE option_id = %s AND store_id IN (0, %s)",
                         (option_id, store_id)))
    return str(rows.get(store_id, rows[0]))


def count(db: Database, table: str, where: str = "1 = 1", params: tuple[Any, ...] = ()) -> int:
    return int(db.scalar(f"SELECT COUNT(*) FROM {db.table(table)} WHERE {where}", params))


# --- loading ------------------------------------------------------------------------------------

def test_shop_loads_and_the_summary_counts_what_is_in_the_tables(
        demo_shop: Database, demo_shop_summary: ShopSummary) -> None:
    db, summary = demo_shop, demo_shop_summary
    assert count(db, "catalog_product_entity") == SHOP_PRODUCTS == summary.products
    for table in ("catalog_product_entity", "catalog_product_entity_varchar", "catalog_product_entity_int",
                  "catalog_product_entity_text", "url_rewrite", "cms_page", "cms_block", "salesrule",
                  "catalogrule", "cataloginventory_stock_item", "catalog_product_entity_media_gallery",
                  "catalog_product_index_price", "catalogrule_product", "cataloginventory_stock_status",
                  "catalog_product_entity_media_gallery_value_to_entity", "catalog_url_rewrite_product_category"):
        assert count(db, table) == summary.counts[table], table
    assert summary.total_rows > 2000
    assert summary.elapsed_seconds < 10
    assert "50 products" in summary.describe()


def test_the_manifest_is_fixed_and_names_every_well_known_entity() -> None:
    known = manifest()
    assert known == manifest()
    assert (known.simple_with_overrides, known.configurable, known["cart_expired"]) == (1, 2, 4)
    assert known.configurable_children == (3, 4, 5, 6, 7, 8) and known.not_visible_child == 3
    assert known.first_bulk_product_id == FIRST_BULK_PRODUCT_ID == max(known.products.values()) + 1
    assert known.cms_pages["no-route"] == known.no_route_page
    assert known.categories_by_level[2][0] == known.women
    with pytest.raises(AttributeError):
        _ = known.no_such_entity


def test_shop_loads_with_a_table_prefix(make_shop) -> None:
    db = make_shop(table_prefix="m2_")
    tables = {row[0] for row in db.query("SHOW TABLES")}
    assert tables and all(name.startswith("m2_") for name in tables)
    assert "m2_catalog_product_entity" in tables
    assert count(db, "catalog_product_entity") == SHOP_PRODUCTS
    assert count(db, "store") == 4
    assert count(db, "url_rewrite", "entity_type = 'product' AND entity_id = %s", (manifest()["configurable"],)) > 0


def test_generate_refuses_too_few_products_and_a_shop_that_already_has_products(demo_shop: Database) -> None:
    with pytest.raises(ValueError, match="at least"):
        generate_shop(demo_shop, products=5, now=SHOP_NOW)
    with pytest.raises(ValueError, match="already holds"):
        generate_shop(demo_shop, products=50, now=SHOP_NOW)


def test_the_command_line_creates_a_database_and_prints_what_it_wrote(db_factory, capsys) -> None:
    target = db_factory("shopcli")
    url = target.params.with_database(target.params.database).url()
    assert main(["--url", url, "--products", "30", "--prefix", "cli_", "--create", "--now", "2026-01-15T12:00:00"]) == 0
    out = capsys.readouterr().out
    assert "cli_catalog_product_entity" in out and "wall time" in out and "30 products" in out
    assert count(Database(target.params.__class__(**{**target.params.__dict__, "table_prefix": "cli_"})),
                 "catalog_product_entity") == 30
    # a second run without --replace refuses to touch the existing tables
    assert main(["--url", url, "--prefix", "cli_", "--create"]) == 2


# --- stores and configuration -------------------------------------------------------------------

def test_two_websites_and_three_store_views_with_their_roots(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    db, m = demo_shop, shop_manifest
    stores = {code: (sid, wid, gid) for sid, code, wid, gid in db.query(
        f"SELECT store_id, code, website_id, group_id FROM {db.table('store')} WHERE store_id > 0 AND is_active = 1")}
    assert stores == {"default": (1, 1, 1), "fr": (2, 1, 1), "outlet": (3, 2, 2)}
    assert m.stores == {"admin": 0, "default": 1, "fr": 2, "outlet": 3} == dict(m.store_ids)
    roots = dict(db.query(f"SELECT group_id, root_category_id FROM {db.table('store_group')} WHERE group_id > 0"))
    assert roots == {1: m.root_categories["base"], 2: m.root_categories["outlet"]} == {1: 2, 2: 3}
    websites = dict(db.query(f"SELECT code, website_id FROM {db.table('store_website')}"))
    assert websites == dict(m.websites)
    outlet_root = db.query(f"SELECT path, level, parent_id FROM {db.table('catalog_category_entity')}"
                           " WHERE entity_id = 3")
    assert outlet_root == [("1/3", 1, 1)]


def _config(db: Database, path: str, store_id: int) -> str | None:
    """Resolve a config path for a store view: stores -> websites -> default."""
    website = db.scalar(f"SELECT website_id FROM {db.table('store')} WHERE store_id = %s", (store_id,))
    rows = {(scope, scope_id): value for scope, scope_id, value in db.query(
        f"SELECT scope, scope_id, value FROM {db.table('core_config_data')} WHERE path = %s", (path,))}
    for key in (("stores", store_id), ("websites", website), ("default", 0)):
        if key in rows:
            return str(rows[key])
    return None


def test_base_urls_locales_and_currencies_resolve_with_scope_fallback(demo_shop: Database) -> None:
    db = demo_shop
    assert _config(db, "web/secure/base_url", 1) == "https://magento.test/"
    assert _config(db, "web/secure/base_url", 2) == "https://magento.test/"
    assert _config(db, "web/secure/base_url", 3) == "https://outlet.magento.test/"
    assert _config(db, "web/unsecure/base_url", 3) == "http://outlet.magento.test/"
    assert _config(db, "web/secure/base_link_url", 2) == "{{secure_base_url}}fr/"
    assert _config(db, "web/unsecure/base_link_url", 2) == "{{unsecure_base_url}}fr/"
    assert _config(db, "web/secure/base_link_url", 1) is None  # Magento's config.xml default applies
    assert _config(db, "web/secure/use_in_frontend", 3) == "1"
    assert [_config(db, "general/locale/code", s) for s in (1, 2, 3)] == ["en_US", "fr_FR", "en_GB"]
    assert [_config(db, "general/locale/timezone", s) for s in (1, 2, 3)] == [
        "Europe/Paris", "Europe/Paris", "Europe/London"]
    assert [_config(db, "currency/options/base", s) for s in (1, 2, 3)] == ["EUR", "EUR", "GBP"]
    assert _config(db, "catalog/seo/product_url_suffix", 1) == ".html"
    assert _config(db, "web/default/cms_home_page", 2) == "home"


# --- products -----------------------------------------------------------------------------------

def test_products_per_store_view_match_assignment_status_and_visibility(
        demo_shop: Database, demo_shop_summary: ShopSummary) -> None:
    db = demo_shop
    for code, store_id, website_id in (("default", 1, 1), ("fr", 2, 1), ("outlet", 3, 2)):
        assigned = [int(r[0]) for r in db.query(
            f"SELECT product_id FROM {db.table('catalog_product_website')} WHERE website_id = %s", (website_id,))]
        visible = [pid for pid in assigned
                   if store_value(db, "status", pid, store_id) == 1 and store_value(db, "visibility", pid, store_id) != 1]
        assert demo_shop_summary.store_products[code] == {"assigned": len(assigned), "visible": len(visible)}, code
        assert 0 < len(visible) < len(assigned)


def test_simple_product_has_store_level_overrides_in_french(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    db, pid = demo_shop, shop_manifest.simple_with_overrides
    assert store_value(db, "name", pid, 1) == "Aero Daily Fitness Tee"
    assert store_value(db, "name", pid, 2) == "T-shirt de fitness Aero Daily"
    assert store_value(db, "name", pid, 3) == "Aero Daily Fitness Tee"  # outlet falls back to store 0
    assert store_value(db, "url_key", pid, 2) == "t-shirt-fitness-aero-daily"
    assert store_value(db, "description", pid, 2) != store_value(db, "description", pid, 1)
    assert "Caractéristiques" in store_value(db, "description", pid, 2)
    assert store_value(db, "meta_title", pid, 2).startswith("T-shirt")
    assert store_value(db, "image", pid, 2) != store_value(db, "image", pid, 1)
    sku = db.scalar(f"SELECT sku FROM {db.table('catalog_product_entity')} WHERE entity_id = %s", (pid,))
    assert sku == shop_manifest.skus["simple_with_overrides"]
    # about 30% of the bulk products on the base website carry French overrides
    bulk_fr = count(db, "catalog_product_entity_varchar", "store_id = 2 AND attribute_id = %s AND entity_id >= %s",
                    (attribute_id(db, "name"), FIRST_BULK_PRODUCT_ID))
    assert bulk_fr >= 1


def test_description_html_is_page_builder_with_directives_and_some_are_plain(
        demo_shop: Database, shop_manifest: ShopManifest) -> None:
    db = demo_shop
    html = store_value(db, "description", shop_manifest.simple_with_overrides, 0)
    for marker in ('data-content-type="row"', 'data-content-type="text"', "<h3", "<ul>", "<table",
                   '{{media url="wysiwyg/', "{{media url=wysiwyg/", '{{store url="size-guide"}}', "<a href="):
        assert marker in html, marker
    plain = store_value(db, "description", shop_manifest.plain_description, 0)
    assert "<" not in plain and "\n" in plain
    assert store_value(db, "meta_keyword", shop_manifest.simple_with_overrides, 0)
    assert store_value(db, "meta_description", shop_manifest.simple_with_overrides, 0)


def test_option_labels_are_translated_per_store(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    db, m, pid = demo_shop, shop_manifest, shop_manifest.simple_with_overrides
    color = store_value(db, "color", pid, 0)
    size = store_value(db, "size", pid, 0)
    assert (option_label(db, color, 0), option_label(db, color, 2)) == ("Blue", "Bleu")
    assert (option_label(db, size, 0), option_label(db, size, 2)) == ("M", "Moyen")
    assert option_label(db, color, 1) == "Blue"  # no label for store 1: falls back to the admin label
    materials = [int(o) for o in store_value(db, "material", pid, 0).split(",")]
    assert materials == [m.options["material"]["Cotton"], m.options["material"]["Polyester"]]
    assert [option_label(db, o, 2) for o in materials] == ["Coton", "Polyester"]  # Polyester: same word, no row
    maker = store_value(db, "manufacturer", pid, 0)
    assert option_label(db, maker, 2) == "Luma"
    assert m.option_labels_fr[m.options["color"]["Blue"]] == "Bleu"
    labels = dict(db.query(f"SELECT store_id, value FROM {db.table('eav_attribute_label')} WHERE attribute_id = %s",
                           (attribute_id(db, "size"),)))
    assert labels == {2: "Taille", 3: "Size (UK)"}


def test_user_defined_attributes_and_their_visibility_on_front(demo_shop: Database) -> None:
    db = demo_shop
    rows = {code: (backend, frontend, user, front) for code, backend, frontend, user, front in db.query(
        f"SELECT a.attribute_code, a.backend_type, a.frontend_input, a.is_user_defined, c.is_visible_on_front"
        f" FROM {db.table('eav_attribute')} a JOIN {db.table('catalog_eav_attribute')} c"
        " ON c.attribute_id = a.attribute_id WHERE a.entity_type_id = 4 AND a.is_user_defined = 1")}
    assert rows == {"color": ("int", "select", 1, 1), "size": ("int", "select", 1, 1),
                    "material": ("text", "multiselect", 1, 1), "manufacturer": ("int", "select", 1, 0)}


def test_configurable_product_with_children(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    db, m = demo_shop, shop_manifest
    parent, children = m.configurable, list(m.configurable_children)
    assert db.scalar(f"SELECT type_id FROM {db.table('catalog_product_entity')} WHERE entity_id = %s",
                     (parent,)) == "configurable"
    links = sorted(int(r[0]) for r in db.query(
        f"SELECT product_id FROM {db.table('catalog_product_super_link')} WHERE parent_id = %s", (parent,)))
    relations = sorted(int(r[0]) for r in db.query(
        f"SELECT child_id FROM {db.table('catalog_product_relation')} WHERE parent_id = %s", (parent,)))
    assert links == relations == children
    supers = db.query(
        f"SELECT a.attribute_code, s.position FROM {db.table('catalog_product_super_attribute')} s"
        f" JOIN {db.table('eav_attribute')} a ON a.attribute_id = s.attribute_id WHERE s.product_id = %s"
        " ORDER BY s.position", (parent,))
    assert supers == [("color", 0), ("size", 1)]
    labels = dict(db.query(
        f"SELECT l.store_id, l.value FROM {db.table('catalog_product_super_attribute_label')} l"
        f" JOIN {db.table('catalog_product_super_attribute')} s ON s.product_super_attribute_id ="
        " l.product_super_attribute_id WHERE s.product_id = %s AND s.position = 1", (parent,)))
    assert labels == {0: "Size", 2: "Taille"}
    assert raw_value(db, "price", parent, 0) is None  # like Magento: the price lives on the children
    combos = set()
    for child in children:
        assert store_value(db, "visibility", child, 1) == 1
        assert raw_value(db, "price", child, 0) is not None
        combos.add((option_label(db, raw_value(db, "color", child, 0), 0),
                    option_label(db, raw_value(db, "size", child, 0), 0)))
    assert len(combos) == len(children)
    assert m.not_visible_child in children
    # bulk families have 3-6 children each
    per_parent = db.query(f"SELECT parent_id, COUNT(*) FROM {db.table('catalog_product_relation')}"
                          " GROUP BY parent_id")
    assert all(3 <= n <= 6 for _, n in per_parent)


def test_status_is_disabled_globally_or_per_store(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    db, m = demo_shop, shop_manifest
    assert [store_value(db, "status", m.disabled_product, s) for s in (1, 2)] == [2, 2]
    assert [store_value(db, "status", m.disabled_in_outlet, s) for s in (1, 2, 3)] == [1, 1, 2]
    assert [store_value(db, "status", m.enabled_by_store_override, s) for s in (0, 1, 2)] == [2, 1, 1]
    assert [store_value(db, "visibility", m.not_visible_in_fr, s) for s in (1, 2)] == [4, 1]
    websites = {int(r[0]) for r in db.query(
        f"SELECT website_id FROM {db.table('catalog_product_website')} WHERE product_id = %s", (m.outlet_only,))}
    assert websites == {2}


def _date(value: Any) -> date | None:
    return None if value is None else value.date()


def test_special_price_windows_are_relative_to_now(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    db, m = demo_shop, shop_manifest
    windows = {name: (_date(raw_value(db, "special_from_date", m[name], 0)),
                      _date(raw_value(db, "special_to_date", m[name], 0)))
               for name in ("special_past", "special_current", "special_future", "special_no_dates")}
    assert windows["special_past"] == (TODAY - 30 * DAY, TODAY - 10 * DAY)
    assert windows["special_current"] == (TODAY - 5 * DAY, TODAY + 5 * DAY)
    assert windows["special_future"] == (TODAY + 10 * DAY, TODAY + 20 * DAY)
    assert windows["special_no_dates"] == (None, None)
    for name in windows:
        assert raw_value(db, "special_price", m[name], 0) < raw_value(db, "price", m[name], 0)
    # the price index applies only the current window
    index = dict(db.query(f"SELECT entity_id, final_price FROM {db.table('catalog_product_index_price')}"
                          " WHERE website_id = 1 AND customer_group_id = 0 AND entity_id IN (%s, %s, %s)",
                          (m.special_past, m.special_current, m.special_future)))
    assert index[m.special_current] == raw_value(db, "special_price", m.special_current, 0)
    assert index[m.special_past] == raw_value(db, "price", m.special_past, 0)
    assert index[m.special_future] == raw_value(db, "price", m.special_future, 0)
    # every customer group has the row; the outlet-only product is indexed on website 2 only; disabled is not
    groups = db.query(f"SELECT website_id, customer_group_id FROM {db.table('catalog_product_index_price')}"
                      " WHERE entity_id = %s ORDER BY 1, 2", (m.simple_with_overrides,))
    assert groups == [(w, g) for w in (1, 2) for g in (0, 1, 2, 3)]
    assert {r[0] for r in db.query(f"SELECT website_id FROM {db.table('catalog_product_index_price')}"
                                   " WHERE entity_id = %s", (m.outlet_only,))} == {2}
    assert count(db, "catalog_product_index_price", "entity_id = %s", (m.disabled_product,)) == 0
    configurable = db.query(f"SELECT min_price, max_price FROM {db.table('catalog_product_index_price')}"
                            " WHERE entity_id = %s AND customer_group_id = 0", (m.configurable,))
    assert configurable == [(52, 52)]


def test_images_gallery_and_per_store_labels(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    db, m, pid = demo_shop, shop_manifest, shop_manifest.simple_with_overrides
    t = db.table
    gallery = db.query(
        f"SELECT g.value, v.store_id, v.label, v.position, v.disabled"
        f" FROM {t('catalog_product_entity_media_gallery_value_to_entity')} e"
        f" JOIN {t('catalog_product_entity_media_gallery')} g ON g.value_id = e.value_id"
        f" JOIN {t('catalog_product_entity_media_gallery_value')} v ON v.value_id = g.value_id AND v.entity_id = e.entity_id"
        " WHERE e.entity_id = %s ORDER BY v.store_id, v.position", (pid,))
    default_rows = [r for r in gallery if r[1] == 0]
    assert [r[0] for r in default_rows] == [f"/a/e/aero-daily-fitness-tee-{n}.jpg" for n in (1, 2, 3)]
    assert [r[4] for r in default_rows] == [0, 0, 1]  # the third image is disabled
    assert [r[2] for r in gallery if r[1] == 2] == ["Vue de face", "Vue de dos", "Détail"]
    assert store_value(db, "image", pid, 1) == default_rows[0][0]
    assert store_value(db, "small_image", pid, 1) == store_value(db, "thumbnail", pid, 1) == default_rows[0][0]
    assert store_value(db, "image", m.no_image, 1) == "no_selection"
    assert count(db, "catalog_product_entity_media_gallery_value_to_entity", "entity_id = %s", (m.no_image,)) == 0


def test_stock_items_and_stock_status(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    db, m = demo_shop, shop_manifest
    assert count(db, "cataloginventory_stock_item") == SHOP_PRODUCTS
    item = db.query(f"SELECT qty, is_in_stock FROM {db.table('cataloginventory_stock_item')} WHERE product_id = %s",
                    (m.product_out_of_stock,))
    assert item == [(0, 0)]
    status = dict(db.query(f"SELECT product_id, stock_status FROM {db.table('cataloginventory_stock_status')}"
                           " WHERE website_id = 0 AND stock_id = 1"))
    assert len(status) == SHOP_PRODUCTS
    assert status[m.product_out_of_stock] == 0 and status[m.simple_with_overrides] == 1
    assert status[m.configurable] == 1 and sorted(status[c] for c in m.configurable_children) == [0, 1, 1, 1, 1, 1]
    assert count(db, "cataloginventory_stock_item", "is_in_stock = 0") >= 2


def test_product_url_rewrites_per_store_view(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    db, m = demo_shop, shop_manifest
    t = db.table

    def rewrites(pid: int) -> list[tuple[Any, ...]]:
        return db.query(f"SELECT store_id, request_path, target_path, redirect_type, metadata FROM {t('url_rewrite')}"
                        " WHERE entity_type = 'product' AND entity_id = %s ORDER BY url_rewrite_id", (pid,))

    aero = rewrites(m.simple_with_overrides)
    canonical = {(s, p) for s, p, target, r, meta in aero if r == 0 and meta is None}
    assert canonical == {(1, "aero-daily-fitness-tee.html"), (2, "t-shirt-fitness-aero-daily.html"),
                         (3, "aero-daily-fitness-tee.html")}
    in_category = [(s, p, meta) for s, p, target, r, meta in aero if meta is not None]
    assert (1, "men/tops/tees/aero-daily-fitness-tee.html",
            json.dumps({"category_id": str(m.men_tees)}, separators=(",", ":"))) in in_category
    assert (2, "hommes/hauts/t-shirts/t-shirt-fitness-aero-daily.html",
            f'{{"category_id":"{m.men_tees}"}}') in in_category
    assert [(s, p, target, r) for s, p, target, r, meta in aero if r == 301] == [
        (1, "aero-daily-tee.html", "aero-daily-fitness-tee.html", 301)]
    linked = count(db, "catalog_url_rewrite_product_category", "product_id = %s", (m.simple_with_overrides,))
    assert linked == len(in_category)
    assert rewrites(m.not_visible_child) == []
    assert {r[0] for r in rewrites(m.not_visible_in_fr)} == {1}
    assert {r[0] for r in rewrites(m.outlet_only)} == {3}
    duplicates = db.query(f"SELECT request_path, store_id FROM {t('url_rewrite')}"
                          " GROUP BY request_path, store_id HAVING COUNT(*) > 1")
    assert duplicates == []


# --- categories ---------------------------------------------------------------------------------

def test_category_tree_has_three_levels_under_each_root(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    db, m = demo_shop, shop_manifest
    rows = {cid: (parent, path, level, children) for cid, parent, path, level, children in db.query(
        f"SELECT entity_id, parent_id, path, level, children_count FROM {db.table('catalog_category_entity')}")}
    for cid, (parent, path, level, _children) in rows.items():
        if cid == 1:
            continue
        assert path == f"{rows[parent][1]}/{cid}" and level == rows[parent][2] + 1
    for _parent, path, _level, children in rows.values():
        assert children == sum(1 for other in rows.values() if other[1].startswith(path + "/"))
    for root in (2, 3):
        levels = {level for cid, (_p, path, level, _c) in rows.items() if path.startswith(f"1/{root}/")}
        assert levels == {2, 3, 4}
    assert set(m.categories_by_level) == {2, 3, 4}
    assert {rows[c][2] for c in m.categories_by_level[4]} == {4}


def test_inactive_branch_store_inactive_category_and_french_names(
        demo_shop: Database, shop_manifest: ShopManifest) -> None:
    db, m = demo_shop, shop_manifest
    assert store_value(db, "is_active", m.inactive_category, 1, "category") == 0
    assert store_value(db, "is_active", m.inactive_child, 1, "category") == 1
    parent = db.scalar(f"SELECT parent_id FROM {db.table('catalog_category_entity')} WHERE entity_id = %s",
                       (m.inactive_child,))
    assert parent == m.inactive_category
    assert [store_value(db, "is_active", m.category_inactive_in_fr, s, "category") for s in (1, 2)] == [1, 0]
    assert store_value(db, "include_in_menu", m.category_not_in_menu, 1, "category") == 0
    assert store_value(db, "name", m.women, 1, "category") == "Women"
    assert store_value(db, "name", m.women, 2, "category") == "Femmes"
    assert store_value(db, "url_path", m.women_jackets, 2, "category") == "femmes/hauts/vestes"
    assert "Vêtements" in store_value(db, "description", m.women, 2, "category")
    rewrites = dict(db.query(f"SELECT store_id, request_path FROM {db.table('url_rewrite')}"
                             " WHERE entity_type = 'category' AND entity_id = %s", (m.women_jackets,)))
    assert rewrites == {1: "women/tops/jackets.html", 2: "femmes/hauts/vestes.html"}
    outlet = dict(db.query(f"SELECT store_id, request_path FROM {db.table('url_rewrite')}"
                           " WHERE entity_type = 'category' AND entity_id = %s", (m.outlet_clearance_women_jackets,)))
    assert outlet == {3: "clearance/women/jackets.html"}
    assigned = {int(r[0]) for r in db.query(
        f"SELECT category_id FROM {db.table('catalog_category_product')} WHERE product_id = %s",
        (m.in_inactive_category,))}
    assert m.inactive_grandchild in assigned


# --- CMS ----------------------------------------------------------------------------------------

def test_cms_pages_of_every_kind(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    db, m = demo_shop, shop_manifest
    pages = {identifier: (pid, active, content) for pid, identifier, active, content in db.query(
        f"SELECT page_id, identifier, is_active, content FROM {db.table('cms_page')}")}
    for identifier in ("no-route", "home", "about-us", "contact", "faq", "privacy-policy", "shipping-and-returns",
                       "size-guide", "enable-cookies"):
        assert pages[identifier][0] == m.cms_pages[identifier] and pages[identifier][1] == 1
    assert pages["black-friday-2023"][1] == 0 and m.disabled_page == pages["black-friday-2023"][0]
    stores: dict[int, set[int]] = {}
    for pid, store in db.query(f"SELECT page_id, store_id FROM {db.table('cms_page_store')}"):
        stores.setdefault(int(pid), set()).add(int(store))
    assert stores[m.single_store_page] == {2}
    assert stores[m.outlet_only_page] == {3}
    assert stores[m.multi_store_page] == {1, 3}
    assert stores[m.cms_pages["home"]] == {0}
    home = pages["home"][2]
    for marker in (f'{{{{widget type="{WIDGET_BLOCK}" template="widget/static_block/default.phtml" '
                   f'block_id="{m.block_with_widget}"}}}}', "{{media url=", '{{store url="', '{{trans "',
                   "<script", "<style", 'data-content-type="row"'):
        assert marker in home, marker
    assert pages["faq"][2].count("<h3") >= 5 and "?</h3>" in pages["faq"][2]
    assert '{{block id="shipping-notice"}}' in pages["faq"][2]
    assert pages["privacy-policy"][2].count("<h2") >= 5
    assert "<table" in pages["size-guide"][2] and "<table" in pages["shipping-and-returns"][2]
    assert '{{config path="general/store_information/phone"}}' in pages["contact"][2]
    meta = db.query(f"SELECT title, content_heading, meta_title, meta_keywords, meta_description"
                    f" FROM {db.table('cms_page')} WHERE identifier = 'faq'")
    assert all(meta[0])
    rewrites = db.query(f"SELECT store_id, request_path, target_path FROM {db.table('url_rewrite')}"
                        " WHERE entity_type = 'cms-page' AND entity_id = %s ORDER BY store_id", (m.cms_pages["faq"],))
    assert rewrites == [(1, "faq", f"cms/page/view/page_id/{m.cms_pages['faq']}"),
                        (2, "faq", f"cms/page/view/page_id/{m.cms_pages['faq']}")]


def test_cms_blocks_of_every_kind(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    db, m = demo_shop, shop_manifest
    blocks = {bid: (identifier, active, content) for bid, identifier, active, content in db.query(
        f"SELECT block_id, identifier, is_active, content FROM {db.table('cms_block')}")}
    assert {bid: b[0] for bid, b in blocks.items()} == {v: k for k, v in m.cms_blocks.items()}
    assert 'block_id="promo-banner"' in blocks[m.block_with_widget][2]
    assert m.cms_blocks["promo-banner"] == m.widget_target_block
    assert f'block_id="{m.self_including_block}"' in blocks[m.self_including_block][2]
    assert blocks[m.inactive_block][1] == 0
    stores = {}
    for bid, store in db.query(f"SELECT block_id, store_id FROM {db.table('cms_block_store')}"):
        stores.setdefault(int(bid), set()).add(int(store))
    assert stores[m.single_store_block] == {2}
    assert stores[m.multi_store_block] == {1, 3}
    assert stores[m.block_with_widget] == {0}


# --- price rules --------------------------------------------------------------------------------

def test_cart_rules_of_every_kind(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    db, m = demo_shop, shop_manifest
    rules = {rid: row for rid, *row in db.query(
        f"SELECT rule_id, is_active, from_date, to_date, coupon_type, use_auto_generation, simple_action,"
        f" discount_amount, discount_step FROM {db.table('salesrule')}")}
    assert rules[m.cart_no_coupon][3] == 1
    assert rules[m.cart_specific_coupon][3] == 2
    assert rules[m.cart_auto_coupons][3:5] == [3, 1]
    assert rules[m.cart_expired][2] < TODAY
    assert rules[m.cart_future][1] > TODAY
    assert rules[m.cart_inactive][0] == 0
    assert {r[5] for r in rules.values()} >= {"by_percent", "by_fixed", "cart_fixed", "buy_x_get_y"}
    assert rules[m.cart_expired][5] == "buy_x_get_y" and rules[m.cart_expired][7] == 2
    coupons = db.query(f"SELECT rule_id, code, is_primary, type FROM {db.table('salesrule_coupon')} ORDER BY coupon_id")
    assert (m.cart_specific_coupon, m.specific_coupon_code, 1, 0) in coupons
    generated = [c for c in coupons if c[0] == m.cart_auto_coupons]
    assert [c[1] for c in generated] == list(m.auto_coupon_codes)
    assert all(c[2] is None and c[3] == 1 for c in generated)
    labels = dict(db.query(f"SELECT store_id, label FROM {db.table('salesrule_label')} WHERE rule_id = %s",
                           (m.cart_no_coupon,)))
    assert set(labels) == {0, 2} and labels[0] != labels[2]
    websites = {int(r[0]) for r in db.query(
        f"SELECT website_id FROM {db.table('salesrule_website')} WHERE rule_id = %s", (m.cart_outlet_only,))}
    assert websites == {2}
    groups = {int(r[0]) for r in db.query(
        f"SELECT customer_group_id FROM {db.table('salesrule_customer_group')} WHERE rule_id = %s",
        (m.cart_no_coupon,))}
    assert groups == {0, 1, 2, 3}
    conditions = json.loads(db.scalar(f"SELECT conditions_serialized FROM {db.table('salesrule')} WHERE rule_id = %s",
                                      (m.cart_no_coupon,)))
    assert conditions["conditions"][0]["attribute"] == "base_subtotal"


def test_catalog_rules_active_expired_and_inactive(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    db, m = demo_shop, shop_manifest
    rules = {rid: (active, start, end, action) for rid, active, start, end, action in db.query(
        f"SELECT rule_id, is_active, from_date, to_date, simple_action FROM {db.table('catalogrule')}")}
    active, start, end, action = rules[m.catalog_active]
    assert active == 1 and start <= TODAY <= end and action == "by_percent"
    assert rules[m.catalog_expired][2] < TODAY
    assert rules[m.catalog_inactive][0] == 0
    matched = {int(r[0]) for r in db.query(
        f"SELECT DISTINCT product_id FROM {db.table('catalogrule_product')} WHERE rule_id = %s", (m.catalog_active,))}
    watches = {int(r[0]) for r in db.query(
        f"SELECT product_id FROM {db.table('catalog_category_product')} WHERE category_id = %s", (m.gear_watches,))}
    assert matched == watches and m.not_visible_in_fr in matched
    assert count(db, "catalogrule_website", "rule_id = %s", (m.catalog_active,)) == 2


# --- timestamps, determinism, size ---------------------------------------------------------------

def test_every_change_timestamp_is_between_a_day_and_an_hour_before_now(demo_shop: Database) -> None:
    db = demo_shop
    low, high = SHOP_NOW - timedelta(hours=24), SHOP_NOW - timedelta(hours=1)
    for table, column in (("catalog_product_entity", "updated_at"), ("catalog_category_entity", "updated_at"),
                          ("cms_page", "update_time"), ("cms_block", "update_time"),
                          ("core_config_data", "updated_at")):
        oldest, newest = db.query(f"SELECT MIN({column}), MAX({column}) FROM {db.table(table)}")[0]
        assert low <= oldest and newest <= high, table


_COMPARED = {
    "catalog_product_entity": "entity_id",
    "catalog_product_entity_varchar": "value_id", "catalog_product_entity_int": "value_id",
    "catalog_product_entity_text": "value_id", "catalog_product_entity_decimal": "value_id",
    "catalog_product_entity_datetime": "value_id", "catalog_category_product": "entity_id",
    "url_rewrite": "url_rewrite_id", "catalog_product_entity_media_gallery": "value_id",
    "cataloginventory_stock_item": "item_id",
}


def _dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    return {table: db.query(f"SELECT * FROM {db.table(table)} ORDER BY {key}") for table, key in _COMPARED.items()}


def test_same_seed_and_now_give_identical_rows_and_another_seed_only_changes_bulk_products(make_shop) -> None:
    first, second = _dump(make_shop(products=120)), _dump(make_shop(products=120))
    assert first == second
    other = _dump(make_shop(products=120, seed=7))
    assert other["catalog_product_entity"] != first["catalog_product_entity"]
    well_known = [r for r in first["catalog_product_entity"] if r[0] < FIRST_BULK_PRODUCT_ID]
    assert [r for r in other["catalog_product_entity"] if r[0] < FIRST_BULK_PRODUCT_ID] == well_known


def test_bigger_shops_keep_the_manifest_and_the_product_mix(make_shop, shop_manifest: ShopManifest) -> None:
    db = make_shop(products=1500, seed=3, now=SHOP_NOW + timedelta(days=3))
    assert manifest() == shop_manifest
    skus = dict(db.query(f"SELECT entity_id, sku FROM {db.table('catalog_product_entity')}"
                         " WHERE entity_id < %s", (FIRST_BULK_PRODUCT_ID,)))
    assert {name: skus[pid] for name, pid in shop_manifest.products.items() if name in shop_manifest.skus} == dict(
        shop_manifest.skus)
    types = dict(db.query(f"SELECT type_id, COUNT(*) FROM {db.table('catalog_product_entity')}"
                          " WHERE entity_id >= %s GROUP BY type_id", (FIRST_BULK_PRODUCT_ID,)))
    children = count(db, "catalog_product_relation", "parent_id >= %s", (FIRST_BULK_PRODUCT_ID,))
    bulk = sum(types.values())
    simple_share = (types["simple"] - children) / bulk
    assert 0.60 < simple_share < 0.72
    assert 3 <= children / types["configurable"] <= 6
    per_product = count(db, "catalog_product_entity_varchar", "store_id = 0") + count(
        db, "catalog_product_entity_int", "store_id = 0") + count(db, "catalog_product_entity_text", "store_id = 0") + \
        count(db, "catalog_product_entity_decimal", "store_id = 0") + count(
        db, "catalog_product_entity_datetime", "store_id = 0")
    assert 15 <= per_product / 1500 <= 22
    fr_names = count(db, "catalog_product_entity_varchar", "store_id = 2 AND attribute_id = %s",
                     (attribute_id(db, "name"),))
    base = count(db, "catalog_product_website", "website_id = 1")
    assert 0.15 < fr_names / base < 0.35
    special = raw_value(db, "special_from_date", shop_manifest.special_current, 0)
    assert special == datetime.combine(TODAY + 3 * DAY - 5 * DAY, datetime.min.time())


def test_a_failed_generation_leaves_no_half_written_products(db_factory, monkeypatch) -> None:
    from ragsync_dev.demo import shop
    from ragsync_dev.demo.schema import create_magento_schema

    db = db_factory("shopfail")
    create_magento_schema(db)

    def broken_rules(self: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(shop._ShopBuilder, "_rules", broken_rules)
    with pytest.raises(RuntimeError, match="boom"):
        generate_shop(db, products=200, now=SHOP_NOW)
    assert count(db, "catalog_product_entity") == 0
    assert count(db, "catalog_product_entity_varchar") == 0
    assert count(db, "url_rewrite") == 0


def test_a_write_error_reaches_the_caller(db_factory, monkeypatch) -> None:
    import MySQLdb

    from ragsync_dev.demo import shop
    from ragsync_dev.demo.schema import create_magento_schema

    db = db_factory("shopdup")
    create_magento_schema(db)
    original = shop._ShopBuilder._cms

    def duplicate_page(self: Any) -> None:
        original(self)
        self.w.rows["cms_page"].append(self.w.rows["cms_page"][0])

    monkeypatch.setattr(shop._ShopBuilder, "_cms", duplicate_page)
    # with unique checks off InnoDB may report the duplicate only at COMMIT (error 1180)
    with pytest.raises(MySQLdb.Error):
        generate_shop(db, products=200, now=SHOP_NOW)
    assert count(db, "cms_page") == 0
