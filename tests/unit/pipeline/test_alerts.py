"""The alerts section of the settings, and the alert rules against real breaker and queue rows in MariaDB."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from ragsync.db import Database
from ragsync.documents.model import Document
from ragsync.errors import ConfigError
from ragsync.pipeline.alerts import breaker_open_since, delivery_alerts, queue_depth
from ragsync.pipeline.deliver import DeliverResult
from ragsync.settings import AlertSettings, BreakerSettings, Settings, parse_settings
from ragsync.state.breaker import CircuitBreaker
from ragsync.state.clock import ManualClock
from ragsync.state.queue import QueueRepository

START = datetime(2026, 1, 2, 10, 30)
ENDPOINT = "https://rag.example.test/webhook"
BREAKER = BreakerSettings(failure_threshold=1, open_seconds=300)


def test_alerts_settings_default_and_parse() -> None:
    assert parse_settings({}).alerts == AlertSettings(fail_on_dead=True, breaker_open_minutes=30)
    parsed = parse_settings({"alerts": {"fail_on_dead": "false", "breaker_open_minutes": "5"}})
    assert parsed.alerts == AlertSettings(fail_on_dead=False, breaker_open_minutes=5)
    assert parse_settings({"alerts": {"breaker_open_minutes": 1}}).alerts.breaker_open_minutes == 1
    assert parse_settings({}).to_dict()["alerts"] == {"fail_on_dead": True, "breaker_open_minutes": 30}


@pytest.mark.parametrize(("alerts", "message"), [
    ({"breaker_open_minutes": 0}, r"alerts\.breaker_open_minutes must be at least 1, got 0"),
    ({"breaker_open_minutes": "soon"}, r"alerts\.breaker_open_minutes must be a whole number"),
    ({"breaker_open_minutes": True}, r"alerts\.breaker_open_minutes must be a whole number"),
    ({"fail_on_dead": "maybe"}, r"alerts\.fail_on_dead must be true or false"),
    ({"fail_on_deads": True}, r"unknown key alerts\.fail_on_deads; allowed keys: breaker_open_minutes, fail_on_dead"),
    ("yes", r"alerts must be an object"),
])
def test_alerts_settings_refusals_name_the_key(alerts: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_settings({"alerts": alerts})


def _breaker(db: Database, clock: ManualClock, endpoint: str = ENDPOINT) -> CircuitBreaker:
    return CircuitBreaker(db, endpoint, BREAKER, clock)


def _row(db: Database, breaker: CircuitBreaker) -> dict[str, object]:
    state = breaker.state()
    return {"endpoint": breaker.endpoint, "state": state.state, "opened_at": state.opened_at}


def _reopen_after_failed_probe(breaker: CircuitBreaker, clock: ManualClock) -> None:
    clock.advance(seconds=BREAKER.open_seconds + 60)
    assert breaker.allow().probe
    breaker.record_failure("HTTP 503 again")


def test_open_time_counts_from_leaving_closed_not_from_the_last_reopen(ragsync_db: Database) -> None:
    clock = ManualClock(START)
    breaker = _breaker(ragsync_db, clock)
    breaker.record_failure("HTTP 503 from the backend")
    for _ in range(5):  # a failed probe every 6 minutes: the row's opened_at moves each time
        _reopen_after_failed_probe(breaker, clock)
    clock.advance(minutes=3)
    state = breaker.state()
    assert state.state == "open" and state.opened_at == START + timedelta(minutes=30)
    assert breaker_open_since(ragsync_db, _row(ragsync_db, breaker)) == (START, True)

    settings = Settings(breaker=BREAKER)
    alerts = delivery_alerts(ragsync_db, settings, DeliverResult(breaker_state="open"), clock.now(), endpoint=ENDPOINT)
    assert alerts == [f"the circuit breaker for {ENDPOINT} has been open since 2026-01-02 10:30:00 UTC (33 minutes,"
                      " more than alerts.breaker_open_minutes=30): last error HTTP 503 again"]
    longer = Settings(alerts=AlertSettings(breaker_open_minutes=40))
    assert delivery_alerts(ragsync_db, longer, DeliverResult(), clock.now(), endpoint=ENDPOINT) == []

    # half-open (a probe is out) still counts as not closed
    clock.advance(seconds=BREAKER.open_seconds)
    assert breaker.allow().probe
    alerts = delivery_alerts(ragsync_db, settings, DeliverResult(), clock.now(), endpoint=ENDPOINT)
    assert len(alerts) == 1 and "open (half-open: a probe is out) since 2026-01-02 10:30:00 UTC" in alerts[0]

    # a probe that succeeds closes it: nothing to alert; the next opening is counted from its own start
    breaker.record_success()
    assert breaker_open_since(ragsync_db, _row(ragsync_db, breaker)) == (None, True)
    assert delivery_alerts(ragsync_db, settings, DeliverResult(), clock.now(), endpoint=ENDPOINT) == []
    clock.advance(minutes=10)
    reopened = clock.now()
    breaker.record_failure("connection refused")
    _reopen_after_failed_probe(breaker, clock)
    assert breaker_open_since(ragsync_db, _row(ragsync_db, breaker)) == (reopened, True)
    assert delivery_alerts(ragsync_db, settings, DeliverResult(), clock.now(), endpoint=ENDPOINT) == []


def test_open_time_is_per_endpoint_and_falls_back_to_the_last_reopen(ragsync_db: Database) -> None:
    clock = ManualClock(START)
    other = _breaker(ragsync_db, clock, "https://old.example.test/webhook")
    other.record_failure("HTTP 410")
    clock.advance(minutes=20)
    mine = _breaker(ragsync_db, clock)
    mine.record_failure("HTTP 502")
    clock.advance(minutes=15)
    settings = Settings()
    assert delivery_alerts(ragsync_db, settings, DeliverResult(), clock.now(), endpoint=ENDPOINT) == []
    everything = delivery_alerts(ragsync_db, settings, DeliverResult(), clock.now())
    assert len(everything) == 1 and "https://old.example.test/webhook has been open since 2026-01-02 10:30:00" in (
        everything[0])

    # an audit trail pruned by hand: the row's last (re-)open is a lower bound, and the message says so
    _reopen_after_failed_probe(other, clock)
    ragsync_db.execute("DELETE FROM rag_sync_log")
    since, exact = breaker_open_since(ragsync_db, _row(ragsync_db, other))
    assert (since, exact) == (other.state().opened_at, False)


def test_dead_items_alert_unless_switched_off(ragsync_db: Database) -> None:
    now = START
    assert delivery_alerts(ragsync_db, Settings(), DeliverResult(sent=4, failed=2), now) == []
    assert delivery_alerts(ragsync_db, Settings(), DeliverResult(dead=3), now) == [
        "3 items went dead in this run (rejected by the backend or out of retries): see the RAG Sync Queue page,"
        " status dead"]
    assert delivery_alerts(ragsync_db, Settings(), DeliverResult(dead=1), now)[0].startswith("1 item went dead")
    off = Settings(alerts=AlertSettings(fail_on_dead=False))
    assert delivery_alerts(ragsync_db, off, DeliverResult(dead=3), now) == []


def test_queue_depth_counts_every_status_and_the_oldest_pending(ragsync_db: Database) -> None:
    assert queue_depth(ragsync_db) == ({"pending": 0, "processing": 0, "sent": 0, "failed": 0, "dead": 0}, None)
    clock = ManualClock(START)
    repo = QueueRepository(ragsync_db, clock)
    repo.enqueue([Document("product", "1", 1, "save", {"name": "one"}, START)])
    clock.advance(minutes=5)
    repo.enqueue([Document("product", str(i), 1, "save", {"name": f"p{i}"}, START) for i in (2, 3)])
    claim = repo.claim_due(1, 60)
    assert len(claim) == 1 and claim.rows[0].entity_id == "1"
    repo.settle_dead(claim, 422, "rejected", "batch-1")
    depth, oldest = queue_depth(ragsync_db)
    assert depth == {"pending": 2, "processing": 0, "sent": 0, "failed": 0, "dead": 1}
    assert oldest == START + timedelta(minutes=5)
