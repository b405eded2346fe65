"""The circuit breaker (``rag_sync_circuit_breaker``): one row per webhook endpoint, shared by all workers.

States::

    closed --(failure_threshold consecutive failures, or 410)--> open
    open   --(open_seconds passed; one worker takes the probe lease)--> half_open
    half_open --(probe succeeds)--> closed
    half_open --(probe fails)--> open (for another open_seconds)

While open nothing is claimed, so no attempts are spent. When the open time is up, exactly one
worker acquires the probe lease under a row lock and sends a small probe batch; the others keep
waiting. A probe lease that is not settled (the worker died) expires, and another worker may probe.
Every transition is written to the audit log.

Independently of the state, the backend can *pause* the endpoint: an answer with ``Retry-After``
sets ``paused_until`` (:meth:`CircuitBreaker.pause`), and until then no worker claims or sends
anything, the breaker's probe included.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ragsync.db import Database
from ragsync.settings import BreakerSettings
from ragsync.state.audit import AuditLog
from ragsync.state.clock import Clock, SystemClock
from ragsync.state.transaction import in_transaction

log = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
GO, PROBE, STOP = "go", "probe", "stop"
DEFAULT_PROBE_LEASE_SECONDS = 120
CLEAN_STATE_TTL_SECONDS = 5.0
_COLUMNS = ("state, consecutive_failures, opened_at, open_until, probe_token, probe_expires_at, last_error,"
            " last_success_at, updated_at, paused_until, pause_reason")


def endpoint_key(endpoint: str) -> str:
    """Return the breaker row's key for an endpoint URL (SHA-256 hex)."""
    return hashlib.sha256(endpoint.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class BreakerState:
    """A snapshot of the breaker row."""

    state: str
    consecutive_failures: int
    opened_at: datetime | None
    open_until: datetime | None
    probe_token: str | None
    probe_expires_at: datetime | None
    last_error: str | None
    last_success_at: datetime | None
    updated_at: datetime | None
    paused_until: datetime | None = None
    pause_reason: str | None = None

    def paused(self, now: datetime) -> bool:
        """Return True while the backend's Retry-After pause lasts."""
        return self.paused_until is not None and self.paused_until > now


@dataclass(frozen=True)
class Decision:
    """What a worker may do now: ``go`` (deliver), ``probe`` (send one small batch) or ``stop``."""

    action: str
    state: str
    retry_at: datetime | None = None
    probe_token: str | None = None
    reason: str = ""

    @property
    def go(self) -> bool:
        """Return True when the worker may deliver normally."""
        return self.action == GO

    @property
    def probe(self) -> bool:
        """Return True when this worker holds the probe lease."""
        return self.action == PROBE

    @property
    def stop(self) -> bool:
        """Return True when the worker must not claim anything."""
        return self.action == STOP


def endpoint_rows(db: Database) -> list[dict[str, Any]]:
    """Return every endpoint's breaker row (endpoint, state, failures, open and pause times, last error), as dicts."""
    return db.query_dicts(
        "SELECT endpoint, state, consecutive_failures, open_until, last_error, paused_until, pause_reason"
        " FROM rag_sync_circuit_breaker")


def _snapshot(row: tuple[Any, ...] | None) -> BreakerState:
    if row is None:
        return BreakerState(CLOSED, 0, None, None, None, None, None, None, None, None, None)
    return BreakerState(row[0], int(row[1]), *row[2:])


class CircuitBreaker:
    """The shared circuit breaker of one webhook endpoint."""

    def __init__(self, db: Database, endpoint: str, settings: BreakerSettings | None = None,
                 clock: Clock | None = None, probe_lease_seconds: int = DEFAULT_PROBE_LEASE_SECONDS) -> None:
        self.db = db
        self.endpoint = endpoint
        self.key = endpoint_key(endpoint)
        self.settings = settings or BreakerSettings()
        self.clock = clock or SystemClock()
        self.probe_lease_seconds = probe_lease_seconds
        self.audit = AuditLog(db, self.clock)
        self._ensured = False
        self._clean_seen_at: float | None = None  # monotonic time allow() last saw closed with no failures

    def _ensure(self) -> None:
        if not self._ensured:
            self.db.execute(
                "INSERT IGNORE INTO rag_sync_circuit_breaker (endpoint_key, endpoint, state, consecutive_failures,"
                " updated_at) VALUES (%s, %s, 'closed', 0, %s)",
                (self.key, self.endpoint[:2048], self.clock.now()),
            )
            self._ensured = True

    def _read(self, lock: bool = False) -> BreakerState:
        rows = self.db.query(
            f"SELECT {_COLUMNS} FROM rag_sync_circuit_breaker WHERE endpoint_key = %s"
            + (" FOR UPDATE" if lock else ""),
            (self.key,),
        )
        return _snapshot(rows[0] if rows else None)

    def state(self) -> BreakerState:
        """Return the current state of the breaker."""
        self._ensure()
        return self._read()

    def allow(self) -> Decision:
        """Decide whether this worker may deliver, must stop, or is the one that probes."""
        self._ensure()
        now = self.clock.now()
        current = self._read()
        if current.paused(now):
            self._clean_seen_at = None
            return Decision(STOP, current.state, retry_at=current.paused_until,
                            reason=f"paused by the backend until {current.paused_until:%Y-%m-%d %H:%M:%S} UTC")
        if current.state == CLOSED:
            clean = current.consecutive_failures == 0
            self._clean_seen_at = time.monotonic() if clean else None
            return Decision(GO, CLOSED)
        self._clean_seen_at = None
        if not self._probe_due(current, now):
            return self._stop(current)

        def work() -> Decision:
            locked = self._read(lock=True)
            if locked.paused(now):
                return Decision(STOP, locked.state, retry_at=locked.paused_until, reason="paused by the backend")
            if locked.state == CLOSED:
                return Decision(GO, CLOSED)
            if not self._probe_due(locked, now):
                return self._stop(locked)
            token = uuid.uuid4().hex
            self.db.execute(
                "UPDATE rag_sync_circuit_breaker SET state = 'half_open', probe_token = %s, probe_expires_at = %s,"
                " updated_at = %s WHERE endpoint_key = %s",
                (token, now + timedelta(seconds=self.probe_lease_seconds), now, self.key),
            )
            self.audit.write("breaker_half_open",
                             f"circuit breaker half-open: one probe batch goes to {self.endpoint_label}",
                             details={"consecutive_failures": locked.consecutive_failures})
            return Decision(PROBE, HALF_OPEN, probe_token=token, reason="probe")

        decision = in_transaction(self.db, work)
        if decision.probe:
            log.info("circuit breaker half-open: this worker sends the probe")
        return decision

    @staticmethod
    def _probe_due(current: BreakerState, now: datetime) -> bool:
        if current.state == OPEN:
            return current.open_until is None or current.open_until <= now
        # half_open: someone holds the probe lease; it can be taken over once it expired
        return current.probe_expires_at is None or current.probe_expires_at <= now

    @staticmethod
    def _stop(current: BreakerState) -> Decision:
        if current.state == OPEN:
            return Decision(STOP, OPEN, retry_at=current.open_until,
                            reason=f"circuit breaker open until {current.open_until}")
        return Decision(STOP, HALF_OPEN, retry_at=current.probe_expires_at,
                        reason="circuit breaker half-open: another worker is probing")

    @property
    def endpoint_label(self) -> str:
        """Return the endpoint without query string (what logs and the audit show)."""
        return self.endpoint.split("?", 1)[0]

    def record_success(self) -> None:
        """Record a delivered batch: reset the failure count and close the breaker if it was not closed."""
        self._ensure()
        if self._clean_seen_at is not None and time.monotonic() - self._clean_seen_at < CLEAN_STATE_TTL_SECONDS:
            return  # allow() just saw it closed with no failures: nothing to reset
        current = self._read()
        if current.state == CLOSED and current.consecutive_failures == 0 and current.paused_until is None:
            self._clean_seen_at = time.monotonic()
            return
        now = self.clock.now()

        def work() -> str:
            locked = self._read(lock=True)
            self.db.execute(
                "UPDATE rag_sync_circuit_breaker SET state = 'closed', consecutive_failures = 0, opened_at = NULL,"
                " open_until = NULL, probe_token = NULL, probe_expires_at = NULL, paused_until = NULL,"
                " pause_reason = NULL, last_success_at = %s, updated_at = %s WHERE endpoint_key = %s",
                (now, now, self.key),
            )
            if locked.state != CLOSED:
                self.audit.write("breaker_closed", f"circuit breaker closed: {self.endpoint_label} answers again",
                                 details={"was": locked.state, "failures": locked.consecutive_failures})
            return locked.state

        was = in_transaction(self.db, work)
        if was != CLOSED:
            log.info("circuit breaker closed (was %s)", was)

    def record_failure(self, error: str) -> BreakerState:
        """Count a failed delivery; open the breaker at the threshold or when a probe failed."""
        self._ensure()
        now = self.clock.now()

        self._clean_seen_at = None

        def work() -> tuple[BreakerState, BreakerState]:
            locked = self._read(lock=True)
            failures = locked.consecutive_failures + 1
            reopen = locked.state == HALF_OPEN or (
                locked.state == CLOSED and failures >= self.settings.failure_threshold)
            if reopen:
                self._set_open(now, failures, error,
                               "probe failed" if locked.state == HALF_OPEN
                               else f"{failures} consecutive failures", locked.state)
            else:
                self.db.execute(
                    "UPDATE rag_sync_circuit_breaker SET consecutive_failures = %s, last_error = %s, updated_at = %s"
                    " WHERE endpoint_key = %s",
                    (failures, error[:2000], now, self.key),
                )
            return locked, self._read()

        before, after = in_transaction(self.db, work)
        if after.state == OPEN and before.state != OPEN:
            log.warning("circuit breaker opened after %d consecutive failures; next probe at %s",
                        after.consecutive_failures, after.open_until)
        return after

    def open(self, reason: str) -> BreakerState:
        """Open the breaker now, whatever its state (the endpoint answered 410 Gone)."""
        self._ensure()
        self._clean_seen_at = None
        now = self.clock.now()

        def work() -> BreakerState:
            locked = self._read(lock=True)
            self._set_open(now, locked.consecutive_failures + 1, reason, reason, locked.state)
            return self._read()

        after = in_transaction(self.db, work)
        log.warning("circuit breaker opened: %s; next probe at %s", reason, after.open_until)
        return after

    def _set_open(self, now: datetime, failures: int, error: str, why: str, was: str) -> None:
        until = now + timedelta(seconds=self.settings.open_seconds)
        self.db.execute(
            "UPDATE rag_sync_circuit_breaker SET state = 'open', consecutive_failures = %s, opened_at = %s,"
            " open_until = %s, probe_token = NULL, probe_expires_at = NULL, last_error = %s, updated_at = %s"
            " WHERE endpoint_key = %s",
            (failures, now, until, error[:2000], now, self.key),
        )
        self.audit.write(
            "breaker_opened",
            f"circuit breaker opened ({why}); nothing is sent to {self.endpoint_label} until {until:%Y-%m-%d %H:%M:%S}"
            " UTC, then one probe",
            level="error", details={"was": was, "failures": failures, "open_until": until.isoformat(),
                                    "last_error": error[:500]})

    def pause(self, until: datetime, reason: str) -> BreakerState:
        """Pause the endpoint for every worker until ``until`` (the backend's Retry-After, already clamped).

        A later pause never shortens an earlier one; an open breaker does not probe before the pause ends.
        """
        self._ensure()
        self._clean_seen_at = None
        now = self.clock.now()

        def work() -> tuple[BreakerState, BreakerState]:
            locked = self._read(lock=True)
            if locked.paused_until is None or locked.paused_until < until:
                self.db.execute(
                    "UPDATE rag_sync_circuit_breaker SET paused_until = %s, pause_reason = %s,"
                    " open_until = IF(open_until IS NOT NULL AND open_until < %s, %s, open_until), updated_at = %s"
                    " WHERE endpoint_key = %s",
                    (until, reason[:500], until, until, now, self.key),
                )
            return locked, self._read()

        before, after = in_transaction(self.db, work)
        if not before.paused(now):
            self.audit.write("delivery_paused",
                             f"the backend asked for a pause (Retry-After): nothing is sent to {self.endpoint_label}"
                             f" until {until:%Y-%m-%d %H:%M:%S} UTC", level="warning",
                             details={"paused_until": until.isoformat(), "reason": reason[:500]})
            log.warning("delivery paused by the backend until %s UTC: %s", until, reason[:200])
        return after

    def release_probe(self, token: str) -> None:
        """Give the probe lease back unused (nothing was due): the next worker may probe at once."""
        self.db.execute(
            "UPDATE rag_sync_circuit_breaker SET probe_token = NULL, probe_expires_at = NULL, updated_at = %s"
            " WHERE endpoint_key = %s AND state = 'half_open' AND probe_token = %s",
            (self.clock.now(), self.key, token),
        )

    def reset(self, username: str | None = None) -> None:
        """Close the breaker by hand."""
        self._ensure()
        now = self.clock.now()
        self.db.execute(
            "UPDATE rag_sync_circuit_breaker SET state = 'closed', consecutive_failures = 0, opened_at = NULL,"
            " open_until = NULL, probe_token = NULL, probe_expires_at = NULL, paused_until = NULL, pause_reason = NULL,"
            " updated_at = %s WHERE endpoint_key = %s", (now, self.key))
        self.audit.write("breaker_closed", "circuit breaker closed by hand", username=username)
