"""Generate a deterministic Magento 2.4 demo shop straight into MySQL, from 50 to 100,000+ products.

The same code builds the shop of ``make demo``, the test shop and the benchmark shop: only
``products`` changes. The database must already hold Magento's tables (see
:func:`ragsync_dev.demo.schema.create_magento_schema`, or use :func:`build_demo_database`);
every table name goes through ``db.table()`` so a ``db/table_prefix`` is honoured.

What the shop contains
----------------------
* Websites ``base`` (1) and ``outlet`` (2); store views ``default`` (1, en_US, EUR),
  ``fr`` (2, fr_FR, EUR, same website, own link URL ``{{secure_base_url}}fr/``) and ``outlet``
  (3, en_GB, GBP, own base URLs at website scope). Store group 1 has root category 2
  "Default Category", store group 2 has root category 3 "Outlet Root".
* A fixed category tree (levels 2-4 under both roots) with an inactive branch, a category
  inactive only in ``fr``, one left out of the menu, French names/URL keys, URL rewrites per store.
* Products: a fixed head of well-known products (ids 1..21, see :class:`ShopManifest`) and then
  bulk products in a fixed ratio: two thirds simple, one third configurable families
  (a parent and 3-6 children, children "Not Visible Individually"). About 20 EAV value rows per
  product at store 0; 30% of the base-website products carry French overrides.
* CMS pages (Magento's stock ones plus about-us, contact, faq, privacy-policy, shipping-and-returns,
  size-guide, a disabled one and single-store ones) and blocks (a widget of another block, a block
  that includes itself, an inactive one, single-store ones), in Page Builder-style HTML.
* Cart price rules of every coupon kind and date window, catalog price rules (active, expired,
  inactive) with ``catalogrule_product`` rows, stock, price index, media gallery, URL rewrites.

Every timestamp is derived from ``now`` (naive UTC): ``updated_at`` / ``update_time`` of every
product, category, page, block and config row lies in ``[now - 24 h, now - 1 h]``; special-price
and rule windows are whole days relative to ``now``. The same ``seed`` and ``now`` give the same
rows, byte for byte; the well-known ids do not depend on ``seed`` or ``products``.

Writes are set-based: rows are built in Python and sent as multi-row INSERTs with explicit ids,
in transactions of a few thousand products, with foreign-key and unique checks off.
"""

from __future__ import annotations

import argparse
import json
import logging
import queue
import random
import re
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

from ragsync.db import Database, DbParams
from ragsync_dev.demo import shop_content as content
from ragsync_dev.demo.schema import create_magento_schema, drop_magento_schema, magento_statements

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# Fixed facts of the shop
# --------------------------------------------------------------------------------------------

PRODUCT_ENTITY_TYPE = 4
CATEGORY_ENTITY_TYPE = 3
PRODUCT_ATTRIBUTE_SET = 4
CATEGORY_ATTRIBUTE_SET = 3

WEBSITES = {"admin": 0, "base": 1, "outlet": 2}
STORE_GROUPS = {"default": 0, "main_website_store": 1, "outlet_store": 2}
STORES = {"admin": 0, "default": 1, "fr": 2, "outlet": 3}
DEFAULT_STORE, FR_STORE, OUTLET_STORE = 1, 2, 3
WEBSITE_STORES: dict[int, tuple[int, ...]] = {1: (1, 2), 2: (3,)}
STORE_WEBSITE = {1: 1, 2: 1, 3: 2}
ROOT_CATEGORIES = {"base": 2, "outlet": 3}
STORE_ROOT = {1: 2, 2: 2, 3: 3}
CUSTOMER_GROUPS = (0, 1, 2, 3)
TAXABLE_GOODS = 2

BASE_URL = "http://magento.test/"
SECURE_BASE_URL = "https://magento.test/"
OUTLET_BASE_URL = "http://outlet.magento.test/"
OUTLET_SECURE_BASE_URL = "https://outlet.magento.test/"

# Product attributes the generator adds to the fresh-install ones (explicit ids, like a real install's).
_NEW_PRODUCT_ATTRIBUTES: tuple[tuple[Any, ...], ...] = (
    # attribute_id, code, backend_model, backend_type, frontend_input, frontend_label, source_model,
    # is_user_defined, default_value
    (135, "quantity_and_stock_status", "Magento\\Catalog\\Model\\Product\\Attribute\\Backend\\Stock", "int",
     "select", "Quantity", "Magento\\CatalogInventory\\Model\\Source\\Stock", 0, "1"),
    (136, "tax_class_id", None, "int", "select", "Tax Class", "Magento\\Tax\\Model\\TaxClass\\Source\\Product",
     0, "2"),
    (137, "options_container", None, "varchar", "select", "Display Product Options In",
     "Magento\\Catalog\\Model\\Entity\\Product\\Attribute\\Design\\Options\\Container", 0, "container2"),
    (138, "msrp_display_actual_price_type", None, "varchar", "select", "Display Actual Price",
     "Magento\\Msrp\\Model\\Product\\Attribute\\Source\\Type\\Price", 0, "0"),
    (150, "size", None, "int", "select", "Size", "Magento\\Eav\\Model\\Entity\\Attribute\\Source\\Table", 1, None),
    (151, "material", "Magento\\Eav\\Model\\Entity\\Attribute\\Backend\\ArrayBackend", "text", "multiselect",
     "Material", "Magento\\Eav\\Model\\Entity\\Attribute\\Source\\Table", 1, None),
)
# attribute_id -> (is_global, is_visible_on_front, is_searchable, is_filterable, used_in_product_listing)
_NEW_CATALOG_ATTRIBUTES = {
    135: (1, 0, 0, 0, 0), 136: (2, 0, 0, 0, 1), 137: (0, 0, 0, 0, 0), 138: (2, 0, 0, 0, 1),
    150: (1, 1, 1, 1, 1), 151: (1, 1, 1, 1, 0),
}

# (admin label, French label or None when the same word is used)
COLOR_OPTIONS = (("Black", "Noir"), ("Blue", "Bleu"), ("Gray", "Gris"), ("Green", "Vert"), ("Red", "Rouge"),
                 ("White", "Blanc"), ("Orange", None), ("Purple", "Violet"), ("Yellow", "Jaune"))
SIZE_OPTIONS = (("XS", "Très petit"), ("S", "Petit"), ("M", "Moyen"), ("L", "Grand"), ("XL", "Très grand"))
MATERIAL_OPTIONS = (("Cotton", "Coton"), ("Polyester", None), ("Wool", "Laine"), ("Nylon", None),
                    ("Leather", "Cuir"), ("Organic Cotton", "Coton biologique"),
                    ("Recycled Polyester", "Polyester recyclé"), ("Elastane", "Élasthanne"))
MANUFACTURER_OPTIONS = (("Luma", None), ("Ravenna Outdoor", None), ("Summit Gear", None), ("Northwind", None))
_OPTION_SETS = (("color", COLOR_OPTIONS), ("size", SIZE_OPTIONS), ("material", MATERIAL_OPTIONS),
                ("manufacturer", MANUFACTURER_OPTIONS))
# store-specific attribute labels: (attribute code, store id, label)
_ATTRIBUTE_LABELS = (("color", FR_STORE, "Couleur"), ("size", FR_STORE, "Taille"),
                     ("size", OUTLET_STORE, "Size (UK)"), ("material", FR_STORE, "Matière"))


def _option_ids() -> dict[str, dict[str, int]]:
    ids: dict[str, dict[str, int]] = {}
    next_id = 1
    for code, options in _OPTION_SETS:
        ids[code] = {}
        for label, _fr in options:
            ids[code][label] = next_id
            next_id += 1
    return ids


OPTION_IDS = _option_ids()


@dataclass(frozen=True)
class _Cat:
    key: str
    name: str
    name_fr: str | None = None
    children: tuple[_Cat, ...] = ()
    active: bool = True
    inactive_stores: tuple[int, ...] = ()
    in_menu: bool = True
    description: str | None = None
    description_fr: str | None = None


def _desc(title: str, text: str) -> str:
    return content.pb_row(content.pb_heading(title), content.pb_text(f"<p>{text}</p>"))


_BASE_TREE = (
    _Cat("women", "Women", "Femmes", description=_desc("Women", "Technical clothing for women who run, train and hike."),
         description_fr=_desc("Femmes", "Vêtements techniques pour les femmes qui courent et randonnent."), children=(
        _Cat("women_tops", "Tops", "Hauts", children=(
            _Cat("women_jackets", "Jackets", "Vestes"),
            _Cat("women_hoodies", "Hoodies & Sweatshirts", "Sweats à capuche"),
            _Cat("women_tees", "Tees", "T-shirts"),
        )),
        _Cat("women_bottoms", "Bottoms", "Bas", children=(
            _Cat("women_pants", "Pants", "Pantalons"),
            _Cat("women_shorts", "Shorts", None),
        )),
    )),
    _Cat("men", "Men", "Hommes", description=_desc("Men", "Technical clothing for men who run, train and hike."),
         description_fr=_desc("Hommes", "Vêtements techniques pour les hommes qui courent et randonnent."), children=(
        _Cat("men_tops", "Tops", "Hauts", children=(
            _Cat("men_jackets", "Jackets", "Vestes"),
            _Cat("men_hoodies", "Hoodies & Sweatshirts", "Sweats à capuche"),
            _Cat("men_tees", "Tees", "T-shirts"),
        )),
        _Cat("men_bottoms", "Bottoms", "Bas", children=(
            _Cat("men_pants", "Pants", "Pantalons"),
            _Cat("men_shorts", "Shorts", None),
        )),
    )),
    _Cat("gear", "Gear", "Équipement", description=_desc("Gear", "Bags, fitness equipment and watches."),
         description_fr=_desc("Équipement", "Sacs, équipement de fitness et montres."), children=(
        _Cat("gear_bags", "Bags", "Sacs", children=(
            _Cat("gear_backpacks", "Backpacks", "Sacs à dos"),
            _Cat("gear_duffles", "Duffle Bags", "Sacs de sport"),
        )),
        _Cat("gear_fitness", "Fitness Equipment", "Équipement de fitness", children=(
            _Cat("gear_yoga", "Yoga", None),
        )),
        _Cat("gear_watches", "Watches", "Montres",
             description="Sports watches with GPS and heart-rate monitoring.",
             description_fr="Montres de sport avec GPS et cardiofréquencemètre."),
    )),
    _Cat("collections", "Collections", None, children=(
        _Cat("collections_eco", "Eco Friendly", "Écoresponsable", children=(
            _Cat("collections_eco_organic", "Organic Cotton", "Coton biologique"),
        )),
        _Cat("collections_performance", "Performance Fabrics", "Tissus techniques", inactive_stores=(FR_STORE,),
             children=(_Cat("collections_performance_running", "Running", "Course à pied"),)),
    )),
    _Cat("sale", "Sale", "Soldes", in_menu=False, children=(
        _Cat("sale_deals", "Deals", "Bonnes affaires", children=(
            _Cat("sale_deals_tops", "Tops on Sale", "Hauts en solde"),
        )),
    )),
    _Cat("archive", "Archive", "Archives", active=False, children=(
        _Cat("archive_2023", "Season 2023", "Saison 2023", children=(
            _Cat("archive_2023_jackets", "Jackets 2023", "Vestes 2023"),
        )),
    )),
)
_OUTLET_TREE = (
    _Cat("outlet_clearance", "Clearance", children=(
        _Cat("outlet_clearance_women", "Women", children=(_Cat("outlet_clearance_women_jackets", "Jackets"),)),
        _Cat("outlet_clearance_men", "Men", children=(_Cat("outlet_clearance_men_tees", "Tees"),)),
    )),
    _Cat("outlet_last_chance", "Last Chance", children=(
        _Cat("outlet_accessories", "Accessories", children=(_Cat("outlet_bags", "Bags"),)),
    )),
)
OUTLET_ROOT_ID = 3
_FIRST_CATEGORY_ID = 4


