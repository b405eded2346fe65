"""What the RAG Sync pages show, read from the pipeline's tables: the dashboard, the queue grid, one item, the log.

Everything here only reads. The queue grid pages with :meth:`QueueView.page` (keyset
pagination forwards and backwards where the sort column is never NULL, offsets otherwise) and
counts matching rows only up to :data:`COUNT_CAP`, so that a page costs the same at row 50 and at
row 990,000 of a million-row queue.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ragsync.db import Database
from ragsync.state.audit import EVENTS, AuditEntry, AuditLog
from ragsync.state.breaker import endpoint_key
from ragsync.state.clock import Clock, SystemClock
from ragsync.state.ledger import Ledger, LedgerEntry
from ragsync.state.queue_view import NULLABLE_SORTS, SORTABLE, QueueView
from ragsync.state.runs import SyncRun, SyncRuns
from ragsync.vocabulary import ACTIONS, ENTITY_TYPES, QUEUE_STATUSES

COUNT_CAP = 100_000
PAGE_SIZES = (20, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
LOG_PAGE_SIZE = 50
PROCESS_EVENT = "manual_process"  # a Process Queue click; not (yet) in ragsync.state.audit.EVENTS
LOG_EVENTS = tuple(dict.fromkeys((*EVENTS, PROCESS_EVENT)))
RECENT_BATCHES = 1000
_DATETIME_COLUMNS = frozenset({"next_attempt_at", "lease_expires_at", "created_at", "updated_at", "sent_at"})
_INT_COLUMNS = frozenset({"id", "store_id", "document_bytes", "attempts", "last_http_status"})


class InvalidQueryError(ValueError):
    """A filter, sort or cursor of the queue or log page is not one of the allowed values."""


# ---------------------------------------------------------------------------------------------- dashboard


@dataclass(frozen=True)
class BreakerView:
    """The circuit breaker row of one webhook endpoint."""

    endpoint: str
    current: bool
    state: str
    consecutive_failures: int
    opened_at: datetime | None
    open_until: datetime | None
    last_error: str | None
    last_success_at: datetime | None
    updated_at: datetime | None
    paused_until: datetime | None = None
    pause_reason: str | None = None

    @property
    def paused(self) -> bool:
        """Return True while the backend's Retry-After pause lasts (UTC)."""
        return self.paused_until is not None and self.paused_until > datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class TypeStatus:
    """Sync status of one entity type: what the backend has, the last full sync, delivery and lag."""

    entity_type: str
    live_documents: int
    last_full_sync: SyncRun | None
    last_delivery_at: datetime | None
    oldest_waiting_at: datetime | None
    pending: int
    failed: int
    dead: int

    def waiting_seconds(self, now: datetime) -> float | None:
        """Return the age of the oldest item waiting for delivery, in seconds."""
        if self.oldest_waiting_at is None:
            return None
        return max(0.0, (now - self.oldest_waiting_at).total_seconds())


@dataclass(frozen=True)
class Health:
    """A one-word verdict on the connection to the RAG backend, with the reason."""

    level: str  # ok, warning, error, unknown
    label: str
    reason: str


@dataclass(frozen=True)
class Overview:
    """Everything the dashboard page shows."""

    generated_at: datetime
    counts: dict[str, int]
    types: list[TypeStatus]
    breakers: list[BreakerView]
    last_test: AuditEntry | None
    endpoint: str | None
    endpoint_error: str | None
    health: Health

    @property
    def breaker(self) -> BreakerView | None:
        """Return the breaker of the configured endpoint (else the most recently updated one)."""
        for view in self.breakers:
            if view.current:
                return view
        return self.breakers[0] if self.breakers else None

    @property
    def last_success_at(self) -> datetime | None:
        """Return when any batch last reached the backend."""
        moments = [b.last_success_at for b in self.breakers if b.last_success_at is not None]
        moments += [t.last_delivery_at for t in self.types if t.last_delivery_at is not None]
        return max(moments) if moments else None


