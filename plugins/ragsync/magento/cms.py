"""The CMS readers: pages (``cms_page``) and static blocks (``cms_block``) as per-store-view documents.

Set-based: a chunk of ids costs a fixed number of statements whatever its size (pages: the rows,
their store placement, canonical URLs; blocks: the rows and their placement), plus, once per
reader, the active blocks that widgets and ``{{block}}`` directives may include (see
:class:`~ragsync.magento.directives.BlockLibrary`).

Which pages and blocks belong to a store view, as Magento decides it
(``Cms\\Model\\ResourceModel\\Page::checkIdentifier`` and ``Block::load`` with a store):

* active and assigned to "All Store Views" (store 0) or to that store view;
* when several active pages (or blocks) share an identifier, the one assigned to the store view
  itself wins there over one assigned to all store views (ties: the lowest id); the others are
  deletes in that store view;
* pages: ``cms_pages.mode`` blacklist (default, ``no-route`` listed) drops the listed identifiers,
  whitelist keeps only them; blocks: ``cms_blocks.identifiers`` keeps only the listed ones
  (empty = every block).

Everything else is a delete for that store view. Content is rendered per store view: directives
first (store/media URLs, allowed config values, blocks with a recursion guard), then Markdown.
A directive that cannot be rendered (a cycle, an unknown block, a config path CMS content may
not read) is reported as a :class:`~ragsync.documents.model.Problem` while the document is still
produced; content that is not valid UTF-8 or a document over the size limit is a Problem and no
document. Adobe Commerce: ``cms_page``/``cms_block`` and their ``_store`` tables are keyed by
``row_id``; the row version active at ``now`` is read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from ragsync.documents.cms_types import detect_document_type, extract_headings
from ragsync.documents.directives import DirectiveContext, render_directives_with_problems
from ragsync.documents.markdown import html_to_markdown
from ragsync.documents.model import Document, Problem, ReadBatch, iso_utc
from ragsync.documents.render import cms_block_content, cms_page_content
from ragsync.documents.shapes import CmsBlockData, CmsPageData, as_document_data
from ragsync.documents.text import ContentError, check_document_size, clean_text, decode_text
from ragsync.magento.base import (
    DirectiveReader,
)
from ragsync.magento.context import StoreView
from ragsync.magento.directives import block_references, has_block_directive
from ragsync.magento.eav import IdSelection, current_version_condition
from ragsync.magento.urls import absolute_url, canonical_paths

log = logging.getLogger(__name__)

HOME_PAGE_PATH = "web/default/cms_home_page"
# Statements per chunk: rows and placement (+ canonical URLs for pages); the block library is read once per reader.
QUERIES_PER_CHUNK = {"cms_page": 3, "cms_block": 2}


@dataclass(frozen=True)
class _CmsRow:
    entity_id: int
    identifier: str
    is_active: bool
    updated_at: datetime | None
    texts: dict[str, bytes | str | None]


@dataclass
class CmsChunk:
    """The raw rows of one chunk of page or block ids (building documents needs no database)."""

    ids: list[int]
    rows: dict[int, _CmsRow] = field(default_factory=dict)
    placement: dict[int, tuple[str, frozenset[int]]] = field(default_factory=dict)
    """Active entities sharing an identifier with the chunk's: id -> (identifier, assigned store ids)."""
    paths: dict[tuple[int, int], str] = field(default_factory=dict)


def _placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


def _identifier_key(identifier: str) -> str:
    """Return how MySQL's case-insensitive collation compares identifiers."""
    return identifier.strip().casefold()


def _ids(ids: Sequence[Any]) -> list[int]:
    return sorted({int(i) for i in ids})


