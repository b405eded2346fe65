"""The product reader: catalog products as per-store-view documents, a chunk of ids at a time.

:class:`ProductReader` reads what every chunk shares once (attributes, option and attribute
labels, the category tree, CMS blocks for directives), has each chunk's rows read by
:class:`~ragsync.magento.product_rows.ProductRowFetcher` (the same :data:`QUERIES_PER_CHUNK`
statements whatever the chunk's size), and turns them into documents without the database.
Children of configurable products that lie inside the chunk (Magento creates a family together,
so usually all of them) are read with the chunk; only the others cost their own (fixed) statements.

Which products belong to a store view: assigned to the store's website, ``status`` = Enabled
(website scope, read with store fallback) unless ``products.include_disabled``, and
``visibility`` Catalog, Search or both (store scope). Everything else is a delete for that store
view. A product that cannot be built (text that is not valid UTF-8, an oversized document)
becomes a :class:`~ragsync.documents.model.Problem` for that store view and gets no document; a
broken directive or a missing CMS block is reported as a Problem too, but the document (whose
text is complete either way) is still produced. The other products always go on.

Descriptions are rendered (directives, then HTML to Markdown) once per distinct text and store
rendering within a chunk: a store view that falls back to the default description shares its
conversion with the other store views. A price is converted once per distinct database value
(:func:`_price`). The document's ``data`` is :class:`~ragsync.documents.shapes.ProductData`;
see ``docs/products.md`` for its fields.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cached_property, lru_cache
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ragsync.documents.directives import render_directives_with_problems
from ragsync.documents.markdown import html_to_markdown
from ragsync.documents.model import Document, Problem, ReadBatch, iso_utc
from ragsync.documents.prices import convert
from ragsync.documents.render import product_content
from ragsync.documents.shapes import ProductData, VariantData, as_document_data
from ragsync.documents.text import (
    MAX_DOCUMENT_BYTES,
    ContentError,
    check_document_size,
    decode_text,
    format_price,
)
from ragsync.documents.words import Words, words_for
from ragsync.magento.base import DirectiveReader
from ragsync.magento.context import PRODUCT_ENTITY_TYPE, Attribute, StoreView
from ragsync.magento.eav import IdSelection, as_int
from ragsync.magento.product_rows import (
    CHILD_CODES,
    ENTITY_TABLE,
    QUERIES_PER_CHUNK,
    CategoryEntry,
    GalleryRow,
    ProductChunk,
    ProductRowFetcher,
    category_tree,
    changed_product_ids,
    single_line,
)
from ragsync.magento.urls import absolute_url

__all__ = ["QUERIES_PER_CHUNK", "ProductChunk", "ProductReader", "special_price_applies"]

log = logging.getLogger(__name__)

STATUS_ENABLED = 1
VISIBLE_IN_STORE = frozenset({2, 3, 4})
VISIBILITY_WORDS = {1: "Not Visible Individually", 2: "Catalog", 3: "Search", 4: "Catalog, Search"}
STATUS_WORDS = {1: "Enabled", 2: "Disabled"}
BOOLEAN_SOURCES = frozenset({
    "Magento\\Eav\\Model\\Entity\\Attribute\\Source\\Boolean",
    "Magento\\Catalog\\Model\\Product\\Attribute\\Source\\Boolean",
})
NO_IMAGE = "no_selection"
WORD_ATTRIBUTES = {"sku": "sku", "price": "price", "special_price": "special_price",
                   "quantity_and_stock_status": "availability"}
"""Attributes whose store label (``eav_attribute_label``) names a fact of the content -> the fact's word key."""


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


class _Price(NamedTuple):
    """A database price as the document holds it (the content's text is cached by ``format_money``)."""

    amount: float
    """Rounded to at most 6 decimals (:func:`~ragsync.documents.text.format_price`)."""


