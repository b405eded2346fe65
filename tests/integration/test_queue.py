"""The queue end to end against MariaDB and the reference receiver: dedup, resyncs, concurrent workers."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime
from typing import Any

import pytest

from fixtures.receiver import RECEIVER_SECRET, RECEIVER_TENANT
from ragsync.db import Database
from ragsync.delivery.hook import RagWebhookHook
from ragsync.documents.model import Document
from ragsync.pipeline.deliver import DeliverResult, deliver
from ragsync.settings import QueueSettings, Settings
from ragsync.state.clock import ManualClock
from ragsync.state.queue import QueueRepository
from ragsync_dev.receiver import ReferenceReceiver

START = datetime(2026, 1, 2, 10, 30)


def doc(i: int | str, store: int = 1, **data: Any) -> Document:
    return Document("product", str(i), store, "save", {"name": f"product {i}", "store": store, **data}, START)


def hook_for(receiver: ReferenceReceiver) -> RagWebhookHook:
    return RagWebhookHook.from_values(receiver.url, RECEIVER_SECRET, RECEIVER_TENANT, timeout=10)


def test_ten_changes_before_delivery_give_one_delivery_with_the_last_state(
        ragsync_db: Database, receiver: ReferenceReceiver) -> None:
    clock = ManualClock(START)
    queue = QueueRepository(ragsync_db, clock)
    for version in range(10):
        queue.enqueue([doc(7, version=version)])
        clock.advance(seconds=1)
    result = deliver(ragsync_db, hook_for(receiver), Settings(), clock)
    assert (result.sent, result.batches) == (1, 1)
    items = receiver.items()
    assert len(items) == 1
    assert items[0]["hash"] == doc(7, version=9).hash
    stored = receiver.document("product", "7", 1)
    assert stored is not None and stored["data"]["version"] == 9


def test_unchanged_resync_queues_nothing_and_a_forced_one_everything(
        ragsync_db: Database, receiver: ReferenceReceiver) -> None:
    clock = ManualClock(START)
    queue = QueueRepository(ragsync_db, clock)
    documents = [doc(i, store=s) for i in range(1, 51) for s in (1, 2)]
    assert queue.enqueue(documents, source="full").queued == 100
    assert deliver(ragsync_db, hook_for(receiver), Settings(), clock).sent == 100

    resync = queue.enqueue(documents, source="full")
    assert (resync.written, resync.skipped_unchanged) == (0, 100)
    assert queue.counts_by_status()["pending"] == 0
    assert deliver(ragsync_db, hook_for(receiver), Settings(), clock).batches == 0

    forced = queue.enqueue(documents, source="manual", force=True)
    assert forced.queued == 100
    assert deliver(ragsync_db, hook_for(receiver), Settings(), clock).sent == 100
    assert len(receiver.items()) == 200


@pytest.mark.parametrize("sharded", [False, True], ids=["skip-locked", "sharded"])
def test_four_concurrent_workers_deliver_every_item_exactly_once(
        ragsync_db: Database, receiver: ReferenceReceiver, sharded: bool) -> None:
    queue = QueueRepository(ragsync_db)
    documents = [doc(i, store=s) for i in range(1, 1001) for s in (1, 2)]
    assert queue.enqueue(documents, source="full").queued == 2000
    settings = Settings(queue=QueueSettings(batch_size=25))
    results: list[DeliverResult] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        db = Database(ragsync_db.params)  # each worker its own connection
        try:
            results.append(deliver(db, hook_for(receiver), settings, time_budget_seconds=300, worker=f"w{n}",
                                   shard=n if sharded else None, shards=4 if sharded else None))
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    assert not errors, errors
    assert sum(r.sent for r in results) == 2000
    assert all(r.sent > 0 for r in results), [r.sent for r in results]  # every worker took part
    received = Counter((i["type"], i["id"], i["store_id"]) for i in receiver.items())
    assert len(received) == 2000
    assert max(received.values()) == 1  # none twice
    assert {(i["id"], i["store_id"], i["hash"]) for i in receiver.items()} == {
        (d.id, d.store_id, d.hash) for d in documents}
    assert queue.counts_by_status() == {"pending": 0, "processing": 0, "sent": 2000, "failed": 0, "dead": 0}
