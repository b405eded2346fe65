"""The category reader: catalog categories as per-store-view documents, a chunk of ids at a time.

Set-based: a chunk of ids costs the same statements whatever its size (:data:`QUERIES_PER_CHUNK`:
the entity rows, one query per EAV value table for the chunk's categories *and their ancestors*
in store 0 and every store view at once, canonical URLs), plus, once per reader and only when a
description holds a widget or ``{{block}}`` directive, the active CMS blocks.

Which categories belong to a store view:

* under the store group's root category (``path LIKE '1/<root>/%'``; with ``min_level`` 1 the
  root category itself too; the tree root, level 0, never);
* ``level >= categories.min_level``;
* active, unless ``categories.include_inactive``: its own ``is_active`` (store view value, else the
  default). This is Magento's own rule (``Catalog\\Helper\\Category::canShow()``: the category's
  ``is_active`` and ``isInRootCategoryList()``, the store's root among its parent ids); the
  ancestors' activity is not checked: an active child of an inactive parent is missing from the
  menu, but its page is served. ``data.is_active`` is the category's own value.

Everything else is a delete for that store view. ``data.path`` is Magento's breadcrumb
(``Catalog\\Helper\\Data::getBreadcrumbPath()``): the store view's names of the *active* categories
from below the root down to the category (``"Gear > Bags"``), an inactive or nameless ancestor left
out (``getParentCategories()`` filters ``is_active = 1``), then the category's own name;
``data.description`` is the description rendered for the store view (directives, then Markdown);
``data.url`` is the canonical ``url_rewrite`` of the store view, else Magento's
``Category::getCategoryIdUrl()``: ``catalog/category/view/s/<url_key>/id/<id>/``
(:func:`~ragsync.magento.urls.category_id_path`).
Adobe Commerce: value tables are keyed by ``row_id``; the row version active at ``now`` is read.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from ragsync.documents.directives import render_directives_with_problems
from ragsync.documents.markdown import html_to_markdown
from ragsync.documents.model import Document, Problem, ReadBatch, iso_utc
from ragsync.documents.render import category_content
from ragsync.documents.shapes import CategoryData, as_document_data
from ragsync.documents.text import ContentError, check_document_size, clean_text, decode_text
from ragsync.magento.base import (
    DirectiveReader,
)
from ragsync.magento.context import CATEGORY_ENTITY_TYPE, Attribute, StoreView
from ragsync.magento.directives import has_block_directive
from ragsync.magento.eav import EavValues, IdSelection, as_int, current_version_condition, load_values
from ragsync.magento.urls import absolute_url, canonical_paths, category_id_path

log = logging.getLogger(__name__)

ENTITY_TABLE = "catalog_category_entity"
TREE_ROOT_ID = 1
CODES = ("name", "description", "is_active", "include_in_menu", "url_key")
# entity rows + one query per value table of CODES (int, varchar, text) + canonical URLs
QUERIES_PER_CHUNK = 1 + 3 + 1


@dataclass(frozen=True)
class _CategoryRow:
    entity_id: int
    parent_id: int
    path: tuple[int, ...]
    level: int
    updated_at: datetime | None


@dataclass
class CategoryChunk:
    """The raw rows of one chunk of category ids (building documents needs no database)."""

    selection: IdSelection
    rows: dict[int, _CategoryRow] = field(default_factory=dict)
    values: EavValues | None = None
    """Values of the chunk's categories and of all their ancestors."""
    paths: dict[tuple[int, int], str] = field(default_factory=dict)


def _path(value: Any) -> tuple[int, ...]:
    return tuple(int(part) for part in str(value or "").split("/") if part.strip().isdigit())