def read_breakers(db: Database, current_endpoint: str | None) -> list[BreakerView]:
    """Return every breaker row, the configured endpoint's first, then the most recently updated."""
    current_key = endpoint_key(current_endpoint) if current_endpoint else None
    rows = db.query(
        "SELECT endpoint_key, endpoint, state, consecutive_failures, opened_at, open_until, last_error,"
        " last_success_at, updated_at, paused_until, pause_reason FROM rag_sync_circuit_breaker"
        " ORDER BY updated_at DESC LIMIT 20"
    )
    views = [
        BreakerView(endpoint=str(r[1]).split("?", 1)[0], current=r[0] == current_key, state=r[2],
                    consecutive_failures=int(r[3]), opened_at=r[4], open_until=r[5], last_error=r[6],
                    last_success_at=r[7], updated_at=r[8], paused_until=r[9], pause_reason=r[10])
        for r in rows
    ]
    return sorted(views, key=lambda v: not v.current)


def _last_delivery_by_type(db: Database, recent_batches: int = RECENT_BATCHES) -> dict[str, datetime]:
    """Return per type when the backend last received one of its documents.

    The newest ``batch_sent`` entries of the audit trail answer for the types delivered lately
    (one index range, however big the ledger); only a type missing from them is looked up in the
    ledger, whose rows of a rarely delivered type are few.
    """
    found: dict[str, datetime] = {}
    for entity_type, details, created_at in db.query(
        "SELECT entity_type, details, created_at FROM rag_sync_log WHERE event = 'batch_sent'"
        " ORDER BY id DESC LIMIT %s", (recent_batches,),
    ):
        carried = {entity_type} if entity_type else set()
        if details:
            try:
                carried |= set((json.loads(details).get("types") or {}).keys())
            except (ValueError, AttributeError):
                pass
        for name in carried:
            found.setdefault(name, created_at)
        if len(found) >= len(ENTITY_TYPES):
            break
    for entity_type in ENTITY_TYPES:
        if entity_type not in found:
            moment = db.scalar("SELECT MAX(delivered_at) FROM rag_sync_ledger WHERE entity_type = %s",
                               (entity_type,))
            if moment is not None:
                found[entity_type] = moment
    return found


def type_statuses(db: Database) -> list[TypeStatus]:
    """Return the sync status of every entity type."""
    live = Ledger(db).live_counts()
    waiting, oldest = QueueView(db).waiting_by_type()
    delivered = _last_delivery_by_type(db)
    runs = SyncRuns(db)
    statuses = []
    for entity_type in ENTITY_TYPES:
        counts = waiting.get(entity_type, {})
        statuses.append(TypeStatus(
            entity_type=entity_type,
            live_documents=live.get(entity_type, 0),
            last_full_sync=runs.latest(entity_type, kind="full"),
            last_delivery_at=delivered.get(entity_type),
            oldest_waiting_at=oldest.get(entity_type),
            pending=counts.get("pending", 0),
            failed=counts.get("failed", 0),
            dead=counts.get("dead", 0),
        ))
    return statuses


def judge_health(breaker: BreakerView | None, last_test: AuditEntry | None, endpoint_error: str | None,
                 counts: dict[str, int], last_success: datetime | None = None) -> Health:
    """Summarize the connection's health from the breaker, the last connection test, deliveries and the queue."""
    if endpoint_error:
        return Health("error", "Not configured", endpoint_error)
    if breaker is not None and breaker.paused and breaker.paused_until is not None:
        return Health("warning", "Paused by the backend",
                      f"paused by the backend until {breaker.paused_until:%Y-%m-%d %H:%M:%S} UTC"
                      + (f" ({breaker.pause_reason[:200]})" if breaker.pause_reason else ""))
    if breaker is not None and breaker.state == "open":
        return Health("error", "Circuit open",
                      f"{breaker.consecutive_failures} consecutive failures; nothing is sent until "
                      f"{breaker.open_until:%Y-%m-%d %H:%M:%S} UTC" if breaker.open_until else "breaker open")
    if breaker is not None and breaker.state == "half_open":
        return Health("warning", "Probing", "the circuit breaker lets one probe batch through")
    test_ok = bool(last_test.details.get("ok")) if last_test and last_test.details else None
    if last_success is None and breaker is not None:
        last_success = breaker.last_success_at
    if test_ok is False and last_test is not None and (last_success is None or last_test.created_at > last_success):
        return Health("error", "Failing", f"the last connection test failed: {last_test.message}")
    if breaker is not None and breaker.consecutive_failures:
        return Health("warning", "Degraded", f"{breaker.consecutive_failures} consecutive delivery failure(s): "
                                             f"{(breaker.last_error or '')[:200]}")
    if counts.get("dead", 0):
        return Health("warning", "Healthy, with dead items",
                      f"{counts['dead']} item(s) gave up after their retries; review and retry them in the queue")
    if last_success is None and test_ok is None:
        return Health("unknown", "Unknown", "nothing was delivered or tested yet: run Test Connection")
    return Health("ok", "Healthy", "the backend accepted the last delivery or connection test")