@dataclass(frozen=True)
class _CatNode:
    id: int
    spec: _Cat
    parent_id: int
    path: str
    level: int
    position: int
    root_id: int
    ancestors_active: bool


def _category_nodes() -> list[_CatNode]:
    nodes: list[_CatNode] = []
    next_id = [_FIRST_CATEGORY_ID]

    def walk(cats: tuple[_Cat, ...], parent_id: int, parent_path: str, level: int, root: int,
             ancestors_active: bool) -> None:
        for position, cat in enumerate(cats, start=1):
            cid = next_id[0]
            next_id[0] += 1
            path = f"{parent_path}/{cid}"
            nodes.append(_CatNode(cid, cat, parent_id, path, level, position, root, ancestors_active))
            walk(cat.children, cid, path, level + 1, root, ancestors_active and cat.active)

    walk(_BASE_TREE, 2, "1/2", 2, 2, True)
    walk(_OUTLET_TREE, OUTLET_ROOT_ID, f"1/{OUTLET_ROOT_ID}", 2, OUTLET_ROOT_ID, True)
    return nodes


CATEGORY_NODES = _category_nodes()
CATEGORY_IDS = {n.spec.key: n.id for n in CATEGORY_NODES}

# Which leaf categories bulk products of each kind go to (base tree; outlet tree).
_KIND_CATEGORIES = {
    "jacket": ("women_jackets", "men_jackets"), "hoodie": ("women_hoodies", "men_hoodies"),
    "tee": ("women_tees", "men_tees", "collections_eco_organic", "sale_deals_tops"),
    "pants": ("women_pants", "men_pants"), "shorts": ("women_shorts", "men_shorts", "collections_performance_running"),
    "backpack": ("gear_backpacks",), "duffle": ("gear_duffles",), "yoga": ("gear_yoga",),
    "watch": ("gear_watches",), "bottle": ("gear_fitness",),
}
_KIND_OUTLET_CATEGORY = {
    "jacket": "outlet_clearance_women_jackets", "hoodie": "outlet_clearance_men_tees", "tee": "outlet_clearance_men_tees",
    "pants": "outlet_clearance_men", "shorts": "outlet_clearance_men", "backpack": "outlet_bags",
    "duffle": "outlet_bags", "yoga": "outlet_accessories", "watch": "outlet_accessories", "bottle": "outlet_accessories",
}
_KIND_WEIGHTS = {"jacket": 12, "hoodie": 10, "tee": 18, "pants": 12, "shorts": 10, "backpack": 8, "duffle": 5,
                 "yoga": 6, "watch": 6, "bottle": 5}
_APPAREL = ("jacket", "hoodie", "tee", "pants", "shorts")

# Well-known products: name -> entity_id (the fixed head of the catalogue).
WELL_KNOWN_PRODUCTS = {
    "simple_with_overrides": 1,
    "configurable": 2,
    "not_visible_child": 3,
    "disabled_product": 9,
    "disabled_in_outlet": 10,
    "enabled_by_store_override": 11,
    "product_out_of_stock": 12,
    "special_past": 13,
    "special_current": 14,
    "special_future": 15,
    "special_no_dates": 16,
    "outlet_only": 17,
    "not_visible_in_fr": 18,
    "plain_description": 19,
    "no_image": 20,
    "in_inactive_category": 21,
}
CONFIGURABLE_CHILDREN = (3, 4, 5, 6, 7, 8)
FIRST_BULK_PRODUCT_ID = 22
MIN_PRODUCTS = FIRST_BULK_PRODUCT_ID - 1

CART_RULES = {"cart_no_coupon": 1, "cart_specific_coupon": 2, "cart_auto_coupons": 3, "cart_expired": 4,
              "cart_future": 5, "cart_inactive": 6, "cart_outlet_only": 7}
CATALOG_RULES = {"catalog_active": 1, "catalog_expired": 2, "catalog_inactive": 3}
SPECIFIC_COUPON_CODE = "SUMMER20"
AUTO_COUPON_CODES = ("WELCOME-7KQ2MX", "WELCOME-B4ZP9R", "WELCOME-H2TN6C", "WELCOME-Q8WD3L", "WELCOME-X5VJ1F")


@dataclass(frozen=True)
class ShopManifest:
    """Fixed ids of the shop's well-known entities; the same for every seed and product count.

    ``well_known`` maps every name below to its id (``manifest["configurable"]`` reads it):

    * products: ``simple_with_overrides`` (1; name, description, url_key and image overridden in
      ``fr``; color Blue, size M, material Cotton+Polyester, manufacturer Luma; both websites; a 301
      from ``aero-daily-tee.html``; 3 gallery images, the third disabled), ``configurable`` (2; color
      and size super attributes; children 3-8, see ``configurable_children``), ``not_visible_child``
      (3), ``disabled_product`` (9; status 2), ``disabled_in_outlet`` (10; status 2 in store 3 only),
      ``enabled_by_store_override`` (11; status 2 at store 0, 1 in stores 1 and 2),
      ``product_out_of_stock`` (12), ``special_past`` (13), ``special_current`` (14),
      ``special_future`` (15), ``special_no_dates`` (16), ``outlet_only`` (17; outlet website only),
      ``not_visible_in_fr`` (18; visibility 1 in store 2), ``plain_description`` (19),
      ``no_image`` (20; ``no_selection``), ``in_inactive_category`` (21).
    * categories: every key of ``categories`` plus ``inactive_category`` (archive branch, is_active 0
      at store 0), ``inactive_child`` (active child under it), ``inactive_grandchild``,
      ``category_inactive_in_fr`` (is_active 0 in store 2 only), ``category_not_in_menu``,
      ``base_root`` (2) and ``outlet_root`` (3).
    * CMS: page identifiers and block identifiers (see ``cms_pages`` / ``cms_blocks``) plus
      ``no_route_page``, ``disabled_page``, ``single_store_page`` (fr only), ``outlet_only_page``,
      ``multi_store_page``, ``block_with_widget``, ``self_including_block``, ``inactive_block``,
      ``single_store_block`` (fr only), ``multi_store_block``, ``widget_target_block``.
    * rules: ``cart_no_coupon``, ``cart_specific_coupon``, ``cart_auto_coupons``, ``cart_expired``,
      ``cart_future``, ``cart_inactive``, ``cart_outlet_only``, ``catalog_active``, ``catalog_expired``,
      ``catalog_inactive``.
    """

    websites: Mapping[str, int]
    store_groups: Mapping[str, int]
    stores: Mapping[str, int]
    store_locales: Mapping[str, str]
    store_currencies: Mapping[str, str]
    store_timezones: Mapping[str, str]
    store_base_urls: Mapping[str, str]
    store_media_urls: Mapping[str, str]
    root_categories: Mapping[str, int]
    attributes: Mapping[str, int]
    options: Mapping[str, Mapping[str, int]]
    option_labels_fr: Mapping[int, str]
    products: Mapping[str, int]
    skus: Mapping[str, str]
    configurable_children: tuple[int, ...]
    first_bulk_product_id: int
    categories: Mapping[str, int]
    categories_by_level: Mapping[int, tuple[int, ...]]
    cms_pages: Mapping[str, int]
    cms_blocks: Mapping[str, int]
    cart_rules: Mapping[str, int]
    catalog_rules: Mapping[str, int]
    specific_coupon_code: str
    auto_coupon_codes: tuple[str, ...]
    well_known: Mapping[str, int]

    def __getitem__(self, name: str) -> int:
        """Return the id of a well-known entity by name."""
        return self.well_known[name]

    def __getattr__(self, name: str) -> int:
        """Return the id of a well-known entity as an attribute (``manifest.configurable``)."""
        well_known = self.__dict__.get("well_known")
        if well_known is not None and name in well_known:
            return int(well_known[name])
        raise AttributeError(f"{type(self).__name__} has no attribute or well-known entity {name!r}")

    @property
    def store_ids(self) -> Mapping[str, int]:
        """Return store view code -> store_id (the same as ``stores``)."""
        return self.stores

    @property
    def website_ids(self) -> Mapping[str, int]:
        """Return website code -> website_id (the same as ``websites``)."""
        return self.websites


def manifest() -> ShopManifest:
    """Return the manifest of the well-known entities (independent of seed and product count)."""
    levels: dict[int, list[int]] = {}
    for node in CATEGORY_NODES:
        levels.setdefault(node.level, []).append(node.id)
    pages = {p.identifier: p.page_id for p in content.CMS_PAGES}
    blocks = {b.identifier: b.block_id for b in content.CMS_BLOCKS}
    categories = dict(CATEGORY_IDS)
    well_known: dict[str, int] = {}
    well_known.update(WELL_KNOWN_PRODUCTS)
    well_known.update(categories)
    well_known.update({
        "base_root": ROOT_CATEGORIES["base"], "outlet_root": ROOT_CATEGORIES["outlet"],
        "inactive_category": CATEGORY_IDS["archive"], "inactive_child": CATEGORY_IDS["archive_2023"],
        "inactive_grandchild": CATEGORY_IDS["archive_2023_jackets"],
        "category_inactive_in_fr": CATEGORY_IDS["collections_performance"],
        "category_not_in_menu": CATEGORY_IDS["sale"],
    })
    well_known.update(pages)
    well_known.update(blocks)
    well_known.update({
        "no_route_page": pages["no-route"], "disabled_page": pages["black-friday-2023"],
        "single_store_page": pages["livraison-gratuite"], "outlet_only_page": pages["outlet-terms"],
        "multi_store_page": pages["size-guide"],
        "block_with_widget": content.BLOCK_HOME_PROMO, "widget_target_block": content.BLOCK_PROMO_BANNER,
        "self_including_block": content.BLOCK_RECURSIVE, "inactive_block": content.BLOCK_OLD_BANNER,
        "single_store_block": content.BLOCK_FR_ONLY, "multi_store_block": content.BLOCK_SHIPPING_NOTICE,
    })
    well_known.update(CART_RULES)
    well_known.update(CATALOG_RULES)
    fr_labels = {OPTION_IDS[code][label]: fr for code, opts in _OPTION_SETS for label, fr in opts if fr}
    attributes = {"name": 73, "description": 75, "short_description": 76, "price": 77, "special_price": 78,
                  "color": 93, "manufacturer": 83, "status": 97, "visibility": 99, "url_key": 121}
    attributes.update({row[1]: row[0] for row in _NEW_PRODUCT_ATTRIBUTES})
    return ShopManifest(
        websites=dict(WEBSITES), store_groups=dict(STORE_GROUPS), stores=dict(STORES),
        store_locales={"default": "en_US", "fr": "fr_FR", "outlet": "en_GB"},
        store_currencies={"default": "EUR", "fr": "EUR", "outlet": "GBP"},
        store_timezones={"default": "Europe/Paris", "fr": "Europe/Paris", "outlet": "Europe/London"},
        store_base_urls={"default": SECURE_BASE_URL, "fr": SECURE_BASE_URL + "fr/", "outlet": OUTLET_SECURE_BASE_URL},
        store_media_urls={"default": SECURE_BASE_URL + "media/", "fr": SECURE_BASE_URL + "media/",
                          "outlet": OUTLET_SECURE_BASE_URL + "media/"},
        root_categories=dict(ROOT_CATEGORIES), attributes=attributes,
        options={code: dict(ids) for code, ids in OPTION_IDS.items()}, option_labels_fr=fr_labels,
        products=dict(WELL_KNOWN_PRODUCTS), skus={name: sku for name, sku in _FIXED_SKUS.items()},
        configurable_children=CONFIGURABLE_CHILDREN, first_bulk_product_id=FIRST_BULK_PRODUCT_ID,
        categories=categories, categories_by_level={k: tuple(v) for k, v in sorted(levels.items())},
        cms_pages=pages, cms_blocks=blocks, cart_rules=dict(CART_RULES), catalog_rules=dict(CATALOG_RULES),
        specific_coupon_code=SPECIFIC_COUPON_CODE, auto_coupon_codes=AUTO_COUPON_CODES, well_known=well_known,
    )


