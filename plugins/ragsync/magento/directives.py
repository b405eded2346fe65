"""Per-store-view directive context: store and media URLs, scoped config, and CMS blocks found as Magento finds them.

Every reader that renders Magento markup (CMS pages and blocks, category and product
descriptions) builds one :class:`~ragsync.documents.directives.DirectiveContext` per store view
with :func:`directive_context`. Blocks referenced by a CMS-block widget or ``{{block id=...}}``
come from a :class:`BlockLibrary`: the CMS blocks of the shop, read with **one query on first
use** and then served from memory, so resolving widgets never costs a query per widget, per
entity or per chunk.

Lookup follows Magento's ``Cms\\Model\\ResourceModel\\Block::load`` with a store set: a numeric
reference is a ``block_id``, anything else an ``identifier`` (compared case-insensitively, as
MySQL does); only active blocks assigned to store 0 or to the store view are shown, and a block
assigned to the store view itself wins over one assigned to all store views (then the lowest
block_id, deterministically). What the resolver answers:

* the block's raw HTML when the block is shown in that store view;
* ``""`` when the block exists but is not shown there (inactive, or assigned to other store
  views): Magento renders nothing, silently, and so does ragsync; disabling a banner block or
  keeping it to one store view is how merchants hide it, not a mistake worth a problem;
* None when no block has that id or identifier (a typo or a deleted block): the directive
  renderer reports it, and the document is still produced.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from ragsync.documents.directives import DirectiveContext
from ragsync.magento.context import MagentoContext, StoreView
from ragsync.magento.eav import current_version_condition, decode_bytes

log = logging.getLogger(__name__)

BlockResolver = Callable[[int, str], "str | None"]
"""``resolver(store_id, reference) -> raw block HTML`` (None: no such active block in that store view)."""

# Values of block_id="..." / id="..." inside {{widget ...}} and {{block ...}} directives.
_DIRECTIVE_RE = re.compile(r"\{\{\s*(?:widget|block)\b(.*?)\}\}", re.S | re.I)
_BLOCK_PARAM_RE = re.compile(r"""\b(?:block_id|id)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'}]+))""", re.I)


def block_references(text: str | None) -> set[str]:
    """Return the block ids and identifiers that widget and ``{{block}}`` directives in ``text`` refer to."""
    if not text or "{{" not in text:
        return set()
    found: set[str] = set()
    for directive in _DIRECTIVE_RE.finditer(text):
        for match in _BLOCK_PARAM_RE.finditer(directive.group(1)):
            value = next(v for v in match.groups() if v is not None).strip()
            if value:
                found.add(value)
    return found


def has_block_directive(text: str | None) -> bool:
    """Return True when ``text`` may contain a CMS-block widget or ``{{block}}`` directive."""
    return bool(text and "{{" in text and _DIRECTIVE_RE.search(text))


@dataclass(frozen=True)
class LibraryBlock:
    """One CMS block as the library holds it."""

    block_id: int
    identifier: str
    is_active: bool
    store_ids: frozenset[int]
    content: str | None
    """Raw HTML of an active block (None when inactive or when the stored bytes are not valid UTF-8)."""
    invalid: str | None = None

    def shown_in(self, store_id: int) -> bool:
        """Return True when Magento shows this block in the store view."""
        return self.is_active and (0 in self.store_ids or store_id in self.store_ids)


