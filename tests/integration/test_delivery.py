"""Delivery end to end against MariaDB and the reference receiver, with a clock the tests move by hand."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests

from fixtures.receiver import RECEIVER_SECRET, RECEIVER_TENANT
from ragsync.db import Database
from ragsync.delivery.batching import build_body, new_batch_id
from ragsync.delivery.hook import RagWebhookHook
from ragsync.delivery.policy import retry_schedule
from ragsync.documents.model import Document
from ragsync.pipeline import maintenance
from ragsync.pipeline.deliver import deliver
from ragsync.settings import BreakerSettings, QueueSettings, Settings
from ragsync.signing import sign_body, signed_headers
from ragsync.state.audit import AuditLog
from ragsync.state.breaker import CircuitBreaker
from ragsync.state.clock import ManualClock
from ragsync.state.ledger import Ledger
from ragsync.state.queue import QueueRepository
from ragsync_dev.receiver import ReferenceReceiver

START = datetime(2026, 1, 2, 10, 30)


def doc(i: int | str, store: int = 1, **data: Any) -> Document:
    return Document("product", str(i), store, "save", {"name": f"product {i}", **data}, START)


def hook_for(receiver: ReferenceReceiver, secret: str = RECEIVER_SECRET) -> RagWebhookHook:
    return RagWebhookHook.from_values(receiver.url, secret, RECEIVER_TENANT, timeout=10)


def queue_rows(db: Database) -> list[dict[str, Any]]:
    return db.query_dicts("SELECT id, entity_id, status, attempts, next_attempt_at, last_http_status, last_error"
                          " FROM rag_sync_queue ORDER BY id")


def breaker_for(db: Database, receiver: ReferenceReceiver, clock: ManualClock,
                settings: Settings) -> CircuitBreaker:
    return CircuitBreaker(db, receiver.url, settings.breaker, clock)


def test_retry_schedule_and_dead_state_follow_the_configured_delays(ragsync_db: Database,
                                                                    receiver: ReferenceReceiver) -> None:
    clock = ManualClock(START)
    settings = Settings(queue=QueueSettings(max_retries=3, retry_delays_minutes=(5, 15, 60)))
    QueueRepository(ragsync_db, clock).enqueue([doc(1)])
    receiver.set_down(True)
    hook = hook_for(receiver)
    for attempt, minutes in enumerate((5, 15, 60), start=1):
        result = deliver(ragsync_db, hook, settings, clock)
        assert (result.failed, result.dead) == (1, 0)
        row = queue_rows(ragsync_db)[0]
        assert (row["status"], row["attempts"], row["last_http_status"]) == ("failed", attempt, 503)
        wait = row["next_attempt_at"] - clock.now()
        assert timedelta(minutes=minutes * 0.9) <= wait <= timedelta(minutes=minutes * 1.1)
        clock.set(row["next_attempt_at"] - timedelta(seconds=1))
        assert deliver(ragsync_db, hook, settings, clock).batches == 0  # not due yet
        clock.advance(seconds=1)
    result = deliver(ragsync_db, hook, settings, clock)
    assert (result.failed, result.dead) == (0, 1)
    row = queue_rows(ragsync_db)[0]
    assert (row["status"], row["attempts"]) == ("dead", 4)
    assert "503" in row["last_error"]
    assert receiver.request_count == 4  # 1 attempt + max_retries retries
    assert deliver(ragsync_db, hook, settings, clock).batches == 0
    assert Ledger(ragsync_db).lookup([("product", "1", 1)])[("product", "1", 1)].failed_status == "dead"


def test_receiver_down_for_thirty_minutes_opens_the_breaker_without_spending_attempts(
        ragsync_db: Database, receiver: ReferenceReceiver) -> None:
    clock = ManualClock(START)
    settings = Settings(queue=QueueSettings(batch_size=10),
                        breaker=BreakerSettings(failure_threshold=5, open_seconds=300))
    queue = QueueRepository(ragsync_db, clock)
    queue.enqueue([doc(i) for i in range(100)])
    hook = hook_for(receiver)
    receiver.set_down(True)

    first = deliver(ragsync_db, hook, settings, clock)
    assert (first.failed, first.batches, first.stopped_reason) == (50, 5, "breaker_open")
    assert breaker_for(ragsync_db, receiver, clock, settings).state().state == "open"
    attempts_when_opened = {r["id"]: r["attempts"] for r in queue_rows(ragsync_db)}
    requests_when_opened = receiver.request_count

    probes = 0
    for _minute in range(30):  # the DAG runs every minute
        clock.advance(minutes=1)
        before = receiver.request_count
        result = deliver(ragsync_db, hook, settings, clock)
        assert result.sent == 0 and result.failed == 0 and result.dead == 0
        assert result.stopped_reason == "breaker_open"
        assert receiver.request_count - before <= 1  # at most one probe
        probes += receiver.request_count - before
    assert probes == 6  # one probe every open_seconds
    assert receiver.request_count == requests_when_opened + probes
    rows = queue_rows(ragsync_db)
    assert {r["id"]: r["attempts"] for r in rows} == attempts_when_opened  # no attempt spent while open
    assert not [r for r in rows if r["status"] == "dead"]
    assert not [r for r in rows if r["status"] == "processing"]

    receiver.set_down(False)
    clock.advance(minutes=5)
    result = deliver(ragsync_db, hook, settings, clock)
    assert result.sent == 100 and result.breaker_state == "closed"
    assert queue.counts_by_status()["sent"] == 100
    assert len({(i["id"], i["store_id"]) for i in receiver.items()}) == 100
    events = [e.event for e in AuditLog(ragsync_db).recent(200)]
    assert events.count("breaker_opened") == 7  # the first opening, then one per failed probe
    assert events.count("breaker_half_open") == 7
    assert events.count("breaker_closed") == 1


def test_a_failure_holds_back_the_batch_queued_behind_it(ragsync_db: Database, receiver: ReferenceReceiver) -> None:
    # The sender has the next batch in line while one is in flight; when that one fails and opens
    # the breaker, the next one must not go out at all.
    clock = ManualClock(START)
    settings = Settings(queue=QueueSettings(batch_size=10), breaker=BreakerSettings(failure_threshold=1))
    QueueRepository(ragsync_db, clock).enqueue([doc(i) for i in range(30)])
    receiver.fail_next(1, status=503)
    result = deliver(ragsync_db, hook_for(receiver), settings, clock)
    assert (result.batches, result.failed, result.released, result.sent) == (1, 10, 20, 0)
    assert result.stopped_reason == "breaker_open"
    assert receiver.request_count == 1
    rows = queue_rows(ragsync_db)
    assert sorted(r["status"] for r in rows) == ["failed"] * 10 + ["pending"] * 20
    assert all(r["attempts"] == 0 for r in rows if r["status"] == "pending")

    # with the breaker's threshold not reached, the held-back batch goes out once the failure is settled
    ragsync_db.execute("DELETE FROM rag_sync_circuit_breaker")
    clock.advance(minutes=10)
    receiver.fail_next(1, status=503)
    result = deliver(ragsync_db, hook_for(receiver), Settings(queue=QueueSettings(batch_size=10)), clock)
    assert (result.batches, result.failed, result.sent) == (3, 10, 20)
    assert [d["status"] for d in receiver.deliveries()] == [503, 503, 200, 200]


def test_an_error_mid_run_sends_nothing_more_and_gives_the_rows_back(ragsync_db: Database,
                                                                    receiver: ReferenceReceiver) -> None:
    clock = ManualClock(START)
    QueueRepository(ragsync_db, clock).enqueue([doc(i) for i in range(40)])
    hook = hook_for(receiver)
    posted = 0
    real_post = hook.post_body

    def post_then_break(body: bytes, msg_id: str, timestamp: int | None = None) -> Any:
        nonlocal posted
        posted += 1
        if posted == 2:
            raise RuntimeError("the worker broke while sending")
        return real_post(body, msg_id, timestamp)

    hook.post_body = post_then_break  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="broke while sending"):
        deliver(ragsync_db, hook, Settings(queue=QueueSettings(batch_size=10)), clock)
    assert posted == 2 and receiver.request_count == 1  # the batches waiting behind it were not sent
    rows = queue_rows(ragsync_db)
    assert sorted(r["status"] for r in rows) == ["pending"] * 30 + ["sent"] * 10
    assert all(r["attempts"] == 0 for r in rows if r["status"] == "pending")


def test_one_poison_item_among_fifty_goes_dead_with_the_response_text(
        ragsync_db: Database, receiver: ReferenceReceiver) -> None:
    clock = ManualClock(START)
    queue = QueueRepository(ragsync_db, clock)
    queue.enqueue([doc(i) for i in range(1, 51)])
    receiver.poison(("product", "7"))
    result = deliver(ragsync_db, hook_for(receiver), Settings(), clock)
    assert (result.sent, result.dead, result.failed) == (49, 1, 0)
    assert result.split > 0 and result.breaker_state == "closed"
    delivered = {i["id"] for i in receiver.items()}
    assert delivered == {str(i) for i in range(1, 51)} - {"7"}
    dead = [r for r in queue_rows(ragsync_db) if r["status"] == "dead"]
    assert [(r["entity_id"], r["last_http_status"]) for r in dead] == [("7", 422)]
    assert "poison item product 7 store 1" in dead[0]["last_error"]
    entry = AuditLog(ragsync_db).recent(1, event="item_dead")[0]
    assert entry.details is not None and entry.details["entity_id"] == "7"
    assert "poison item product 7" in entry.message
    assert breaker_for(ragsync_db, receiver, clock, Settings()).state().consecutive_failures == 0


def test_429_with_retry_after_delays_the_next_attempt(ragsync_db: Database, receiver: ReferenceReceiver) -> None:
    clock = ManualClock(START)
    QueueRepository(ragsync_db, clock).enqueue([doc(1)])
    receiver.fail_next(1, status=429, retry_after="3600")
    hook = hook_for(receiver)
    result = deliver(ragsync_db, hook, Settings(), clock)
    assert result.failed == 1
    row = queue_rows(ragsync_db)[0]
    assert (row["status"], row["last_http_status"]) == ("failed", 429)
    assert row["next_attempt_at"] == START + timedelta(seconds=3600)
    clock.advance(minutes=59)
    assert deliver(ragsync_db, hook, Settings(), clock).batches == 0
    clock.advance(minutes=1)
    assert deliver(ragsync_db, hook, Settings(), clock).sent == 1


def test_retry_after_pauses_every_worker_until_the_time_given(ragsync_db: Database,
                                                              receiver: ReferenceReceiver) -> None:
    clock = ManualClock(START)
    settings = Settings(queue=QueueSettings(batch_size=5))
    QueueRepository(ragsync_db, clock).enqueue([doc(i) for i in range(1, 41)])
    receiver.fail_next(1, status=503, retry_after="900")
    first = deliver(ragsync_db, hook_for(receiver), settings, clock, worker="w1")
    # the worker that got the answer stops at once: no more requests after the 503
    assert (first.batches, first.failed, receiver.request_count) == (1, 5, 1)
    pause = breaker_for(ragsync_db, receiver, clock, settings).state()
    assert pause.paused_until == START + timedelta(seconds=900) and "Retry-After: 900" in (pause.pause_reason or "")
    # another worker (its own connection) claims and sends nothing while the pause lasts, though
    # the breaker is closed and its probe time (open_seconds=300) would have come
    other = Database(ragsync_db.params)
    clock.advance(seconds=600)
    second = deliver(other, hook_for(receiver), settings, clock, worker="w2")
    assert (second.batches, second.stopped_reason, receiver.request_count) == (0, "breaker_open", 1)
    assert {r["status"] for r in queue_rows(ragsync_db)} == {"pending", "failed"}
    clock.advance(seconds=300)
    third = deliver(other, hook_for(receiver), settings, clock, worker="w2")
    assert third.sent == 40 and {r["status"] for r in queue_rows(ragsync_db)} == {"sent"}
    assert breaker_for(ragsync_db, receiver, clock, settings).state().paused_until is None
    assert AuditLog(ragsync_db).recent(1, event="delivery_paused")[0].details["paused_until"].startswith("2026")
    other.close()


def test_410_opens_the_breaker_at_once(ragsync_db: Database, receiver: ReferenceReceiver) -> None:
    clock = ManualClock(START)
    settings = Settings(queue=QueueSettings(batch_size=5))
    QueueRepository(ragsync_db, clock).enqueue([doc(i) for i in range(20)])
    receiver.fail_next(1, status=410)
    result = deliver(ragsync_db, hook_for(receiver), settings, clock)
    assert (result.failed, result.batches, result.stopped_reason, result.breaker_state) == (
        5, 1, "breaker_open", "open")
    assert receiver.request_count == 1
    statuses = [r["status"] for r in queue_rows(ragsync_db)]
    assert statuses.count("failed") == 5 and statuses.count("pending") == 15
    opened = AuditLog(ragsync_db).recent(1, event="breaker_opened")[0]
    assert "gone" in opened.message


def test_401_is_retried_and_the_audit_says_the_secret_is_likely_wrong(ragsync_db: Database,
                                                                      receiver: ReferenceReceiver) -> None:
    clock = ManualClock(START)
    QueueRepository(ragsync_db, clock).enqueue([doc(1)])
    result = deliver(ragsync_db, hook_for(receiver, secret="wrong-secret"), Settings(), clock)
    assert result.failed == 1
    row = queue_rows(ragsync_db)[0]
    assert row["last_http_status"] == 401 and "secret" in row["last_error"]
    entry = AuditLog(ragsync_db).recent(1, event="batch_failed")[0]
    assert "secret or the tenant id is likely wrong" in entry.message
    assert breaker_for(ragsync_db, receiver, clock, Settings()).state().consecutive_failures == 1


def test_worker_killed_between_post_and_settle_redelivers_after_the_stuck_reset(
        ragsync_db: Database, receiver: ReferenceReceiver) -> None:
    clock = ManualClock(START)
    settings = Settings(queue=QueueSettings(stuck_after_minutes=30))
    queue = QueueRepository(ragsync_db, clock)
    queue.enqueue([doc(i) for i in range(10)])
    hook = hook_for(receiver)
    # the worker claims and POSTs, then dies before settling
    claim = queue.claim_due(50, settings.queue.stuck_after_minutes * 60)
    batch_id = new_batch_id(clock.now())
    assert hook.post_body(build_body([r.document for r in claim.rows], batch_id, clock.now()), batch_id).ok
    assert len(receiver.items()) == 10
    assert deliver(ragsync_db, hook, settings, clock).batches == 0  # leased: nobody else sends them
    clock.advance(minutes=29)
    assert maintenance.reset_stuck(ragsync_db, settings, clock)["reset"] == 0
    clock.advance(minutes=1)
    assert maintenance.reset_stuck(ragsync_db, settings, clock) == {"reset": 10, "superseded": 0}
    result = deliver(ragsync_db, hook, settings, clock)
    assert result.sent == 10
    items = receiver.items()
    assert len(items) == 20  # at least once: every item twice, with the same hash
    for i in range(10):
        sent = [x for x in items if x["id"] == str(i)]
        assert len(sent) == 2 and sent[0]["hash"] == sent[1]["hash"] == doc(i).hash
    assert queue.counts_by_status()["sent"] == 10
    # the dead worker's settle, had it come back, no longer owns the rows
    late = retry_schedule(claim.rows, settings.queue, clock.now())
    assert queue.settle_failed(claim, 503, "late", retry_at=late).stale == 10
    assert queue.counts_by_status()["sent"] == 10
    assert AuditLog(ragsync_db).recent(10, event="stuck_reset")


def test_signature_matches_githubs_published_vector() -> None:
    assert sign_body(b"Hello, World!", "It's a Secret to Everybody") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")


def test_receiver_accepts_what_we_send_and_rejects_a_tampered_body(ragsync_db: Database,
                                                                   receiver: ReferenceReceiver) -> None:
    clock = ManualClock(START)
    QueueRepository(ragsync_db, clock).enqueue([doc(1), doc(2)])
    assert deliver(ragsync_db, hook_for(receiver), Settings(), clock).sent == 2
    assert [d["status"] for d in receiver.deliveries()] == [200]

    body = build_body([doc(3).item_json(), doc(4).item_json()], "mag-20260102103000-0badf00d", START)
    headers = signed_headers(body, RECEIVER_SECRET, "mag-20260102103000-0badf00d")
    headers.update({"Content-Type": "application/json", "X-Tenant-ID": RECEIVER_TENANT})
    tampered = body.replace(b"product 3", b"product 9")
    response = requests.post(receiver.url, data=tampered, headers=headers, timeout=10, allow_redirects=False)
    assert response.status_code == 401
    assert "does not match the body" in response.text
    assert requests.post(receiver.url, data=body, headers=headers, timeout=10).status_code == 200


def test_logs_never_hold_the_secret_a_signature_or_a_document(ragsync_db: Database, receiver: ReferenceReceiver,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    clock = ManualClock(START)
    settings = Settings(queue=QueueSettings(batch_size=10))
    queue = QueueRepository(ragsync_db, clock)
    documents = [doc(i, description=f"UNIQUE-DOCUMENT-TEXT-{i}") for i in range(30)]
    queue.enqueue(documents)
    receiver.poison(("product", "4"))
    receiver.fail_next(1, status=503)
    hook = hook_for(receiver)
    deliver(ragsync_db, hook, settings, clock)
    clock.advance(minutes=10)
    deliver(ragsync_db, hook, settings, clock)
    maintenance.test_connection(ragsync_db, hook, username="alice")
    hook_for(receiver, secret="wrong").post_body(b'{"type":"ping"}', "mag-1")
    assert len(receiver.items()) == 29
    text = caplog.text
    assert "delivery w0" in text  # the run did log
    assert RECEIVER_SECRET not in text
    assert "sha256=" not in text and "v1," not in text
    assert "UNIQUE-DOCUMENT-TEXT" not in text
    for d in documents:
        assert d.item_json() not in text
        assert d.hash not in text


@pytest.mark.parametrize("garbage", ["html", "json"])
def test_a_200_with_garbage_from_the_receiver_is_not_a_delivery(ragsync_db: Database, receiver: ReferenceReceiver,
                                                                garbage: str) -> None:
    clock = ManualClock(START)
    QueueRepository(ragsync_db, clock).enqueue([doc(1), doc(2)])
    receiver.fail_next(1, status=200, garbage=garbage)
    result = deliver(ragsync_db, hook_for(receiver), Settings(), clock)
    assert (result.sent, result.failed) == (0, 2)
    rows = queue_rows(ragsync_db)
    assert {(r["status"], r["last_http_status"]) for r in rows} == {("failed", 200)}
    assert all("not acknowledged" in r["last_error"] for r in rows)
    assert receiver.items() == []
    assert ragsync_db.scalar("SELECT COUNT(*) FROM rag_sync_ledger WHERE delivered_hash IS NOT NULL") == 0
