"""Alerts and metrics of a delivery run: what fails its task, and what goes to Airflow's metrics.

A delivery run that buried items (``alerts.fail_on_dead``), or that finds the circuit breaker
not closed for longer than ``alerts.breaker_open_minutes``, fails its task after its work is
settled, so Airflow's own alerting (``on_failure_callback``, notifiers, e-mail, failed-run
dashboards) sees it. :func:`delivery_alerts` says why in plain words.

Metrics go through Airflow's ``Stats`` (StatsD, Datadog or OpenTelemetry, as the ``[metrics]``
section of airflow.cfg configures it; nothing when none is on), all named ``ragsync.*``:

* counters ``ragsync.items.queued`` (sync and change capture), ``ragsync.items.sent``,
  ``ragsync.items.failed``, ``ragsync.items.dead`` (delivery);
* gauges ``ragsync.queue.depth.<status>`` for each queue status,
  ``ragsync.queue.oldest_pending_age_seconds`` and ``ragsync.breaker.open`` (0 or 1).

Per-status depths are separate names, not a tag: Airflow's plain StatsD client drops tags unless
``statsd_influxdb_enabled`` is on. Emitting never fails a task.

How long the breaker has been open: the breaker row's ``opened_at`` is rewritten on every
re-open (each failed probe opens it again for ``breaker.open_seconds``), so the row only tells
when it last re-opened. The moment it left ``closed`` is in the audit trail, written in the same
transaction as each transition: the newest ``breaker_opened`` entry of the endpoint whose
``details.was`` is ``closed``. When the trail no longer has it, the row's ``opened_at`` is used,
a lower bound, and the message says "at least".
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ragsync.db import Database
from ragsync.settings import Settings
from ragsync.state.breaker import CLOSED, HALF_OPEN, endpoint_key
from ragsync.state.clock import SystemClock
from ragsync.state.queue import STATUSES

if TYPE_CHECKING:
    from ragsync.pipeline.deliver import DeliverResult

log = logging.getLogger(__name__)

PREFIX = "ragsync."
AUDIT_PAGE = 200
AUDIT_PAGES = 10  # breaker_opened entries looked at, at most: 2,000 re-opens (a week at 300 s)


def delivery_alerts(db: Database, settings: Settings, result: DeliverResult, now: datetime,
                    endpoint: str | None = None) -> list[str]:
    """Return why this delivery run must fail its task, one plain sentence each (empty: it need not).

    ``now`` is naive UTC. ``endpoint`` is the webhook URL without credentials (what the breaker
    row holds); without it every breaker row that is not closed is looked at.
    """
    alerts: list[str] = []
    if settings.alerts.fail_on_dead and result.dead > 0:
        alerts.append(f"{result.dead} item{'' if result.dead == 1 else 's'} went dead in this run (rejected by the"
                      " backend or out of retries): see the RAG Sync Queue page, status dead")
    limit = settings.alerts.breaker_open_minutes
    for row in _breakers_not_closed(db, endpoint):
        since, exact = breaker_open_since(db, row)
        if since is None:
            continue
        minutes = (now - since).total_seconds() / 60
        if minutes <= limit:
            continue
        label = _label(str(row["endpoint"]))
        state = " (half-open: a probe is out)" if row["state"] == HALF_OPEN else ""
        error = _one_line(row["last_error"]) or "none recorded"
        alerts.append(f"the circuit breaker for {label} has been open{state} since {'at least ' if not exact else ''}"
                      f"{since:%Y-%m-%d %H:%M:%S} UTC ({int(minutes)} minutes, more than"
                      f" alerts.breaker_open_minutes={limit}): last error {error}")
    return alerts


def breaker_open_since(db: Database, row: Mapping[str, Any]) -> tuple[datetime | None, bool]:
    """Return when a breaker row last left ``closed``, and whether the audit trail said so exactly.

    ``row`` holds the breaker row's ``endpoint``, ``state`` and ``opened_at``. A closed breaker
    returns ``(None, True)``. Without the audit entry the row's ``opened_at`` (the last re-open)
    is returned with False.
    """
    if row["state"] == CLOSED:
        return None, True
    opened_at: datetime | None = row["opened_at"]
    marker = f" to {_label(str(row['endpoint']))} until "
    before: int | None = None
    for _ in range(AUDIT_PAGES):
        entries = db.query(
            "SELECT id, created_at, message, details FROM rag_sync_log WHERE event = 'breaker_opened'"
            + (" AND id < %s" if before is not None else "") + " ORDER BY id DESC LIMIT %s",
            ((before,) if before is not None else ()) + (AUDIT_PAGE,))
        for entry_id, created_at, message, details in entries:
            before = int(entry_id)
            if marker in message and _was(details) == CLOSED:
                return created_at, True
        if len(entries) < AUDIT_PAGE:
            break
    return opened_at, False


def emit_metrics(db: Database, result: DeliverResult, now: datetime | None = None) -> None:
    """Send this run's counts and the queue's depth, oldest pending age and breaker state to Airflow's Stats."""
    try:
        stats = _stats()
        for name in ("sent", "failed", "dead"):
            stats.incr(f"{PREFIX}items.{name}", count=int(getattr(result, name)))
        depth, oldest = queue_depth(db)
        for status, count in depth.items():
            stats.gauge(f"{PREFIX}queue.depth.{status}", count)
        moment = now or SystemClock().now()
        age = max(0.0, (moment - oldest).total_seconds()) if oldest is not None else 0.0
        stats.gauge(f"{PREFIX}queue.oldest_pending_age_seconds", round(age, 3))
        stats.gauge(f"{PREFIX}breaker.open", 0 if result.breaker_state == CLOSED else 1)
    except Exception as exc:  # noqa: BLE001 - metrics never fail a task
        log.debug("ragsync metrics not sent: %s", exc)


