"""Full reads in worker processes: chunks of ids built in parallel, yielded in id order.

Building documents is CPU-bound Python (store fallback, HTML to Markdown, rendering) and CPython
runs one thread of Python at a time, so a full read of more than a few chunks hands whole chunks
to ``read_workers`` worker processes (see :meth:`ragsync.magento.base.ChunkedReader.read_all`):

* workers are started with ``spawn`` (fresh interpreters: no inherited connection, thread or
  Airflow state); each one rebuilds the reader from a :class:`ReaderRecipe` (reader class,
  connection parameters, settings, store views, capture time), opens its own connection on its
  first chunk and reads chunks whole (``fetch`` and ``build``);
* the caller's process pages the ids (keyset) and keeps at most :data:`AHEAD` chunks per worker
  in flight, so memory is bounded by the number of workers, never by the catalog;
* batches come back in the order the chunks were handed out, so the consumer sees exactly the
  stream one process would yield, and an error in a worker (a lost connection, a refused
  statement) is raised in the caller at that chunk, with the worker's own exception.

A worker that dies (killed, out of memory) raises :class:`ReaderWorkerError` naming the chunk,
instead of waiting forever. Where worker processes cannot be started, or all stop before the
first batch, the read goes on in one process with a warning.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from typing import TYPE_CHECKING, Any

from ragsync.db import Database, DbParams
from ragsync.documents.model import ReadBatch
from ragsync.errors import RagSyncError

if TYPE_CHECKING:
    from ragsync.magento.base import ChunkedReader
    from ragsync.settings import Settings

log = logging.getLogger(__name__)

AHEAD = 2
"""Chunks in flight per worker: one being read, one queued, so a worker never waits for the caller."""


class ReaderWorkerError(RagSyncError):
    """A reader worker process died before it finished a chunk."""


@dataclass(frozen=True)
class ReaderRecipe:
    """What a worker process needs to rebuild a reader: its class, connection, settings, stores and time."""

    module: str
    name: str
    params: DbParams
    settings: Settings
    store_ids: tuple[int, ...]
    now: datetime

    @classmethod
    def of(cls, reader: ChunkedReader[Any, Any]) -> ReaderRecipe:
        """Return the recipe of a reader (its database must be a :class:`~ragsync.db.Database`)."""
        kind = type(reader)
        return cls(kind.__module__, kind.__qualname__, reader.ctx.db.params, reader.settings,
                   tuple(reader.store_ids), reader.now)

    def build(self) -> ChunkedReader[Any, Any]:
        """Return a new reader on a new connection, equal to the one the recipe was taken from."""
        from ragsync.magento.context import MagentoContext

        kind = getattr(importlib.import_module(self.module), self.name)
        ctx = MagentoContext(Database(self.params))
        stores = [ctx.store(store_id) for store_id in self.store_ids]
        reader: ChunkedReader[Any, Any] = kind(ctx, self.settings, stores=stores, now=self.now)
        return reader


_worker_reader: ChunkedReader[Any, Any] | None = None


def _read_chunk(recipe: ReaderRecipe, ids: list[Any]) -> ReadBatch:
    """Worker side: read one chunk, building (and preparing) the reader on the first call."""
    global _worker_reader
    if _worker_reader is None:
        reader = recipe.build()
        # the caller's process prepared the same reader already and logged its warnings once
        quiet = logging.getLogger("ragsync")
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            reader.prepare()
        finally:
            quiet.setLevel(level)
        _worker_reader = reader
    return _worker_reader.build(_worker_reader.fetch(ids))


def _describe(ids: list[Any]) -> str:
    return f"{ids[0]}..{ids[-1]}" if len(ids) > 1 else str(ids[0])


def _died(entity_type: str, ids: list[Any]) -> ReaderWorkerError:
    return ReaderWorkerError(
        f"a {entity_type} reader worker process died while reading ids {_describe(ids)} (killed, or out "
        "of memory?); nothing was queued for the chunks after it: rerun the sync, or set read_workers "
        "to 1 in the ragsync_config Variable to read in one process"
    )


class _CannotStart(Exception):
    """Worker processes could not be started, or all of them stopped before reading anything."""


def read_in_workers(
    reader: ChunkedReader[Any, Any], chunks: Iterable[list[Any]], workers: int
) -> Iterator[ReadBatch]:
    """Yield ``reader``'s batch for every chunk of ids, read by ``workers`` processes, in chunk order.

    When the workers cannot be started, or stop before the first batch (a script that starts the
    read outside ``if __name__ == "__main__":`` makes every spawned process fail), the chunks are
    read in this process instead, with a warning; nothing has been yielded by then.
    """
    chunk_iter = iter(chunks)
    pending: deque[tuple[list[Any], Future[ReadBatch] | None]] = deque()
    try:
        yield from _read_in_workers(reader, chunk_iter, workers, pending)
        return
    except _CannotStart as exc:
        log.warning("%s; reading in this process", exc)
    for ids in chain((ids for ids, _ in pending), chunk_iter):
        yield reader.build(reader.fetch(ids))


def _read_in_workers(reader: ChunkedReader[Any, Any], chunk_iter: Iterator[list[Any]], workers: int,
                     pending: deque[tuple[list[Any], Future[ReadBatch] | None]]) -> Iterator[ReadBatch]:
    """Read ``chunk_iter`` in worker processes; ``pending`` holds the chunks handed out but not yielded."""
    recipe = ReaderRecipe.of(reader)
    log.info("reading %s chunks in %d worker processes", reader.entity_type, workers)
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    yielded = False

    def take() -> ReadBatch:
        ids, future = pending[0]
        try:
            if future is None:
                raise BrokenProcessPool("the chunk could not be handed to a worker")
            batch = future.result()
        except BrokenProcessPool as exc:
            if not yielded:
                raise _CannotStart(
                    "the reader worker processes stopped before reading anything (a script that runs a full "
                    'sync must start it under if __name__ == "__main__":, or spawned processes fail)'
                ) from exc
            raise _died(reader.entity_type, ids) from exc
        pending.popleft()
        return batch

    try:
        for ids in chunk_iter:
            pending.append((ids, None))
            try:
                pending[-1] = (ids, executor.submit(_read_chunk, recipe, ids))  # the first submits start workers
            except BrokenProcessPool:
                pass  # take() reports it at this chunk's turn
            except (OSError, AssertionError) as exc:  # no fork/exec here, or a daemonic process
                if yielded:
                    raise
                raise _CannotStart(f"cannot start {workers} reader worker processes ({exc})") from exc
            if len(pending) >= workers * AHEAD:
                batch = take()
                yielded = True
                yield batch
        while pending:
            batch = take()
            yielded = True
            yield batch
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