class _CmsReader(DirectiveReader[int, Any]):
    """What page and block readers share: ids, placement, store winners, directive rendering."""

    entity_type: str
    table: str
    id_column: str
    text_columns: tuple[str, ...]

    # --- hooks ----------------------------------------------------------------------------------
    def selected(self, identifier: str) -> bool:
        """Return True when the settings let an entity with this identifier be synced."""
        raise NotImplementedError

    def _data(self, row: _CmsRow, store: StoreView, chunk: CmsChunk, problems: list[str]) -> dict[str, Any]:
        raise NotImplementedError

    def _fetch_extra(self, chunk: CmsChunk, selection: IdSelection) -> None:
        """Read what the entity type needs beyond rows and placement (nothing by default)."""

    # --- what every chunk shares ------------------------------------------------------------
    def prepare(self) -> None:
        """Read what every chunk shares (edition, config) on the calling thread."""
        with self._lock:
            _ = self.ctx.link_fields
            self.ctx.config(HOME_PAGE_PATH)


    # --- ids ----------------------------------------------------------------------------------
    def _updated_ids(self, table: str, id_column: str, since: datetime, until: datetime | None) -> list[int]:
        params: list[Any] = [since]
        upper = ""
        if until is not None:
            upper = " AND e.update_time <= %s"
            params.append(until)
        with self._lock:
            rows = self.ctx.db.query(
                f"SELECT DISTINCT e.{id_column} FROM {self.ctx.t(table)} e WHERE e.update_time > %s{upper}",
                params,
            )
        return [int(r[0]) for r in rows]

    def _changed_block_references(self, since: datetime, until: datetime | None) -> set[str]:
        """Return ids and identifiers of blocks changed in (since, until] and of blocks that include them."""
        return self.block_references(self._updated_ids("cms_block", "block_id", since, until))

    def block_references(self, block_ids: Iterable[int]) -> set[str]:
        """Return ids and identifiers of the blocks and of the blocks that include them, nested."""
        changed = set(block_ids)
        if not changed:
            return set()
        with self._lock:
            rows = self.ctx.db.query(
                f"SELECT e.block_id, e.identifier, CAST(e.content AS BINARY) FROM {self.ctx.t('cms_block')} e"
                f" WHERE e.block_id IN ({_placeholders(len(changed))}) OR e.content LIKE %s OR e.content LIKE %s",
                [*sorted(changed), "%{{widget%", "%{{block%"],
            )
        blocks = {int(i): (str(ident or ""), _loose_text(content)) for i, ident, content in rows}
        refs: set[str] = set()
        for block_id in changed:
            refs |= {str(block_id), blocks.get(block_id, ("", ""))[0]}
        # blocks that include a changed block changed too (to a fixed point: nesting is shallow)
        grew = True
        while grew:
            grew = False
            for block_id, (identifier, content) in blocks.items():
                if str(block_id) not in refs and block_references(content) & refs:
                    refs |= {str(block_id), identifier}
                    grew = True
        refs.discard("")
        return refs

    def _including(self, refs: set[str]) -> set[int]:
        """Return the ids of this reader's entities whose content includes one of the block references."""
        if not refs:
            return set()
        with self._lock:
            rows = self.ctx.db.query(
                f"SELECT e.{self.id_column}, CAST(e.content AS BINARY) FROM {self.ctx.t(self.table)} e"
                f" WHERE e.content LIKE %s OR e.content LIKE %s",
                ["%{{widget%", "%{{block%"],
            )
        return {int(i) for i, content in rows if block_references(_loose_text(content)) & refs}

    def including_blocks(self, block_ids: Iterable[int]) -> set[int]:
        """Return this reader's entities whose content includes one of the blocks (directly or nested)."""
        return self._including(self.block_references(block_ids))

    def changed_ids(self, since: datetime, until: datetime | None = None) -> list[int]:
        """Return ids whose update_time is in (since, until], plus those that include a changed block."""
        ids = set(self._updated_ids(self.table, self.id_column, since, until))
        ids |= self._including(self._changed_block_references(since, until))
        return sorted(ids)

    # --- reading --------------------------------------------------------------------------------


    def fetch(self, ids: Sequence[int]) -> CmsChunk:
        """Read the raw rows of a chunk of ids: a fixed number of statements (QUERIES_PER_CHUNK)."""
        selection = IdSelection.of(ids)
        chunk = CmsChunk(ids=list(selection.ids))
        if not selection:
            return chunk
        t = self.ctx.t
        link = self.ctx.link_field(self.table)
        version_sql, version_params = current_version_condition(self.ctx, "e", self.now)
        id_sql, id_params = selection.sql(f"e.{self.id_column}")
        texts = ", ".join(f"CAST(e.{column} AS BINARY)" for column in self.text_columns)
        stores = sorted({0, *self.store_ids})
        with self._lock:
            for row in self.ctx.db.query(
                f"SELECT e.{self.id_column}, e.identifier, e.is_active, e.update_time, {texts}"
                f" FROM {t(self.table)} e WHERE {id_sql} AND {version_sql}",
                [*id_params, *version_params],
            ):
                entity_id = int(row[0])
                if selection.contains(entity_id):
                    chunk.rows[entity_id] = _CmsRow(
                        entity_id, str(row[1] or ""), bool(row[2]), row[3],
                        dict(zip(self.text_columns, row[4:], strict=True)),
                    )
            # placement of every active entity that shares an identifier with one of the chunk's
            inner_sql, inner_params = selection.sql(f"i.{self.id_column}")
            placement: dict[int, tuple[str, set[int]]] = {}
            for entity_id, identifier, store_id in self.ctx.db.query(
                f"SELECT e.{self.id_column}, e.identifier, s.store_id FROM {t(self.table)} e"
                f" JOIN {t(self.table + '_store')} s ON s.{link} = e.{link}"
                f" WHERE e.is_active = 1 AND {version_sql} AND s.store_id IN ({_placeholders(len(stores))})"
                f" AND e.identifier IN (SELECT i.identifier FROM {t(self.table)} i WHERE {inner_sql})",
                [*version_params, *stores, *inner_params],
            ):
                placement.setdefault(int(entity_id), (str(identifier or ""), set()))[1].add(int(store_id))
            chunk.placement = {i: (ident, frozenset(s)) for i, (ident, s) in placement.items()}
            self._fetch_extra(chunk, selection)
            if not self.blocks.loaded and any(
                has_block_directive(_loose_text(row.texts.get("content"))) for row in chunk.rows.values()
            ):
                self.blocks.load()
        return chunk

    # --- building -------------------------------------------------------------------------------
    def winners(self, chunk: CmsChunk) -> dict[tuple[str, int], int]:
        """Return (identifier key, store_id) -> the id Magento shows for that identifier in that store view."""
        ranked: dict[tuple[str, int], tuple[int, int]] = {}
        for entity_id, (identifier, store_ids) in chunk.placement.items():
            key = _identifier_key(identifier)
            for store in self.stores:
                sid = store.store_id
                if sid in store_ids:
                    rank = (0, entity_id)
                elif 0 in store_ids:
                    rank = (1, entity_id)
                else:
                    continue
                if (key, sid) not in ranked or rank < ranked[(key, sid)]:
                    ranked[(key, sid)] = rank
        return {key: rank[1] for key, rank in ranked.items()}

    def belongs(self, chunk: CmsChunk, winners: dict[tuple[str, int], int], entity_id: int, store: StoreView) -> bool:
        """Return True when the entity is active, placed in the store view, selected and not shadowed there."""
        row = chunk.rows.get(entity_id)
        if row is None or not row.is_active or entity_id not in chunk.placement:
            return False
        if not self.selected(row.identifier):
            return False
        return winners.get((_identifier_key(row.identifier), store.store_id)) == entity_id

    def build(self, chunk: CmsChunk) -> ReadBatch:
        """Turn the rows of one chunk into documents (the block library may be read on first use)."""
        batch = ReadBatch()
        winners = self.winners(chunk)
        for entity_id in chunk.ids:
            for store in self.stores:
                sid = store.store_id
                if not self.belongs(chunk, winners, entity_id, store):
                    batch.documents.append(Document.delete(self.entity_type, entity_id, sid, self.now))
                    continue
                problems: list[str] = []
                try:
                    data = self._data(chunk.rows[entity_id], store, chunk, problems)
                    document = Document(self.entity_type, str(entity_id), sid, "save", data, self.now)
                    check_document_size(document)
                except ContentError as exc:
                    batch.problems.append(Problem(self.entity_type, str(entity_id), sid, exc.reason))
                    continue
                except Exception as exc:
                    log.exception("%s %s store %s could not be built", self.entity_type, entity_id, sid)
                    batch.problems.append(
                        Problem(self.entity_type, str(entity_id), sid, f"{type(exc).__name__}: {exc}"))
                    continue
                batch.documents.append(document)
                batch.problems.extend(Problem(self.entity_type, str(entity_id), sid, p) for p in problems)
        return batch

    def _text(self, row: _CmsRow, column: str) -> str | None:
        return decode_text(row.texts.get(column), column)

    def _markdown(self, html: str | None, store: StoreView, problems: list[str],
                  context: DirectiveContext | None = None) -> str:
        """Render directives for the store view, then convert the HTML to Markdown."""
        if not html:
            return ""
        if "{{" in html:
            if not self.blocks.loaded and has_block_directive(html):
                with self._lock:
                    self.blocks.load()
            html, found = render_directives_with_problems(html, context or self.directive_context(store))
            problems.extend(found)
        return html_to_markdown(html, base_url=store.base_url)