class BlockLibrary:
    """The CMS blocks of the shop, read with one query on first use; call it as a :data:`BlockResolver`.

    ``library(store_id, "footer-links")`` returns the HTML of the block shown in that store view
    (see the module docstring for ``""`` and None). ``store_ids`` are the store views the reader
    renders for: every block is known (to tell a hidden block from an unknown one), but only the
    content of active blocks shown in store 0 or one of these store views is read. ``now`` picks the
    Adobe Commerce row version. ``lock`` is the reader's database lock when the library may be loaded
    from another thread than the one fetching chunks (one connection is never used by two threads at once).
    """

    def __init__(
        self,
        ctx: MagentoContext,
        store_ids: Iterable[int] = (),
        now: datetime | None = None,
        lock: threading.RLock | None = None,
    ) -> None:
        self.ctx = ctx
        self.store_ids = tuple(sorted(set(store_ids) | {0}))
        self.now = now
        self._lock: AbstractContextManager[object] = lock if lock is not None else nullcontext()
        self._load_lock = threading.Lock()
        self._by_id: dict[int, LibraryBlock] | None = None
        self._by_identifier: dict[str, list[LibraryBlock]] = {}

    @property
    def loaded(self) -> bool:
        """Return True once the blocks have been read."""
        return self._by_id is not None

    def load(self) -> None:
        """Read every block with its store views (one query; later calls do nothing)."""
        if self._by_id is not None:
            return
        # always the reader's lock first, then the library's: the same order as a fetch that loads it
        with self._lock, self._load_lock:
            if self._by_id is not None:
                return
            t = self.ctx.t
            link = self.ctx.link_field("cms_block")
            version_sql, version_params = current_version_condition(self.ctx, "b", self.now)
            stores = ", ".join(["%s"] * len(self.store_ids))
            rows = self.ctx.db.query(
                f"SELECT b.block_id, b.identifier, b.is_active, s.store_id,"
                f" CASE WHEN b.is_active = 1 AND s.store_id IN ({stores}) THEN CAST(b.content AS BINARY) END"
                f" FROM {t('cms_block')} b LEFT JOIN {t('cms_block_store')} s ON s.{link} = b.{link}"
                f" WHERE {version_sql} ORDER BY b.block_id, s.store_id",
                [*self.store_ids, *version_params],
            )
            raw: dict[int, tuple[str, bool, list[bytes | str | None], set[int]]] = {}
            for block_id, identifier, is_active, store_id, content in rows:
                entry = raw.setdefault(int(block_id), (str(identifier or ""), bool(is_active), [None], set()))
                if store_id is not None:
                    entry[3].add(int(store_id))
                if content is not None:
                    entry[2][0] = content
            by_id: dict[int, LibraryBlock] = {}
            by_identifier: dict[str, list[LibraryBlock]] = {}
            for block_id, (identifier, is_active, content, stores_of_block) in raw.items():
                text, invalid = decode_bytes(content[0])
                if invalid:
                    log.warning("CMS block %s: %s; widgets that include it render nothing", block_id, invalid)
                block = LibraryBlock(block_id, identifier, is_active, frozenset(stores_of_block), text, invalid)
                by_id[block_id] = block
                by_identifier.setdefault(identifier.strip().casefold(), []).append(block)
            self._by_identifier = by_identifier
            self._by_id = by_id
            log.debug("loaded %d CMS blocks for directive rendering", len(by_id))

    def candidates(self, reference: str | int) -> list[LibraryBlock]:
        """Return every block a reference names: the block with that id, or the blocks with that identifier."""
        self.load()
        assert self._by_id is not None
        wanted = str(reference).strip()
        if not wanted:
            return []
        if wanted.isdigit():
            block = self._by_id.get(int(wanted))
            return [] if block is None else [block]
        return list(self._by_identifier.get(wanted.casefold(), ()))

    def find(self, store_id: int, reference: str | int) -> LibraryBlock | None:
        """Return the block a widget or ``{{block}}`` with this id or identifier shows in a store view."""
        best: LibraryBlock | None = None
        for block in self.candidates(reference):
            if not block.shown_in(store_id):
                continue
            if store_id in block.store_ids:
                return block  # ascending block_id: the first store-specific block wins
            if best is None:
                best = block
        return best

    def content(self, store_id: int, reference: str | int) -> str | None:
        """Return the HTML a reference shows in a store view: "" when the block is hidden there, None when unknown."""
        block = self.find(store_id, reference)
        if block is not None:
            return block.content
        return "" if self.candidates(reference) else None

    def __call__(self, store_id: int, reference: str) -> str | None:
        return self.content(store_id, reference)


def store_link(store: StoreView, path: str) -> str:
    """Return the absolute URL of a storefront path in a store view (``""`` is the home page).

    The path is appended to the store view's link URL as written (query and fragment kept), without
    the trailing slash Magento's route builder adds to ``{{store url=...}}``: both forms reach the
    same page, and the bare form keeps URL-rewrite paths such as ``gear/bags.html`` valid.
    """
    path = (path or "").strip()
    if path.startswith(("http://", "https://")):
        return path
    return store.base_url + path.lstrip("/")


def media_link(store: StoreView, path: str) -> str:
    """Return the absolute URL of a file under the store view's media base URL."""
    path = (path or "").strip()
    if path.startswith(("http://", "https://")):
        return path
    return store.media_url + path.lstrip("/")


def directive_context(
    ctx: MagentoContext,
    store: StoreView,
    block_resolver: BlockResolver | None = None,
    open_blocks: Iterable[str | int] = (),
) -> DirectiveContext:
    """Return the directive context of a store view: its link and media URLs, its config, its CMS blocks.

    ``block_resolver`` is usually a :class:`BlockLibrary` (None renders every block reference as
    missing). ``open_blocks`` are the id and identifier of the block being rendered, so that a block
    document cannot include itself. Config values come from ``ctx.config`` (scope fallback; the
    config is read once per context, before any chunk is built).
    """
    store_id = store.store_id

    def config_value(path: str) -> str | None:
        return ctx.config(path, store_id)

    def block_content(reference: str) -> str | None:
        if block_resolver is None:
            return None
        return block_resolver(store_id, str(reference))

    return DirectiveContext(
        store_url=partial(store_link, store),
        media_url=partial(media_link, store),
        config_value=config_value,
        block_content=block_content,
        open_blocks=tuple(str(ref) for ref in open_blocks if str(ref)),
    )