_FIXED_SKUS = {
    "simple_with_overrides": "RS-TEE-AERO", "configurable": "RS-HOODIE-CHAZ", "disabled_product": "RS-BAG-RETIRED",
    "disabled_in_outlet": "RS-JACKET-JUNO", "enabled_by_store_override": "RS-SHORTS-SOL",
    "product_out_of_stock": "RS-WATCH-DASH", "special_past": "RS-PANTS-KARMIN", "special_current": "RS-BAG-VOYAGE",
    "special_future": "RS-JACKET-LANDO", "special_no_dates": "RS-YOGA-SPRITE", "outlet_only": "RS-OUTLET-TEE",
    "not_visible_in_fr": "RS-WATCH-CLAMBER", "plain_description": "RS-BOTTLE-PLAIN", "no_image": "RS-TEE-MINIMAL",
    "in_inactive_category": "RS-JACKET-ARCHIVE",
}


@dataclass
class ShopSummary:
    """What :func:`generate_shop` wrote: rows per table, products per store view, timing and the manifest."""

    products: int
    seed: int
    now: datetime
    counts: dict[str, int]
    store_products: dict[str, dict[str, int]]
    elapsed_seconds: float
    manifest: ShopManifest = field(default_factory=manifest)

    @property
    def total_rows(self) -> int:
        """Return the number of rows written over all tables."""
        return sum(self.counts.values())

    def describe(self) -> str:
        """Return a one-line description: products, rows, tables and generation time."""
        per_store = ", ".join(f"{code} {n['visible']}/{n['assigned']}" for code, n in self.store_products.items())
        return (f"{self.products} products, {self.total_rows} rows in {len(self.counts)} tables in "
                f"{self.elapsed_seconds:.1f} s (visible/assigned per store view: {per_store})")


# --------------------------------------------------------------------------------------------
# Row buffering: multi-row INSERTs in chunks, written by two connections in one transaction each
# --------------------------------------------------------------------------------------------

_COLUMNS: dict[str, tuple[str, ...]] = {
    "store_website": ("website_id", "code", "name", "sort_order", "default_group_id", "is_default"),
    "store_group": ("group_id", "website_id", "name", "root_category_id", "default_store_id", "code"),
    "store": ("store_id", "code", "website_id", "group_id", "name", "sort_order", "is_active"),
    "core_config_data": ("scope", "scope_id", "path", "value", "updated_at"),
    "eav_attribute": ("attribute_id", "entity_type_id", "attribute_code", "backend_model", "backend_type",
                      "frontend_input", "frontend_label", "source_model", "is_required", "is_user_defined",
                      "default_value", "is_unique"),
    "catalog_eav_attribute": ("attribute_id", "is_global", "is_visible", "is_searchable", "is_filterable",
                              "is_comparable", "is_visible_on_front", "is_html_allowed_on_front",
                              "used_in_product_listing", "is_visible_in_advanced_search", "is_used_for_promo_rules",
                              "apply_to", "search_weight"),
    "eav_attribute_label": ("attribute_label_id", "attribute_id", "store_id", "value"),
    "eav_attribute_option": ("option_id", "attribute_id", "sort_order"),
    "eav_attribute_option_value": ("value_id", "option_id", "store_id", "value"),
    "catalog_category_entity": ("entity_id", "attribute_set_id", "parent_id", "created_at", "updated_at", "path",
                                "position", "level", "children_count"),
    "catalog_product_entity": ("entity_id", "attribute_set_id", "type_id", "sku", "has_options", "required_options",
                               "created_at", "updated_at"),
    "catalog_category_product": ("entity_id", "category_id", "product_id", "position"),
    "catalog_product_website": ("product_id", "website_id"),
    "catalog_product_relation": ("parent_id", "child_id"),
    "catalog_product_super_attribute": ("product_super_attribute_id", "product_id", "attribute_id", "position"),
    "catalog_product_super_attribute_label": ("value_id", "product_super_attribute_id", "store_id", "use_default",
                                              "value"),
    "catalog_product_super_link": ("link_id", "product_id", "parent_id"),
    "catalog_product_entity_media_gallery": ("value_id", "attribute_id", "value", "media_type", "disabled"),
    "catalog_product_entity_media_gallery_value": ("record_id", "value_id", "store_id", "entity_id", "label",
                                                   "position", "disabled"),
    "catalog_product_entity_media_gallery_value_to_entity": ("value_id", "entity_id"),
    "catalog_product_index_price": ("entity_id", "customer_group_id", "website_id", "tax_class_id", "price",
                                    "final_price", "min_price", "max_price"),
    "cataloginventory_stock_item": ("item_id", "product_id", "stock_id", "qty", "is_in_stock", "manage_stock",
                                    "use_config_manage_stock", "website_id"),
    "cataloginventory_stock_status": ("product_id", "website_id", "stock_id", "qty", "stock_status"),
    "inventory_source": ("source_code", "name", "enabled"),
    "inventory_source_item": ("source_item_id", "source_code", "sku", "quantity", "status"),
    "url_rewrite": ("url_rewrite_id", "entity_type", "entity_id", "request_path", "target_path", "redirect_type",
                    "store_id", "description", "is_autogenerated", "metadata"),
    "catalog_url_rewrite_product_category": ("url_rewrite_id", "category_id", "product_id"),
    "cms_page": ("page_id", "title", "page_layout", "meta_keywords", "meta_description", "identifier",
                 "content_heading", "content", "creation_time", "update_time", "is_active", "sort_order", "meta_title"),
    "cms_page_store": ("page_id", "store_id"),
    "cms_block": ("block_id", "title", "identifier", "content", "creation_time", "update_time", "is_active"),
    "cms_block_store": ("block_id", "store_id"),
    "salesrule": ("rule_id", "name", "description", "from_date", "to_date", "uses_per_customer", "is_active",
                  "conditions_serialized", "actions_serialized", "stop_rules_processing", "is_advanced", "sort_order",
                  "simple_action", "discount_amount", "discount_qty", "discount_step", "apply_to_shipping",
                  "times_used", "is_rss", "coupon_type", "use_auto_generation", "uses_per_coupon",
                  "simple_free_shipping"),
    "salesrule_label": ("label_id", "rule_id", "store_id", "label"),
    "salesrule_coupon": ("coupon_id", "rule_id", "code", "usage_limit", "usage_per_customer", "times_used",
                         "expiration_date", "is_primary", "created_at", "type"),
    "salesrule_website": ("rule_id", "website_id"),
    "salesrule_customer_group": ("rule_id", "customer_group_id"),
    "catalogrule": ("rule_id", "name", "description", "from_date", "to_date", "is_active", "conditions_serialized",
                    "actions_serialized", "stop_rules_processing", "sort_order", "simple_action", "discount_amount"),
    "catalogrule_website": ("rule_id", "website_id"),
    "catalogrule_customer_group": ("rule_id", "customer_group_id"),
    "catalogrule_product": ("rule_product_id", "rule_id", "from_time", "to_time", "customer_group_id", "product_id",
                            "action_operator", "action_amount", "action_stop", "sort_order", "website_id"),
}
_VALUE_COLUMNS = ("value_id", "attribute_id", "store_id", "entity_id", "value")
for _entity in ("product", "category"):
    for _type in ("datetime", "decimal", "int", "text", "varchar"):
        _COLUMNS[f"catalog_{_entity}_entity_{_type}"] = _VALUE_COLUMNS

_VALUE_TABLES = frozenset(t for t, cols in _COLUMNS.items() if cols is _VALUE_COLUMNS)

_STATEMENT_BYTES = 1 << 20  # multi-row INSERT statements of up to 1 MiB
_PRODUCTS_PER_FLUSH = 2000  # products per batch handed to the writers
_WRITERS = 2                # writer connections; each owns a fixed set of tables
_QUEUED_BATCHES = 2         # batches waiting per writer (bounds memory)


# A writer's job: rows per table, or one set-based statement (table, sql, params), or None to stop.
_WriterJob = dict[str, list[tuple[Any, ...]]] | tuple[str, str, tuple[Any, ...]] | None


