"""The circuit breaker's transitions, its single probe lease, and their audit entries."""

from __future__ import annotations

from datetime import datetime

from ragsync.db import Database
from ragsync.settings import BreakerSettings
from ragsync.state.audit import AuditLog
from ragsync.state.breaker import CircuitBreaker, endpoint_key
from ragsync.state.clock import ManualClock

URL = "https://rag.example.com/hook"


def breaker(db: Database, clock: ManualClock) -> CircuitBreaker:
    return CircuitBreaker(db, URL, BreakerSettings(failure_threshold=3, open_seconds=300), clock)


def test_opens_after_consecutive_failures_and_a_success_resets(ragsync_db: Database) -> None:
    clock = ManualClock(datetime(2026, 1, 1))
    b = breaker(ragsync_db, clock)
    assert b.allow().go
    b.record_failure("e1")
    b.record_failure("e2")
    b.record_success()
    assert b.state().consecutive_failures == 0
    for i in range(3):
        assert b.allow().go
        after = b.record_failure(f"e{i}")
    assert after.state == "open" and after.open_until == datetime(2026, 1, 1, 0, 5)
    decision = b.allow()
    assert decision.stop and decision.retry_at == datetime(2026, 1, 1, 0, 5)
    assert ragsync_db.scalar("SELECT endpoint FROM rag_sync_circuit_breaker WHERE endpoint_key = %s",
                             (endpoint_key(URL),)) == URL


def test_exactly_one_worker_probes_and_success_closes(ragsync_db: Database, db_factory: object) -> None:
    clock = ManualClock(datetime(2026, 1, 1))
    first = breaker(ragsync_db, clock)
    second = breaker(Database(ragsync_db.params), clock)
    first.open("endpoint gone")
    clock.advance(seconds=299)
    assert first.allow().stop and second.allow().stop
    clock.advance(seconds=1)
    probe = first.allow()
    assert probe.probe and probe.probe_token
    other = second.allow()
    assert other.stop and other.state == "half_open"
    first.record_success()
    assert first.state().state == "closed"
    assert second.allow().go
    events = [e.event for e in AuditLog(ragsync_db).recent(10)]
    assert events == ["breaker_closed", "breaker_half_open", "breaker_opened"]


def test_failed_probe_reopens_and_an_abandoned_probe_lease_expires(ragsync_db: Database) -> None:
    clock = ManualClock(datetime(2026, 1, 1))
    b = CircuitBreaker(ragsync_db, URL, BreakerSettings(failure_threshold=1, open_seconds=60), clock,
                       probe_lease_seconds=30)
    b.record_failure("down")
    clock.advance(seconds=60)
    assert b.allow().probe
    assert b.record_failure("still down").state == "open"
    assert b.allow().stop
    clock.advance(seconds=60)
    assert b.allow().probe  # this worker dies with the lease
    assert b.allow().stop
    clock.advance(seconds=30)
    assert b.allow().probe  # the lease expired: someone else may probe


def test_an_unused_probe_lease_is_given_back(ragsync_db: Database) -> None:
    clock = ManualClock(datetime(2026, 1, 1))
    b = breaker(ragsync_db, clock)
    b.open("gone")
    clock.advance(seconds=300)
    decision = b.allow()
    assert decision.probe and decision.probe_token
    b.release_probe(decision.probe_token)
    assert b.allow().probe


def test_manual_reset_is_audited(ragsync_db: Database) -> None:
    b = breaker(ragsync_db, ManualClock())
    b.open("gone")
    b.reset(username="alice")
    assert b.state().state == "closed"
    assert AuditLog(ragsync_db).recent(1)[0].username == "alice"


def test_a_retry_after_pause_stops_every_worker_until_it_ends(ragsync_db: Database) -> None:
    clock = ManualClock(datetime(2026, 1, 1))
    first = breaker(ragsync_db, clock)
    second = breaker(Database(ragsync_db.params), clock)
    assert first.allow().go and second.allow().go
    first.pause(datetime(2026, 1, 1, 0, 15), "HTTP 503 Retry-After: 900")
    first.pause(datetime(2026, 1, 1, 0, 1), "HTTP 429 Retry-After: 60")  # never shortens the pause
    for worker in (first, second):
        decision = worker.allow()
        assert decision.stop and decision.retry_at == datetime(2026, 1, 1, 0, 15)
        assert "paused by the backend until 2026-01-01 00:15:00 UTC" in decision.reason
    state = second.state()
    assert state.state == "closed" and state.pause_reason == "HTTP 503 Retry-After: 900"
    clock.advance(seconds=899)
    assert second.allow().stop
    clock.advance(seconds=1)
    assert second.allow().go
    events = [e.event for e in AuditLog(ragsync_db).recent()]
    assert events.count("delivery_paused") == 1


def test_an_open_breaker_does_not_probe_before_the_pause_ends(ragsync_db: Database) -> None:
    clock = ManualClock(datetime(2026, 1, 1))
    b = breaker(ragsync_db, clock)
    b.open("HTTP 503")  # probe due at 00:05
    b.pause(datetime(2026, 1, 1, 0, 15), "HTTP 503 Retry-After: 900")
    assert b.state().open_until == datetime(2026, 1, 1, 0, 15)
    clock.advance(seconds=300)
    assert b.allow().stop, "open_seconds passed, but the backend asked for 15 minutes"
    clock.advance(seconds=600)
    probe = b.allow()
    assert probe.probe
    b.record_success()
    after = b.state()
    assert after.state == "closed" and after.paused_until is None and after.pause_reason is None
