"""The SQL of the product reader: the raw rows of a chunk of products, and what every chunk shares.

:class:`ProductRowFetcher` chooses the attributes a product document is built from (by code:
the core ones, the ``products.attributes`` setting's, those a configurable product can be
configured by) and reads one chunk of product ids into a :class:`ProductChunk` with the same
:data:`QUERIES_PER_CHUNK` statements whatever the chunk's size: entity rows, one query per EAV
value table for store 0 and every store view at once, website and category assignments,
canonical URLs, stock, gallery, configurable attributes, children and the values of the children
outside the chunk. Chunks are selected by id range (``entity_id BETWEEN first AND last``) when
they are dense, which keyset-paginated chunks are; rows of ids a range selects but the chunk does
not hold are dropped here.

Read once per reader: the category tree of the store views (:func:`category_tree`). Incremental
capture asks :func:`changed_product_ids`. Turning the rows into documents needs no database: that
is :mod:`ragsync.magento.products`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from ragsync.documents.text import clean_text
from ragsync.magento.context import PRODUCT_ENTITY_TYPE, Attribute, MagentoContext, StoreView
from ragsync.magento.eav import (
    EavValues,
    IdSelection,
    SubquerySelection,
    as_int,
    current_version_condition,
    load_values,
)
from ragsync.magento.urls import canonical_paths

log = logging.getLogger(__name__)

ENTITY_TABLE = "catalog_product_entity"
CATEGORY_TABLE = "catalog_category_entity"
DEFAULT_STOCK_ID = 1
# Statements per chunk (see ProductRowFetcher.fetch) on a standard install: entity rows, one per
# value table the attributes live in (varchar, int, decimal, datetime, text), websites, categories,
# URLs, stock, gallery, configurable attributes, children links, and one per value table of the
# children outside the chunk (status and configurable options in int, price and special price in
# decimal, the special price's dates in datetime). The number depends on the install's attributes,
# never on the number of products in the chunk.
QUERIES_PER_CHUNK = 1 + 5 + 6 + 1 + 3
# The attributes every product document is built from (found by code; absent ones are skipped).
CORE_CODES = (
    "name", "description", "short_description", "price", "special_price", "special_from_date",
    "special_to_date", "status", "visibility", "image", "meta_title", "meta_description", "meta_keyword",
)
# The attributes read for children outside the chunk (besides the configurable ones): what a variant
# shows and what the parent's price is made of.
CHILD_CODES = ("status", "price", "special_price", "special_from_date", "special_to_date")
# Attribute inputs that are not a value a shopper reads (images, gallery).
NON_VALUE_INPUTS = frozenset({"media_image", "gallery", "image"})


@dataclass(frozen=True)
class GalleryRow:
    """One image of a product's gallery, with the store view's (or store 0's) position and state."""

    value_id: int
    path: str
    store_id: int | None
    position: int | None
    disabled: bool


@dataclass(frozen=True)
class SuperAttribute:
    """An attribute a configurable product is configured by.

    Its name on the storefront is the attribute's store label (Magento's
    ``ConfigurableAttributeData::getAttributesData()`` uses ``getStoreLabel($storeId)``), not the
    per-product label of ``catalog_product_super_attribute_label``, which is not read.
    """

    attribute_id: int
    position: int


@dataclass(frozen=True)
class Child:
    """A child of a configurable product."""

    entity_id: int
    sku: str
    """As :func:`product_sku` shows it."""
    in_stock: bool
    websites: frozenset[int]


@dataclass(frozen=True)
class CategoryEntry:
    """A category shown in a store view: its name and its "A > B" path below the root."""

    name: str
    path: str


@dataclass
class ProductChunk:
    """The raw rows of one chunk of product ids, as fetched (building documents needs no database)."""

    selection: IdSelection
    entities: dict[int, tuple[str, str, datetime | None]] = field(default_factory=dict)
    """entity_id -> (sku, type_id, updated_at)."""
    values: EavValues | None = None
    websites: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    categories: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    paths: dict[tuple[int, int], str] = field(default_factory=dict)
    """(entity_id, store_id) -> canonical request path."""
    stock: dict[int, bool] = field(default_factory=dict)
    gallery: dict[int, list[GalleryRow]] = field(default_factory=lambda: defaultdict(list))
    super_attributes: dict[int, dict[int, SuperAttribute]] = field(default_factory=dict)
    children: dict[int, list[Child]] = field(default_factory=lambda: defaultdict(list))
    """parent id -> its children, sorted by id."""
    child_values: EavValues | None = None
    """The values of the children outside the chunk (those inside it are in ``values``)."""


def single_line(value: Any) -> str | None:
    """Return a single-line field (whitespace collapsed, controls removed), or None when blank."""
    if value is None:
        return None
    return clean_text(str(value)) or None


def product_sku(value: Any) -> str:
    """Return a SKU as the storefront shows it: like a name, ends trimmed and inner whitespace collapsed.

    Magento prints the stored SKU into HTML, which collapses whitespace; the SKU is the same in
    ``data.sku``, the content's "SKU:" line and the variants ("" when blank).
    """
    return single_line(value) or ""


def _placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


def changed_product_ids(ctx: MagentoContext, since: datetime, until: datetime | None,
                        now: datetime) -> list[int]:
    """Return products whose updated_at is in (since, until], plus the configurable parents of changed children."""
    params: list[Any] = [since]
    upper = ""
    if until is not None:
        upper = " AND e.updated_at <= %s"
        params.append(until)
    changed = [int(r[0]) for r in ctx.db.query(
        f"SELECT DISTINCT e.entity_id FROM {ctx.t(ENTITY_TABLE)} e"
        f" WHERE e.updated_at > %s{upper} ORDER BY e.entity_id", params)]
    if not changed:
        return []
    return sorted(set(changed) | _parents_of(ctx, changed, now))


def _parents_of(ctx: MagentoContext, child_ids: Sequence[int], now: datetime) -> set[int]:
    if ctx.link_field(ENTITY_TABLE) == "row_id":
        version_sql, version_params = current_version_condition(ctx, "p", now)
        sql = (f"SELECT DISTINCT p.entity_id FROM {ctx.t('catalog_product_super_link')} l"
               f" JOIN {ctx.t(ENTITY_TABLE)} p ON p.row_id = l.parent_id AND {version_sql}"
               f" WHERE l.product_id IN ({_placeholders(len(child_ids))})")
        params: list[Any] = [*version_params, *child_ids]
    else:
        sql = (f"SELECT DISTINCT l.parent_id FROM {ctx.t('catalog_product_super_link')} l"
               f" WHERE l.product_id IN ({_placeholders(len(child_ids))})")
        params = list(child_ids)
    return {int(r[0]) for r in ctx.db.query(sql, params)}


def category_tree(ctx: MagentoContext, stores: Sequence[StoreView], now: datetime) -> dict[int, dict[int, CategoryEntry]]:
    """Return, per store view, category id -> (name, "A > B" path) for the active categories under its root.

    Magento's rules: a category is shown when it is active itself in the store view and lies under
    the store's root (``Catalog\\Helper\\Category::canShow()``; an inactive ancestor does not hide it),
    and its path is the breadcrumb (``Catalog\\Helper\\Data::getBreadcrumbPath()``): the names of the
    active categories from below the root down to it, an inactive or nameless ancestor left out.
    """
    version_sql, version_params = current_version_condition(ctx, "e", now)
    rows = ctx.db.query(
        f"SELECT e.entity_id, e.path FROM {ctx.t(CATEGORY_TABLE)} e WHERE {version_sql}",
        version_params,
    )
    paths = {int(i): str(p) for i, p in rows}
    result: dict[int, dict[int, CategoryEntry]] = {s.store_id: {} for s in stores}
    if not paths:
        return result
    attrs = ctx.attributes("catalog_category")
    wanted = [attrs[c] for c in ("name", "is_active") if c in attrs]
    store_ids = [s.store_id for s in stores]
    values = load_values(ctx, CATEGORY_TABLE, wanted, IdSelection.of(paths), store_ids, now)
    for store in stores:
        root = str(store.root_category_id)
        entries = result[store.store_id]
        for category_id, path in paths.items():
            parts = path.split("/")
            if len(parts) < 3 or parts[1] != root:
                continue
            if as_int(values.get(category_id, "is_active", store.store_id)) != 1:
                continue
            name = single_line(values.get(category_id, "name", store.store_id))
            if name is None:
                continue
            ancestors = [int(p) for p in parts[2:-1] if p.isdigit()]
            names = [n for n in (_breadcrumb_name(values, a, store.store_id) for a in ancestors if a in paths) if n]
            entries[category_id] = CategoryEntry(name, " > ".join([*names, name]))
    return result


def _breadcrumb_name(values: EavValues, category_id: int, store_id: int) -> str | None:
    """Return an ancestor's name in a category path: None when it is inactive in the store view (or nameless)."""
    if as_int(values.get(category_id, "is_active", store_id)) != 1:
        return None
    return single_line(values.get(category_id, "name", store_id))


class ProductRowFetcher:
    """Choose the attributes product documents are built from, and read the raw rows of chunks of ids.

    ``attribute_codes`` is the ``products.attributes`` setting (empty: every user-defined attribute
    visible on front). Attributes are read on first use; the caller serializes database access.
    """

    def __init__(self, ctx: MagentoContext, store_ids: Sequence[int], now: datetime,
                 attribute_codes: Sequence[str] = ()) -> None:
        self.ctx = ctx
        self.store_ids = list(store_ids)
        self.now = now
        self.attribute_codes = tuple(attribute_codes)

    # --- the attributes -----------------------------------------------------------------------
    @cached_property
    def attributes(self) -> dict[str, Attribute]:
        """Return every product attribute by code."""
        return self.ctx.attributes(PRODUCT_ENTITY_TYPE)

    @cached_property
    def core_attributes(self) -> dict[str, Attribute]:
        """Return the attributes every document is built from, by code (those this install has)."""
        return {code: self.attributes[code] for code in CORE_CODES if code in self.attributes}

    @cached_property
    def extra_attributes(self) -> list[Attribute]:
        """Return the attributes listed under ``attributes``: the configured codes, or every user-defined one visible on front."""
        if self.attribute_codes:
            chosen = []
            for code in self.attribute_codes:
                attribute = self.attributes.get(code)
                if attribute is None:
                    log.warning("products.attributes: this Magento has no product attribute %r; skipped", code)
                elif attribute.backend_type == "static" or attribute.frontend_input in NON_VALUE_INPUTS:
                    log.warning("products.attributes: %r is not a readable value attribute; skipped", code)
                else:
                    chosen.append(attribute)
            return chosen
        return sorted(
            (a for a in self.attributes.values()
             if a.is_user_defined and a.is_visible_on_front and a.backend_type != "static"
             and a.frontend_input not in NON_VALUE_INPUTS),
            key=lambda a: a.code,
        )

    @cached_property
    def configurable_candidates(self) -> list[Attribute]:
        """Return the attributes a configurable product can be configured by (selects with option rows)."""
        return [a for a in self.attributes.values() if a.frontend_input == "select" and a.has_option_labels]

    @cached_property
    def value_attributes(self) -> list[Attribute]:
        """Return the attributes whose values a chunk reads for its products (core, extra, configurable; once each)."""
        by_code = {a.code: a for a in [*self.core_attributes.values(), *self.extra_attributes,
                                       *self.configurable_candidates]}
        return list(by_code.values())

    @cached_property
    def child_attributes(self) -> list[Attribute]:
        """Return the attributes read for children outside the chunk: status, prices, the configurable ones."""
        own = [a for a in map(self.attributes.get, CHILD_CODES) if a]
        return [*own, *self.configurable_candidates]

    @cached_property
    def gallery_attribute_id(self) -> int | None:
        """Return the attribute id of ``media_gallery`` (gallery rows of other attributes are ignored)."""
        attribute = self.attributes.get("media_gallery")
        return attribute.attribute_id if attribute else None

    # --- the rows of a chunk ------------------------------------------------------------------
    def fetch(self, selection: IdSelection) -> ProductChunk:
        """Read the rows of a chunk of product ids: a fixed number of statements (QUERIES_PER_CHUNK)."""
        chunk = ProductChunk(selection=selection)
        if not selection:
            return chunk
        self._fetch_entities(chunk)
        chunk.values = load_values(self.ctx, ENTITY_TABLE, self.value_attributes, selection, self.store_ids,
                                   self.now)
        self._fetch_assignments(chunk)
        chunk.paths = canonical_paths(self.ctx, "product", selection, self.store_ids)
        self._fetch_stock(chunk)
        self._fetch_gallery(chunk)
        self._fetch_configurable(chunk)
        return chunk

    def _fetch_entities(self, chunk: ProductChunk) -> None:
        id_sql, id_params = chunk.selection.sql("e.entity_id")
        version_sql, version_params = current_version_condition(self.ctx, "e", self.now)
        rows = self.ctx.db.query(
            f"SELECT e.entity_id, e.sku, e.type_id, e.updated_at FROM {self.ctx.t(ENTITY_TABLE)} e"
            f" WHERE {id_sql} AND {version_sql}",
            [*id_params, *version_params],
        )
        exact = chunk.selection.exact
        for entity_id, sku, type_id, updated_at in rows:
            if exact or chunk.selection.contains(entity_id):
                chunk.entities[int(entity_id)] = (product_sku(sku), str(type_id), updated_at)

    def _fetch_assignments(self, chunk: ProductChunk) -> None:
        exact = chunk.selection.exact
        id_sql, id_params = chunk.selection.sql("product_id")
        for product_id, website_id in self.ctx.db.query(
            f"SELECT product_id, website_id FROM {self.ctx.t('catalog_product_website')} WHERE {id_sql}", id_params
        ):
            if exact or chunk.selection.contains(product_id):
                chunk.websites[int(product_id)].add(int(website_id))
        for product_id, category_id in self.ctx.db.query(
            f"SELECT product_id, category_id FROM {self.ctx.t('catalog_category_product')} WHERE {id_sql}",
            id_params,
        ):
            if exact or chunk.selection.contains(product_id):
                chunk.categories[int(product_id)].append(int(category_id))

    def _fetch_stock(self, chunk: ProductChunk) -> None:
        exact = chunk.selection.exact
        id_sql, id_params = chunk.selection.sql("product_id")
        for product_id, is_in_stock in self.ctx.db.query(
            f"SELECT product_id, is_in_stock FROM {self.ctx.t('cataloginventory_stock_item')}"
            f" WHERE {id_sql} AND stock_id = %s",
            [*id_params, DEFAULT_STOCK_ID],
        ):
            if exact or chunk.selection.contains(product_id):
                chunk.stock[int(product_id)] = bool(is_in_stock)

    def _fetch_gallery(self, chunk: ProductChunk) -> None:
        stores = sorted({0, *self.store_ids})
        t = self.ctx.t
        attribute_sql = "g.attribute_id = %s" if self.gallery_attribute_id is not None else "1=1"
        attribute_params = [self.gallery_attribute_id] if self.gallery_attribute_id is not None else []
        if self.ctx.link_field(ENTITY_TABLE) == "row_id":
            id_sql, id_params = chunk.selection.sql("e.entity_id")
            version_sql, version_params = current_version_condition(self.ctx, "e", self.now)
            sql = (
                f"SELECT e.entity_id, g.value_id, g.value, g.disabled, gv.store_id, gv.position, gv.disabled"
                f" FROM {t('catalog_product_entity_media_gallery_value_to_entity')} vte"
                f" JOIN {t(ENTITY_TABLE)} e ON e.row_id = vte.row_id"
                f" JOIN {t('catalog_product_entity_media_gallery')} g ON g.value_id = vte.value_id"
                f" LEFT JOIN {t('catalog_product_entity_media_gallery_value')} gv ON gv.value_id = vte.value_id"
                f" AND gv.row_id = vte.row_id AND gv.store_id IN ({_placeholders(len(stores))})"
                f" WHERE {id_sql} AND {version_sql} AND {attribute_sql} AND g.media_type = 'image'"
            )
            params: list[Any] = [*stores, *id_params, *version_params, *attribute_params]
        else:
            id_sql, id_params = chunk.selection.sql("vte.entity_id")
            sql = (
                f"SELECT vte.entity_id, g.value_id, g.value, g.disabled, gv.store_id, gv.position, gv.disabled"
                f" FROM {t('catalog_product_entity_media_gallery_value_to_entity')} vte"
                f" JOIN {t('catalog_product_entity_media_gallery')} g ON g.value_id = vte.value_id"
                f" LEFT JOIN {t('catalog_product_entity_media_gallery_value')} gv ON gv.value_id = vte.value_id"
                f" AND gv.entity_id = vte.entity_id AND gv.store_id IN ({_placeholders(len(stores))})"
                f" WHERE {id_sql} AND {attribute_sql} AND g.media_type = 'image'"
            )
            params = [*stores, *id_params, *attribute_params]
        exact = chunk.selection.exact
        for entity_id, value_id, path, main_disabled, store_id, position, disabled in self.ctx.db.query(sql, params):
            if not path or not (exact or chunk.selection.contains(entity_id)):
                continue
            chunk.gallery[int(entity_id)].append(GalleryRow(
                value_id=int(value_id),
                path=str(path),
                store_id=None if store_id is None else int(store_id),
                position=None if position is None else int(position),
                disabled=bool(main_disabled) if store_id is None else bool(disabled),
            ))

    def _parent_join(self, link_alias: str) -> tuple[str, str, list[Any]]:
        """Return (join, parent id column, params) mapping a row_id-keyed parent column to entity ids."""
        if self.ctx.link_field(ENTITY_TABLE) == "row_id":
            version_sql, version_params = current_version_condition(self.ctx, "p", self.now)
            join = f" JOIN {self.ctx.t(ENTITY_TABLE)} p ON p.row_id = {link_alias} AND {version_sql}"
            return join, "p.entity_id", version_params
        return "", link_alias, []

    def _fetch_configurable(self, chunk: ProductChunk) -> None:
        t = self.ctx.t
        exact = chunk.selection.exact
        # configurable attributes of the chunk's parents (named by their store labels, see SuperAttribute)
        join, parent_col, join_params = self._parent_join("sa.product_id")
        id_sql, id_params = chunk.selection.sql(parent_col)
        rows = self.ctx.db.query(
            f"SELECT {parent_col}, sa.attribute_id, sa.position"
            f" FROM {t('catalog_product_super_attribute')} sa{join}"
            f" WHERE {id_sql}",
            [*join_params, *id_params],
        )
        for parent_id, attribute_id, position in rows:
            if not (exact or chunk.selection.contains(parent_id)):
                continue
            chunk.super_attributes.setdefault(int(parent_id), {})[int(attribute_id)] = SuperAttribute(
                int(attribute_id), int(position or 0))
        # children: every link; sku, stock and websites only for children outside the chunk (those
        # inside it, usually all of them as Magento creates a family together, are read already)
        join, parent_col, join_params = self._parent_join("l.parent_id")
        id_sql, id_params = chunk.selection.sql(parent_col)
        inside_sql, inside_params = chunk.selection.exact_sql("l.product_id")
        child_version_sql, child_version_params = current_version_condition(self.ctx, "c", self.now)
        rows = self.ctx.db.query(
            f"SELECT {parent_col}, l.product_id, c.entity_id, c.sku, s.is_in_stock,"
            f" IF(c.entity_id IS NULL, NULL, (SELECT GROUP_CONCAT(w.website_id)"
            f" FROM {t('catalog_product_website')} w WHERE w.product_id = c.entity_id)) AS websites"
            f" FROM {t('catalog_product_super_link')} l{join}"
            f" LEFT JOIN {t(ENTITY_TABLE)} c ON c.entity_id = l.product_id AND {child_version_sql}"
            f" AND NOT ({inside_sql.replace('l.product_id', 'c.entity_id')})"
            f" LEFT JOIN {t('cataloginventory_stock_item')} s ON s.product_id = c.entity_id AND s.stock_id = %s"
            f" WHERE {id_sql}",
            [*join_params, *child_version_params, *inside_params, DEFAULT_STOCK_ID, *id_params],
        )
        for parent_id, child_id, outside_id, sku, in_stock, websites in rows:
            parent_id, child_id = int(parent_id), int(child_id)
            if not (exact or chunk.selection.contains(parent_id)):
                continue
            if outside_id is not None:
                website_ids = frozenset(int(w) for w in str(websites or "").split(",") if w.strip().isdigit())
                child = Child(child_id, product_sku(sku), bool(in_stock), website_ids)
            elif child_id in chunk.entities:
                child = Child(child_id, chunk.entities[child_id][0], chunk.stock.get(child_id, False),
                              frozenset(chunk.websites.get(child_id, ())))
            else:
                continue  # no current row: not a product any more
            chunk.children[parent_id].append(child)
        for children in chunk.children.values():
            children.sort(key=lambda c: c.entity_id)
        # the status, price, special price and option values of the children outside the chunk (one
        # query per value table)
        subquery = (f"SELECT l.product_id FROM {t('catalog_product_super_link')} l{join}"
                    f" WHERE {id_sql} AND NOT ({inside_sql})")
        chunk.child_values = load_values(
            self.ctx, ENTITY_TABLE, self.child_attributes,
            SubquerySelection(subquery, (*join_params, *id_params, *inside_params)), self.store_ids, self.now,
        )