class _RowWriter:
    """Collect rows per table and send them as multi-row INSERTs with explicit column lists.

    Rows are generated by the calling thread; :meth:`flush` hands them to writer threads with
    their own connections (EAV value tables on one, everything else on the other), so that
    Python builds the next batch while MariaDB inserts the last one. Every id is explicit, so
    the rows are the same whatever the order of the INSERTs.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in _COLUMNS}
        self.counts: dict[str, int] = {}
        self.seconds: dict[str, float] = {}
        self._next_value_id: dict[str, int] = {table: 1 for table in _VALUE_TABLES}
        self._sql = {
            table: "INSERT INTO {} ({}) VALUES ({})".format(  # table and column names are constants
                db.table(table), ", ".join(f"`{c}`" for c in cols), ", ".join(["%s"] * len(cols)))
            for table, cols in _COLUMNS.items()
        }
        self._queues: list[queue.Queue[_WriterJob]] = [
            queue.Queue(maxsize=_QUEUED_BATCHES) for _ in range(_WRITERS)]
        self._threads: list[threading.Thread] = []
        self._errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._abort = threading.Event()

    @staticmethod
    def _writer_of(table: str) -> int:
        return 0 if table in _VALUE_TABLES else 1

    def start_value_ids(self, table: str, first: int) -> None:
        """Number the value rows of ``table`` from ``first`` (rows of the fresh install keep theirs)."""
        self._next_value_id[table] = first

    def start(self) -> None:
        """Open the writer connections and start their threads."""
        for index in range(_WRITERS):
            thread = threading.Thread(target=self._run, args=(index,), name=f"demo-shop-writer-{index}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def flush(self) -> None:
        """Hand every buffered row to the writers (value rows get their ids here, in order)."""
        self._raise_error()
        batches: list[dict[str, list[tuple[Any, ...]]]] = [{} for _ in range(_WRITERS)]
        for table, rows in self.rows.items():
            if not rows:
                continue
            if table in _VALUE_TABLES:
                first = self._next_value_id[table]
                self._next_value_id[table] = first + len(rows)
                rows = [(value_id, *row) for value_id, row in enumerate(rows, start=first)]
            batches[self._writer_of(table)][table] = rows
            self.rows[table] = []
        for writer, batch in enumerate(batches):
            if batch:
                self._queues[writer].put(batch)

    def execute_after(self, table: str, sql: str, params: tuple[Any, ...]) -> None:
        """Run a set-based statement that fills ``table`` after the rows already handed over."""
        self.flush()
        self._queues[self._writer_of(table)].put((table, sql, params))

    def close(self, commit: bool = True) -> None:
        """Wait until the writers have written everything and commit (or roll back), then raise their error."""
        if not commit:
            self._abort.set()
        for q in self._queues[: len(self._threads)]:
            q.put(None)
        for thread in self._threads:
            thread.join()
        self._threads.clear()
        if commit:
            self._raise_error()

    def _raise_error(self) -> None:
        if self._errors:
            raise self._errors[0]

    def _run(self, index: int) -> None:
        db = Database(self.db.params)
        stopped = False
        try:
            db.execute("SET SESSION foreign_key_checks = 0, unique_checks = 0")
            # One transaction per writer: no commit and log flush per batch, and (MariaDB 10.6+, with
            # unique and foreign-key checks off) one table lock and undo record per empty table.
            with db.transaction():
                while True:
                    job = self._queues[index].get()
                    if job is None:
                        stopped = True
                        if self._abort.is_set():
                            raise RuntimeError("demo shop generation failed; its rows were rolled back")
                        break
                    if isinstance(job, tuple):
                        table, sql, params = job
                        started = time.perf_counter()
                        written = db.execute(sql, params)
                        self._count(table, written, time.perf_counter() - started)
                    else:
                        self._write(db, job)
        except BaseException as exc:  # noqa: BLE001 - handed to the generating thread
            self._errors.append(exc)
            while not stopped:  # drain until close() so that the producer never blocks
                stopped = self._queues[index].get() is None
        finally:
            db.close()

    def _write(self, db: Database, batch: dict[str, list[tuple[Any, ...]]]) -> None:
        with db.cursor() as cur:
            cur.max_stmt_length = _STATEMENT_BYTES
            for table, rows in batch.items():
                started = time.perf_counter()
                cur.executemany(self._sql[table], rows)
                self._count(table, len(rows), time.perf_counter() - started)

    def _count(self, table: str, rows: int, seconds: float) -> None:
        with self._lock:
            self.seconds[table] = self.seconds.get(table, 0.0) + seconds
            self.counts[table] = self.counts.get(table, 0) + rows


# --------------------------------------------------------------------------------------------
# Products
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Product:
    id: int
    sku: str
    type_id: str
    name: str
    kind: content.Kind
    websites: tuple[int, ...]
    categories: tuple[int, ...]
    price: float | None
    url_key: str
    description: str | None = None
    short_description: str | None = None
    status: int = 1
    status_by_store: dict[int, int] | None = None
    visibility: int = 4
    visibility_by_store: dict[int, int] | None = None
    color: int | None = None
    size: int | None = None
    material: tuple[int, ...] = ()
    manufacturer: int | None = None
    weight: float | None = None
    special_price: float | None = None
    special_from: date | None = None
    special_to: date | None = None
    news_from: date | None = None
    meta_title: str | None = None
    meta_keyword: str | None = None
    meta_description: str | None = None
    fr: dict[str, str] | None = None
    images: tuple[str, ...] = ()
    disabled_images: tuple[int, ...] = ()
    image_labels_fr: tuple[str, ...] = ()
    image_by_store: dict[int, str] | None = None
    qty: float = 100.0
    in_stock: int = 1
    children: tuple[_Product, ...] = ()
    super_attributes: tuple[str, ...] = ()
    redirects: tuple[tuple[int, str], ...] = ()


class _ShopBuilder:
    """Build and write the rows of one shop."""

    def __init__(self, db: Database, products: int, seed: int, now: datetime) -> None:
        self.db = db
        self.total = products
        self.seed = seed
        self.now = now
        self.today = now.date()
        self.w = _RowWriter(db)
        self.attr: dict[str, int] = {}
        self.cat_attr: dict[str, int] = {}
        self.next_id: dict[str, int] = {}
        self.store_products = {code: {"assigned": 0, "visible": 0} for code in ("default", "fr", "outlet")}
        self.cat_url_path: dict[int, dict[int, str]] = {}   # store id -> category id -> url_path
        self._updated_texts = [str(now - timedelta(minutes=60 + m)) for m in range(1380)]
        self.watch_category = CATEGORY_IDS["gear_watches"]
        self.catalog_rule_window = (self.today - timedelta(days=7), self.today + timedelta(days=30))

    # -- small helpers -------------------------------------------------------------------------
    def _id(self, table: str) -> int:
        value = self.next_id.get(table, 1)
        self.next_id[table] = value + 1
        return value

    def ts(self, minutes_ago: int) -> datetime:
        return self.now - timedelta(minutes=minutes_ago)

    def _updated(self, entity_id: int) -> datetime:
        # every updated_at lies in [now - 24 h, now - 1 h]
        return self.now - timedelta(minutes=60 + (entity_id * 37) % 1380)

    def _created(self, entity_id: int) -> datetime:
        return self.now - timedelta(days=200) + timedelta(minutes=entity_id % 100_000)

    def _updated_text(self, entity_id: int) -> str:
        return self._updated_texts[(entity_id * 37) % 1380]

    def _created_text(self, entity_id: int) -> str:
        return str(self._created(entity_id))  # "YYYY-MM-DD HH:MM:SS": ``now`` has no microseconds

    def value(self, entity: str, backend: str, attribute_id: int, store_id: int, entity_id: int, value: Any) -> None:
        self.w.rows[f"catalog_{entity}_entity_{backend}"].append((attribute_id, store_id, entity_id, value))

    # -- the whole shop ------------------------------------------------------------------------
    def build(self) -> None:
        self._load_attribute_ids()
        self._config()
        self._attributes()
        self.w.start()
        try:
            self._stores()
            self._categories()
            self._products()
            self._cms()
            self._rules()
            self._derived_rows()
            self.w.flush()
        except BaseException:
            self.w.close(commit=False)
            raise
        self.w.close()

    def _load_attribute_ids(self) -> None:
        rows = self.db.query(
            f"SELECT entity_type_id, attribute_code, attribute_id FROM {self.db.table('eav_attribute')}"
            " WHERE entity_type_id IN (%s, %s)", (CATEGORY_ENTITY_TYPE, PRODUCT_ENTITY_TYPE))
        for type_id, code, attribute_id in rows:
            (self.attr if type_id == PRODUCT_ENTITY_TYPE else self.cat_attr)[code] = int(attribute_id)
        for row in _NEW_PRODUCT_ATTRIBUTES:
            self.attr.setdefault(row[1], row[0])
        # value rows of the fresh install (the two default categories) keep their ids
        for entity in ("product", "category"):
            for backend in ("datetime", "decimal", "int", "text", "varchar"):
                table = f"catalog_{entity}_entity_{backend}"
                highest = self.db.scalar(f"SELECT MAX(value_id) FROM {self.db.table(table)}")
                self.w.start_value_ids(table, int(highest or 0) + 1)

    # -- stores and configuration --------------------------------------------------------------
    def _stores(self) -> None:
        rows = self.w.rows
        rows["store_website"].append((2, "outlet", "Outlet Website", 1, 2, 0))
        rows["inventory_source"].append(("default", "Default Source", 1))  # MSI's data patch adds it
        rows["store_group"].append((2, 2, "Outlet Store", OUTLET_ROOT_ID, OUTLET_STORE, "outlet_store"))
        rows["store"].extend([
            (FR_STORE, "fr", 1, 1, "French Store View", 1, 1),
            (OUTLET_STORE, "outlet", 2, 2, "Outlet Store View", 0, 1),
        ])

    def _config(self) -> None:
        updated = self.ts(24 * 60)
        settings = [
            ("default", 0, "web/unsecure/base_url", BASE_URL),
            ("default", 0, "web/secure/base_url", SECURE_BASE_URL),
            ("default", 0, "web/secure/use_in_frontend", "1"),
            ("default", 0, "web/url/use_store", "0"),
            ("default", 0, "web/default/cms_home_page", "home"),
            ("default", 0, "web/default/cms_no_route", "no-route"),
            ("default", 0, "general/locale/code", "en_US"),
            ("default", 0, "general/locale/timezone", "Europe/Paris"),
            ("default", 0, "currency/options/base", "EUR"),
            ("default", 0, "currency/options/default", "EUR"),
            ("default", 0, "currency/options/allow", "EUR"),
            ("default", 0, "catalog/seo/product_url_suffix", ".html"),
            ("default", 0, "catalog/seo/category_url_suffix", ".html"),
            ("default", 0, "catalog/seo/product_use_categories", "0"),
            ("default", 0, "catalog/seo/save_rewrites_history", "1"),
            ("default", 0, "general/store_information/name", "Demo Shop"),
            ("default", 0, "general/store_information/phone", "+33 4 72 00 00 00"),
            ("websites", 2, "web/unsecure/base_url", OUTLET_BASE_URL),
            ("websites", 2, "web/secure/base_url", OUTLET_SECURE_BASE_URL),
            ("websites", 2, "general/locale/code", "en_GB"),
            ("websites", 2, "general/locale/timezone", "Europe/London"),
            ("websites", 2, "currency/options/base", "GBP"),
            ("websites", 2, "currency/options/default", "GBP"),
            ("websites", 2, "currency/options/allow", "GBP"),
            ("websites", 2, "general/store_information/name", "Demo Outlet"),
            ("stores", FR_STORE, "web/unsecure/base_link_url", "{{unsecure_base_url}}fr/"),
            ("stores", FR_STORE, "web/secure/base_link_url", "{{secure_base_url}}fr/"),
            ("stores", FR_STORE, "general/locale/code", "fr_FR"),
        ]
        table = self.db.table("core_config_data")
        self.db.executemany(
            f"INSERT INTO {table} (scope, scope_id, path, value, updated_at) VALUES (%s, %s, %s, %s, %s)"
            " ON DUPLICATE KEY UPDATE value = VALUES(value), updated_at = VALUES(updated_at)",
            [(*s, updated) for s in settings])
        # rows of the fresh install get a deterministic time too
        self.db.execute(f"UPDATE {table} SET updated_at = %s", (updated,))
        self.w.counts["core_config_data"] = len(settings)

    def _attributes(self) -> None:
        rows = self.w.rows
        for attribute_id, code, backend_model, backend_type, frontend_input, label, source, user_defined, default \
                in _NEW_PRODUCT_ATTRIBUTES:
            rows["eav_attribute"].append((attribute_id, PRODUCT_ENTITY_TYPE, code, backend_model, backend_type,
                                          frontend_input, label, source, 0, user_defined, default, 0))
            is_global, on_front, searchable, filterable, listing = _NEW_CATALOG_ATTRIBUTES[attribute_id]
            rows["catalog_eav_attribute"].append((
                attribute_id, is_global, 1, searchable, filterable, filterable, on_front, 0, listing, searchable,
                filterable, None, 1))
        # the merchant shows colour on the product page; manufacturer stays hidden (is_visible_on_front 0)
        self.db.execute(
            f"UPDATE {self.db.table('catalog_eav_attribute')} SET is_visible_on_front = 1"
            " WHERE attribute_id = %s", (self.attr["color"],))
        for label_id, (code, store, label) in enumerate(_ATTRIBUTE_LABELS, start=1):
            rows["eav_attribute_label"].append((label_id, self.attr[code], store, label))
        value_id = 1
        for code, options in _OPTION_SETS:
            for sort_order, (label, fr_label) in enumerate(options):
                option_id = OPTION_IDS[code][label]
                rows["eav_attribute_option"].append((option_id, self.attr[code], sort_order))
                rows["eav_attribute_option_value"].append((value_id, option_id, 0, label))
                value_id += 1
                if fr_label:
                    rows["eav_attribute_option_value"].append((value_id, option_id, FR_STORE, fr_label))
                    value_id += 1

    # -- categories ----------------------------------------------------------------------------
    def _categories(self) -> None:
        a = self.cat_attr
        descendants: dict[int, int] = {1: 0, 2: 0, OUTLET_ROOT_ID: 0}
        for node in CATEGORY_NODES:
            descendants.setdefault(node.id, 0)
            for ancestor in node.path.split("/")[:-1]:
                descendants[int(ancestor)] = descendants.get(int(ancestor), 0) + 1
        descendants[1] += 2  # the two level-1 roots themselves
        table = self.db.table("catalog_category_entity")
        for cid in (1, 2):
            self.db.execute(
                f"UPDATE {table} SET children_count = %s, created_at = %s, updated_at = %s"
                " WHERE entity_id = %s", (descendants[cid], self._created(cid), self._updated(cid), cid))
        # the outlet root (level 1)
        self.w.rows["catalog_category_entity"].append(
            (OUTLET_ROOT_ID, CATEGORY_ATTRIBUTE_SET, 1, self._created(3), self._updated(3), "1/3", 2, 1,
             descendants[OUTLET_ROOT_ID]))
        self.value("category", "varchar", a["name"], 0, OUTLET_ROOT_ID, "Outlet Root")
        self.value("category", "varchar", a["display_mode"], 0, OUTLET_ROOT_ID, "PRODUCTS")
        self.value("category", "int", a["is_active"], 0, OUTLET_ROOT_ID, 1)
        self.value("category", "int", a["include_in_menu"], 0, OUTLET_ROOT_ID, 1)

        url_path: dict[int, dict[int, str]] = {0: {}, FR_STORE: {}}
        for node in CATEGORY_NODES:
            spec, cid = node.spec, node.id
            key = content.slug(spec.name)
            parent_path = url_path[0].get(node.parent_id)
            path0 = f"{parent_path}/{key}" if parent_path else key
            url_path[0][cid] = path0
            self.w.rows["catalog_category_entity"].append(
                (cid, CATEGORY_ATTRIBUTE_SET, node.parent_id, self._created(cid), self._updated(cid), node.path,
                 node.position, node.level, descendants[cid]))
            self.value("category", "varchar", a["name"], 0, cid, spec.name)
            self.value("category", "varchar", a["url_key"], 0, cid, key)
            self.value("category", "varchar", a["url_path"], 0, cid, path0)
            self.value("category", "varchar", a["display_mode"], 0, cid, "PRODUCTS")
            self.value("category", "int", a["is_active"], 0, cid, int(spec.active))
            self.value("category", "int", a["include_in_menu"], 0, cid, int(spec.in_menu))
            self.value("category", "int", a["is_anchor"], 0, cid, 1)
            if spec.description:
                self.value("category", "text", a["description"], 0, cid, spec.description)
            if node.level == 2:
                self.value("category", "varchar", a["meta_title"], 0, cid, f"{spec.name} | Demo Shop")
            for store in spec.inactive_stores:
                self.value("category", "int", a["is_active"], store, cid, 0)
            if node.root_id != 2:
                continue
            # French overrides: name, url_key, url_path (also when only an ancestor's key changed), description
            key_fr = content.slug(spec.name_fr) if spec.name_fr else key
            parent_fr = url_path[FR_STORE].get(node.parent_id)
            path_fr = f"{parent_fr}/{key_fr}" if parent_fr else key_fr
            url_path[FR_STORE][cid] = path_fr
            if spec.name_fr:
                self.value("category", "varchar", a["name"], FR_STORE, cid, spec.name_fr)
            if key_fr != key:
                self.value("category", "varchar", a["url_key"], FR_STORE, cid, key_fr)
            if path_fr != path0:
                self.value("category", "varchar", a["url_path"], FR_STORE, cid, path_fr)
            if spec.description_fr:
                self.value("category", "text", a["description"], FR_STORE, cid, spec.description_fr)
        for store in (DEFAULT_STORE, FR_STORE, OUTLET_STORE):
            paths = url_path[FR_STORE] if store == FR_STORE else url_path[0]
            self.cat_url_path[store] = {}
            for node in CATEGORY_NODES:
                if node.root_id != STORE_ROOT[store]:
                    continue
                request = paths[node.id]
                self.cat_url_path[store][node.id] = request
                self.w.rows["url_rewrite"].append((
                    self._id("url_rewrite"), "category", node.id, f"{request}.html",
                    f"catalog/category/view/id/{node.id}", 0, store, None, 1, None))

    # -- products ------------------------------------------------------------------------------
    def _products(self) -> None:
        started = time.perf_counter()
        written = 0
        for product in self._fixed_products():
            self._emit(product)
            written += 1 + len(product.children)
        rng = random.Random(self.seed)
        pending = 0
        for product in self._bulk_products(rng, FIRST_BULK_PRODUCT_ID, self.total):
            self._emit(product)
            written += 1 + len(product.children)
            pending += 1 + len(product.children)
            if pending >= _PRODUCTS_PER_FLUSH:
                self.w.flush()
                pending = 0
                if written // _PRODUCTS_PER_FLUSH % 10 == 0:
                    log.info("demo shop: %d of %d products written (%.1f s)", written, self.total,
                             time.perf_counter() - started)
        self.w.flush()

    def _images(self, key: str, count: int) -> tuple[str, ...]:
        return tuple(f"/{key[0]}/{key[1]}/{key}-{n}.jpg" for n in range(1, count + 1))

    def _fixed_products(self) -> list[_Product]:
        k = content.KINDS
        c = CATEGORY_IDS
        color, size, material, maker = (OPTION_IDS["color"], OPTION_IDS["size"], OPTION_IDS["material"],
                                        OPTION_IDS["manufacturer"])
        today = self.today
        text_rng = random.Random("ragsync demo shop: well-known products")
        P = WELL_KNOWN_PRODUCTS
        S = _FIXED_SKUS

        def simple(name: str, pid_name: str, kind: str, categories: tuple[str, ...], price: float,
                   websites: tuple[int, ...] = (1,), **extra: Any) -> _Product:
            key = content.slug(name)
            product = _Product(
                id=P[pid_name], sku=S[pid_name], type_id="simple", name=name, kind=k[kind], websites=websites,
                categories=tuple(c[x] for x in categories), price=price, url_key=key,
                description=content.product_description_html(text_rng, name, k[kind], None, None, False),
                short_description=content.short_description(text_rng, k[kind]),
                weight=0.5, images=self._images(key, 1), meta_title=f"{name} | Demo Shop")
            for attr, value in extra.items():
                setattr(product, attr, value)
            return product

        aero = simple(
            "Aero Daily Fitness Tee", "simple_with_overrides", "tee", ("men_tees", "collections_eco_organic",
                                                                       "outlet_clearance_men_tees"),
            29.0, websites=(1, 2), color=color["Blue"], size=size["M"],
            material=(material["Cotton"], material["Polyester"]), manufacturer=maker["Luma"], weight=0.14,
            description=content.AERO_TEE_DESCRIPTION,
            short_description="<p>Quick-drying everyday training tee.</p>",
            meta_title="Aero Daily Fitness Tee | Demo Shop", meta_keyword="tee, fitness, running, aero",
            meta_description="The quick-drying Aero Daily Fitness Tee for training and everyday wear.",
            images=self._images("aero-daily-fitness-tee", 3), disabled_images=(2,),
            image_labels_fr=("Vue de face", "Vue de dos", "Détail"),
            fr={"name": "T-shirt de fitness Aero Daily", "url_key": "t-shirt-fitness-aero-daily",
                "description": content.AERO_TEE_DESCRIPTION_FR,
                "short_description": "<p>T-shirt d'entraînement à séchage rapide.</p>",
                "meta_title": "T-shirt de fitness Aero Daily | Demo Shop",
                "meta_description": "Le T-shirt Aero Daily à séchage rapide pour l'entraînement."},
            redirects=((DEFAULT_STORE, "aero-daily-tee"),), qty=120.0)
        aero.image_by_store = {FR_STORE: aero.images[1]}

        hoodie_key = "chaz-kangeroo-hoodie"
        children = []
        for n, (col, sz) in enumerate([(cl, s) for cl in ("Black", "Gray") for s in ("S", "M", "L")]):
            child_name = f"Chaz Kangeroo Hoodie-{sz}-{col}"
            child_key = content.slug(child_name)
            children.append(_Product(
                id=CONFIGURABLE_CHILDREN[n], sku=f"{S['configurable']}-{sz}-{col}", type_id="simple", name=child_name,
                kind=k["hoodie"], websites=(1,), categories=(), price=52.0, url_key=child_key, visibility=1,
                color=color[col], size=size[sz], weight=0.6, images=self._images(child_key, 1),
                qty=0.0 if n == 5 else 25.0 + n, in_stock=0 if n == 5 else 1))
        hoodie = _Product(
            id=P["configurable"], sku=S["configurable"], type_id="configurable", name="Chaz Kangeroo Hoodie",
            kind=k["hoodie"], websites=(1,), categories=(c["men_hoodies"],), price=None, url_key=hoodie_key,
            description=content.product_description_html(text_rng, "Chaz Kangeroo Hoodie", k["hoodie"],
                                                         "wysiwyg/products/chaz-hoodie.jpg", "size-guide", True),
            short_description="<p>A warm, brushed hoodie with a kangaroo pocket.</p>",
            material=(material["Cotton"], material["Elastane"]), manufacturer=maker["Ravenna Outdoor"],
            images=self._images(hoodie_key, 2), qty=0.0,
            fr={"name": "Sweat à capuche Chaz Kangeroo", "url_key": "sweat-capuche-chaz-kangeroo"},
            children=tuple(children), super_attributes=("color", "size"))

        return [
            aero,
            hoodie,
            simple("Retired Messenger Bag", "disabled_product", "backpack", ("gear_backpacks",), 45.0, status=2),
            simple("Juno Jacket", "disabled_in_outlet", "jacket", ("women_jackets", "outlet_clearance_women_jackets"),
                   119.0, websites=(1, 2), status_by_store={OUTLET_STORE: 2}),
            simple("Sol Active Short", "enabled_by_store_override", "shorts", ("women_shorts",), 35.0, status=2,
                   status_by_store={DEFAULT_STORE: 1, FR_STORE: 1}),
            simple("Dash Digital Watch", "product_out_of_stock", "watch", ("gear_watches",), 89.0, qty=0.0,
                   in_stock=0),
            simple("Karmin Yoga Pant", "special_past", "pants", ("women_pants",), 49.0, special_price=39.0,
                   special_from=today - timedelta(days=30), special_to=today - timedelta(days=10)),
            simple("Voyage Yoga Bag", "special_current", "duffle", ("gear_duffles",), 32.0, special_price=24.0,
                   special_from=today - timedelta(days=5), special_to=today + timedelta(days=5)),
            simple("Lando Gym Jacket", "special_future", "jacket", ("men_jackets",), 99.0, special_price=79.0,
                   special_from=today + timedelta(days=10), special_to=today + timedelta(days=20)),
            simple("Sprite Yoga Strap", "special_no_dates", "yoga", ("gear_yoga",), 14.0, special_price=11.0),
            simple("Outlet Basic Tee", "outlet_only", "tee", ("outlet_clearance_men_tees",), 9.0, websites=(2,)),
            simple("Clamber Watch", "not_visible_in_fr", "watch", ("gear_watches",), 129.0,
                   visibility_by_store={FR_STORE: 1}),
            simple("Plain Water Bottle", "plain_description", "bottle", ("gear_fitness",), 12.0,
                   description=content.product_description_plain(text_rng, "Plain Water Bottle", k["bottle"]),
                   short_description=None),
            simple("Minimal Logo Tee", "no_image", "tee", ("women_tees",), 19.0, images=()),
            simple("Archive Rain Jacket", "in_inactive_category", "jacket", ("archive_2023_jackets", "women_jackets"),
                   79.0),
        ]

    def _bulk_products(self, rng: random.Random, first: int, last: int) -> Iterator[_Product]:
        """Yield simples and configurable families in the fixed ratio (2/3 simple, 1/3 families)."""
        pid = first
        while pid <= last:
            family = 1 + rng.randint(3, 6)
            for _ in range(family):
                if pid > last:
                    return
                yield self._bulk_simple(rng, pid)
                pid += 1
            if last - pid + 1 >= family:
                yield self._bulk_family(rng, pid, family - 1)
                pid += family
            for _ in range(family):
                if pid > last:
                    return
                yield self._bulk_simple(rng, pid)
                pid += 1

    _kind_codes = tuple(_KIND_WEIGHTS)
    _kind_cum = tuple(sum(list(_KIND_WEIGHTS.values())[: i + 1]) for i in range(len(_KIND_WEIGHTS)))

    def _bulk_base(self, rng: random.Random, pid: int, kind_code: str, sku: str, type_id: str) -> _Product:
        kind = content.KINDS[kind_code]
        line = rng.choice(content.LINES)
        adjective = rng.choice(content.ADJECTIVES)
        name = f"{line} {adjective[0]} {kind.noun}"
        key = f"{content.slug(name)}-{pid}"
        r = rng.random()
        websites = (1,) if r < 0.85 else (1, 2) if r < 0.95 else (2,)
        categories: list[int] = []
        if 1 in websites:
            leaf = rng.choice(_KIND_CATEGORIES[kind_code])
            if kind_code == "jacket" and rng.random() < 0.03:
                leaf = "archive_2023_jackets"
            categories.append(CATEGORY_IDS[leaf])
            if rng.random() < 0.15:
                categories.append(CATEGORY_IDS[rng.choice(("collections_eco", "sale_deals"))])
        if 2 in websites:
            categories.append(CATEGORY_IDS[_KIND_OUTLET_CATEGORY[kind_code]])
        product = _Product(
            id=pid, sku=sku, type_id=type_id, name=name, kind=kind, websites=websites, categories=tuple(categories),
            price=float(rng.randint(*kind.price)) + rng.choice((0.0, 0.0, 0.5, 0.99)), url_key=key,
            images=self._images(key, 1 + (rng.random() < 0.3)))
        if rng.random() < 0.8:
            with_link = kind.sized and rng.random() < 0.2
            media = f"wysiwyg/products/{key}-detail.jpg" if rng.random() < 0.2 else None
            product.description = content.product_description_html(
                rng, name, kind, media, "size-guide" if with_link else None, rng.random() < 0.3)
        else:
            product.description = content.product_description_plain(rng, name, kind)
        if rng.random() < 0.8:
            product.short_description = content.short_description(rng, kind)
        if rng.random() < 0.6:
            product.meta_title = f"{name} | Demo Shop"
        if rng.random() < 0.4:
            product.meta_keyword = f"{kind.noun.lower()}, {line.lower()}, {adjective[0].lower()}"
        if rng.random() < 0.5:
            product.meta_description = f"Buy the {name}: {rng.choice(content.FEATURES[kind_code]).lower()}."
        if rng.random() < 0.6:
            product.manufacturer = rng.choice(tuple(OPTION_IDS["manufacturer"].values()))
        if rng.random() < 0.7:
            product.material = tuple(sorted(rng.sample(tuple(OPTION_IDS["material"].values()), rng.randint(1, 3))))
        if rng.random() < 0.1:
            product.news_from = self.today - timedelta(days=rng.randint(1, 30))
        if 1 in websites and rng.random() < 0.3:
            name_fr = f"{kind.noun_fr} {adjective[2] if kind.feminine else adjective[1]} {line}"
            product.fr = {"name": name_fr, "url_key": f"{content.slug(name_fr)}-{pid}",
                          "description": content.product_description_fr(rng, name_fr, kind)}
            if product.short_description:
                product.fr["short_description"] = f"<p>{rng.choice(content.FEATURES_FR)}.</p>"
            if product.meta_title:
                product.fr["meta_title"] = f"{name_fr} | Demo Shop"
        return product

    def _bulk_simple(self, rng: random.Random, pid: int) -> _Product:
        kind_code = rng.choices(self._kind_codes, cum_weights=self._kind_cum)[0]
        product = self._bulk_base(rng, pid, kind_code, f"RS{pid:07d}", "simple")
        kind = product.kind
        r = rng.random()
        product.status = 2 if r < 0.03 else 1
        r = rng.random()
        product.visibility = 2 if r < 0.02 else 3 if r < 0.05 else 4
        if rng.random() < 0.8:
            product.color = rng.choice(tuple(OPTION_IDS["color"].values()))
        if kind.sized and rng.random() < 0.6:
            product.size = rng.choice(tuple(OPTION_IDS["size"].values()))
        product.weight = round(rng.uniform(*kind.weight), 2)
        if rng.random() < 0.1 and product.price is not None:
            product.special_price = round(product.price * 0.8, 2)
            window = rng.randrange(4)
            if window == 0:
                product.special_from, product.special_to = (self.today - timedelta(days=40),
                                                            self.today - timedelta(days=20))
            elif window == 1:
                product.special_from, product.special_to = (self.today - timedelta(days=3),
                                                            self.today + timedelta(days=rng.randint(1, 14)))
            elif window == 2:
                product.special_from = self.today + timedelta(days=rng.randint(2, 20))
                product.special_to = product.special_from + timedelta(days=7)
        if rng.random() < 0.08:
            product.qty, product.in_stock = 0.0, 0
        else:
            product.qty = float(rng.randint(1, 250))
        return product

    def _bulk_family(self, rng: random.Random, pid: int, child_count: int) -> _Product:
        kind_code = rng.choice(_APPAREL)
        parent = self._bulk_base(rng, pid, kind_code, f"RSC{pid:07d}", "configurable")
        price = parent.price
        parent.price = None
        parent.qty = 0.0
        parent.super_attributes = ("color", "size")
        colors = rng.sample(tuple(OPTION_IDS["color"].items()), 3)
        combos = [(col, sz) for col in colors for sz in OPTION_IDS["size"].items()]
        chosen = sorted(rng.sample(range(len(combos)), child_count))
        children = []
        for n, index in enumerate(chosen, start=1):
            (color_label, color_id), (size_label, size_id) = combos[index]
            child_id = pid + n
            child_name = f"{parent.name}-{size_label}-{color_label}"
            key = f"{content.slug(child_name)}-{child_id}"
            out = rng.random() < 0.1
            children.append(_Product(
                id=child_id, sku=f"{parent.sku}-{size_label}-{color_label}", type_id="simple", name=child_name,
                kind=parent.kind, websites=parent.websites, categories=(), price=price, url_key=key, visibility=1,
                color=color_id, size=size_id, weight=round(rng.uniform(*parent.kind.weight), 2),
                images=self._images(key, 1), qty=0.0 if out else float(rng.randint(1, 60)), in_stock=0 if out else 1))
        parent.children = tuple(children)
        return parent

    # -- product rows ----------------------------------------------------------------------------
    def _effective(self, default: int, by_store: dict[int, int] | None, store: int) -> int:
        if by_store and store in by_store:
            return by_store[store]
        return default

    def _final_price(self, p: _Product, website: int) -> float | None:
        if p.price is None:
            return None
        final = p.price
        if p.special_price is not None and p.special_price < final:
            if (p.special_from is None or p.special_from <= self.today) and (
                    p.special_to is None or self.today <= p.special_to):
                final = p.special_price
        if self.watch_category in p.categories and website in (1, 2):
            start, end = self.catalog_rule_window
            if start <= self.today <= end:
                final = min(final, round(p.price * 0.9, 2))
        return final

    def _emit(self, p: _Product) -> None:
        a = self.attr
        rows = self.w.rows
        varchar = rows["catalog_product_entity_varchar"].append
        text = rows["catalog_product_entity_text"].append
        integer = rows["catalog_product_entity_int"].append
        decimal = rows["catalog_product_entity_decimal"].append
        datetime_ = rows["catalog_product_entity_datetime"].append
        pid = p.id
        composite = p.type_id == "configurable"
        rows["catalog_product_entity"].append((pid, PRODUCT_ATTRIBUTE_SET, p.type_id, p.sku, int(composite),
                                               int(composite), self._created_text(pid), self._updated_text(pid)))
        # varchar
        varchar((a["name"], 0, pid, p.name))
        varchar((a["url_key"], 0, pid, p.url_key))
        main_image = p.images[0] if p.images else "no_selection"
        varchar((a["image"], 0, pid, main_image))
        # small_image, thumbnail, options_container and msrp_display_actual_price_type: _derived_rows()
        if p.meta_title:
            varchar((a["meta_title"], 0, pid, p.meta_title))
        if p.meta_description:
            varchar((a["meta_description"], 0, pid, p.meta_description))
        # text
        if p.description is not None:
            text((a["description"], 0, pid, p.description))
        if p.short_description is not None:
            text((a["short_description"], 0, pid, p.short_description))
        if p.meta_keyword:
            text((a["meta_keyword"], 0, pid, p.meta_keyword))
        if p.material:
            text((a["material"], 0, pid, ",".join(str(o) for o in p.material)))
        # int
        integer((a["status"], 0, pid, p.status))
        integer((a["visibility"], 0, pid, p.visibility))
        # tax_class_id: _derived_rows()
        integer((a["quantity_and_stock_status"], 0, pid, p.in_stock))
        if p.color is not None:
            integer((a["color"], 0, pid, p.color))
        if p.size is not None:
            integer((a["size"], 0, pid, p.size))
        if p.manufacturer is not None:
            integer((a["manufacturer"], 0, pid, p.manufacturer))
        # decimal
        if p.price is not None:
            decimal((a["price"], 0, pid, p.price))
        if p.weight is not None:
            decimal((a["weight"], 0, pid, p.weight))
        if p.special_price is not None:
            decimal((a["special_price"], 0, pid, p.special_price))
        # datetime (website scope, written at store 0 like Magento's single-website default)
        if p.special_from is not None:
            datetime_((a["special_from_date"], 0, pid, f"{p.special_from} 00:00:00"))
        if p.special_to is not None:
            datetime_((a["special_to_date"], 0, pid, f"{p.special_to} 00:00:00"))
        if p.news_from is not None:
            datetime_((a["news_from_date"], 0, pid, f"{p.news_from} 00:00:00"))
        # store-level overrides
        if p.status_by_store:
            for store, status in sorted(p.status_by_store.items()):
                integer((a["status"], store, pid, status))
        if p.visibility_by_store:
            for store, visibility in sorted(p.visibility_by_store.items()):
                integer((a["visibility"], store, pid, visibility))
        if p.fr:
            for code in ("name", "url_key", "meta_title", "meta_description"):
                if code in p.fr:
                    varchar((a[code], FR_STORE, pid, p.fr[code]))
            for code in ("description", "short_description"):
                if code in p.fr:
                    text((a[code], FR_STORE, pid, p.fr[code]))
        if p.image_by_store:
            for store, path in sorted(p.image_by_store.items()):
                varchar((a["image"], store, pid, path))
        # media gallery
        gallery_attribute = a["media_gallery"]
        for position, path in enumerate(p.images):
            value_id = self._id("media_gallery")
            disabled = int(position in p.disabled_images)
            rows["catalog_product_entity_media_gallery"].append((value_id, gallery_attribute, path, "image", 0))
            rows["catalog_product_entity_media_gallery_value"].append(
                (self._id("media_gallery_value"), value_id, 0, pid, None, position + 1, disabled))
            if position < len(p.image_labels_fr):
                rows["catalog_product_entity_media_gallery_value"].append(
                    (self._id("media_gallery_value"), value_id, FR_STORE, pid, p.image_labels_fr[position],
                     position + 1, disabled))
        # websites, categories, stock
        for website in p.websites:
            rows["catalog_product_website"].append((pid, website))
        for position, category in enumerate(p.categories):
            rows["catalog_category_product"].append((self._id("category_product"), category, pid, position))
        rows["cataloginventory_stock_item"].append((pid, pid, 1, p.qty, p.in_stock, 1, 1, 0))
        rows["inventory_source_item"].append((pid, "default", p.sku, p.qty, p.in_stock))
        in_stock = int(any(child.in_stock for child in p.children)) if composite else p.in_stock
        rows["cataloginventory_stock_status"].append((pid, 0, 1, p.qty, in_stock))  # website 0, as Magento CE
        # per store view: what is assigned and visible, URL rewrites
        for website in p.websites:
            for store in WEBSITE_STORES[website]:
                code = "default" if store == DEFAULT_STORE else "fr" if store == FR_STORE else "outlet"
                self.store_products[code]["assigned"] += 1
                visibility = self._effective(p.visibility, p.visibility_by_store, store)
                status = self._effective(p.status, p.status_by_store, store)
                if status == 1 and visibility != 1:
                    self.store_products[code]["visible"] += 1
                if visibility != 1:
                    self._product_rewrites(p, store)
        # price index per website and customer group (enabled products only)
        for website in p.websites:
            if self._effective(p.status, p.status_by_store, WEBSITE_STORES[website][0]) != 1:
                continue
            if composite:
                finals = [self._final_price(ch, website) for ch in p.children]
                prices = [f for f in finals if f is not None]
                if not prices:
                    continue
                price, final, low, high = min(prices), min(prices), min(prices), max(prices)
            else:
                final_price = self._final_price(p, website)
                if final_price is None or p.price is None:
                    continue
                price, final, low, high = p.price, final_price, final_price, final_price
            rows["catalog_product_index_price"].append(
                (pid, CUSTOMER_GROUPS[0], website, TAXABLE_GOODS, price, final, low, high))
        # catalog rule index (the active rule targets the Watches category)
        if self.watch_category in p.categories:
            start, end = self.catalog_rule_window
            from_time = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp())
            to_time = int(datetime(end.year, end.month, end.day, tzinfo=UTC).timestamp()) + 86_399
            for website in p.websites:
                for group in CUSTOMER_GROUPS:
                    rows["catalogrule_product"].append((
                        self._id("catalogrule_product"), CATALOG_RULES["catalog_active"], from_time, to_time, group,
                        pid, "by_percent", 10.0, 0, 0, website))
        # configurable structure
        if composite:
            for position, code in enumerate(p.super_attributes):
                super_id = self._id("super_attribute")
                rows["catalog_product_super_attribute"].append((super_id, pid, a[code], position))
                label = "Color" if code == "color" else "Size"
                rows["catalog_product_super_attribute_label"].append(
                    (self._id("super_attribute_label"), super_id, 0, 0, label))
                if 1 in p.websites:
                    rows["catalog_product_super_attribute_label"].append(
                        (self._id("super_attribute_label"), super_id, FR_STORE, 0,
                         "Couleur" if code == "color" else "Taille"))
            for child in p.children:
                rows["catalog_product_super_link"].append((self._id("super_link"), child.id, pid))
                rows["catalog_product_relation"].append((pid, child.id))
            for child in p.children:
                self._emit(child)

    def _product_rewrites(self, p: _Product, store: int) -> None:
        rows = self.w.rows
        key = p.fr["url_key"] if store == FR_STORE and p.fr and "url_key" in p.fr else p.url_key
        target = f"catalog/product/view/id/{p.id}"
        rows["url_rewrite"].append((self._id("url_rewrite"), "product", p.id, f"{key}.html", target, 0, store,
                                    None, 1, None))
        paths = self.cat_url_path[store]
        for category in p.categories:
            category_path = paths.get(category)
            if category_path is None:
                continue
            rewrite_id = self._id("url_rewrite")
            rows["url_rewrite"].append((
                rewrite_id, "product", p.id, f"{category_path}/{key}.html", f"{target}/category/{category}", 0,
                store, None, 1, f'{{"category_id":"{category}"}}'))
        for redirect_store, old_key in p.redirects:
            if redirect_store == store:
                rows["url_rewrite"].append((self._id("url_rewrite"), "product", p.id, f"{old_key}.html",
                                            f"{key}.html", 301, store, None, 0, None))

    def _derived_rows(self) -> None:
        """Write, set-based on the server, the rows that repeat or link rows already written.

        Indexer output (the customer-group copies of the price index), link tables
        (gallery value to product, URL rewrite to category) and values every product has
        (small image and thumbnail = base image, tax class, options container, MSRP display)
        are filled by ``INSERT ... SELECT`` from the rows the writers already hold, with
        explicit, deterministic ids. Each statement runs on the writer that owns its table.
        """
        t, a = self.db.table, self.attr
        varchar, integer = t("catalog_product_entity_varchar"), t("catalog_product_entity_int")
        # table names come from db.table(); every value is a parameter
        copy_value = ("INSERT INTO {target} (value_id, attribute_id, store_id, entity_id, value)"
                      " SELECT m.top + ROW_NUMBER() OVER (ORDER BY v.value_id), %s, v.store_id, v.entity_id, {value}"
                      " FROM {target} v CROSS JOIN (SELECT MAX(value_id) AS top FROM {target}) m"
                      " WHERE v.attribute_id = %s{where}")
        after = self.w.execute_after
        for code in ("small_image", "thumbnail"):
            after("catalog_product_entity_varchar", copy_value.format(target=varchar, value="v.value", where=""),
                  (a[code], a["image"]))
        for code, constant in (("options_container", "container2"), ("msrp_display_actual_price_type", "0")):
            after("catalog_product_entity_varchar",
                  copy_value.format(target=varchar, value="%s", where=" AND v.store_id = 0"),
                  (a[code], constant, a["name"]))
        after("catalog_product_entity_int", copy_value.format(target=integer, value="%s", where=" AND v.store_id = 0"),
              (a["tax_class_id"], TAXABLE_GOODS, a["status"]))

        index, groups = t("catalog_product_index_price"), t("customer_group")
        after("catalog_product_index_price",
              f"INSERT INTO {index} (entity_id, customer_group_id, website_id, tax_class_id, price, final_price,"
              " min_price, max_price) SELECT i.entity_id, g.customer_group_id, i.website_id, i.tax_class_id, i.price,"
              f" i.final_price, i.min_price, i.max_price FROM {index} i JOIN {groups} g"
              " ON g.customer_group_id <> i.customer_group_id WHERE i.customer_group_id = %s"
              " ORDER BY i.entity_id, g.customer_group_id, i.website_id", (CUSTOMER_GROUPS[0],))
        gallery_value = t("catalog_product_entity_media_gallery_value")
        after("catalog_product_entity_media_gallery_value_to_entity",
              f"INSERT INTO {t('catalog_product_entity_media_gallery_value_to_entity')} (value_id, entity_id)"
              f" SELECT value_id, entity_id FROM {gallery_value} WHERE store_id = %s ORDER BY value_id", (0,))
        after("catalog_url_rewrite_product_category",
              f"INSERT INTO {t('catalog_url_rewrite_product_category')} (url_rewrite_id, category_id, product_id)"
              " SELECT url_rewrite_id, CAST(JSON_UNQUOTE(JSON_EXTRACT(metadata, '$.category_id')) AS UNSIGNED),"
              f" entity_id FROM {t('url_rewrite')} WHERE entity_type = %s AND metadata IS NOT NULL"
              " ORDER BY url_rewrite_id", ("product",))

    # -- CMS -------------------------------------------------------------------------------------
    def _cms(self) -> None:
        rows = self.w.rows
        for page in content.CMS_PAGES:
            created = self._created(page.page_id)
            rows["cms_page"].append((
                page.page_id, page.title, page.page_layout, page.meta_keywords, page.meta_description,
                page.identifier, page.content_heading, page.content, created, self._updated(page.page_id),
                page.is_active, 0, page.meta_title))
            for store in page.stores:
                rows["cms_page_store"].append((page.page_id, store))
            for store in (page.stores if page.stores != (0,) else (DEFAULT_STORE, FR_STORE, OUTLET_STORE)):
                rows["url_rewrite"].append((
                    self._id("url_rewrite"), "cms-page", page.page_id, page.identifier,
                    f"cms/page/view/page_id/{page.page_id}", 0, store, None, 1, None))
        for block in content.CMS_BLOCKS:
            rows["cms_block"].append((block.block_id, block.title, block.identifier, block.content,
                                      self._created(block.block_id), self._updated(block.block_id), block.is_active))
            for store in block.stores:
                rows["cms_block_store"].append((block.block_id, store))

    # -- price rules -----------------------------------------------------------------------------
    def _rules(self) -> None:
        rows = self.w.rows
        today = self.today
        combine = "Magento\\SalesRule\\Model\\Rule\\Condition\\Combine"
        product_combine = "Magento\\SalesRule\\Model\\Rule\\Condition\\Product\\Combine"

        def conditions(kind: str, *children: dict[str, Any]) -> str:
            tree: dict[str, Any] = {"type": kind, "attribute": None, "operator": None, "value": "1",
                                    "is_value_processed": None, "aggregator": "all"}
            if children:
                tree["conditions"] = list(children)
            return json.dumps(tree, separators=(",", ":"))

        subtotal_100 = conditions(combine, {
            "type": "Magento\\SalesRule\\Model\\Rule\\Condition\\Address", "attribute": "base_subtotal",
            "operator": ">=", "value": "100", "is_value_processed": False})
        empty_conditions = conditions(combine)
        empty_actions = conditions(product_combine)
        day = timedelta(days=1)
        # rule_id, name, description, from, to, active, conditions, simple_action, amount, qty, step,
        # coupon_type, auto, free_shipping, websites, groups, label, label_fr
        cart = [
            (1, "10% off orders over 100", "Ten percent off every order of 100 or more, no code needed.",
             today - 30 * day, None, 1, subtotal_100, "by_percent", 10, None, 0, 1, 0, 0, (1, 2), CUSTOMER_GROUPS,
             "10% off orders over 100", "10 % de remise dès 100 € d'achat"),
            (2, "Summer coupon", "20 off the whole cart with the SUMMER20 code.",
             today - 10 * day, today + 60 * day, 1, empty_conditions, "cart_fixed", 20, None, 0, 2, 0, 0, (1,),
             (0, 1), "Summer coupon: 20 off", "Coupon d'été : 20 € de remise"),
            (3, "Newsletter welcome codes", "5 off each item for newsletter subscribers, one generated code each.",
             today - 60 * day, None, 1, empty_conditions, "by_fixed", 5, 1, 0, 3, 1, 0, (1, 2), (1,),
             "Welcome discount", "Remise de bienvenue"),
            (4, "Spring clearance (ended)", "Buy 2 tees, get the third free. Ended.",
             today - 90 * day, today - 30 * day, 1, empty_conditions, "buy_x_get_y", 1, None, 2, 1, 0, 0, (1,),
             CUSTOMER_GROUPS, "Buy 2, get 1 free", "2 achetés, 1 offert"),
            (5, "Winter preview", "15% off and free shipping, starting in two weeks.",
             today + 14 * day, today + 45 * day, 1, empty_conditions, "by_percent", 15, None, 0, 1, 0, 2, (1, 2),
             CUSTOMER_GROUPS, "Winter preview: 15% off", "Avant-première hiver : -15 %"),
            (6, "Staff discount (disabled)", "30% off for staff; switched off.",
             None, None, 0, empty_conditions, "by_percent", 30, None, 0, 1, 0, 0, (1,), (1,), "Staff discount", None),
            (7, "Outlet: 5 off", "5 off every outlet order.",
             today - 5 * day, today + 25 * day, 1, empty_conditions, "by_fixed", 5, None, 0, 1, 0, 0, (2,),
             CUSTOMER_GROUPS, "Outlet discount", None),
        ]
        label_id = 1
        for (rule_id, name, description, from_date, to_date, active, cond, action, amount, qty, step, coupon_type,
             auto, free_shipping, websites, groups, label, label_fr) in cart:
            rows["salesrule"].append((
                rule_id, name, description, from_date, to_date, 0, active, cond, empty_actions, 0, 1, rule_id,
                action, amount, qty, step, 0, 0, 0, coupon_type, auto, 1 if coupon_type == 3 else 0, free_shipping))
            rows["salesrule_website"].extend((rule_id, w) for w in websites)
            rows["salesrule_customer_group"].extend((rule_id, g) for g in groups)
            rows["salesrule_label"].append((label_id, rule_id, 0, label))
            label_id += 1
            if label_fr:
                rows["salesrule_label"].append((label_id, rule_id, FR_STORE, label_fr))
                label_id += 1
        created = self.ts(30 * 24 * 60)
        rows["salesrule_coupon"].append((1, CART_RULES["cart_specific_coupon"], SPECIFIC_COUPON_CODE, 1000, 1, 0, None,
                                         1, created, 0))
        for n, code in enumerate(AUTO_COUPON_CODES, start=2):
            rows["salesrule_coupon"].append((n, CART_RULES["cart_auto_coupons"], code, 1, 1, 0, None, None, created, 1))

        category_condition = json.dumps({
            "type": "Magento\\CatalogRule\\Model\\Rule\\Condition\\Combine", "attribute": None, "operator": None,
            "value": "1", "is_value_processed": None, "aggregator": "all", "conditions": [{
                "type": "Magento\\CatalogRule\\Model\\Rule\\Condition\\Product", "attribute": "category_ids",
                "operator": "==", "value": str(self.watch_category), "is_value_processed": False}]})
        no_conditions = json.dumps({
            "type": "Magento\\CatalogRule\\Model\\Rule\\Condition\\Combine", "attribute": None, "operator": None,
            "value": "1", "is_value_processed": None, "aggregator": "all"})
        start, end = self.catalog_rule_window
        catalog = [
            (1, "Watch week: 10% off", "Ten percent off every watch.", start, end, 1, category_condition,
             "by_percent", 10, (1, 2)),
            (2, "Black Friday 2025", "25% off everything. Ended.", today - 60 * day, today - 40 * day, 1,
             no_conditions, "by_percent", 25, (1,)),
            (3, "VIP price (disabled)", "5 off for VIP customers; switched off.", None, None, 0, no_conditions,
             "by_fixed", 5, (1, 2)),
        ]
        for rule_id, name, description, from_date, to_date, active, cond, action, amount, websites in catalog:
            rows["catalogrule"].append((rule_id, name, description, from_date, to_date, active, cond, None, 0,
                                        rule_id, action, amount))
            rows["catalogrule_website"].extend((rule_id, w) for w in websites)
            rows["catalogrule_customer_group"].extend((rule_id, g) for g in CUSTOMER_GROUPS)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def generate_shop(db: Database, products: int = 50, seed: int = 42, now: datetime | None = None) -> ShopSummary:
    """Write a demo shop into a database that already holds Magento's tables and fresh-install rows.

    Rows go through two writer connections, each in one transaction: an error while generating
    rolls both back, but an error at COMMIT (with unique checks off InnoDB reports a duplicate
    key only then) may leave the other writer's tables filled. Generate into a fresh schema,
    and recreate it after a failure (``--create --replace`` on the command line).
    """
    if products < MIN_PRODUCTS:
        raise ValueError(f"products must be at least {MIN_PRODUCTS} (the well-known products), got {products}")
    if now is None:
        now = datetime.now(UTC).replace(tzinfo=None)
    if now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)
    now = now.replace(microsecond=0)
    existing = db.scalar(f"SELECT COUNT(*) FROM {db.table('catalog_product_entity')}")
    if existing:
        raise ValueError(f"{db.params.database} already holds {existing} products; generate into a fresh schema")
    started = time.perf_counter()
    log.info("demo shop: writing %d products (seed %d, now %s) into %s", products, seed, now, db.params.describe())
    builder = _ShopBuilder(db, products, seed, now)
    db.execute("SET SESSION foreign_key_checks = 0, unique_checks = 0")
    try:
        builder.build()
    finally:
        db.execute("SET SESSION foreign_key_checks = 1, unique_checks = 1")
    elapsed = time.perf_counter() - started
    counts = {table: n for table, n in sorted(builder.w.counts.items()) if n}
    slowest = sorted(builder.w.seconds.items(), key=lambda item: -item[1])[:8]
    log.debug("demo shop: INSERT seconds per table: %s", ", ".join(f"{t} {s:.1f}" for t, s in slowest))
    log.info("demo shop: %d rows in %d tables in %.1f s", sum(counts.values()), len(counts), elapsed)
    return ShopSummary(products=products, seed=seed, now=now, counts=counts,
                       store_products=builder.store_products, elapsed_seconds=elapsed)


def build_demo_database(db: Database, products: int = 50, seed: int = 42, now: datetime | None = None) -> ShopSummary:
    """Create Magento's tables in an empty database and generate the demo shop into them."""
    create_magento_schema(db)
    return generate_shop(db, products=products, seed=seed, now=now)


