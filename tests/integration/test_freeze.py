"""Ordering that survives freezes: a worker stopped (SIGSTOP) past its lease does not overwrite a newer version.

A real worker process claims two rows (batch size 1), posts the first to a receiver that holds it,
and is frozen while the second waits in its sender's line. Its 2-second lease expires, the stuck
reset returns the rows, a newer version of the second entity is queued and delivered by another
worker; then the frozen worker is resumed. It must not POST the batch it no longer owns: the
receiver and the ledger end with the newest version and its sequence. And if an old delivery does
reach the receiver anyway, the receiver drops it by its sequence.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from fixtures.receiver import RECEIVER_SECRET, RECEIVER_TENANT, post_signed
from ragsync.db import Database
from ragsync.delivery.hook import RagWebhookHook
from ragsync.documents.model import Document
from ragsync.pipeline.deliver import deliver
from ragsync.settings import Settings
from ragsync.state.ledger import Ledger
from ragsync.state.queue import QueueRepository
from ragsync_dev.receiver import ReferenceReceiver

LEASE_SECONDS = 2
WORKER = f"""
import json, sys
from ragsync.db import Database
from ragsync.delivery.hook import RagWebhookHook
from ragsync.pipeline.deliver import deliver
from ragsync.settings import QueueSettings, Settings

db_url, url, secret, tenant = sys.argv[1:5]
settings = Settings(queue=QueueSettings(batch_size=1, stuck_after_minutes={LEASE_SECONDS} / 60))
hook = RagWebhookHook.from_values(url, secret, tenant, timeout=30)
print(json.dumps(deliver(Database.from_url(db_url), hook, settings, time_budget_seconds=30, worker="frozen").as_dict()))
"""


def doc(entity_id: str, name: str) -> Document:
    return Document("product", entity_id, 1, "save", {"name": name})


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def sequence_of(db: Database, entity_id: str) -> int:
    return int(db.scalar("SELECT sequence FROM rag_sync_queue WHERE entity_id = %s ORDER BY id DESC LIMIT 1",
                         (entity_id,)))


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs SIGSTOP/SIGCONT")
def test_a_worker_frozen_past_its_lease_does_not_post_what_it_no_longer_owns(
        ragsync_db: Database, receiver: ReferenceReceiver) -> None:
    queue = QueueRepository(ragsync_db)
    old, new = doc("7", "old name"), doc("7", "new name")
    assert queue.enqueue([doc("1", "filler"), old]).queued == 2
    old_sequence = sequence_of(ragsync_db, "7")
    receiver.fail_next(status=200, delay=1.0)  # holds the frozen worker's first POST (then stores it)

    worker = subprocess.Popen([sys.executable, "-c", WORKER, ragsync_db.params.url(), receiver.url, RECEIVER_SECRET,
                               RECEIVER_TENANT], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # its first batch is at the receiver, the second (entity 7, old version) waits to be sent
        wait_for(lambda: receiver.request_count >= 1, 20, "the worker's first POST")
        os.kill(worker.pid, signal.SIGSTOP)
        assert ragsync_db.scalar("SELECT COUNT(*) FROM rag_sync_queue WHERE status = 'processing'") == 2

        # the lease expires, the stuck reset returns both rows, a newer version replaces the old one
        wait_for(lambda: queue.reset_stuck().released == 2, 10, "the lease to expire")
        assert queue.enqueue([new]).replaced == 1
        new_sequence = sequence_of(ragsync_db, "7")
        assert new_sequence > old_sequence
        hook = RagWebhookHook.from_values(receiver.url, RECEIVER_SECRET, RECEIVER_TENANT, timeout=10)
        other = deliver(ragsync_db, hook, Settings(), worker="other")
        assert other.sent == 2
        requests_before_resume = receiver.request_count
    finally:
        os.kill(worker.pid, signal.SIGCONT)
    out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err[-2000:]
    frozen = json.loads(out.strip().splitlines()[-1])

    # resumed: its first answer settles nothing (stale), its second batch is not sent at all
    assert (frozen["sent"], frozen["stale"], frozen["batches"]) == (0, 2, 1)
    assert receiver.request_count == requests_before_resume == 1 + other.batches
    assert [i["hash"] for i in receiver.items() if i["id"] == "7"] == [new.hash]
    held = receiver.document("product", "7", 1)
    assert held is not None and (held["hash"], held["sequence"], held["data"]) == (new.hash, new_sequence,
                                                                                   {"name": "new name"})
    entry = Ledger(ragsync_db).lookup([new.key])[new.key]
    assert (entry.delivered_hash, entry.delivered_sequence) == (new.hash, new_sequence)

    # an old delivery forced through anyway (lower sequence) is acknowledged and dropped
    late = post_signed(receiver.url, json.loads(old.item_json(old_sequence)))
    assert late.status_code == 200 and late.json() == {"accepted": 1, "stale": 1}
    held = receiver.document("product", "7", 1)
    assert held is not None and (held["hash"], held["sequence"]) == (new.hash, new_sequence)
    assert receiver.stale_dropped == 1
    unsequenced = post_signed(receiver.url, old.item())  # an old sender without sequence: applied as before
    assert unsequenced.json() == {"accepted": 1}
    held = receiver.document("product", "7", 1)
    assert held is not None and (held["hash"], held["sequence"]) == (old.hash, new_sequence)
