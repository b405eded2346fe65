"""Deliver the queue: claim due rows, sign and POST them in batches, settle each batch by its response.

One call is one worker's run (an Airflow task, possibly one of several mapped shards): it loops
until nothing is due, the circuit breaker stops it, or its time budget is used. Each round asks
the breaker first, claims at most ``batch_size`` rows in a short transaction, POSTs outside any
transaction, classifies the response (:func:`ragsync.delivery.policy.classify_response`) and
settles in a new transaction guarded by the lease token:

* 2xx: ``sent``, ledger updated, breaker success;
* 400/413/422: the batch is halved and the halves are sent at once, until a lone rejected item
  goes ``dead`` with the response text (the backend's answer is not a breaker failure);
* timeout, connection error, 3xx, 408, 429, 5xx, 401/403: ``failed`` with the next attempt per
  schedule (not before ``Retry-After``); breaker failure; an answer with ``Retry-After`` also pauses
  the endpoint for every worker until then (:meth:`CircuitBreaker.pause`) and ends this run;
* 410: ``failed`` and the breaker opens at once.

While the breaker is open nothing is claimed; a probe (one item) is sent when it is due. A failed
probe, or a failure that comes back after another worker opened the breaker, releases the rows
without spending an attempt.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from ragsync.db import Database
from ragsync.delivery.batching import build_body, new_batch_id, split_by_limits
from ragsync.delivery.hook import DeliveryResponse, RagWebhookHook, safe_url
from ragsync.delivery.policy import Outcome, classify_response, parse_retry_after, retry_schedule
from ragsync.settings import Settings
from ragsync.state.breaker import CLOSED, CircuitBreaker
from ragsync.state.clock import Clock, SystemClock
from ragsync.state.queue import QueueRepository
from ragsync.state.queue_rows import QueueRow, SentBatch, SettleResult

log = logging.getLogger(__name__)

PROBE_BATCH_SIZE = 1
CLAIM_BATCHES = 6  # batches leased per claim transaction: fewer commits, still a short lease
SETTLE_GROUP = 4  # delivered batches settled per transaction
# The next claim starts as soon as the current one is taken: a claim's round trips and commit
# then overlap with sending its batches (measured: starting it with one batch left made the
# sender wait for claims for a fifth of the run).
PREFETCH_WHEN_READY = CLAIM_BATCHES
SEND_AHEAD = 2  # batches handed to the sender at once: the next goes out as soon as the last answered
# A batch whose claim is younger than this (by the monotonic and the wall clock alike, and at most a
# tenth of the lease) is sent without asking the database whether the lease still holds: nothing
# but a freeze or a stall can take a lease that has over 90% of its time left, and both show on
# the clocks. Older batches are checked (and renewed) right before their POST. Measured: the check
# costs about 1 ms per batch inside a busy worker (GIL and round trip), 15% of the bench's run
# when made for every batch. 0 checks every batch.
LEASE_TRUST_SECONDS = 5.0
AUTH_HINT = "the API secret or the tenant id is likely wrong"
GONE_HINT = "the endpoint is gone (HTTP 410): check the webhook URL"


@dataclass
class DeliverResult:
    """What one delivery run did."""

    sent: int = 0
    failed: int = 0
    dead: int = 0
    released: int = 0
    superseded: int = 0
    stale: int = 0
    split: int = 0
    batches: int = 0
    breaker_state: str = CLOSED
    stopped_reason: str = ""
    elapsed_seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        """Return the counts as a dict (for XCom, the CLI and the audit log)."""
        return asdict(self)


@dataclass
class _Batch:
    """Claimed rows that go out in one request; ``probe`` when it is the breaker's probe."""

    rows: list[QueueRow]
    probe: bool = False
    batch_id: str = ""
    body: bytes = b""
    future: Future[DeliveryResponse | None] | None = None
    lost: list[QueueRow] = field(default_factory=list)  # rows whose lease was gone right before the POST


