"""Full reads in worker processes yield exactly what one process yields, and fail loudly.

Real worker processes on real connections to the demo shop: the chunk sizes are small so that
even the 50-product shop spreads over several chunks and both workers.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import uuid
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from fixtures.shop import SHOP_NOW
from ragsync.db import Database
from ragsync.documents.model import ReadBatch
from ragsync.errors import DatabaseError
from ragsync.magento.base import PARALLEL_MIN_CHUNKS, ChunkedReader
from ragsync.magento.categories import CategoryReader
from ragsync.magento.cms import CmsPageReader
from ragsync.magento.context import MagentoContext
from ragsync.magento.parallel import ReaderWorkerError
from ragsync.magento.products import ProductReader
from ragsync.magento.promotions import PromotionReader
from ragsync.settings import Settings


def _stream(batches: list[ReadBatch]) -> list[tuple[Any, ...]]:
    """Return every document and problem in order, documents by key, action and content hash."""
    out: list[tuple[Any, ...]] = []
    for batch in batches:
        out.extend((d.key, d.action, d.hash, d.item_json()) for d in batch.documents)
        out.extend(("problem", str(p)) for p in batch.problems)
    return out


def _workers() -> list[psutil.Process]:
    """Return this process's reader worker processes that are alive."""
    return [child for child in psutil.Process().children()
            if child.is_running() and child.status() != psutil.STATUS_ZOMBIE
            and "ragsync.magento.parallel" in " ".join(child.cmdline())]


def _collect(batches: Iterator[ReadBatch]) -> tuple[list[ReadBatch], int]:
    """Return all batches and the most worker processes seen alive while reading them."""
    seen = 0
    collected = []
    for batch in batches:
        seen = max(seen, len(_workers()))
        collected.append(batch)
    return collected, seen


@pytest.mark.parametrize(("kind", "chunk_size"), [
    (ProductReader, 10), (CategoryReader, 4), (CmsPageReader, 3), (PromotionReader, 2),
])
def test_workers_yield_the_stream_one_process_yields(demo_shop: Database, kind: type[ChunkedReader[Any, Any]],
                                                     chunk_size: int) -> None:
    reader = kind(MagentoContext(demo_shop), Settings(), now=SHOP_NOW)
    alone, alone_workers = _collect(reader.read_all(chunk_size, workers=1))
    parallel, parallel_workers = _collect(reader.read_all(chunk_size, workers=2))
    assert len(alone) >= PARALLEL_MIN_CHUNKS
    assert alone_workers == 0 and parallel_workers == 2
    assert _stream(parallel) == _stream(alone)
    assert any(d.action == "save" for b in parallel for d in b.documents)
    assert _workers() == []  # the workers are gone once the read ends


def test_a_small_read_stays_in_process(demo_shop: Database) -> None:
    reader = ProductReader(MagentoContext(demo_shop), Settings(), now=SHOP_NOW)
    batches, workers = _collect(reader.read_all(chunk_size=20, workers=2))  # 50 products: 3 chunks
    assert len(batches) == PARALLEL_MIN_CHUNKS and workers == 2
    batches, workers = _collect(reader.read_all(chunk_size=25, workers=2))  # 2 chunks: not worth workers
    assert len(batches) == 2 and workers == 0


def test_closing_the_read_early_stops_the_workers(demo_shop: Database) -> None:
    reader = ProductReader(MagentoContext(demo_shop), Settings(), now=SHOP_NOW)
    batches = reader.read_all(chunk_size=5, workers=2)
    first = next(batches)
    assert first.documents and len(_workers()) == 2
    batches.close()
    assert _workers() == []