def _price(value: Any) -> _Price | None:
    """Return a database price converted once per distinct value (None when absent or not a finite number)."""
    if value is None or value == "":
        return None
    return _converted_price(value)


@lru_cache(maxsize=4096, typed=True)  # catalogs repeat a few hundred prices; Decimal arithmetic is slow
def _converted_price(value: Any) -> _Price | None:
    amount = format_price(value)
    return None if amount is None else _Price(amount)


@lru_cache(maxsize=8192)
def _displayed(amount: float, rate: Decimal, currency: str) -> float:
    return convert(amount, rate, currency)


def _display_amount(price: _Price | None, store: StoreView) -> float | None:
    """Return a price in the store view's display currency (the base amount when that is the base currency)."""
    if price is None:
        return None
    if store.display_currency == store.currency:
        return price.amount
    return _displayed(price.amount, store.display_rate, store.display_currency)


def _special_price(values: Mapping[str, Any], today: date) -> _Price | None:
    """Return a product's special price while ``today`` (the store's local date) is inside its window, else None."""
    if values.get("special_price") is None or not special_price_applies(
        values.get("special_from_date"), values.get("special_to_date"), today
    ):
        return None
    return _price(values.get("special_price"))


def _final_price(price: _Price | None, special: _Price | None) -> _Price | None:
    """Return what a shopper pays: the special price when there is one below the price, else the price."""
    if special is not None and (price is None or special.amount < price.amount):
        return special
    return price


def _image_file(path: str) -> str:
    """Return an image path as Magento's ``Media\\Config::_prepareFile()`` does: leading slashes removed."""
    return path.lstrip("/")


def _iso_utc(moment: datetime) -> str:
    """Return :func:`iso_utc` of a database timestamp (naive UTC, whole seconds: the common case is quick)."""
    if moment.tzinfo is None and not moment.microsecond:
        return moment.isoformat() + "Z"
    return iso_utc(moment)


def _number_text(value: Decimal | float) -> str:
    """Return a decimal attribute value without trailing zeros: "2.5", "20"."""
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    return f"{number.normalize():f}"


def special_price_applies(from_value: Any, to_value: Any, today: date) -> bool:
    """Return True when ``today`` (the store's local date) is inside the inclusive special-price window."""
    start, end = _as_date(from_value), _as_date(to_value)
    return (start is None or start <= today) and (end is None or today <= end)