class CategoryReader(DirectiveReader[int, "CategoryChunk"]):
    """Read catalog categories into per-store-view documents (see the module docstring)."""

    entity_type = "category"
    table = ENTITY_TABLE

    def setup(self) -> None:
        """Read this reader's settings (called once by ``ChunkedReader.__init__``; no database access)."""
        super().setup()
        self.min_level = self.settings.categories.min_level
        self.include_inactive = self.settings.categories.include_inactive

    # --- what every chunk shares ------------------------------------------------------------
    @cached_property
    def attributes(self) -> dict[str, Attribute]:
        """Return the category attributes documents are built from, by code (those this install has)."""
        every = self.ctx.attributes(CATEGORY_ENTITY_TYPE)
        return {code: every[code] for code in CODES if code in every}

    def prepare(self) -> None:
        """Read what every chunk shares (edition, attributes) on the calling thread."""
        with self._lock:
            _ = (self.ctx.link_fields, self.attributes)


    # --- ids ----------------------------------------------------------------------------------
    def changed_ids(self, since: datetime, until: datetime | None = None) -> list[int]:
        """Return categories whose updated_at is in (since, until], plus all their descendants.

        A renamed or deactivated category changes the ``path`` of everything below it (the breadcrumb
        names active ancestors only).
        """
        window = "e.updated_at > %s" + (" AND e.updated_at <= %s" if until is not None else "")
        window_params: list[Any] = [since] + ([until] if until is not None else [])
        t = self.ctx.t(ENTITY_TABLE)
        with self._lock:
            rows = self.ctx.db.query(
                f"SELECT e.entity_id FROM {t} e WHERE {window}"
                f" UNION SELECT c.entity_id FROM {t} e JOIN {t} c ON c.path LIKE CONCAT(e.path, '/%%')"
                f" WHERE {window}",
                [*window_params, *window_params],
            )
        return sorted({int(r[0]) for r in rows})

    # --- reading --------------------------------------------------------------------------------


    def fetch(self, ids: Sequence[int] | IdSelection) -> CategoryChunk:
        """Read the raw rows of a chunk of category ids: a fixed number of statements (QUERIES_PER_CHUNK)."""
        selection = ids if isinstance(ids, IdSelection) else IdSelection.of(ids)
        chunk = CategoryChunk(selection=selection)
        if not selection:
            return chunk
        id_sql, id_params = selection.sql("e.entity_id")
        version_sql, version_params = current_version_condition(self.ctx, "e", self.now)
        with self._lock:
            for entity_id, parent_id, path, level, updated_at in self.ctx.db.query(
                f"SELECT e.entity_id, e.parent_id, e.path, e.level, e.updated_at"
                f" FROM {self.ctx.t(ENTITY_TABLE)} e WHERE {id_sql} AND {version_sql}",
                [*id_params, *version_params],
            ):
                if selection.contains(int(entity_id)):
                    chunk.rows[int(entity_id)] = _CategoryRow(
                        int(entity_id), int(parent_id or 0), _path(path), int(level or 0), updated_at)
            wanted = set(chunk.rows)
            for row in chunk.rows.values():
                wanted.update(row.path[2:])
            if wanted:
                chunk.values = load_values(self.ctx, ENTITY_TABLE, self.attributes.values(),
                                           IdSelection.of(wanted), self.store_ids, self.now)
            chunk.paths = canonical_paths(self.ctx, "category", selection, self.store_ids)
            description = self.attributes.get("description")
            if description is not None and chunk.values is not None and not self.blocks.loaded:
                aid = description.attribute_id
                if any(key[1] == aid and isinstance(value, str) and has_block_directive(value)
                       for key, value in chunk.values.rows.items()):
                    self.blocks.load()
        return chunk

    # --- building -------------------------------------------------------------------------------
    def _value(self, chunk: CategoryChunk, entity_id: int, code: str, store_id: int) -> Any:
        return None if chunk.values is None else chunk.values.get(entity_id, code, store_id)

    def _active(self, chunk: CategoryChunk, entity_id: int, store_id: int) -> bool:
        return as_int(self._value(chunk, entity_id, "is_active", store_id)) == 1

    def _under_root(self, row: _CategoryRow, store: StoreView) -> bool:
        """Return True when the category is below the store's root (or is the root, for ``min_level`` 1)."""
        if len(row.path) < 2 or row.path[0] != TREE_ROOT_ID or row.path[1] != store.root_category_id:
            return False
        return len(row.path) > 2 or self.min_level <= 1

    def is_live(self, chunk: CategoryChunk, row: _CategoryRow, store: StoreView) -> bool:
        """Return True when the category is active in the store view (its own value: ``canShow()``).

        The ancestors' activity does not count: Magento serves an active child of an inactive parent.
        """
        return self._active(chunk, row.entity_id, store.store_id)

    def build(self, chunk: CategoryChunk) -> ReadBatch:
        """Turn the rows of one chunk into documents (the block library may be read on first use)."""
        batch = ReadBatch()
        for category_id in chunk.selection.ids:
            row = chunk.rows.get(category_id)
            for store in self.stores:
                sid = store.store_id
                if row is None or row.level < self.min_level or not self._under_root(row, store):
                    batch.documents.append(Document.delete(self.entity_type, category_id, sid, self.now))
                    continue
                active = self.is_live(chunk, row, store)
                if not active and not self.include_inactive:
                    batch.documents.append(Document.delete(self.entity_type, category_id, sid, self.now))
                    continue
                problems: list[str] = []
                try:
                    reasons = [] if chunk.values is None else chunk.values.invalid_reasons(
                        category_id, sid, ("name", "description"))
                    if reasons:
                        raise ContentError("; ".join(reasons))
                    data = self._data(chunk, row, store, active, problems)
                    document = Document(self.entity_type, str(category_id), sid, "save", data, self.now)
                    check_document_size(document)
                except ContentError as exc:
                    batch.problems.append(Problem(self.entity_type, str(category_id), sid, exc.reason))
                    continue
                except Exception as exc:
                    log.exception("category %s store %s could not be built", category_id, sid)
                    batch.problems.append(
                        Problem(self.entity_type, str(category_id), sid, f"{type(exc).__name__}: {exc}"))
                    continue
                batch.documents.append(document)
                batch.problems.extend(Problem(self.entity_type, str(category_id), sid, p) for p in problems)
        return batch

    def _name(self, chunk: CategoryChunk, category_id: int, store_id: int) -> str:
        value = self._value(chunk, category_id, "name", store_id)
        return clean_text(decode_text(value, "name") if isinstance(value, str) else None)

    def _description(self, html: Any, store: StoreView, problems: list[str]) -> str | None:
        text = decode_text(html, "description") if isinstance(html, str) else None
        if not text or not text.strip():
            return None
        if "{{" in text:
            if not self.blocks.loaded and has_block_directive(text):
                with self._lock:
                    self.blocks.load()
            text, found = render_directives_with_problems(text, self.directive_context(store))
            problems.extend(found)
        return html_to_markdown(text, base_url=store.base_url) or None

    def _data(self, chunk: CategoryChunk, row: _CategoryRow, store: StoreView, active: bool,
              problems: list[str]) -> dict[str, Any]:
        sid = store.store_id
        category_id = row.entity_id
        name = self._name(chunk, category_id, sid)
        below_root = row.path[2:] if len(row.path) > 2 else (category_id,)
        # the breadcrumb: active ancestors only (an inactive one is skipped, not a stop), then itself
        names = [self._name(chunk, ancestor, sid) for ancestor in below_root[:-1]
                 if self._active(chunk, ancestor, sid)] + [name]
        include_in_menu = as_int(self._value(chunk, category_id, "include_in_menu", sid))
        url_key = self._value(chunk, category_id, "url_key", sid)
        url = absolute_url(store, chunk.paths.get((category_id, sid))) or (
            store.base_url + category_id_path(category_id, url_key if isinstance(url_key, str) else None, name))
        data: CategoryData = {
            "store_code": store.code,
            "locale": store.locale,
            "updated_at": iso_utc(row.updated_at) if row.updated_at else None,
            "name": name,
            "path": " > ".join(n for n in names if n),
            "level": row.level,
            "parent_id": row.parent_id,
            "description": self._description(self._value(chunk, category_id, "description", sid), store, problems),
            "is_active": active,
            "include_in_menu": include_in_menu != 0,
            "url": url,
        }
        data["content"] = category_content(data)
        return as_document_data(data)