class _Run:
    """One delivery run (one worker): a sender thread POSTs, the calling thread claims and settles.

    Every POST goes through a single sender thread, so a worker never has two requests in flight;
    the next batch waits in the sender's line, so it goes out the moment the last one answered
    (unless that answer was not a 2xx: then it is held back until the answer is settled). While
    a request is in flight, a claimer thread claims the next rows and a settler thread settles
    delivered batches (up to ``SETTLE_GROUP`` per transaction), each on its own connection, so
    the database round trips and commits overlap with each other and with the backend's time.
    After a failed response nothing new is sent until it is settled and the breaker has seen it.
    Each connection is used by one thread only: the caller's by the calling thread
    (failures, releases, the breaker), the claim, settle and send connections by their threads.
    The sender checks a batch's lease on its connection right before the POST and leaves out the
    rows it no longer owns, so a worker frozen past its lease never sends what was handed on.
    """

    def __init__(self, db: Database, hook: RagWebhookHook, settings: Settings, clock: Clock, worker: str,
                 shard: int | None, shards: int | None, time_budget_seconds: float) -> None:
        self.hook = hook
        self.settings = settings
        self.clock = clock
        self.worker = worker
        self.shard = shard
        self.shards = shards
        self.queue = QueueRepository(db, clock)
        self.breaker = CircuitBreaker(db, safe_url(hook.url), settings.breaker, clock)
        self.rng = random.Random()  # the retry delays' jitter
        self.result = DeliverResult()
        self.unsettled: dict[int, QueueRow] = {}
        self.delivered: list[SentBatch] = []  # successful batches not settled yet (settled in groups)
        # Delivered groups are settled on a second connection by a settler thread, while the
        # calling thread claims and the sender posts; drain() waits for it whenever order matters.
        self.settle_db = Database(db.params)
        self.settle_queue = QueueRepository(self.settle_db, clock)
        self.settler = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"ragsync-settle-{worker}")
        self.settling: list[tuple[list[SentBatch], Future[SettleResult]]] = []
        # Claims run on a third connection in a claimer thread, started while batches are still
        # waiting to be sent, so that a claim's fixed cost never leaves the sender idle.
        self.claim_db = Database(db.params)
        self.claim_queue = QueueRepository(self.claim_db, clock)
        self.claim_breaker = CircuitBreaker(self.claim_db, safe_url(hook.url), settings.breaker, clock)
        self.claimer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"ragsync-claim-{worker}")
        self.next_claim: Future[tuple[list[_Batch], str | None]] | None = None
        self.lease_seconds = settings.queue.stuck_after_minutes * 60
        self.started = time.monotonic()
        self.deadline = self.started + time_budget_seconds
        self.sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"ragsync-deliver-{worker}")
        # The sender checks (and renews) the lease of each batch right before its POST, on a fourth connection.
        self.send_db = Database(db.params)
        self.send_queue = QueueRepository(self.send_db, clock)
        self.halted = threading.Event()  # set by the sender on an answer other than 2xx
        self.trust_seconds = min(LEASE_TRUST_SECONDS, self.lease_seconds / 10)
        self.claimed: dict[str, tuple[float, datetime]] = {}  # lease token -> (monotonic, clock) time of the claim

    # -- claiming ---------------------------------------------------------------------------------

    def claim(self) -> tuple[list[_Batch], str | None]:
        """Return the next batches to send, or a reason to stop (runs in the claimer thread)."""
        if time.monotonic() >= self.deadline:
            return [], "time_budget"
        decision = self.claim_breaker.allow()
        if decision.stop:
            return [], "breaker_open"
        queue_settings = self.settings.queue
        limit = PROBE_BATCH_SIZE if decision.probe else queue_settings.batch_size
        claim = self.claim_queue.claim_due(limit if decision.probe else limit * CLAIM_BATCHES, self.lease_seconds,
                                           shard=self.shard, shards=self.shards)
        if not claim:
            if decision.probe and decision.probe_token:
                self.claim_breaker.release_probe(decision.probe_token)
            return [], "queue_empty"
        self.claimed[claim.lease_token] = (time.monotonic(), claim.claimed_at)
        return [_Batch(rows, decision.probe)
                for rows in split_by_limits(claim.rows, limit, queue_settings.max_batch_bytes)], None

    def request_claim(self) -> None:
        """Start the next claim in the claimer thread, unless one is already running."""
        if self.next_claim is None:
            self.next_claim = self.claimer.submit(self.claim)

    def take_claim(self) -> tuple[list[_Batch], str | None]:
        """Wait for the running claim and take its rows into this run's care."""
        self.request_claim()
        assert self.next_claim is not None
        future, self.next_claim = self.next_claim, None
        batches, stop = future.result()
        for batch in batches:
            self.unsettled.update((row.id, row) for row in batch.rows)
        return batches, stop

    # -- sending ----------------------------------------------------------------------------------

    def start(self, batch: _Batch, guarded: bool = True) -> _Batch:
        """Build, sign and hand the batch to the sender thread (behind any batch already handed over).

        A ``guarded`` batch is not sent when a batch before it got an answer other than 2xx: its
        response is then None, and it goes out again once that answer is settled.
        """
        now = self.clock.now()
        batch.batch_id = new_batch_id(now)
        batch.body = build_body([r.document for r in batch.rows], batch.batch_id, now)
        batch.future = self.sender.submit(self._send, batch, guarded)
        return batch

    def _send(self, batch: _Batch, guarded: bool) -> DeliveryResponse | None:
        """POST one batch (in the sender thread); after an answer other than 2xx, hold guarded batches back.

        Right before the POST the batch's lease is checked, unless its claim is only seconds old
        (:meth:`_fresh`), and renewed when half of it or less is left
        (:meth:`QueueRepository.extend_lease`): rows this worker no longer owns (it was frozen
        or stalled past the lease, and the stuck reset gave them back) are taken out of the batch
        and neither sent nor settled by it; the rest is sent, re-signed when the body changed.
        None with no rows left: nothing was sent.
        """
        if guarded and self.halted.is_set():
            return None
        try:
            owned = batch.rows if self._fresh(batch) else self.send_queue.extend_lease(batch.rows, self.lease_seconds)
            if len(owned) != len(batch.rows):
                keep = {row.id for row in owned}
                batch.lost = [row for row in batch.rows if row.id not in keep]
                batch.rows = owned
                if not owned:
                    return None
                batch.body = build_body([r.document for r in owned], batch.batch_id, self.clock.now())
            response = self.hook.post_body(batch.body, batch.batch_id)
        except BaseException:
            self.halted.set()  # the run is going to stop: nothing behind this batch goes out
            raise
        if not response.ok:
            self.halted.set()  # before returning: the next batch in line sees it
        return response

    def _fresh(self, batch: _Batch) -> bool:
        """Return whether the batch's claim is so young that its lease cannot be gone (see LEASE_TRUST_SECONDS)."""
        claimed = self.claimed.get(batch.rows[0].lease_token) if batch.rows else None
        if claimed is None or len({row.lease_token for row in batch.rows}) != 1:
            return False
        since, at = claimed
        return (time.monotonic() - since < self.trust_seconds
                and (self.clock.now() - at).total_seconds() < self.trust_seconds)

    def wait(self, batch: _Batch) -> DeliveryResponse | None:
        """Return the batch's response once the sender has it (None: held back, not sent)."""
        assert batch.future is not None
        response = batch.future.result()
        if batch.lost:
            self._done(batch.lost, len(batch.lost))  # no longer ours: counted as stale, left to their owner
            batch.lost = []
        if response is not None:
            self.result.batches += 1
        return response

    # -- settling ---------------------------------------------------------------------------------

    def settle(self, batch: _Batch, response: DeliveryResponse) -> bool:  # noqa: C901 - one branch per response outcome
        """Settle a batch by its response; return False when delivery must stop (breaker open)."""
        rows = batch.rows
        outcome = classify_response(response.status, response.error_kind)
        log.debug("batch %s: %d item(s), %d bytes -> %s (%s) in %.0f ms", batch.batch_id, len(rows),
                  len(batch.body), response.status if response.status is not None else response.error_kind,
                  outcome.value, response.elapsed * 1000)
        details = {"worker": self.worker, "bytes": len(batch.body),
                   "elapsed_ms": round(response.elapsed * 1000, 1)}

        if outcome is Outcome.SENT:
            self.delivered.append(SentBatch(list(rows), batch.batch_id, response.status, details))
            if batch.probe:
                self.drain()  # the probe's success closes the breaker before anything else is claimed
            elif len(self.delivered) >= SETTLE_GROUP:
                self.flush()
            return True

        self.drain()  # what was delivered before this batch is settled (and counted) first

        if outcome is Outcome.SPLIT:
            if batch.probe:
                self.breaker.record_success()  # the endpoint is up and judging content
            if len(rows) == 1:
                settled = self.queue.settle_dead(rows, response.status, response.describe(), batch.batch_id)
                self.result.dead += settled.dead
                self._done(rows, settled.stale)
                log.warning("%s %s (store %s) rejected by the backend and marked dead: HTTP %s",
                            rows[0].entity_type, rows[0].entity_id, rows[0].store_id, response.status)
                return True
            self.result.split += 1
            middle = len(rows) // 2
            log.info("batch %s of %d items rejected with HTTP %s; retrying it in halves", batch.batch_id,
                     len(rows), response.status)
            for half in (rows[:middle], rows[middle:]):
                part = self.start(_Batch(half), guarded=False)
                answer = self.wait(part)
                if answer is None:
                    continue  # unguarded, so not sent only because no row of it was leased any more
                if not self.settle(part, answer):
                    return False
            return True

        error = self._error_text(outcome, response)
        retry_after = parse_retry_after(response.retry_after, self.clock.now())
        if retry_after is not None:
            # The backend asked every sender to wait: pause the endpoint for all workers (shared
            # breaker row) and stop this run; the rows below are settled or released first.
            until = self.clock.now() + timedelta(seconds=retry_after)
            self.breaker.pause(until, f"HTTP {response.status} Retry-After: {response.retry_after}")
        if batch.probe or self.breaker.state().state != CLOSED:
            # A failed probe, or a failure that comes back after another worker opened the
            # breaker: the rows go back to pending and no attempt is spent.
            released = self.queue.release(rows, "probe failed" if batch.probe else "circuit breaker open")
            self.result.released += released.released
            self.result.superseded += released.superseded
            self._done(rows, released.stale)
            if batch.probe:
                if outcome is Outcome.GONE:
                    self.breaker.open(GONE_HINT)
                else:
                    self.breaker.record_failure(error)
            return False

        schedule = retry_schedule(rows, self.settings.queue, self.clock.now(), self.rng, retry_after)
        settled = self.queue.settle_failed(rows, response.status, error, retry_at=schedule, batch_id=batch.batch_id,
                                           details={**details, "retry_after_seconds": retry_after})
        self.result.failed += settled.failed
        self.result.dead += settled.dead
        self.result.superseded += settled.superseded
        self._done(rows, settled.stale)
        if outcome is Outcome.GONE:
            self.breaker.open(GONE_HINT)
            return False
        closed = self.breaker.record_failure(error).state == CLOSED
        return closed and retry_after is None

    def flush(self) -> None:
        """Hand the delivered batches not settled yet to the settler (one transaction for the group)."""
        if self.delivered:
            batches, self.delivered = self.delivered, []
            self.settling.append((batches, self.settler.submit(self.settle_queue.settle_sent_many, batches)))
        self._collect(wait=False)

    def drain(self) -> None:
        """Settle everything delivered so far and wait until it is committed."""
        self.flush()
        self._collect(wait=True)

    def _collect(self, wait: bool) -> None:
        """Account for finished settles (all of them with ``wait``) and tell the breaker."""
        succeeded = False
        while self.settling and (wait or self.settling[0][1].done()):
            batches, future = self.settling.pop(0)
            settled = future.result()
            for batch in batches:
                self._done(batch.rows, 0)
            self.result.stale += settled.stale
            self.result.sent += settled.sent
            succeeded = True
        if succeeded:
            self.breaker.record_success()

    def _done(self, rows: Sequence[QueueRow], stale: int) -> None:
        for row in rows:
            self.unsettled.pop(row.id, None)
        self.result.stale += stale

    def release_unsettled(self, reason: str) -> None:
        """Settle what was delivered, then give back every other leased row (stop, or an error mid-run)."""
        try:
            if self.next_claim is not None:
                self.take_claim()  # a claim started ahead: its rows are given back below
            self.drain()
        finally:
            self.release_rest(reason)

    def release_rest(self, reason: str) -> None:
        """Give back every leased row that was neither delivered nor settled."""
        self.delivered = []  # rows whose settle failed stay in unsettled: released, so sent again
        self.settling = []
        if self.unsettled:
            released = self.queue.release(list(self.unsettled.values()), reason)
            self.result.released += released.released
            self.result.superseded += released.superseded
            self.unsettled.clear()

    @staticmethod
    def _error_text(outcome: Outcome, response: DeliveryResponse) -> str:
        if outcome is Outcome.AUTH:
            return f"{response.describe()} ({AUTH_HINT})"
        if outcome is Outcome.GONE:
            return f"{response.describe()} ({GONE_HINT})"
        return response.describe()

    # -- the loop ---------------------------------------------------------------------------------

    def loop(self) -> str:  # noqa: C901 - the delivery loop's stop conditions, read in one place
        """Send and settle until there is nothing to do; return why it stopped.

        Up to ``SEND_AHEAD`` batches are handed to the sender, so it posts the next one as soon
        as the last one answered; the caller settles each response meanwhile. An answer other
        than 2xx holds back the batches behind it (they are not sent) until it is settled and
        the breaker has judged it; they then go out again, in order, unless delivery stops.
        Nothing is handed over behind the breaker's probe: the probe's outcome decides what follows.
        """
        ready, stop = self.take_claim()
        in_flight: deque[_Batch] = deque()
        held_back: list[_Batch] = []
        exhausted = False  # a claim made while batches were out found nothing: look again once they are settled
        while True:
            if not in_flight and self.halted.is_set():
                self.halted.clear()
                ready[0:0] = [_Batch(b.rows, b.probe) for b in held_back]
                held_back = []
            probing = any(b.probe for b in in_flight)
            if not ready and stop is None and in_flight and self.next_claim is not None and not probing:
                ready, stop = self.take_claim()  # claimed ahead, usually finished by now
                if stop == "queue_empty":
                    stop, exhausted = None, True
            while (stop is None and ready and len(in_flight) < SEND_AHEAD and not self.halted.is_set()
                   and not (in_flight and (in_flight[-1].probe or ready[0].probe))):
                in_flight.append(self.start(ready.pop(0)))
            if not in_flight and not ready and stop is None:
                # settle everything before looking again: a row still processing holds its entity's next row back
                self.drain()
                exhausted = False
            probing = any(b.probe for b in in_flight)
            if stop is None and not probing and not exhausted and len(ready) <= PREFETCH_WHEN_READY:
                self.request_claim()  # claim ahead while batches go out
            if not in_flight:
                if stop is None and not ready:
                    ready, stop = self.take_claim()
                    if ready and stop is None:
                        continue
                self.drain()
                return stop or "queue_empty"
            batch = in_flight.popleft()
            response = self.wait(batch)
            if response is None:
                if batch.rows:  # else every row had lost its lease: nothing was sent, nothing to settle
                    held_back.append(batch)
            elif not self.settle(batch, response):
                stop = "breaker_open"

    def close(self) -> None:
        """Stop the helper threads (after their current work) and close their connections."""
        self.sender.shutdown(wait=True)
        self.claimer.shutdown(wait=True)
        self.settler.shutdown(wait=True)
        self.claim_db.close()
        self.settle_db.close()
        self.send_db.close()