def _magento_tables_exist(db: Database) -> bool:
    return bool(db.scalar("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()"
                          " AND table_name = %s", (f"{db.prefix}catalog_product_entity",)))


@cache
def _schema_tables() -> frozenset[str]:
    """Return the tables :func:`create_magento_schema` creates (``magento_tables()`` also names a commented one)."""
    return frozenset(name for statement in magento_statements(with_base_data=False)
                     for name in re.findall(r"CREATE TABLE `([a-z0-9_]+)`", statement))


def _existing_magento_tables(db: Database) -> set[str]:
    """Return the tables of the carried Magento schema (unprefixed names) that exist in ``db``."""
    names = {f"{db.prefix}{table}": table for table in _schema_tables()}
    rows = db.query("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()")
    return {names[row[0]] for row in rows if row[0] in names}


def _incomplete_reason(db: Database) -> str | None:
    """Return why the Magento tables of ``db`` are not a complete demo shop, or None when they are one.

    Every table of the carried schema must exist and hold what the last steps of a load leave:
    the demo's well-known products under their SKUs, ids 1..N without gaps, a name for every
    product (the EAV rows are committed by another writer than the entities), the four store
    views, every CMS page and every cart and catalog price rule.
    """
    missing = sorted(_schema_tables() - _existing_magento_tables(db))
    if missing:
        return f"{len(missing)} of Magento's {len(_schema_tables())} tables are missing ({', '.join(missing[:5])})"
    products, highest = db.query(f"SELECT COUNT(*), MAX(entity_id) FROM {db.table('catalog_product_entity')}")[0]
    if not products:
        return "Magento's tables hold no products (an interrupted load?)"
    skus = dict(db.query(f"SELECT entity_id, sku FROM {db.table('catalog_product_entity')}"
                         " WHERE entity_id < %s", (FIRST_BULK_PRODUCT_ID,)))
    wrong = [name for name in _FIXED_SKUS
             if skus.get(WELL_KNOWN_PRODUCTS[name]) != _FIXED_SKUS[name]]
    if wrong:
        return f"its products are not the demo shop's (no {_FIXED_SKUS[wrong[0]]!r} at id {WELL_KNOWN_PRODUCTS[wrong[0]]})"
    if int(highest) != int(products):
        return f"{products} products but ids up to {highest} (an interrupted load?)"
    named = db.scalar(f"SELECT COUNT(*) FROM {db.table('catalog_product_entity_varchar')}"
                      " WHERE attribute_id = %s AND store_id = 0", (manifest().attributes["name"],))
    if int(named) != int(products):
        return f"{products} products but {named} product names (an interrupted load?)"
    checks = (("store", "code", set(STORES)),
              ("cms_page", "page_id", {page.page_id for page in content.CMS_PAGES}),
              ("salesrule", "rule_id", set(CART_RULES.values())),
              ("catalogrule", "rule_id", set(CATALOG_RULES.values())))
    for table, column, wanted in checks:
        present = {row[0] for row in db.query(f"SELECT {column} FROM {db.table(table)}")}
        if not wanted <= present:
            return f"{table} lacks the demo shop's {column} {sorted(wanted - present)[:5]} (an interrupted load?)"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line: generate a demo shop into the database given by ``--url``."""
    parser = argparse.ArgumentParser(prog="python -m ragsync_dev.demo.shop", description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="mysql://user[:password]@host:port/database")
    parser.add_argument("--products", type=int, default=50, help="number of products (default 50)")
    parser.add_argument("--prefix", default=None, help="Magento table prefix (db/table_prefix), e.g. m2_")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--now", default=None, help="anchor time, ISO 8601 UTC (default: the current time)")
    parser.add_argument("--create", action="store_true",
                        help="create the database if missing and Magento's tables in it")
    parser.add_argument("--replace", action="store_true",
                        help="with --create: drop Magento's tables first if they exist")
    parser.add_argument("--if-missing", action="store_true",
                        help="with --create: load the shop only when the database has no Magento tables; leave a "
                             "complete demo shop alone (exit 0) and refuse anything else (exit 2)")
    args = parser.parse_args(argv)
    if args.if_missing and not args.create:
        parser.error("--if-missing needs --create")
    if args.if_missing and args.replace:
        parser.error("--if-missing and --replace exclude each other")
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    params = DbParams.from_url(args.url)
    if args.prefix is not None:
        params = DbParams(**{**params.__dict__, "table_prefix": args.prefix})
    if not params.database:
        parser.error("the URL must name a database, e.g. mysql://root@127.0.0.1:3306/magento_demo")
    now = datetime.fromisoformat(args.now) if args.now else None
    started = time.perf_counter()
    if args.create:
        with Database(params.with_database("")) as admin:
            admin.execute(f"CREATE DATABASE IF NOT EXISTS `{params.database}`"
                          " CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
    with Database(params) as db:
        if args.if_missing and _existing_magento_tables(db):
            reason = _incomplete_reason(db)
            if reason is not None:
                print(f"{params.describe()} has Magento tables (prefix {params.table_prefix!r}) but not a complete "
                      f"demo shop: {reason}. Nothing was changed; drop the tables (rerun with --replace instead "
                      "of --if-missing) or empty the database", file=sys.stderr)
                return 2
            products = int(db.scalar(f"SELECT COUNT(*) FROM {db.table('catalog_product_entity')}"))
            note = "" if products == args.products else f" (not the {args.products:,} asked for; --replace rebuilds it)"
            print(f"demo shop: {params.describe()} (prefix {params.table_prefix!r}) already holds the demo shop, "
                  f"{products:,} products{note}; left alone")
            return 0
        if args.create:
            if _magento_tables_exist(db):
                if not args.replace:
                    print(f"{params.database} already has Magento tables (prefix {params.table_prefix!r});"
                          " add --replace to drop them first", file=sys.stderr)
                    return 2
                drop_magento_schema(db)
            create_magento_schema(db)
        elif not _magento_tables_exist(db):
            print(f"{params.database} has no Magento tables (prefix {params.table_prefix!r}); add --create",
                  file=sys.stderr)
            return 2
        try:
            summary = generate_shop(db, products=args.products, seed=args.seed, now=now)
        except ValueError as exc:
            print(str(exc), file=sys.stderr)
            return 2
    wall = time.perf_counter() - started
    width = max(len(t) for t in summary.counts)
    for table, count in summary.counts.items():
        print(f"  {params.table_prefix}{table:<{width}}  {count:>10,}")
    for code, numbers in summary.store_products.items():
        print(f"  store {code:<8} products assigned {numbers['assigned']:>8,}  enabled and visible "
              f"{numbers['visible']:>8,}")
    print(f"demo shop: {summary.products:,} products, {summary.total_rows:,} rows into {params.describe()} "
          f"(prefix {params.table_prefix!r}); generation {summary.elapsed_seconds:.1f} s, wall time {wall:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
