"""The reader protocol every entity reader implements, and the pieces readers share.

A reader turns ids of one entity type into per-store-view documents, set-based: each chunk of
ids costs a fixed number of queries whatever its size. The pipeline only talks to readers
through :class:`EntityReader`:

* ``iter_id_chunks`` pages through every id of the base table (keyset pagination),
* ``changed_ids`` / ``existing_ids`` serve incremental capture and delete confirmation,
* ``read`` builds one chunk: for every id x selected store view a save or a delete document
  (entities that cannot be built go to ``ReadBatch.problems`` and the rest continue), each
  stamped with Magento's clock from before the chunk's first statement (``Document.read_at``),
* ``read_all`` streams every chunk: in ``read_workers`` worker processes when there are several
  chunks (:mod:`ragsync.magento.parallel`), else with the next one fetched in a background thread.

Promotions use string ids (``"cart-3"``), the others integers: the protocol is generic over
the id type (``EntityReader[int]``, ``EntityReader[str]``).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from itertools import chain, islice
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from ragsync.documents.directives import DirectiveContext
from ragsync.documents.model import ReadBatch
from ragsync.magento.context import MagentoContext, StoreView
from ragsync.magento.directives import BlockLibrary, directive_context
from ragsync.magento.eav import current_version_condition

if TYPE_CHECKING:
    from ragsync.settings import Settings

log = logging.getLogger(__name__)

IdT = TypeVar("IdT", int, str)
IdT_co = TypeVar("IdT_co", int, str, covariant=True)
ChunkT = TypeVar("ChunkT")
RawT = TypeVar("RawT")

DEFAULT_CHUNK_SIZE = 1000
CLOCK_QUERIES = 1
"""Statements a chunk costs on top of its reader's ``QUERIES_PER_CHUNK``: Magento's clock, read first."""
PARALLEL_MIN_CHUNKS = 3
"""A full read goes to worker processes only from this many chunks on (starting them costs about a second)."""


class EntityReader(Protocol[IdT]):
    """Read one entity type from Magento into per-store-view documents, a chunk of ids at a time.

    Constructor: ``Reader(ctx, settings, stores=None, now=None)`` where ``stores`` None means
    ``settings.stores`` (or every active store view when that is empty) and ``now`` is the
    capture time (naive UTC; None = the current time) used for date windows and Adobe Commerce
    row versions.
    """

    entity_type: str

    def __init__(
        self,
        ctx: MagentoContext,
        settings: Settings,
        stores: Sequence[StoreView] | None = None,
        now: datetime | None = None,
    ) -> None: ...

    def iter_id_chunks(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[list[IdT]]:
        """Yield the ids of every entity in the base table, ascending, in chunks (keyset pagination)."""
        ...

    def changed_ids(self, since: datetime, until: datetime | None = None) -> list[IdT]:
        """Return the ids whose update time is in (since, until] (until None = no upper bound)."""
        ...

    def existing_ids(self, ids: Sequence[IdT]) -> set[IdT]:
        """Return which of ``ids`` still exist in the base table."""
        ...

    def read(self, ids: Sequence[IdT]) -> ReadBatch:
        """Return a save or delete document for every id x selected store view, plus problems."""
        ...

    def read_all(self, chunk_size: int = DEFAULT_CHUNK_SIZE, workers: int | None = None) -> Iterator[ReadBatch]:
        """Yield one ReadBatch per chunk of every entity, in id order (in worker processes when ``workers`` > 1)."""
        ...


def reader_stores(
    ctx: MagentoContext, settings: Settings, stores: Sequence[StoreView] | None = None
) -> list[StoreView]:
    """Return the store views a reader covers: ``stores`` if given, else ``settings.stores``, else all active."""
    if stores is not None:
        return list(stores)
    return ctx.select_stores(settings.stores)


def keyset_chunks(
    fetch_page: Callable[[IdT | None, int], Sequence[IdT]], chunk_size: int = DEFAULT_CHUNK_SIZE
) -> Iterator[list[IdT]]:
    """Yield pages of ids from ``fetch_page(after, limit)`` until a short page (keyset pagination)."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    after: IdT | None = None
    while True:
        page = list(fetch_page(after, chunk_size))
        if page:
            yield page
            after = page[-1]
        if len(page) < chunk_size:
            return