def overview(db: Database, endpoint: str | None, endpoint_error: str | None,
             clock: Clock | None = None) -> Overview:
    """Read everything the dashboard shows."""
    clock = clock or SystemClock()
    counts = QueueView(db, clock).counts_by_status()
    breakers = read_breakers(db, endpoint)
    recent_tests = AuditLog(db, clock).recent(limit=1, event="connection_test")
    last_test = recent_tests[0] if recent_tests else None
    current = next((b for b in breakers if b.current), breakers[0] if breakers else None)
    types = type_statuses(db)
    deliveries = [t.last_delivery_at for t in types if t.last_delivery_at is not None]
    if current is not None and current.last_success_at is not None:
        deliveries.append(current.last_success_at)
    return Overview(
        generated_at=clock.now(),
        counts=counts,
        types=types,
        breakers=breakers,
        last_test=last_test,
        endpoint=endpoint,
        endpoint_error=endpoint_error,
        health=judge_health(current, last_test, endpoint_error, counts, max(deliveries) if deliveries else None),
    )


# ---------------------------------------------------------------------------------------------- queue grid


def encode_cursor(value: Any, row_id: int) -> str:
    """Return an opaque URL-safe cursor for the row with sort value ``value`` and id ``row_id``."""
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps([value, int(row_id)], separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, int]:
    """Return ``(sort value, id)`` from a cursor made by :func:`encode_cursor` for the column ``sort``."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value, row_id = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if sort in _DATETIME_COLUMNS:
            value = datetime.fromisoformat(value)
        elif sort in _INT_COLUMNS:
            value = int(value)
        elif not isinstance(value, str):
            raise ValueError("not a string")
        return value, int(row_id)
    except (ValueError, TypeError, binascii.Error, UnicodeError):
        raise InvalidQueryError(f"the page cursor {cursor[:40]!r} is not valid for sorting by {sort}") from None


def _choice(name: str, value: str | None, allowed: Sequence[str]) -> str | None:
    if value in (None, ""):
        return None
    if value not in allowed:
        raise InvalidQueryError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value


@dataclass(frozen=True)
class QueueQuery:
    """Filters, sort and position of one queue page (all validated)."""

    status: str | None = None
    entity_type: str | None = None
    action: str | None = None
    sort: str = "id"
    descending: bool = True
    per_page: int = DEFAULT_PAGE_SIZE
    after: str | None = None
    before: str | None = None
    last: bool = False
    offset: int | None = None

    @classmethod
    def parse(cls, status: str | None = None, entity_type: str | None = None, action: str | None = None,
              sort: str | None = None, order: str | None = None, per_page: int | None = None,
              after: str | None = None, before: str | None = None, last: bool = False,
              offset: int | None = None) -> QueueQuery:
        """Validate the query parameters of the queue page and API."""
        sort = sort or "id"
        if sort not in SORTABLE:
            raise InvalidQueryError(f"sort must be one of {', '.join(sorted(SORTABLE))}; got {sort!r}")
        order = order or "desc"
        if order not in ("asc", "desc"):
            raise InvalidQueryError(f"order must be asc or desc; got {order!r}")
        size = per_page or DEFAULT_PAGE_SIZE
        if size not in PAGE_SIZES:
            raise InvalidQueryError(f"per_page must be one of {', '.join(map(str, PAGE_SIZES))}; got {size}")
        if sum(bool(x) for x in (after, before, last)) > 1:
            raise InvalidQueryError("give at most one of after, before and last")
        query = cls(
            status=_choice("status", status, QUEUE_STATUSES),
            entity_type=_choice("entity_type", entity_type, ENTITY_TYPES),
            action=_choice("action", action, ACTIONS),
            sort=sort, descending=order == "desc", per_page=size,
            after=after or None, before=before or None, last=last,
            offset=max(0, int(offset)) if offset is not None else None,
        )
        for cursor in (query.after, query.before):
            if cursor is not None:
                decode_cursor(cursor, sort)
        return query

    @property
    def keyset(self) -> bool:
        """Return True when this sort pages by cursor (the column is never NULL)."""
        return self.sort not in NULLABLE_SORTS

    @property
    def order(self) -> str:
        """Return ``asc`` or ``desc``."""
        return "desc" if self.descending else "asc"

    def filters(self) -> dict[str, str | None]:
        """Return the filters as keyword arguments of :meth:`QueueView.page`."""
        return {"status": self.status, "entity_type": self.entity_type, "action": self.action}

    def params(self, **changes: Any) -> dict[str, Any]:
        """Return this query as URL parameters (without empty ones), with ``changes`` applied."""
        base: dict[str, Any] = {"status": self.status, "entity_type": self.entity_type, "action": self.action,
                                "sort": self.sort, "order": self.order, "per_page": self.per_page}
        base.update(changes)
        return {k: v for k, v in base.items() if v not in (None, "", False)}


@dataclass(frozen=True)
class QueueListing:
    """One page of the queue grid with the query strings of the First/Previous/Next/Last links."""

    query: QueueQuery
    rows: list[dict[str, Any]]
    total: int
    total_capped: bool
    offset: int | None
    first: dict[str, Any] | None = None
    previous: dict[str, Any] | None = None
    next: dict[str, Any] | None = None
    last: dict[str, Any] | None = None

    @property
    def total_label(self) -> str:
        """Return the number of matching rows, e.g. ``1,234`` or ``100,000+``."""
        return f"{self.total:,}+" if self.total_capped else f"{self.total:,}"

    @property
    def position_label(self) -> str:
        """Return where this page is, e.g. ``51–100 of 1,234`` (or ``50 rows of 100,000+`` deep in a big queue)."""
        if not self.rows:
            return f"0 of {self.total_label}"
        if self.offset is None:
            return f"{len(self.rows)} rows of {self.total_label}"
        return f"{self.offset + 1:,}–{self.offset + len(self.rows):,} of {self.total_label}"


def count_matching(db: Database, query: QueueQuery, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """Count the rows matching the filters, stopping at ``cap``; return (count, whether it was capped)."""
    return QueueView(db).count_matching(cap, **query.filters())


def _cursor_of(row: dict[str, Any], sort: str) -> str:
    return encode_cursor(row[sort], int(row["id"]))


def queue_listing(db: Database, query: QueueQuery, clock: Clock | None = None) -> QueueListing:
    """Return one page of the queue grid and the First/Previous/Next/Last links around it.

    Keyset sorts fetch one row more than shown to know whether a next page exists, and walk
    backwards (Previous, Last) by asking for the reversed order from the cursor and flipping the
    rows. ``offset`` in the links only tells the position to show; it is None when unknown.
    """
    repo = QueueView(db, clock)
    size = query.per_page
    total, capped = count_matching(db, query)
    common: dict[str, Any] = {**query.filters(), "sort": query.sort, "limit": size + 1, "with_total": False,
                              "matching": total}
    if not query.keyset:
        start = query.offset or 0
        if query.last and not capped:
            start = max(0, (total - 1) // size * size)
        if not capped and start > 0 and start >= total - start:
            # Nearer the end: read the reversed order from its start (NULLs, first in ascending
            # order, are last in descending order, so it is exactly the reverse) and flip the rows.
            count = max(0, min(size, total - start))
            page = repo.page(descending=not query.descending, offset=max(0, total - start - count),
                             **{**common, "limit": count or 1})
            rows = list(reversed(page.rows[:count]))
            has_next = start + count < total
        else:
            page = repo.page(descending=query.descending, offset=start, **common)
            rows = page.rows[:size]
            has_next = len(page.rows) > size
        return QueueListing(
            query=query, rows=rows, total=total, total_capped=capped, offset=start,
            first=query.params() if start > 0 else None,
            previous=query.params(offset=max(0, start - size)) if start > 0 else None,
            next=query.params(offset=start + size) if has_next else None,
            last=query.params(last=1) if has_next and not capped else None,
        )
    backwards = query.before is not None or query.last
    cursor = query.before if backwards else query.after
    after = decode_cursor(cursor, query.sort) if cursor else None
    page = repo.page(descending=query.descending != backwards, after=after, **common)
    more = len(page.rows) > size
    rows = page.rows[:size]
    if backwards:
        rows.reverse()
        has_previous, has_next = more, query.before is not None
    else:
        has_previous, has_next = query.after is not None, more
    offset: int | None
    if not has_previous:
        offset = 0
    elif query.last:
        offset = None if capped else max(0, total - len(rows))
    else:
        offset = query.offset
    previous = next_link = None
    if has_previous and rows:
        before_offset = offset - size if offset is not None and offset - size > 0 else None
        previous = query.params(before=_cursor_of(rows[0], query.sort), offset=before_offset)
    if has_next and rows:
        next_link = query.params(after=_cursor_of(rows[-1], query.sort),
                                 offset=offset + len(rows) if offset is not None else None)
    return QueueListing(
        query=query, rows=rows, total=total, total_capped=capped, offset=offset,
        first=query.params() if has_previous else None, previous=previous, next=next_link,
        last=query.params(last=1) if has_next else None,
    )


@dataclass(frozen=True)
class QueueItem:
    """One queue row with its document pretty-printed and what the ledger says about its entity."""

    row: dict[str, Any]
    document_pretty: str | None
    document: Any
    ledger: LedgerEntry | None


def queue_item(db: Database, queue_id: int) -> QueueItem | None:
    """Return one queue row with its document, or None when it does not exist (any more)."""
    row = QueueView(db).get(queue_id)
    if row is None:
        return None
    row.pop("lease_token", None)
    raw = row.pop("document", None)
    document: Any = None
    pretty: str | None = None
    if raw:
        try:
            document = json.loads(raw)
            pretty = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
        except ValueError:
            pretty = str(raw)
    key = (str(row["entity_type"]), str(row["entity_id"]), int(row["store_id"]))
    ledger = Ledger(db).lookup([key]).get(key)
    return QueueItem(row=row, document_pretty=pretty, document=document, ledger=ledger)


# ---------------------------------------------------------------------------------------------- log


@dataclass(frozen=True)
class LogPage:
    """One page of the audit trail, newest first."""

    entries: list[AuditEntry]
    event: str | None
    older: dict[str, Any] | None
    newest: dict[str, Any] | None


def log_page(db: Database, event: str | None = None, before_id: int | None = None,
             limit: int = LOG_PAGE_SIZE) -> LogPage:
    """Return one page of the audit log (optionally one event), newest first, with the link to older entries."""
    event = _choice("event", event, LOG_EVENTS)
    if before_id is not None and before_id < 1:
        raise InvalidQueryError("before_id must be a positive id")
    entries = AuditLog(db).recent(limit=limit + 1, event=event, before_id=before_id)
    older = None
    if len(entries) > limit:
        entries = entries[:limit]
        older = {k: v for k, v in {"event": event, "before_id": entries[-1].id}.items() if v is not None}
    newest = ({"event": event} if event else {}) if before_id is not None else None
    return LogPage(entries=entries, event=event, older=older, newest=newest)


# ---------------------------------------------------------------------------------------------- JSON


def jsonable(value: Any) -> Any:
    """Return ``value`` with datetimes as ISO 8601 UTC strings and dataclasses as dicts, for JSON."""
    if isinstance(value, datetime):
        return value.replace(microsecond=0).isoformat() + "Z" if value.tzinfo is None else value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {name: jsonable(getattr(value, name)) for name in value.__dataclass_fields__}
    return value

