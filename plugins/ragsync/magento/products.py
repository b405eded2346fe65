"""The product reader: catalog products as per-store-view documents, a chunk of ids at a time.

Set-based: a chunk of ids costs the same :data:`QUERIES_PER_CHUNK` statements whatever its size
(entity rows, one query per EAV value table for store 0 and every store view at once, website
and category assignments, canonical URLs, stock, gallery, configurable attributes, children and
their values). Chunks are selected by id range (``entity_id BETWEEN first AND last``) when they
are dense, which keyset-paginated chunks are. What every chunk needs that does not depend on
the chunk (attributes, option and attribute labels, the category tree, CMS blocks for
directives) is read once per reader.

Which products belong to a store view: assigned to the store's website, ``status`` = Enabled
(website scope, read with store fallback) unless ``products.include_disabled``, and
``visibility`` Catalog, Search or both (store scope). Everything else is a delete for that store
view. A product that cannot be built (text that is not valid UTF-8, an oversized document)
becomes a :class:`~ragsync.documents.model.Problem` for that store view and gets no document; a
broken directive or a missing CMS block is reported as a Problem too, but the document (whose
text is complete either way) is still produced. The other products always go on.

Descriptions are rendered (directives, then HTML to Markdown) once per distinct text and store
rendering within a chunk: a store view that falls back to the default description shares its
conversion with the other store views. Children of configurable products that lie inside the
chunk (Magento creates a family together, so usually all of them) are read with the chunk;
only the others cost their own (fixed) statements.
See ``docs/products.md`` for the document's fields.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ragsync.documents.directives import DirectiveContext, render_directives_with_problems
from ragsync.documents.markdown import html_to_markdown
from ragsync.documents.model import Document, Problem, ReadBatch, iso_utc
from ragsync.documents.render import product_content
from ragsync.documents.text import (
    MAX_DOCUMENT_BYTES,
    ContentError,
    check_document_size,
    clean_text,
    decode_text,
    format_price,
)
from ragsync.magento.base import (
    ChunkedReader,
)
from ragsync.magento.context import PRODUCT_ENTITY_TYPE, Attribute, MagentoContext, StoreView
from ragsync.magento.directives import BlockLibrary, directive_context
from ragsync.magento.eav import (
    EavValues,
    IdSelection,
    SubquerySelection,
    current_version_condition,
    decode_bytes,
    load_values,
)
from ragsync.magento.urls import absolute_url, canonical_paths

if TYPE_CHECKING:
    from ragsync.settings import Settings

log = logging.getLogger(__name__)

ENTITY_TABLE = "catalog_product_entity"
CATEGORY_TABLE = "catalog_category_entity"
DEFAULT_STOCK_ID = 1
STATUS_ENABLED = 1
VISIBLE_IN_STORE = frozenset({2, 3, 4})
VISIBILITY_WORDS = {1: "Not Visible Individually", 2: "Catalog", 3: "Search", 4: "Catalog, Search"}
STATUS_WORDS = {1: "Enabled", 2: "Disabled"}
BOOLEAN_SOURCES = frozenset({
    "Magento\\Eav\\Model\\Entity\\Attribute\\Source\\Boolean",
    "Magento\\Catalog\\Model\\Product\\Attribute\\Source\\Boolean",
})
NO_IMAGE = "no_selection"
# Attribute inputs that are not a value a shopper reads (images, gallery).
NON_VALUE_INPUTS = frozenset({"media_image", "gallery", "image"})
# The attributes every product document is built from (found by code; absent ones are skipped).
CORE_CODES = (
    "name", "description", "short_description", "price", "special_price", "special_from_date",
    "special_to_date", "status", "visibility", "image", "meta_title", "meta_description", "meta_keyword",
)
# Statements per chunk (see ProductReader.fetch) on a standard install: entity rows, one per value
# table the attributes live in (varchar, int, decimal, datetime, text), websites, categories, URLs,
# stock, gallery, configurable attributes, children links, and one per value table of the children
# outside the chunk (status and configurable options in int, price in decimal). The number depends
# on the install's attributes, never on the number of products in the chunk.
QUERIES_PER_CHUNK = 1 + 5 + 6 + 1 + 2


@dataclass(frozen=True)
class _GalleryRow:
    value_id: int
    path: str
    store_id: int | None
    position: int | None
    disabled: bool


@dataclass(frozen=True)
class _SuperAttribute:
    attribute_id: int
    position: int
    labels: dict[int, tuple[bool, str | None]]  # store_id -> (use_default, label)


@dataclass(frozen=True)
class _Child:
    entity_id: int
    sku: str
    in_stock: bool
    websites: frozenset[int]


@dataclass
class ProductChunk:
    """The raw rows of one chunk of product ids, as fetched (building documents needs no database)."""

    selection: IdSelection
    entities: dict[int, tuple[str, str, datetime | None]] = field(default_factory=dict)
    values: EavValues | None = None
    websites: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    categories: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    paths: dict[tuple[int, int], str] = field(default_factory=dict)
    stock: dict[int, bool] = field(default_factory=dict)
    gallery: dict[int, list[_GalleryRow]] = field(default_factory=lambda: defaultdict(list))
    super_attributes: dict[int, dict[int, _SuperAttribute]] = field(default_factory=dict)
    children: dict[int, list[_Child]] = field(default_factory=lambda: defaultdict(list))
    child_values: EavValues | None = None


@dataclass(frozen=True)
class _CategoryEntry:
    name: str
    path: str


def _placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


def _local_date(moment: datetime, timezone: str) -> date:
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown timezone %r: comparing dates in UTC", timezone)
        zone = ZoneInfo("UTC")
    return moment.replace(tzinfo=UTC).astimezone(zone).date()


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value.strip():
        try:
            return datetime.fromisoformat(value.strip()[:10]).date()
        except ValueError:
            return None
    return None


def _price(value: Any) -> float | None:
    if value is None or value == "":
        return None
    key = (type(value), value)
    try:
        return _PRICES[key]
    except KeyError:
        pass
    except TypeError:  # unhashable
        return format_price(value)
    if len(_PRICES) >= _PRICES_SIZE:
        _PRICES.clear()
    price = _PRICES[key] = format_price(value)
    return price


# Catalogs repeat a few hundred prices over and over: each is rounded once (Decimal arithmetic is slow).
_PRICES: dict[tuple[type, Any], float | None] = {}
_PRICES_SIZE = 4096


def _iso_utc(moment: datetime) -> str:
    """Return :func:`iso_utc` of a database timestamp (naive UTC, whole seconds: the common case is quick)."""
    if moment.tzinfo is None and not moment.microsecond:
        return moment.isoformat() + "Z"
    return iso_utc(moment)


def _number_text(value: Decimal | float | int) -> str:
    number = Decimal(str(value)).normalize()
    return f"{number:f}"


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    """Return a single-line field (whitespace collapsed, controls removed), or None when blank."""
    if value is None:
        return None
    return clean_text(str(value)) or None


def special_price_applies(from_value: Any, to_value: Any, today: date) -> bool:
    """Return True when ``today`` (the store's local date) is inside the inclusive special-price window."""
    start, end = _as_date(from_value), _as_date(to_value)
    return (start is None or start <= today) and (end is None or today <= end)


class ProductReader(ChunkedReader[int, "ProductChunk"]):
    """Read catalog products into per-store-view documents (see the module docstring)."""

    entity_type = "product"
    table = ENTITY_TABLE

    def __init__(
        self,
        ctx: MagentoContext,
        settings: Settings,
        stores: Sequence[StoreView] | None = None,
        now: datetime | None = None,
    ) -> None:
        super().__init__(ctx, settings, stores, now)
        self.include_disabled = settings.products.include_disabled
        self._directive_contexts: dict[int, DirectiveContext] = {}
        self.blocks = BlockLibrary(ctx, self.store_ids, self.now, lock=self._lock)
        self._today = {s.store_id: _local_date(self.now, s.timezone) for s in self.stores}
        # (store, category ids) -> (names, paths); bounded by the distinct assignments of one chunk
        self._category_cache: dict[tuple[int, tuple[int, ...]], tuple[list[str], list[str]]] = {}

    # --- what every chunk shares ------------------------------------------------------------
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
        wanted = self.settings.products.attributes
        if wanted:
            chosen = []
            for code in wanted:
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
    def option_labels(self) -> dict[tuple[int, int], str]:
        """Return (option_id, store_id) -> label for every option attribute read (store 0 fallback applied)."""
        ids = {a.attribute_id for a in self.extra_attributes if a.has_option_labels}
        ids |= {a.attribute_id for a in self.configurable_candidates}
        return self.ctx.option_labels(ids, self.store_ids)

    @cached_property
    def option_order(self) -> dict[int, int]:
        """Return option_id -> sort_order of the multiselect attributes read."""
        ids = [a.attribute_id for a in self.extra_attributes if a.frontend_input == "multiselect"]
        return self.ctx.option_sort_order(ids)

    @cached_property
    def attribute_store_labels(self) -> dict[tuple[int, int], str]:
        """Return (attribute_id, store_id) -> storefront label (eav_attribute_label) of the attributes read."""
        ids = [a.attribute_id for a in self.extra_attributes] + [a.attribute_id for a in self.configurable_candidates]
        return self.ctx.attribute_labels(ids, self.store_ids)

    def attribute_label(self, attribute: Attribute, store_id: int) -> str:
        """Return an attribute's label in a store view: its store label, else the admin label, else the code."""
        return (self.attribute_store_labels.get((attribute.attribute_id, store_id))
                or attribute.label or attribute.code)

    @cached_property
    def categories(self) -> dict[int, dict[int, _CategoryEntry]]:
        """Return, per store view, category id -> (name, "A > B" path) for the active categories under its root."""
        version_sql, version_params = current_version_condition(self.ctx, "e", self.now)
        rows = self.ctx.db.query(
            f"SELECT e.entity_id, e.path FROM {self.ctx.t(CATEGORY_TABLE)} e WHERE {version_sql}",
            version_params,
        )
        paths = {int(i): str(p) for i, p in rows}
        result: dict[int, dict[int, _CategoryEntry]] = {s.store_id: {} for s in self.stores}
        if not paths:
            return result
        attrs = self.ctx.attributes("catalog_category")
        wanted = [attrs[c] for c in ("name", "is_active") if c in attrs]
        values = load_values(self.ctx, CATEGORY_TABLE, wanted, IdSelection.of(paths), self.store_ids, self.now)
        for store in self.stores:
            root = str(store.root_category_id)
            entries = result[store.store_id]
            for category_id, path in paths.items():
                parts = path.split("/")
                if len(parts) < 3 or parts[1] != root:
                    continue
                below_root = [int(p) for p in parts[2:] if p.isdigit()]
                names = []
                for ancestor in below_root:
                    if ancestor not in paths:
                        break
                    active = _int(values.get(ancestor, "is_active", store.store_id))
                    name = _text(values.get(ancestor, "name", store.store_id))
                    if active != 1 or name is None:
                        break
                    names.append(name)
                else:
                    entries[category_id] = _CategoryEntry(names[-1], " > ".join(names))
        return result

    @cached_property
    def media_gallery_attribute_id(self) -> int | None:
        """Return the attribute id of ``media_gallery`` (gallery rows of other attributes are ignored)."""
        attribute = self.attributes.get("media_gallery")
        return attribute.attribute_id if attribute else None

    def prepare(self) -> None:
        """Read what every chunk shares (attributes, labels, category tree, CMS blocks) on the calling thread."""
        with self._lock:
            _ = (self.core_attributes, self.extra_attributes, self.option_labels, self.option_order,
                 self.attribute_store_labels, self.categories, self.media_gallery_attribute_id)
            self.blocks.load()

    # --- ids ----------------------------------------------------------------------------------
    def changed_ids(self, since: datetime, until: datetime | None = None) -> list[int]:
        """Return products whose updated_at is in (since, until], plus the configurable parents of changed children."""
        params: list[Any] = [since]
        upper = ""
        if until is not None:
            upper = " AND e.updated_at <= %s"
            params.append(until)
        with self._lock:
            changed = [int(r[0]) for r in self.ctx.db.query(
                f"SELECT DISTINCT e.entity_id FROM {self.ctx.t(ENTITY_TABLE)} e"
                f" WHERE e.updated_at > %s{upper} ORDER BY e.entity_id", params)]
            if not changed:
                return []
            parents = self._parents_of(changed)
        return sorted(set(changed) | parents)

    def _parents_of(self, child_ids: Sequence[int]) -> set[int]:
        link = self.ctx.link_field(ENTITY_TABLE)
        if link == "row_id":
            version_sql, version_params = current_version_condition(self.ctx, "p", self.now)
            sql = (f"SELECT DISTINCT p.entity_id FROM {self.ctx.t('catalog_product_super_link')} l"
                   f" JOIN {self.ctx.t(ENTITY_TABLE)} p ON p.row_id = l.parent_id AND {version_sql}"
                   f" WHERE l.product_id IN ({_placeholders(len(child_ids))})")
            params: list[Any] = [*version_params, *child_ids]
        else:
            sql = (f"SELECT DISTINCT l.parent_id FROM {self.ctx.t('catalog_product_super_link')} l"
                   f" WHERE l.product_id IN ({_placeholders(len(child_ids))})")
            params = list(child_ids)
        return {int(r[0]) for r in self.ctx.db.query(sql, params)}

    # --- reading --------------------------------------------------------------------------------


    def fetch(self, ids: Sequence[int] | IdSelection) -> ProductChunk:
        """Read the raw rows of a chunk of product ids: a fixed number of statements (QUERIES_PER_CHUNK)."""
        selection = ids if isinstance(ids, IdSelection) else IdSelection.of(ids)
        chunk = ProductChunk(selection=selection)
        if not selection:
            return chunk
        with self._lock:
            self._fetch_entities(chunk)
            wanted = {a.code: a for a in [*self.core_attributes.values(), *self.extra_attributes,
                                          *self.configurable_candidates]}
            chunk.values = load_values(self.ctx, ENTITY_TABLE, wanted.values(), selection, self.store_ids, self.now)
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
                chunk.entities[int(entity_id)] = (str(sku or ""), str(type_id), updated_at)

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
        attribute_sql = "g.attribute_id = %s" if self.media_gallery_attribute_id is not None else "1=1"
        attribute_params = [self.media_gallery_attribute_id] if self.media_gallery_attribute_id is not None else []
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
            chunk.gallery[int(entity_id)].append(_GalleryRow(
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
        stores = sorted({0, *self.store_ids})
        exact = chunk.selection.exact
        # configurable attributes of the chunk's parents, with their per-store labels
        join, parent_col, join_params = self._parent_join("sa.product_id")
        id_sql, id_params = chunk.selection.sql(parent_col)
        rows = self.ctx.db.query(
            f"SELECT {parent_col}, sa.attribute_id, sa.position, l.store_id, l.use_default, l.value"
            f" FROM {t('catalog_product_super_attribute')} sa{join}"
            f" LEFT JOIN {t('catalog_product_super_attribute_label')} l"
            f" ON l.product_super_attribute_id = sa.product_super_attribute_id"
            f" AND l.store_id IN ({_placeholders(len(stores))})"
            f" WHERE {id_sql}",
            [*join_params, *stores, *id_params],
        )
        for parent_id, attribute_id, position, store_id, use_default, label in rows:
            if not (exact or chunk.selection.contains(parent_id)):
                continue
            per_parent = chunk.super_attributes.setdefault(int(parent_id), {})
            entry = per_parent.setdefault(
                int(attribute_id), _SuperAttribute(int(attribute_id), int(position or 0), {})
            )
            if store_id is not None:
                entry.labels[int(store_id)] = (bool(use_default), _text(decode_bytes(label)[0]))
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
                child = _Child(child_id, str(sku or ""), bool(in_stock), website_ids)
            elif child_id in chunk.entities:
                child = _Child(child_id, chunk.entities[child_id][0], chunk.stock.get(child_id, False),
                               frozenset(chunk.websites.get(child_id, ())))
            else:
                continue  # no current row: not a product any more
            chunk.children[parent_id].append(child)
        for children in chunk.children.values():
            children.sort(key=lambda c: c.entity_id)
        # the status, price and option values of the children outside the chunk (one query per value table)
        subquery = (f"SELECT l.product_id FROM {t('catalog_product_super_link')} l{join}"
                    f" WHERE {id_sql} AND NOT ({inside_sql})")
        child_attrs = [a for a in (self.attributes.get("status"), self.attributes.get("price")) if a]
        child_attrs += self.configurable_candidates
        chunk.child_values = load_values(
            self.ctx, ENTITY_TABLE, child_attrs,
            SubquerySelection(subquery, (*join_params, *id_params, *inside_params)), self.store_ids, self.now,
        )

    # --- building -------------------------------------------------------------------------------
    def build(self, chunk: ProductChunk) -> ReadBatch:
        """Turn the rows of one chunk into documents (no database access except CMS blocks on first use)."""
        batch = ReadBatch()
        markdown_cache: dict[Any, tuple[str | None, tuple[str, ...]]] = {}
        self._category_cache.clear()
        values = chunk.values
        # every product's values per store view, store fallback and scope applied, in one pass
        resolved = values.resolve_all(self.store_ids) if values is not None else {}
        no_values: dict[str, Any] = {}
        for product_id in chunk.selection.ids:
            entity = chunk.entities.get(product_id)
            websites = chunk.websites.get(product_id, set())
            for store in self.stores:
                sid = store.store_id
                if entity is None or values is None or store.website_id not in websites:
                    batch.documents.append(Document.delete(self.entity_type, product_id, sid, self.now))
                    continue
                own = resolved[sid].get(product_id, no_values)
                status = _int(own.get("status"))
                visibility = _int(own.get("visibility"))
                if (status != STATUS_ENABLED and not self.include_disabled) or visibility not in VISIBLE_IN_STORE:
                    batch.documents.append(Document.delete(self.entity_type, product_id, sid, self.now))
                    continue
                try:
                    reasons = values.invalid_reasons(product_id, sid)
                    if reasons:
                        raise ContentError("; ".join(reasons))
                    warnings: list[str] = []
                    data, labels = self._data(chunk, product_id, own, entity, store, status, visibility,
                                              markdown_cache, warnings, resolved[sid])
                    data["content"] = product_content(data, labels)
                    document = Document(self.entity_type, str(product_id), sid, "save", data, self.now)
                    if _size_bound(data) > MAX_DOCUMENT_BYTES:
                        check_document_size(document)
                except ContentError as exc:
                    batch.problems.append(Problem(self.entity_type, str(product_id), sid, _reason(exc)))
                    continue
                except Exception as exc:  # noqa: BLE001 - one bad product must not stop the run
                    log.exception("product %s store %s could not be built", product_id, sid)
                    batch.problems.append(
                        Problem(self.entity_type, str(product_id), sid, f"{type(exc).__name__}: {exc}")
                    )
                    continue
                batch.documents.append(document)
                batch.problems.extend(Problem(self.entity_type, str(product_id), sid, w) for w in warnings)
        return batch

    def _data(
        self,
        chunk: ProductChunk,
        product_id: int,
        values: dict[str, Any],
        entity: tuple[str, str, datetime | None],
        store: StoreView,
        status: int | None,
        visibility: int | None,
        markdown_cache: dict[Any, tuple[str | None, tuple[str, ...]]],
        warnings: list[str],
        resolved: dict[int, dict[str, Any]],
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Return the document data (without ``content``) and the attribute labels for the renderer."""
        sid = store.store_id
        sku, type_id, updated_at = entity
        price = _price(values.get("price"))
        variants = None
        in_stock = chunk.stock.get(product_id, False)
        if type_id == "configurable":
            variants, child_prices = self._variants(chunk, product_id, store, resolved, price is None)
            in_stock = in_stock and any(v["in_stock"] for v in variants)
            if price is None and child_prices:
                price = min(child_prices)
        special = None
        if values.get("special_price") is not None and special_price_applies(
            values.get("special_from_date"), values.get("special_to_date"), self._today[sid]
        ):
            special = _price(values.get("special_price"))
        categories, category_paths = self._categories(chunk.categories.get(product_id, ()), sid,
                                                      self._category_cache)
        attributes, labels = self._attributes(values, store, markdown_cache, warnings)
        data: dict[str, Any] = {
            "store_code": store.code,
            "locale": store.locale,
            "updated_at": _iso_utc(updated_at) if updated_at else None,
            "url": absolute_url(store, chunk.paths.get((product_id, sid))),
            "sku": sku,
            "name": _text(values.get("name")),
            "type_id": type_id,
            "description": self._markdown(values.get("description"), store, markdown_cache, "description",
                                          warnings),
            "short_description": self._markdown(
                values.get("short_description"), store, markdown_cache, "short_description", warnings
            ),
            "price": price,
            "special_price": special,
            "currency": store.currency,
            "in_stock": in_stock,
            "categories": categories,
            "category_paths": category_paths,
            "attributes": attributes,
            "images": self._images(chunk.gallery.get(product_id, ()), values.get("image"), store),
            "visibility": VISIBILITY_WORDS.get(visibility or 0, "Not Visible Individually"),
            "status": STATUS_WORDS.get(status or 0, "Disabled"),
            "meta_title": _text(values.get("meta_title")),
            "meta_description": _text(values.get("meta_description")),
            "meta_keywords": _text(values.get("meta_keyword")),
        }
        if variants is not None:
            data["variants"] = variants
        return data, labels

    def _categories(self, category_ids: Sequence[int], store_id: int,
                    cache: dict[tuple[int, tuple[int, ...]], tuple[list[str], list[str]]]) -> tuple[list[str], list[str]]:
        """Return the names and "A > B" paths of the categories shown in a store view (sorted by path)."""
        key = (store_id, tuple(category_ids))
        cached = cache.get(key)
        if cached is None:
            known = self.categories.get(store_id, {})
            entries = sorted({known[c] for c in category_ids if c in known}, key=lambda e: (e.path, e.name))
            cached = (list(dict.fromkeys(e.name for e in entries)), [e.path for e in entries])
            cache[key] = cached
        return list(cached[0]), list(cached[1])

    def _images(self, gallery: Sequence[_GalleryRow], base_image: Any, store: StoreView) -> list[str]:
        sid = store.store_id
        paths: list[str] = []
        base = _text(base_image)
        if not gallery:
            if base and base != NO_IMAGE:
                paths.append(base)
        else:
            # per gallery entry: the store view's row, else the store 0 row, else the main row
            chosen: dict[int, tuple[int, _GalleryRow]] = {}
            for row in gallery:
                rank = 2 if row.store_id == sid and sid else 1 if row.store_id == 0 else 0
                current = chosen.get(row.value_id)
                if current is None or rank > current[0]:
                    chosen[row.value_id] = (rank, row)
            rows = [row for _, row in chosen.values()]
            disabled = {row.path for row in rows if row.disabled}
            ordered = sorted(
                (row for row in rows if not row.disabled),
                key=lambda r: (r.position is None, r.position or 0, r.value_id),
            )
            if base and base != NO_IMAGE and base not in disabled:
                paths.append(base)
            for row in ordered:
                if row.path not in paths:
                    paths.append(row.path)
        prefix = store.media_url + "catalog/product"
        return [prefix + (p if p.startswith("/") else "/" + p) for p in paths]

    def _variants(
        self, chunk: ProductChunk, product_id: int, store: StoreView, resolved: dict[int, dict[str, Any]],
        with_prices: bool = True,
    ) -> tuple[list[dict[str, Any]], list[float]]:
        """Return the enabled children in the store's website as variants, and (``with_prices``) their prices."""
        sid = store.store_id
        website_id = store.website_id
        by_id = self._configurable_by_id
        # (attribute code, the option's label in this store view) of the configurable attributes, in order
        plan = [
            (attribute.code, self._super_label(sup, attribute, sid))
            for sup in sorted(chunk.super_attributes.get(product_id, {}).values(),
                              key=lambda s: (s.position, s.attribute_id))
            if (attribute := by_id.get(sup.attribute_id)) is not None
        ]
        option_labels = self.option_labels
        outside = chunk.child_values
        variants: list[dict[str, Any]] = []
        prices: list[float] = []
        for child in chunk.children.get(product_id, ()):  # sorted by id when fetched
            if website_id not in child.websites:
                continue
            # children in the chunk were read with it; the others by the children's own queries
            own = resolved.get(child.entity_id)
            if own is None:
                if child.entity_id in chunk.entities or outside is None:
                    own = {}
                else:
                    own = {code: outside.get(child.entity_id, code, sid)
                           for code in ("status", "price", *(code for code, _ in plan))}
            if _int(own.get("status")) != STATUS_ENABLED:
                continue
            options: dict[str, str] = {}
            for code, name in plan:
                option_id = _int(own.get(code))
                if option_id is not None:
                    label = option_labels.get((option_id, sid))
                    if label is not None:
                        options[name] = label
            if with_prices:
                child_price = _price(own.get("price"))
                if child_price is not None:
                    prices.append(child_price)
            variants.append({"sku": child.sku, "options": options, "in_stock": child.in_stock})
        return variants, prices

    @cached_property
    def _configurable_by_id(self) -> dict[int, Attribute]:
        return {a.attribute_id: a for a in self.configurable_candidates}

    def _super_label(self, sup: _SuperAttribute, attribute: Attribute, store_id: int) -> str:
        row = sup.labels.get(store_id) or sup.labels.get(0)
        if row is not None and not row[0] and row[1]:
            return row[1]
        return self.attribute_label(attribute, store_id)

    @cached_property
    def _attribute_plan(self) -> list[tuple[Attribute, str]]:
        """Return (attribute, how its value is shown) of the ``attributes`` setting's attributes, in order."""
        plan = []
        for attribute in self.extra_attributes:
            if attribute.has_option_labels:
                kind = "multiselect" if attribute.frontend_input == "multiselect" else "select"
            elif attribute.source_model in BOOLEAN_SOURCES or attribute.frontend_input == "boolean":
                kind = "boolean"
            else:
                kind = "value"
            plan.append((attribute, kind))
        return plan

    def _attributes(
        self, values: dict[str, Any], store: StoreView, markdown_cache: dict[Any, tuple[str | None, tuple[str, ...]]], warnings: list[str]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        sid = store.store_id
        result: dict[str, Any] = {}
        labels: dict[str, str] = {}
        for attribute, kind in self._attribute_plan:
            code = attribute.code
            value = values.get(code)
            if value is None or value == "":
                continue
            if kind == "select":
                option_id = _int(value)
                shown: Any = None if option_id is None else self.option_labels.get((option_id, sid))
            else:
                shown = self._attribute_value(attribute, value, store, markdown_cache, warnings, kind)
            if shown is None or shown == [] or shown == "":
                continue
            result[code] = shown
            labels[code] = self.attribute_label(attribute, sid)
        return result, labels

    def _attribute_value(
        self, attribute: Attribute, value: Any, store: StoreView, markdown_cache: dict[Any, tuple[str | None, tuple[str, ...]]],
        warnings: list[str], kind: str,
    ) -> str | list[str] | None:
        sid = store.store_id
        if kind == "multiselect":
            option_ids = [int(p) for p in str(value).split(",") if p.strip().isdigit()]
            option_ids.sort(key=lambda o: (self.option_order.get(o, 0), o))
            return [label for o in option_ids if (label := self.option_labels.get((o, sid))) is not None]
        if kind == "select":
            option_id = _int(value)
            return None if option_id is None else self.option_labels.get((option_id, sid))
        if kind == "boolean":
            flag = _int(value)
            return None if flag is None else ("Yes" if flag else "No")
        if isinstance(value, Decimal | float):
            return _number_text(value)
        if isinstance(value, datetime):
            return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
        if isinstance(value, str) and "<" in value and ">" in value:
            return self._markdown(value, store, markdown_cache, attribute.code, warnings)
        return _text(value)

    def _markdown(self, html: Any, store: StoreView, cache: dict[Any, tuple[str | None, tuple[str, ...]]],
                  field: str = "text", problems: list[str] | None = None) -> str | None:
        """Render directives for the store view, then convert once per distinct rendered HTML.

        Directive problems (a broken directive, an unknown block) are appended to ``problems``: the
        rendered text is complete and safe either way, so the document is still produced. A text
        without directives and root-relative links renders the same in every store view and is
        converted once per chunk; the others once per distinct rendering.
        """
        if html is None:
            return None
        raw = html if isinstance(html, str) else str(html)
        # one lookup per call: the same str object is shared by every store view that falls back to
        # it, so its hash is computed once and a store-independent text is scanned once per chunk
        cached = cache.get(raw)
        if cached is None:
            if "{{" in raw or '="/' in raw or "='/" in raw:
                cached = cache[raw] = _STORE_DEPENDENT
            else:
                cached = cache[raw] = self._convert(raw, store, None, field)
        if cached is _STORE_DEPENDENT:
            key = (raw, store.store_id)
            cached = cache.get(key)
            if cached is None:
                cached = cache[key] = self._convert(raw, store, cache, field)
        if cached[1] and problems is not None:
            problems.extend(cached[1])
        return cached[0]

    def _convert(self, raw: str, store: StoreView, cache: dict[Any, tuple[str | None, tuple[str, ...]]] | None,
                 field: str) -> tuple[str | None, tuple[str, ...]]:
        """Convert one text for a store view; ``cache`` (store-dependent texts) shares equal renderings."""
        text = decode_text(raw, field)
        if not text or text.isspace():
            return None, ()
        if cache is None:
            if text is raw:  # decoding changed nothing: no directive, no root-relative link (see _markdown)
                return html_to_markdown(text) or None, ()
            cache = {}
        found: list[str] = []
        if "{{" in text:
            text, found = render_directives_with_problems(text, self.directive_context(store))
        # root-relative links ("/contact") become absolute with the store's link URL
        base_url = store.base_url if ('="/' in text or "='/" in text) else None
        key = ("md", text, base_url)
        converted = cache.get(key)
        if converted is None:
            converted = (html_to_markdown(text, base_url=base_url) or None, ())
            cache[key] = converted
        return converted[0], tuple(f"{field}: {p}" for p in found)

    # --- directives -----------------------------------------------------------------------------
    def directive_context(self, store: StoreView) -> DirectiveContext:
        """Return the directive context of a store view (its URLs, config and CMS blocks)."""
        context = self._directive_contexts.get(store.store_id)
        if context is None:
            context = directive_context(self.ctx, store, self.blocks)
            self._directive_contexts[store.store_id] = context
        return context


_STORE_DEPENDENT: tuple[str | None, tuple[str, ...]] = (None, ("store-dependent",))
"""Cache mark of a text whose rendering depends on the store view (directives, root-relative links);
compared by identity, and unlike any result of ``_convert``."""


def _size_bound(data: dict[str, Any]) -> int:
    """Return an upper bound of the item's canonical JSON size in bytes (cheap; the exact check runs only above the limit).

    A character of a string takes at most 6 bytes in JSON (a ``\\uXXXX`` escape; UTF-8 needs at most
    4). Any other value (a number, a list, a dict) takes at most 6 bytes per character of its
    ``repr``, which quotes every string and spends at least as much on separators as JSON does.
    Keys and the item envelope fit in the fixed allowance.
    """
    chars = 0
    for value in data.values():
        if value.__class__ is str:
            chars += len(value)
        elif value is not None and value is not True and value is not False:
            chars += len(repr(value))
    return 6 * chars + 64 * len(data) + 4096


def _reason(exc: ContentError) -> str:
    return str(getattr(exc, "reason", None) or exc)