def deliver(
    db: Database,
    hook: RagWebhookHook,
    settings: Settings,
    clock: Clock | None = None,
    time_budget_seconds: float = 50.0,
    worker: str = "w0",
    shard: int | None = None,
    shards: int | None = None,
) -> DeliverResult:
    """Deliver due queue rows until none is due, the breaker stops delivery, or the time budget is used.

    With ``shards``, this worker only claims rows with ``id % shards == shard`` so that mapped
    tasks deliver disjoint rows in parallel (claims are safe without sharding too: SKIP LOCKED).
    """
    run = _Run(db, hook, settings, clock or SystemClock(), worker, shard, shards, time_budget_seconds)
    result = run.result
    try:
        result.stopped_reason = run.loop()
    finally:
        run.halted.set()  # after an error, a batch still waiting in the sender's line is not sent
        run.sender.shutdown(wait=True)  # a request still in flight (after an error) finishes first
        try:
            run.release_unsettled("delivery stopped")
        finally:
            run.close()
    result.breaker_state = run.breaker.state().state
    result.elapsed_seconds = round(time.monotonic() - run.started, 3)
    log.info("delivery %s: sent=%d failed=%d dead=%d released=%d split=%d batches=%d in %.1f s; stopped: %s "
             "(breaker %s)", worker, result.sent, result.failed, result.dead, result.released, result.split,
             result.batches, result.elapsed_seconds, result.stopped_reason, result.breaker_state)
    return result