def test_a_worker_that_cannot_connect_fails_the_read_with_its_error(demo_shop: Database
) -> None:
    user = f"ragsync_w_{uuid.uuid4().hex[:8]}"
    params = demo_shop.params
    demo_shop.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'worker-test'")
    try:
        demo_shop.execute(f"GRANT SELECT ON `{params.database}`.* TO '{user}'@'%'")
        own = Database(dataclasses.replace(params, user=user, password="worker-test"))
        reader = ProductReader(MagentoContext(own), Settings(), now=SHOP_NOW)
        reader.prepare()  # this process is connected now; new connections will be refused
        demo_shop.execute(f"DROP USER '{user}'@'%'")
        with pytest.raises(DatabaseError, match=f"cannot connect to MySQL.*{user}.*denied") as failure:
            list(reader.read_all(chunk_size=10, workers=2))
        own.close()
    finally:
        demo_shop.execute(f"DROP USER IF EXISTS '{user}'@'%'")
    assert any(note.startswith("in reader worker ") for note in failure.value.__notes__)
    assert _workers() == []


def test_a_killed_worker_is_reported_not_waited_for(demo_shop: Database) -> None:
    reader = ProductReader(MagentoContext(demo_shop), Settings(), now=SHOP_NOW)
    batches = reader.read_all(chunk_size=1, workers=2)  # 50 chunks
    next(batches)
    for child in _workers():
        os.kill(child.pid, signal.SIGKILL)
    with pytest.raises(ReaderWorkerError, match=r"product reader worker process died while reading ids \d+ \(exit code -9"):
        list(batches)
    assert _workers() == []


def _read_in_daemon(params: Any, results: Any) -> None:
    """Read every product with two workers from inside a daemonic process (a Celery prefork child, say)."""
    import logging

    warnings: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: warnings.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("ragsync")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    with Database(params) as db:
        reader = ProductReader(MagentoContext(db), Settings(), now=SHOP_NOW)
        batches = list(reader.read_all(chunk_size=10, workers=2))
        results.put((len(batches), _stream(batches), warnings))


def test_a_daemonic_process_reads_with_workers_too(demo_shop: Database) -> None:
    # multiprocessing forbids children to daemonic processes; the workers are plain subprocesses
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    daemon = context.Process(target=_read_in_daemon, args=(demo_shop.params, results), daemon=True)
    daemon.start()
    chunks, stream, messages = results.get(timeout=120)
    daemon.join(timeout=30)
    reader = ProductReader(MagentoContext(demo_shop), Settings(), now=SHOP_NOW)
    assert daemon.exitcode == 0 and chunks == 5
    assert "reading product chunks in 2 worker processes" in messages
    assert stream == _stream(list(reader.read_all(chunk_size=10, workers=1)))


UNGUARDED_SCRIPT = """
import logging, sys
sys.path[:0] = {paths!r}
from datetime import datetime
from ragsync.db import Database, DbParams
from ragsync.magento.context import MagentoContext
from ragsync.magento.products import ProductReader
from ragsync.settings import Settings
logging.basicConfig(level=logging.INFO, format="%(message)s")
reader = ProductReader(MagentoContext(Database(DbParams.from_url({url!r}))), Settings(), now=datetime(2026, 3, 15))
print("chunks", sum(1 for _ in reader.read_all(chunk_size=10, workers=2)))
"""


def test_workers_do_not_run_the_callers_main_script_again(demo_shop: Database, tmp_path: Any) -> None:
    # multiprocessing's spawned children re-run the caller's main script (Airflow's `airflow`, which
    # cannot start inside a task, or a script that reads at import time); these workers do not
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED_SCRIPT.format(paths=[p for p in sys.path if p], url=demo_shop.params.url()))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "chunks 5"
    assert "reading product chunks in 2 worker processes" in done.stderr
    assert "reading in this process" not in done.stderr and "Traceback" not in done.stderr


def test_a_reader_class_workers_cannot_import_is_read_in_process(demo_shop: Database,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    class LocalReader(ProductReader):
        """A reader defined inside a function: a fresh interpreter cannot import it."""

    reader = LocalReader(MagentoContext(demo_shop), Settings(), now=SHOP_NOW)
    batches, workers = _collect(reader.read_all(chunk_size=10, workers=2))
    assert workers == 0 and len(batches) == 5
    assert "a reader worker process cannot load" in caplog.text and "LocalReader" in caplog.text
    assert "reading in this process" in caplog.text
    plain = ProductReader(MagentoContext(demo_shop), Settings(), now=SHOP_NOW)
    assert _stream(batches) == _stream(list(plain.read_all(chunk_size=10, workers=1)))
    assert _workers() == []