class ProductReader(DirectiveReader[int, "ProductChunk"]):
    """Read catalog products into per-store-view documents (see the module docstring)."""

    entity_type = "product"
    table = ENTITY_TABLE

    def setup(self) -> None:
        """Read this reader's settings (called once by ``ChunkedReader.__init__``; no database access)."""
        super().setup()
        self.include_disabled = self.settings.products.include_disabled
        self._today = {s.store_id: _local_date(self.now, s.timezone) for s in self.stores}
        # (store, category ids) -> (names, paths); bounded by the distinct assignments of one chunk
        self._category_cache: dict[tuple[int, tuple[int, ...]], tuple[list[str], list[str]]] = {}
        self.rows = ProductRowFetcher(self.ctx, self.store_ids, self.now, self.settings.products.attributes)

    # --- what every chunk shares ------------------------------------------------------------
    @cached_property
    def option_labels(self) -> dict[tuple[int, int], str]:
        """Return (option_id, store_id) -> label for every option attribute read (store 0 fallback applied)."""
        ids = {a.attribute_id for a in self.rows.extra_attributes if a.has_option_labels}
        ids |= {a.attribute_id for a in self.rows.configurable_candidates}
        return self.ctx.option_labels(ids, self.store_ids)

    @cached_property
    def option_order(self) -> dict[int, int]:
        """Return option_id -> sort_order of the multiselect attributes read."""
        ids = [a.attribute_id for a in self.rows.extra_attributes if a.frontend_input == "multiselect"]
        return self.ctx.option_sort_order(ids)

    @cached_property
    def attribute_store_labels(self) -> dict[tuple[int, int], str]:
        """Return (attribute_id, store_id) -> storefront label (eav_attribute_label) of the attributes read."""
        ids = [a.attribute_id for a in (*self.rows.extra_attributes, *self.rows.configurable_candidates)]
        ids += [a.attribute_id for code in WORD_ATTRIBUTES
                if (a := self.ctx.attribute(PRODUCT_ENTITY_TYPE, code)) is not None]
        return self.ctx.attribute_labels(ids, self.store_ids)

    @cached_property
    def store_words(self) -> dict[int, Words]:
        """Return, per store view, the words of its content: the shop's store labels of ``sku``, ``price``,
        ``special_price`` and ``quantity_and_stock_status`` where it has them (``eav_attribute_label``),
        else the locale's catalog (:func:`~ragsync.documents.words.words_for`)."""
        result: dict[int, Words] = {}
        for store in self.stores:
            overrides = {}
            for code, key in WORD_ATTRIBUTES.items():
                attribute = self.ctx.attribute(PRODUCT_ENTITY_TYPE, code)
                label = attribute and self.attribute_store_labels.get((attribute.attribute_id, store.store_id))
                if label and label.strip():
                    overrides[key] = single_line(label) or ""
            result[store.store_id] = words_for(store.locale, overrides)
        return result

    def attribute_label(self, attribute: Attribute, store_id: int) -> str:
        """Return an attribute's label in a store view: its store label, else the admin label, else the code."""
        return (self.attribute_store_labels.get((attribute.attribute_id, store_id))
                or attribute.label or attribute.code)

    @cached_property
    def categories(self) -> dict[int, dict[int, CategoryEntry]]:
        """Return, per store view, category id -> (name, "A > B" path) for the active categories under its root."""
        return category_tree(self.ctx, self.stores, self.now)

    def prepare(self) -> None:
        """Read what every chunk shares (attributes, labels, category tree, CMS blocks) on the calling thread."""
        with self._lock:
            _ = (self.rows.value_attributes, self.option_labels, self.option_order, self.attribute_store_labels,
                 self.store_words, self.categories, self.rows.child_attributes, self.rows.gallery_attribute_id)
            self.blocks.load()

    # --- ids and rows ---------------------------------------------------------------------------
    def changed_ids(self, since: datetime, until: datetime | None = None) -> list[int]:
        """Return products whose updated_at is in (since, until], plus the configurable parents of changed children."""
        with self._lock:
            return changed_product_ids(self.ctx, since, until, self.now)

    def fetch(self, ids: Sequence[int] | IdSelection) -> ProductChunk:
        """Read the raw rows of a chunk of product ids: a fixed number of statements (QUERIES_PER_CHUNK)."""
        selection = ids if isinstance(ids, IdSelection) else IdSelection.of(ids)
        with self._lock:
            return self.rows.fetch(selection)

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
                status = as_int(own.get("status"))
                visibility = as_int(own.get("visibility"))
                if (status != STATUS_ENABLED and not self.include_disabled) or visibility not in VISIBLE_IN_STORE:
                    batch.documents.append(Document.delete(self.entity_type, product_id, sid, self.now))
                    continue
                try:
                    reasons = values.invalid_reasons(product_id, sid)
                    if reasons:
                        raise ContentError("; ".join(reasons))
                    warnings: list[str] = []
                    data = self._data(chunk, product_id, own, entity, store, status, visibility,
                                      markdown_cache, warnings, resolved[sid])
                    document = Document(self.entity_type, str(product_id), sid, "save", as_document_data(data),
                                        self.now)
                    if _size_bound(data) > MAX_DOCUMENT_BYTES:
                        check_document_size(document)
                except ContentError as exc:
                    batch.problems.append(Problem(self.entity_type, str(product_id), sid, _reason(exc)))
                    continue
                except Exception as exc:
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
    ) -> ProductData:
        """Return the document data, ``content`` rendered last."""
        sid = store.store_id
        sku, type_id, updated_at = entity
        variants = None
        in_stock = chunk.stock.get(product_id, False)
        if type_id == "configurable":
            # as Magento's ConfigurablePriceResolver: the lowest price a shopper pays for an enabled,
            # in-stock child in the website; the parent's own price and special price are not shown
            variants, price = self._variants(chunk, product_id, store, resolved)
            in_stock = in_stock and any(v["in_stock"] for v in variants)
            special = None
        else:
            price = _price(values.get("price"))
            special = _special_price(values, self._today[sid])
        categories, category_paths = self._categories(chunk.categories.get(product_id, ()), sid,
                                                      self._category_cache)
        attributes, labels = self._attributes(values, store, markdown_cache, warnings)
        data: ProductData = {
            "store_code": store.code,
            "locale": store.locale,
            "updated_at": _iso_utc(updated_at) if updated_at else None,
            "url": absolute_url(store, chunk.paths.get((product_id, sid))),
            "sku": sku,  # already as the storefront shows it (product_rows.product_sku)
            "name": single_line(values.get("name")),
            "type_id": type_id,
            "description": self._markdown(values.get("description"), store, markdown_cache, "description",
                                          warnings),
            "short_description": self._markdown(
                values.get("short_description"), store, markdown_cache, "short_description", warnings
            ),
            "price": None if price is None else price.amount,
            "special_price": None if special is None else special.amount,
            "currency": store.currency,
            "display_currency": store.display_currency,
            "display_price": _display_amount(price, store),
            "display_special_price": _display_amount(special, store),
            "in_stock": in_stock,
            "categories": categories,
            "category_paths": category_paths,
            "attributes": attributes,
            "images": self._images(chunk.gallery.get(product_id, ()), values.get("image"), store),
            "visibility": VISIBILITY_WORDS.get(visibility or 0, "Not Visible Individually"),
            "status": STATUS_WORDS.get(status or 0, "Disabled"),
            "meta_title": single_line(values.get("meta_title")),
            "meta_description": single_line(values.get("meta_description")),
            "meta_keywords": single_line(values.get("meta_keyword")),
        }
        if variants is not None:
            data["variants"] = variants
        data["content"] = product_content(data, labels, words=self.store_words[sid])
        return data

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

    def _images(self, gallery: Sequence[GalleryRow], base_image: Any, store: StoreView) -> list[str]:
        sid = store.store_id
        paths: list[str] = []
        base = single_line(base_image)
        base = _image_file(base) if base and base != NO_IMAGE else None
        if not gallery:
            if base:
                paths.append(base)
        else:
            # per gallery entry: the store view's row, else the store 0 row, else the main row
            chosen: dict[int, tuple[int, GalleryRow]] = {}
            for row in gallery:
                rank = 2 if row.store_id == sid and sid else 1 if row.store_id == 0 else 0
                current = chosen.get(row.value_id)
                if current is None or rank > current[0]:
                    chosen[row.value_id] = (rank, row)
            rows = [row for _, row in chosen.values()]
            disabled = {_image_file(row.path) for row in rows if row.disabled}
            ordered = sorted(
                (row for row in rows if not row.disabled),
                key=lambda r: (r.position is None, r.position or 0, r.value_id),
            )
            if base and base not in disabled:
                paths.append(base)
            for row in ordered:
                file = _image_file(row.path)
                if file and file not in paths:
                    paths.append(file)
        prefix = store.media_url + "catalog/product/"
        return [prefix + p for p in paths]

    def _variants(
        self, chunk: ProductChunk, product_id: int, store: StoreView, resolved: dict[int, dict[str, Any]],
    ) -> tuple[list[VariantData], _Price | None]:
        """Return the enabled children in the store's website as variants, and the lowest price of the in-stock ones.

        A child's price is its own ``price`` with its special price applied while in its window
        (Magento's ``ConfigurablePriceResolver::resolvePrice()`` over the salable children); None
        when no in-stock child has a price.
        """
        sid = store.store_id
        website_id = store.website_id
        today = self._today[sid]
        by_id = self._configurable_by_id
        # (attribute code, its store label) of the configurable attributes, in order: Magento names
        # them by the attribute's store label (ConfigurableAttributeData::getAttributesData)
        plan = [
            (attribute.code, self.attribute_label(attribute, sid))
            for sup in sorted(chunk.super_attributes.get(product_id, {}).values(),
                              key=lambda s: (s.position, s.attribute_id))
            if (attribute := by_id.get(sup.attribute_id)) is not None
        ]
        codes = (*CHILD_CODES, *(code for code, _ in plan))
        option_labels = self.option_labels
        outside = chunk.child_values
        variants: list[VariantData] = []
        lowest: _Price | None = None
        for child in chunk.children.get(product_id, ()):  # sorted by id when fetched
            if website_id not in child.websites:
                continue
            # children in the chunk were read with it; the others by the children's own queries
            own = resolved.get(child.entity_id)
            if own is None:
                if child.entity_id in chunk.entities or outside is None:
                    own = {}
                else:
                    own = {code: outside.get(child.entity_id, code, sid) for code in codes}
            if as_int(own.get("status")) != STATUS_ENABLED:
                continue
            options: dict[str, str] = {}
            for code, name in plan:
                option_id = as_int(own.get(code))
                if option_id is not None:
                    label = option_labels.get((option_id, sid))
                    if label is not None:
                        options[name] = label
            price = _price(own.get("price"))
            special = _special_price(own, today)
            final = _final_price(price, special)
            if child.in_stock and final is not None and (lowest is None or final.amount < lowest.amount):
                lowest = final
            variants.append({
                "sku": child.sku, "options": options,
                "price": None if price is None else price.amount,
                "special_price": None if special is None else special.amount,
                "display_price": _display_amount(price, store),
                "display_special_price": _display_amount(special, store),
                "in_stock": child.in_stock,
            })
        return variants, lowest

    @cached_property
    def _configurable_by_id(self) -> dict[int, Attribute]:
        return {a.attribute_id: a for a in self.rows.configurable_candidates}

    @cached_property
    def _attribute_plan(self) -> list[tuple[Attribute, str]]:
        """Return (attribute, how its value is shown) of the ``attributes`` setting's attributes, in order."""
        plan = []
        for attribute in self.rows.extra_attributes:
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
    ) -> tuple[dict[str, str | list[str]], dict[str, str]]:
        """Return the ``attributes`` values as shoppers read them in the store view, and their store labels."""
        sid = store.store_id
        result: dict[str, str | list[str]] = {}
        labels: dict[str, str] = {}
        for attribute, kind in self._attribute_plan:
            code = attribute.code
            value = values.get(code)
            if value is None or value == "":
                continue
            if kind == "select":
                option_id = as_int(value)
                shown: str | list[str] | None = None if option_id is None else self.option_labels.get((option_id, sid))
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
            option_id = as_int(value)
            return None if option_id is None else self.option_labels.get((option_id, sid))
        if kind == "boolean":
            flag = as_int(value)
            if flag is None:
                return None
            words = self.store_words[sid]
            return words["yes"] if flag else words["no"]
        if isinstance(value, Decimal | float):
            return _number_text(value)
        if isinstance(value, datetime):
            return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
        if isinstance(value, str) and "<" in value and ">" in value:
            return self._markdown(value, store, markdown_cache, attribute.code, warnings)
        return single_line(value)

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


_STORE_DEPENDENT: tuple[str | None, tuple[str, ...]] = (None, ("store-dependent",))
"""Cache mark of a text whose rendering depends on the store view (directives, root-relative links);
compared by identity, and unlike any result of ``_convert``."""


def _size_bound(data: Mapping[str, Any]) -> int:
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
