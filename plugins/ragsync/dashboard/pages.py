"""The HTML pages: Dashboard, Queue (with one item's page) and Log, rendered with Jinja2 on the server."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import MySQLdb
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from ragsync.dashboard import actions, views
from ragsync.dashboard.access import ADMIN_DAG_ID, PROCESS_DAG_ID, READ_DAG_ID, PermissionsDep, ReadAccess
from ragsync.dashboard.database import TIMEOUT_ERRORS, describe_mysql_error
from ragsync.dashboard.deps import QueueQueryDep, ReadDb
from ragsync.state.clock import SystemClock
from ragsync.vocabulary import ACTIONS, ENTITY_TYPES
from ragsync.vocabulary import QUEUE_STATUSES as STATUSES

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def format_time(moment: datetime | None, short: bool = False) -> str:
    """Format a naive-UTC datetime for a page: ``2026-01-02 10:30:00 UTC`` (short: no seconds, no zone)."""
    if moment is None:
        return "" if short else "—"
    return moment.strftime("%Y-%m-%d %H:%M") if short else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def format_duration(seconds: float) -> str:
    """Format a duration in words: ``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``."""
    seconds = max(0, int(seconds))
    if seconds < 90:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 90:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def format_ago(moment: datetime | None) -> str:
    """Format how long ago a naive-UTC moment was: ``12 min ago``."""
    if moment is None:
        return "never"
    delta = (SystemClock().now() - moment).total_seconds()
    return "just now" if delta < 5 else f"{format_duration(delta)} ago"


def format_age(moment: datetime | None) -> str:
    """Format the age of something queued at a naive-UTC moment: ``12 min``."""
    return "—" if moment is None else format_duration((SystemClock().now() - moment).total_seconds())


def summarize_counts(counts: dict[str, Any]) -> str:
    """Format a sync run's counts: ``documents 1,200 · queued 15 · skipped_unchanged 1,185``."""
    parts = []
    for key, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not value:
            continue
        parts.append(f"{key.replace('_', ' ')} {value:,}")
    return " · ".join(parts[:6])


TEMPLATES.env.filters.update(dt=format_time, ago=format_ago, age=format_age, summary=summarize_counts)

# The grid's columns in display order: (column, heading).
QUEUE_COLUMNS = (
    ("id", "ID"), ("entity_type", "Type"), ("entity_id", "Entity"), ("store_id", "Store"), ("action", "Action"),
    ("status", "Status"), ("attempts", "Attempts"), ("last_http_status", "HTTP"), ("next_attempt_at", "Next attempt"),
    ("created_at", "Created"), ("updated_at", "Updated"), ("sent_at", "Sent"), ("source", "Source"),
    ("batch_id", "Batch"), ("document_bytes", "Bytes"), ("content_hash", "Hash"), ("lease_expires_at", "Lease until"),
)

router = APIRouter(dependencies=[ReadAccess], default_response_class=HTMLResponse)


def base_path(request: Request) -> str:
    """Return the path the app is mounted at (``/ragsync``, behind Airflow's base URL)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def query_string(params: dict[str, Any] | None) -> str:
    """Return ``?a=1&b=2`` for the params (or an empty string)."""
    return ("?" + urlencode(params)) if params else ""


def render(request: Request, template: str, perms: Any, active: str, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    """Render a page with the layout's common context."""
    return TEMPLATES.TemplateResponse(request, template, {
        "base": base_path(request), "perms": perms, "active": active, "qs": query_string,
        "read_dag": READ_DAG_ID, "admin_dag": ADMIN_DAG_ID, "process_dag": PROCESS_DAG_ID, **context,
    }, status_code=status_code)


@router.get("/", name="dashboard_page")
def dashboard_page(request: Request, perms: PermissionsDep, db: ReadDb) -> HTMLResponse:
    """Show connection health, queue counts, per-type sync status, the breaker and the quick actions."""
    endpoint, endpoint_error = actions.configured_endpoint()
    data = views.overview(db, endpoint, endpoint_error)
    settings, _problem = actions.settings_or_defaults()
    return render(request, "dashboard.html", perms, "dashboard", data=data, statuses=STATUSES,
                  threshold=settings.breaker.failure_threshold)


@router.get("/queue", name="queue_page")
def queue_page(request: Request, perms: PermissionsDep, db: ReadDb, query: QueueQueryDep) -> HTMLResponse:
    """Show one page of the queue, filtered and sorted, with mass Retry and Delete."""
    problem = None
    try:
        listing = views.queue_listing(db, query)
    except MySQLdb.OperationalError as exc:
        if not exc.args or exc.args[0] not in TIMEOUT_ERRORS:
            raise
        # Keep the filters and headings on screen, so that another sort or filter is one click away.
        problem = describe_mysql_error(exc)
        listing = views.QueueListing(query=query, rows=[], total=0, total_capped=False, offset=None)
    return render(request, "queue.html", perms, "queue", listing=listing, columns=QUEUE_COLUMNS, problem=problem,
                  statuses=STATUSES, entity_types=ENTITY_TYPES, actions=ACTIONS, page_sizes=views.PAGE_SIZES)


@router.get("/queue/{queue_id}", name="queue_item_page")
def queue_item_page(request: Request, perms: PermissionsDep, db: ReadDb, queue_id: int) -> HTMLResponse:
    """Show one queue item: its document as pretty JSON, attempts, last error and the ledger's view."""
    item = views.queue_item(db, queue_id)
    if item is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"queue item {queue_id} does not exist (it may have been sent and cleaned up)")
    return render(request, "item.html", perms, "queue", item=item)


@router.get("/log", name="log_page")
def log_page(
    request: Request,
    perms: PermissionsDep,
    db: ReadDb,
    event: str | None = None,
    before_id: int | None = None,
) -> HTMLResponse:
    """Show the audit trail, newest first, optionally one event."""
    page = views.log_page(db, event or None, before_id)
    return render(request, "log.html", perms, "log", page=page, events=views.LOG_EVENTS)
