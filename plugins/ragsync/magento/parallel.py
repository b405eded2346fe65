"""Full reads in worker processes: chunks of ids built in parallel, yielded in id order.

Building documents is CPU-bound Python (store fallback, HTML to Markdown, rendering) and CPython
runs one thread of Python at a time, so a full read of more than a few chunks hands whole chunks
to ``read_workers`` worker processes (see :meth:`ragsync.magento.base.ChunkedReader.read_all`):

* each worker is a fresh interpreter (``python -c``, this interpreter, this ``sys.path``) that
  talks to the caller over its stdin and stdout in length-prefixed pickle frames. It is not a
  ``multiprocessing`` child: those re-import the caller's main module (Airflow's ``airflow``
  script, which cannot start inside a task) and may not be started from a daemonic process;
* a worker rebuilds the reader from a :class:`ReaderRecipe` (reader class, connection parameters,
  settings, store views, capture time), opens its own connection on its first chunk and reads
  chunks whole (``fetch_chunk`` and ``build_chunk``);
* the caller pages the ids (keyset), hands chunks out in turn and keeps at most :data:`AHEAD`
  chunks per worker in flight, so memory is bounded by the number of workers, never by the
  catalog; batches are read back in the order the chunks were handed out, so the consumer sees
  exactly the stream one process would yield;
* an error in a worker (a lost connection, a refused statement) is raised in the caller at that
  chunk, as the worker's own exception with the worker's traceback as a note.

A worker that dies (killed, out of memory) raises :class:`ReaderWorkerError` naming the chunk.
Where workers cannot be started, or cannot load the reader (a reader class defined where a fresh
interpreter cannot import it), the read goes on in the caller's process with a warning.
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import pickle
import struct
import subprocess
import sys
import traceback
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

from ragsync.db import Database, DbParams
from ragsync.documents.model import ReadBatch
from ragsync.errors import RagSyncError

if TYPE_CHECKING:
    from ragsync.magento.base import ChunkedReader
    from ragsync.settings import Settings

log = logging.getLogger(__name__)

AHEAD = 2
"""Chunks in flight per worker: one being read, one queued, so a worker never waits for the caller."""
STOP_SECONDS = 10.0
"""How long a worker gets to exit after its input is closed before it is killed."""
DEATH_SECONDS = 2.0
"""How long to wait for the exit code of a worker whose output ended in the middle of a chunk."""

WORKER_GC_THRESHOLDS = (20_000, 20, 50)
"""Collector thresholds in a worker: a chunk allocates hundreds of thousands of short-lived objects
(rows, values, documents) that form no cycles, and the default (700, 10, 10) collects many times per
chunk for nothing."""

_HEADER = struct.Struct("!Q")
_WORKER_CODE = "from ragsync.magento.parallel import serve; serve()"


class ReaderWorkerError(RagSyncError):
    """A reader worker process died before it finished a chunk."""


class _CannotStart(Exception):
    """The workers could not be started or could not load the reader; nothing was read by them."""


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

    def reader_class(self) -> type[ChunkedReader[Any, Any]]:
        """Import and return the reader class (raises when this interpreter cannot import it)."""
        found: Any = importlib.import_module(self.module)
        for part in self.name.split("."):
            found = getattr(found, part)
        return found  # type: ignore[no-any-return]

    def build(self) -> ChunkedReader[Any, Any]:
        """Return a new reader on a new connection, equal to the one the recipe was taken from."""
        from ragsync.magento.context import MagentoContext

        ctx = MagentoContext(Database(self.params))
        stores = [ctx.store(store_id) for store_id in self.store_ids]
        return self.reader_class()(ctx, self.settings, stores=stores, now=self.now)


# --- frames ----------------------------------------------------------------------------------------
def _send(stream: IO[bytes], value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    """Return the next frame's value; raise EOFError when the other side has gone."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError
    size = _HEADER.unpack(header)[0]
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    # A batch unpickles into tens of thousands of dicts and lists that form no cycles: with the
    # collector paused, they are not walked over and over while they are being built (the
    # unpickling takes half the time).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return pickle.loads(data)
    finally:
        if collecting:
            gc.enable()


