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
  schedule (not before ``Retry-After``); breaker failure;
* 410: ``failed`` and the breaker opens at once.

While the breaker is open nothing is claimed; a probe (one item) is sent when it is due. A failed
probe, or a failure that comes back after another worker opened the breaker, releases the rows
without spending an attempt.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from ragsync.db import Database
from ragsync.delivery.batching import build_body, new_batch_id, split_by_limits
from ragsync.delivery.hook import DeliveryResponse, RagWebhookHook, safe_url
from ragsync.delivery.policy import Outcome, classify_response, parse_retry_after
from ragsync.settings import Settings
from ragsync.state.breaker import CLOSED, CircuitBreaker
from ragsync.state.clock import Clock, SystemClock
from ragsync.state.queue import QueueRepository, QueueRow

log = logging.getLogger(__name__)

PROBE_BATCH_SIZE = 1
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


class _Run:
    """The state of one delivery run (one worker)."""

    def __init__(self, db: Database, hook: RagWebhookHook, settings: Settings, clock: Clock, worker: str) -> None:
        self.hook = hook
        self.settings = settings
        self.clock = clock
        self.worker = worker
        self.queue = QueueRepository(db, clock, settings.queue)
        self.breaker = CircuitBreaker(db, safe_url(hook.url), settings.breaker, clock)
        self.result = DeliverResult()

    def send(self, rows: Sequence[QueueRow], probe: bool, unsettled: dict[int, QueueRow]) -> bool:
        """POST one batch and settle it; return False when delivery must stop (breaker open)."""
        now = self.clock.now()
        batch_id = new_batch_id(now)
        body = build_body([r.document for r in rows], batch_id, now)
        response = self.hook.post_body(body, batch_id)
        self.result.batches += 1
        outcome = classify_response(response.status, response.error_kind)
        log.debug("batch %s: %d item(s), %d bytes -> %s (%s) in %.0f ms", batch_id, len(rows), len(body),
                  response.status if response.status is not None else response.error_kind, outcome.value,
                  response.elapsed * 1000)
        details = {"worker": self.worker, "bytes": len(body), "elapsed_ms": round(response.elapsed * 1000, 1)}

        if outcome is Outcome.SENT:
            settled = self.queue.settle_sent(rows, batch_id, response.status, details)
            self._account(settled.sent, rows, unsettled, stale=settled.stale)
            self.result.sent += settled.sent
            self.breaker.record_success()
            return True

        if outcome is Outcome.SPLIT:
            if probe:
                self.breaker.record_success()  # the endpoint is up and judging content
            if len(rows) == 1:
                settled = self.queue.settle_dead(rows, response.status, response.describe(), batch_id)
                self.result.dead += settled.dead
                self._account(settled.dead, rows, unsettled, stale=settled.stale)
                log.warning("%s %s (store %s) rejected by the backend and marked dead: HTTP %s",
                            rows[0].entity_type, rows[0].entity_id, rows[0].store_id, response.status)
                return True
            self.result.split += 1
            middle = len(rows) // 2
            log.info("batch %s of %d items rejected with HTTP %s; retrying it in halves", batch_id, len(rows),
                     response.status)
            return self.send(rows[:middle], False, unsettled) and self.send(rows[middle:], False, unsettled)

        error = self._error_text(outcome, response)
        if probe:
            released = self.queue.release(rows, "probe failed")
            self._account(released.released + released.superseded, rows, unsettled, stale=released.stale)
            self.result.released += released.released
            self.result.superseded += released.superseded
            if outcome is Outcome.GONE:
                self.breaker.open(GONE_HINT)
            else:
                self.breaker.record_failure(error)
            return False

        if self.breaker.state().state != CLOSED:
            # Another worker opened the breaker while this batch was in flight: no attempt is spent.
            released = self.queue.release(rows, "circuit breaker open")
            self._account(released.released + released.superseded, rows, unsettled, stale=released.stale)
            self.result.released += released.released
            self.result.superseded += released.superseded
            return False

        retry_after = parse_retry_after(response.retry_after, self.clock.now())
        settled = self.queue.settle_failed(rows, response.status, error, retry_after, batch_id, details)
        self.result.failed += settled.failed
        self.result.dead += settled.dead
        self.result.superseded += settled.superseded
        self._account(len(settled.settled_ids), rows, unsettled, stale=settled.stale)
        if outcome is Outcome.GONE:
            self.breaker.open(GONE_HINT)
            return False
        return self.breaker.record_failure(error).state == CLOSED

    def _account(self, count: int, rows: Sequence[QueueRow], unsettled: dict[int, QueueRow], stale: int) -> None:
        for row in rows:
            unsettled.pop(row.id, None)
        self.result.stale += stale

    @staticmethod
    def _error_text(outcome: Outcome, response: DeliveryResponse) -> str:
        if outcome is Outcome.AUTH:
            return f"{response.describe()} ({AUTH_HINT})"
        if outcome is Outcome.GONE:
            return f"{response.describe()} ({GONE_HINT})"
        return response.describe()


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
    clock = clock or SystemClock()
    run = _Run(db, hook, settings, clock, worker)
    queue_settings = settings.queue
    lease_seconds = queue_settings.stuck_after_minutes * 60
    started = time.monotonic()
    result = run.result
    while True:
        if time.monotonic() - started >= time_budget_seconds:
            result.stopped_reason = "time_budget"
            break
        decision = run.breaker.allow()
        if decision.stop:
            result.stopped_reason = "breaker_open"
            break
        limit = PROBE_BATCH_SIZE if decision.probe else queue_settings.batch_size
        claim = run.queue.claim_due(limit, lease_seconds, shard=shard, shards=shards)
        if not claim:
            if decision.probe and decision.probe_token:
                run.breaker.release_probe(decision.probe_token)
            result.stopped_reason = "queue_empty"
            break
        unsettled = {row.id: row for row in claim.rows}
        keep_going = True
        try:
            for batch in split_by_limits(claim.rows, limit, queue_settings.max_batch_bytes):
                keep_going = run.send(batch, decision.probe, unsettled)
                if not keep_going:
                    break
        finally:
            if unsettled:
                released = run.queue.release(list(unsettled.values()), "delivery stopped")
                result.released += released.released
                result.superseded += released.superseded
        if not keep_going:
            result.stopped_reason = "breaker_open"
            break
    result.breaker_state = run.breaker.state().state
    result.elapsed_seconds = round(time.monotonic() - started, 3)
    log.info("delivery %s: sent=%d failed=%d dead=%d released=%d split=%d batches=%d in %.1f s; stopped: %s "
             "(breaker %s)", worker, result.sent, result.failed, result.dead, result.released, result.split,
             result.batches, result.elapsed_seconds, result.stopped_reason, result.breaker_state)
    return result