def emit_sync_metrics(results: Mapping[str, Any]) -> None:
    """Count the documents a sync or change capture wrote to the queue (``ragsync.items.queued``).

    ``results`` maps an entity type to its ``SyncResult.counts()`` (or a word such as
    ``"disabled"``): new rows plus pending rows rewritten by a newer version.
    """
    try:
        stats = _stats()
        for entity_type, counts in results.items():
            if isinstance(counts, Mapping):
                written = int(counts.get("queued", 0)) + int(counts.get("replaced", 0))
                stats.incr(f"{PREFIX}items.queued", count=written, tags={"entity_type": str(entity_type)})
    except Exception as exc:  # noqa: BLE001 - metrics never fail a task
        log.debug("ragsync metrics not sent: %s", exc)


def queue_depth(db: Database) -> tuple[dict[str, int], datetime | None]:
    """Return the rows per status (every status, zero when none) and the oldest pending row's due time.

    One statement over the claim index (status, next_attempt_at, id), which covers both: the
    count of each status and the smallest ``next_attempt_at`` of ``pending``, the moment the
    longest-waiting pending row became due.
    """
    depth = dict.fromkeys(STATUSES, 0)
    oldest: datetime | None = None
    for status, count, first_due in db.query(
            "SELECT status, COUNT(*), MIN(next_attempt_at) FROM rag_sync_queue GROUP BY status"):
        depth[str(status)] = int(count)
        if status == "pending":
            oldest = first_due
    return depth, oldest


def _stats() -> Any:
    from airflow.sdk.observability import stats

    return stats


def _breakers_not_closed(db: Database, endpoint: str | None) -> list[dict[str, Any]]:
    sql = "SELECT endpoint, state, opened_at, last_error FROM rag_sync_circuit_breaker WHERE state <> 'closed'"
    if endpoint is None:
        return db.query_dicts(sql)
    return db.query_dicts(sql + " AND endpoint_key = %s", (endpoint_key(endpoint),))


def _was(details: str | None) -> str | None:
    try:
        data = json.loads(details) if details else None
    except ValueError:
        return None
    return data.get("was") if isinstance(data, dict) else None


def _label(endpoint: str) -> str:
    """Return the endpoint as the breaker's audit entries name it (no query string)."""
    return endpoint.split("?", 1)[0]


def _one_line(text: str | None, limit: int = 300) -> str:
    if not text:
        return ""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