# --- the worker --------------------------------------------------------------------------------------
def serve() -> None:
    """Worker main: read a recipe, answer ``ready``, then read every chunk it is sent until told to stop.

    Frames go to the real stdout only: anything else written to stdout (a stray print) is sent
    to stderr, which the caller's process (an Airflow task) logs.
    """
    frames_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    frames_in = sys.stdin.buffer
    recipe: ReaderRecipe = _receive(frames_in)
    try:
        recipe.reader_class()
    except Exception as exc:  # noqa: BLE001 - reported to the caller, which reads in process instead
        _send(frames_out, ("unusable", f"{type(exc).__name__}: {exc}"))
        return
    _send(frames_out, ("ready", os.getpid()))
    reader: ChunkedReader[Any, Any] | None = None
    while True:
        try:
            ids = _receive(frames_in)
        except EOFError:
            return
        if ids is None:
            return
        try:
            if reader is None:
                reader = recipe.build()
                # the caller prepared the same reader already and logged its warnings once
                quiet = logging.getLogger("ragsync")
                level = quiet.level
                quiet.setLevel(logging.ERROR)
                try:
                    reader.prepare()
                finally:
                    quiet.setLevel(level)
                # What the reader keeps for the whole read (attributes, labels, categories, blocks) is
                # never garbage: the collector need not walk it again on every chunk.
                gc.freeze()
                gc.set_threshold(*WORKER_GC_THRESHOLDS)
            reply: tuple[str, Any] = ("batch", reader.build_chunk(reader.fetch_chunk(ids)))
        except Exception as exc:  # noqa: BLE001 - raised in the caller at this chunk
            exc.add_note(f"in reader worker {os.getpid()}:\n{traceback.format_exc().rstrip()}")
            try:
                pickle.dumps(exc)
                reply = ("error", exc)
            except Exception:  # noqa: BLE001 - an exception that does not pickle
                reply = ("error", RagSyncError(f"{type(exc).__name__}: {exc}\n{exc.__notes__[-1]}"))
        try:
            _send(frames_out, reply)
        except BrokenPipeError:
            os._exit(0)  # the caller stopped reading (it closed the read early): nothing left to flush


# --- the caller ------------------------------------------------------------------------------------
class _Worker:
    """One worker process and its pipes."""

    def __init__(self, recipe: ReaderRecipe) -> None:
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        path = [package_root, *(p for p in sys.path if p and p != package_root)]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
        self.process = subprocess.Popen([sys.executable, "-c", _WORKER_CODE], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=env)
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin: IO[bytes] = self.process.stdin
        self.stdout: IO[bytes] = self.process.stdout
        _send(self.stdin, recipe)

    def stop(self) -> None:
        """Close the pipes (the worker exits at the end of its input or on its next write) and reap it."""
        for stream in (self.stdin, self.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _describe(ids: list[Any]) -> str:
    return f"{ids[0]}..{ids[-1]}" if len(ids) > 1 else str(ids[0])


def read_in_workers(
    reader: ChunkedReader[Any, Any], chunks: Iterable[list[Any]], workers: int
) -> Iterator[ReadBatch]:
    """Yield ``reader``'s batch for every chunk of ids, read by ``workers`` processes, in chunk order.

    When the workers cannot be started or cannot load the reader, the chunks are read in this
    process instead, with a warning; nothing has been yielded by then.
    """
    chunk_iter = iter(chunks)
    try:
        yield from _read_in_workers(reader, chunk_iter, workers)
        return
    except _CannotStart as exc:
        log.warning("%s; reading in this process", exc)
    for ids in chunk_iter:
        yield reader.build_chunk(reader.fetch_chunk(ids))


def _read_in_workers(reader: ChunkedReader[Any, Any], chunk_iter: Iterator[list[Any]],
                     workers: int) -> Iterator[ReadBatch]:
    recipe = ReaderRecipe.of(reader)
    started: list[_Worker] = []
    try:
        try:
            for _ in range(workers):
                started.append(_Worker(recipe))
            for worker in started:
                answer = _receive(worker.stdout)
                if answer[0] != "ready":
                    raise _CannotStart(f"a reader worker process cannot load {recipe.module}.{recipe.name} "
                                       f"({answer[1]})")
        except (OSError, EOFError) as exc:
            codes = [w.process.poll() for w in started]
            raise _CannotStart(f"cannot start {workers} reader worker processes ({type(exc).__name__}: {exc};"
                               f" exit codes {codes})") from exc
        log.info("reading %s chunks in %d worker processes", reader.entity_type, workers)
        yield from _dispatch(reader.entity_type, started, chunk_iter)
    finally:
        for worker in started:
            worker.stop()


def _dispatch(entity_type: str, workers: list[_Worker], chunk_iter: Iterator[list[Any]]) -> Iterator[ReadBatch]:
    """Hand chunks to the workers in turn and yield their batches in the same order."""
    pending: deque[tuple[list[Any], _Worker]] = deque()
    turn = 0

    def take() -> ReadBatch:
        ids, worker = pending.popleft()
        try:
            kind, value = _receive(worker.stdout)
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            try:  # its end of the pipe is closed: it has exited, or is about to
                code = worker.process.wait(timeout=DEATH_SECONDS)
            except subprocess.TimeoutExpired:
                code = None
            raise ReaderWorkerError(
                f"a {entity_type} reader worker process died while reading ids {_describe(ids)} (exit code "
                f"{code}: killed, or out of memory?); nothing was queued for the chunks after it: rerun the "
                "sync, or set read_workers to 1 in the ragsync_config Variable to read in one process"
            ) from exc
        if kind == "error":
            raise value
        return value  # type: ignore[no-any-return]

    for ids in chunk_iter:
        worker = workers[turn % len(workers)]
        turn += 1
        try:
            _send(worker.stdin, ids)
        except OSError:
            pass  # a worker that died is reported at this chunk's turn
        pending.append((ids, worker))
        if len(pending) >= len(workers) * AHEAD:
            yield take()
    while pending:
        yield take()