_DONE = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def prefetched(
    chunks: Iterable[ChunkT], fetch: Callable[[ChunkT], RawT], depth: int = 1, name: str = "ragsync-prefetch"
) -> Iterator[RawT]:
    """Yield ``fetch(chunk)`` for every chunk, computed in a background thread ``depth`` chunks ahead.

    The thread does all of the iteration of ``chunks`` and every ``fetch`` (so database access stays
    on one thread at a time), the caller builds documents meanwhile. An exception in the thread is
    re-raised in the caller; closing the generator early stops the thread.
    """
    results: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                results.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for chunk in chunks:
                if stop.is_set() or not put(fetch(chunk)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put(_Failure(exc))
            return
        put(_DONE)

    thread = threading.Thread(target=work, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = results.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()


class ChunkedReader(Generic[IdT, ChunkT]):
    """What every reader shares: ``read`` and ``read_all`` from ``prepare``, ``fetch`` and ``build``.

    A subclass reads what all chunks share in ``prepare()`` (idempotent), the raw rows of one chunk
    in ``fetch(ids)`` (a fixed number of statements) and turns them into documents in ``build``
    (no database access), so ``read_all`` can fetch the next chunk in a background thread while
    the current one is built.
    """

    entity_type: str
    table: str = ""
    """The (unprefixed) entity table whose ids the default paging and existence check read."""
    id_column: str = "entity_id"

    def __init__(self, ctx: MagentoContext, settings: Settings, stores: Sequence[StoreView] | None = None,
                 now: datetime | None = None) -> None:
        self.ctx: MagentoContext = ctx
        self.settings = settings
        self.stores = reader_stores(ctx, settings, stores)
        if now is not None and now.tzinfo is not None:
            now = now.astimezone(UTC).replace(tzinfo=None)
        self.now: datetime = now or datetime.now(UTC).replace(tzinfo=None)
        self.store_ids = [s.store_id for s in self.stores]
        self._lock = threading.RLock()
        """Serializes database access: ``read_all`` fetches on a background thread."""
        self.setup()

    def setup(self) -> None:
        """Read what the reader needs from its settings; subclasses extend it (no database access here)."""

    def prepare(self) -> None:
        """Read what every chunk shares."""
        raise NotImplementedError

    def fetch(self, ids: Sequence[IdT]) -> ChunkT:
        """Read the raw rows of one chunk of ids."""
        raise NotImplementedError

    def build(self, chunk: ChunkT) -> ReadBatch:
        """Turn the rows of one chunk into documents."""
        raise NotImplementedError

    def _version(self) -> tuple[str, list[int]]:
        return current_version_condition(self.ctx, "e", self.now)

    def _id_page(self, after: Any, limit: int) -> list[Any]:
        version_sql, version_params = self._version()
        params: list[Any] = [after or 0, *version_params, limit]  # type: ignore[has-type]
        with self._lock:
            rows = self.ctx.db.query(
                f"SELECT e.{self.id_column} FROM {self.ctx.t(self.table)} e"
                f" WHERE e.{self.id_column} > %s AND {version_sql} ORDER BY e.{self.id_column} LIMIT %s",
                params,
            )
        return [int(r[0]) for r in rows]

    def iter_id_chunks(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[list[IdT]]:
        """Yield the ids of every entity in ``table``, ascending, in chunks (keyset pagination)."""
        return keyset_chunks(self._id_page, chunk_size)

    def existing_ids(self, ids: Sequence[IdT]) -> set[IdT]:
        """Return which of ``ids`` still have a row (in its current version) in ``table``."""
        with self._lock:
            return existing_in_table(self.ctx, self.table, self.id_column, ids, self._version())  # type: ignore[return-value,arg-type]

    def fetch_chunk(self, ids: Sequence[IdT]) -> tuple[datetime, ChunkT]:
        """Return Magento's clock, read first, and ``fetch(ids)``: the raw rows and when their read began."""
        with self._lock:
            read_at = self.ctx.clock()
            return read_at, self.fetch(ids)

    def build_chunk(self, fetched: tuple[datetime, ChunkT]) -> ReadBatch:
        """Return ``build`` of what :meth:`fetch_chunk` read, every document stamped with its read time."""
        read_at, chunk = fetched
        return self.build(chunk).stamp(read_at)

    def read(self, ids: Sequence[IdT]) -> ReadBatch:
        """Return a save or delete document for every id x store view (problems listed apart)."""
        self.prepare()
        return self.build_chunk(self.fetch_chunk(ids))

    def read_all(self, chunk_size: int = DEFAULT_CHUNK_SIZE, workers: int | None = None) -> Iterator[ReadBatch]:
        """Yield a ReadBatch per chunk of every entity, in id order.

        With ``workers`` (default: the ``read_workers`` setting) above 1 and at least
        :data:`PARALLEL_MIN_CHUNKS` chunks, chunks are read by that many worker processes
        (:mod:`ragsync.magento.parallel`); otherwise in this process, the next chunk fetched in a
        background thread while the current one is built.
        """
        self.prepare()
        workers = self.settings.read_workers if workers is None else workers
        chunks: Iterator[list[IdT]] = self.iter_id_chunks(chunk_size)
        if workers > 1:
            head = list(islice(chunks, PARALLEL_MIN_CHUNKS))
            if len(head) >= PARALLEL_MIN_CHUNKS:
                from ragsync.magento.parallel import read_in_workers

                yield from read_in_workers(self, chain(head, chunks), workers)
                return
            chunks = iter(head)
        for fetched in prefetched(chunks, self.fetch_chunk, name=f"ragsync-{self.entity_type}"):
            yield self.build_chunk(fetched)


class DirectiveReader(ChunkedReader[IdT, ChunkT]):
    """A reader whose texts carry Magento directives: one CMS block library, one directive context per store view."""

    def setup(self) -> None:
        """Create the block library (read on first use) and the empty cache of directive contexts."""
        super().setup()
        self.blocks = BlockLibrary(self.ctx, self.store_ids, self.now, self._lock)
        """The CMS blocks widgets may include, read once per reader on first use."""
        self._directive_contexts: dict[int, DirectiveContext] = {}

    def directive_context(self, store: StoreView) -> DirectiveContext:
        """Return the directive context of a store view (its URLs, config and CMS blocks), built once."""
        context = self._directive_contexts.get(store.store_id)
        if context is None:
            context = directive_context(self.ctx, store, self.blocks)
            self._directive_contexts[store.store_id] = context
        return context


def existing_in_table(ctx: MagentoContext, table: str, id_column: str, ids: Iterable[int],
                      version: tuple[str, Sequence[object]]) -> set[int]:
    """Return which ``ids`` have a row (in its current version) in a Magento table, with one query."""
    wanted = sorted({int(i) for i in ids})
    if not wanted:
        return set()
    version_sql, version_params = version
    rows = ctx.db.query(
        f"SELECT e.{id_column} FROM {ctx.t(table)} e"
        f" WHERE e.{id_column} IN ({', '.join(['%s'] * len(wanted))}) AND {version_sql}",
        [*wanted, *version_params],
    )
    return {int(r[0]) for r in rows}