def _loose_text(value: bytes | str | None) -> str:
    """Return text for pattern matching only (undecodable bytes replaced)."""
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


class CmsPageReader(_CmsReader):
    """Read CMS pages into per-store-view documents (see the module docstring)."""

    entity_type = "cms_page"
    table = "cms_page"
    id_column = "page_id"
    text_columns = ("title", "content_heading", "content", "meta_title", "meta_keywords", "meta_description")

    def selected(self, identifier: str) -> bool:
        """Return True when ``cms_pages.mode`` and ``cms_pages.identifiers`` let this page be synced."""
        listed = identifier in self.settings.cms_pages.identifiers
        return listed if self.settings.cms_pages.mode == "whitelist" else not listed

    def _fetch_extra(self, chunk: CmsChunk, selection: IdSelection) -> None:
        chunk.paths = canonical_paths(self.ctx, "cms_page", selection, self.store_ids)

    def home_page(self, store: StoreView) -> tuple[str, int | None]:
        """Return the home page identifier of a store view (and its page id when the setting names one)."""
        value = (self.ctx.config(HOME_PAGE_PATH, store.store_id) or "home").strip()
        identifier, _, page_id = value.partition("|")
        return identifier, (int(page_id) if page_id.strip().isdigit() else None)

    def _data(self, row: _CmsRow, store: StoreView, chunk: CmsChunk, problems: list[str]) -> dict[str, Any]:
        title = clean_text(self._text(row, "title"))
        body = self._markdown(self._text(row, "content"), store, problems)
        home_identifier, home_id = self.home_page(store)
        is_home = row.identifier == home_identifier and home_id in (None, row.entity_id)
        if is_home:
            url: str | None = store.base_url
        else:
            url = absolute_url(store, chunk.paths.get((row.entity_id, store.store_id))) or store.base_url + row.identifier
        data: CmsPageData = {
            "store_code": store.code,
            "locale": store.locale,
            "updated_at": iso_utc(row.updated_at) if row.updated_at else None,
            "identifier": row.identifier,
            "title": title,
            "content_heading": clean_text(self._text(row, "content_heading")) or None,
            "document_type": detect_document_type(
                row.identifier, title, extract_headings(body), self.settings.cms_pages.document_types,
                row.identifier if is_home else None,
            ),
            "meta_title": clean_text(self._text(row, "meta_title")) or None,
            "meta_description": clean_text(self._text(row, "meta_description")) or None,
            "meta_keywords": clean_text(self._text(row, "meta_keywords")) or None,
            "url": url,
            "content": body,
        }
        data["content"] = cms_page_content(data)
        return as_document_data(data)


class CmsBlockReader(_CmsReader):
    """Read CMS static blocks into per-store-view documents (see the module docstring)."""

    entity_type = "cms_block"
    table = "cms_block"
    id_column = "block_id"
    text_columns = ("title", "content")

    def selected(self, identifier: str) -> bool:
        """Return True when ``cms_blocks.identifiers`` is empty or lists this block."""
        wanted = self.settings.cms_blocks.identifiers
        return not wanted or identifier in wanted

    def _data(self, row: _CmsRow, store: StoreView, chunk: CmsChunk, problems: list[str]) -> dict[str, Any]:
        context = replace(self.directive_context(store), open_blocks=(str(row.entity_id), row.identifier))
        data: CmsBlockData = {
            "store_code": store.code,
            "locale": store.locale,
            "updated_at": iso_utc(row.updated_at) if row.updated_at else None,
            "identifier": row.identifier,
            "title": clean_text(self._text(row, "title")),
            "content": self._markdown(self._text(row, "content"), store, problems, context),
        }
        data["content"] = cms_block_content(data)
        return as_document_data(data)

