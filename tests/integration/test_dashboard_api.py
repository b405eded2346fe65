"""The dashboard's read models and actions against a real MariaDB: what the pages and the JSON API return.

The HTTP layer (auth, routes, pages in a browser) is tested end to end in ``tests/e2e`` against a
real ``airflow api-server``; here the same functions run directly on a database seeded through
the real repositories, with a real receiver for the connection test.
"""

from __future__ import annotations

import json
import socket
import time
from datetime import timedelta
from typing import Any

import MySQLdb
import pytest

from e2e.seed import seed_queue
from fixtures.receiver import RECEIVER_SECRET, RECEIVER_TENANT
from ragsync.dashboard import actions, views
from ragsync.dashboard.database import (
    DashboardUnavailableError,
    describe_mysql_error,
    limit_statement_time,
    open_database,
)
from ragsync.db import Database, DbParams
from ragsync.state import queue_view
from ragsync.state.audit import AuditEntry, AuditLog
from ragsync.state.clock import SystemClock
from ragsync.state.ledger import Ledger
from ragsync.state.migrations import upgrade
from ragsync.state.queue import QueueRepository
from ragsync.state.queue_view import NULLABLE_SORTS, SORTABLE, QueueView
from ragsync_dev.demo.airflow_env import mysql_connection
from ragsync_dev.receiver import ReferenceReceiver

ENDPOINT = "http://127.0.0.1:9/hook"


def seed(db: Database) -> None:
    """Write the dashboard seed (``e2e.seed``)."""
    seed_queue(db, ENDPOINT)


@pytest.fixture
def seeded(ragsync_db: Database) -> Database:
    """Return a ragsync database with the dashboard seed: every status, sync runs, a breaker row."""
    seed(ragsync_db)
    return ragsync_db


@pytest.fixture(scope="module")
def seeded_once(db_factory: Any) -> Database:
    """Return one seeded database shared by the tests that only read (one connection for all of them)."""
    db = db_factory("dash")
    upgrade(db)
    seed(db)
    return db


def sql_order(db: Database, sort: str, descending: bool, where: str = "", params: tuple[Any, ...] = ()) -> list[int]:
    """Return the ids in the grid's order, computed by MySQL directly (NULLs first ascending, last descending)."""
    direction = "DESC" if descending else "ASC"
    order = f"id {direction}" if sort == "id" else f"{sort} {direction}, id {direction}"
    return [int(r[0]) for r in db.query(f"SELECT id FROM rag_sync_queue {where} ORDER BY {order}", params)]


def walk(db: Database, query: views.QueueQuery, direction: str = "next") -> list[int]:
    """Follow the listing's next (or previous) links from ``query`` and return every id seen, in page order."""
    pages: list[list[int]] = []
    params: dict[str, Any] | None = query.params(last=1) if direction == "previous" else query.params()
    while params is not None:
        listing = views.queue_listing(db, views.QueueQuery.parse(**params))
        pages.append([int(r["id"]) for r in listing.rows])
        params = listing.next if direction == "next" else listing.previous
    if direction == "previous":
        pages.reverse()
    return [i for page in pages for i in page]


# ---------------------------------------------------------------------------------------------- overview


def test_overview_matches_the_tables(seeded_once: Database) -> None:
    data = views.overview(seeded_once, ENDPOINT, None)
    assert data.counts == QueueRepository(seeded_once).counts_by_status()
    live = Ledger(seeded_once).live_counts()
    by_type = {t.entity_type: t for t in data.types}
    assert set(by_type) == {"product", "category", "cms_page", "cms_block", "promotion"}
    for entity_type, status in by_type.items():
        assert status.live_documents == live.get(entity_type, 0)
        for name in ("pending", "failed", "dead"):
            expected = seeded_once.scalar("SELECT COUNT(*) FROM rag_sync_queue WHERE entity_type = %s AND status = %s",
                                     (entity_type, name))
            assert getattr(status, name) == expected, (entity_type, name)
        oldest = seeded_once.scalar("SELECT MIN(created_at) FROM rag_sync_queue WHERE entity_type = %s"
                               " AND status IN ('pending', 'failed')", (entity_type,))
        assert status.oldest_waiting_at == oldest
        delivered = seeded_once.scalar("SELECT MAX(delivered_at) FROM rag_sync_ledger WHERE entity_type = %s",
                                  (entity_type,))
        assert status.last_delivery_at == delivered
        assert status.last_full_sync is not None
    assert by_type["promotion"].last_full_sync.status == "failed"  # type: ignore[union-attr]
    assert by_type["product"].last_full_sync.status == "success"  # type: ignore[union-attr]
    assert data.breaker is not None and data.breaker.current and data.breaker.state == "closed"
    assert data.last_success_at is not None
    assert data.health.label == "Healthy, with dead items"
    waiting = by_type["product"].waiting_seconds(SystemClock().now())
    assert waiting is not None and waiting > 3600


def test_overview_of_an_empty_database(ragsync_db: Database) -> None:
    data = views.overview(ragsync_db, None, "Airflow connection 'ragsync_webhook' is not defined")
    assert data.counts == dict.fromkeys(("pending", "processing", "sent", "failed", "dead"), 0)
    assert data.breaker is None and data.last_test is None and data.last_success_at is None
    assert all(t.live_documents == 0 and t.last_full_sync is None for t in data.types)
    assert data.health.level == "error" and "ragsync_webhook" in data.health.reason
    body = json.loads(json.dumps(views.jsonable(data)))
    assert body["health"]["label"] == "Not configured"


def _breaker(state: str = "closed", failures: int = 0, success: bool = True) -> views.BreakerView:
    now = SystemClock().now()
    return views.BreakerView(ENDPOINT, True, state, failures, now if state == "open" else None,
                             now + timedelta(minutes=5) if state == "open" else None, "HTTP 503" if failures else None,
                             now - timedelta(minutes=10) if success else None, now)


def _test_entry(ok: bool, minutes_ago: float = 1) -> AuditEntry:
    return AuditEntry(1, SystemClock().now() - timedelta(minutes=minutes_ago), "info", "connection_test", None,
                      None, "admin", "Connection OK" if ok else "Cannot reach it", {"ok": ok})


def test_a_failed_test_older_than_the_last_delivery_is_not_failing() -> None:
    now = SystemClock().now()
    recovered_long_ago = _breaker()  # its last_success_at is 10 minutes old
    health = views.judge_health(recovered_long_ago, _test_entry(False, minutes_ago=5), None, {}, last_success=now)
    assert health.label == "Healthy"


@pytest.mark.parametrize(("breaker", "test", "dead", "level", "label"), [
    (_breaker("open", 5), None, 0, "error", "Circuit open"),
    (_breaker("half_open", 5), None, 0, "warning", "Probing"),
    (_breaker(), _test_entry(False), 0, "error", "Failing"),
    (_breaker(), _test_entry(False, minutes_ago=60), 0, "ok", "Healthy"),
    (_breaker("closed", 2), None, 0, "warning", "Degraded"),
    (_breaker(), _test_entry(True), 3, "warning", "Healthy, with dead items"),
    (None, None, 0, "unknown", "Unknown"),
    (None, _test_entry(True), 0, "ok", "Healthy"),
])
def test_health_verdicts(breaker: views.BreakerView | None, test: AuditEntry | None, dead: int, level: str,
                         label: str) -> None:
    health = views.judge_health(breaker, test, None, {"dead": dead})
    assert (health.level, health.label) == (level, label)


# ---------------------------------------------------------------------------------------------- queue grid


@pytest.mark.parametrize("sort", sorted(SORTABLE))
def test_every_sort_pages_forwards_and_backwards_through_every_row(seeded_once: Database, sort: str) -> None:
    for descending in (True, False):
        query = views.QueueQuery.parse(sort=sort, order="desc" if descending else "asc", per_page=20)
        expected = sql_order(seeded_once, sort, descending)
        assert walk(seeded_once, query) == expected, (sort, descending)
        assert walk(seeded_once, query, "previous") == expected, (sort, descending)


@pytest.mark.parametrize("selective", [True, False], ids=["few-matches", "many-matches"])
@pytest.mark.parametrize("sort", sorted(SORTABLE))
def test_every_sort_pages_a_filter_through_every_match_with_either_plan(
        seeded_once: Database, sort: str, selective: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    # few matches: read through the filter's index and sorted; many: a scan (or the sort's index)
    monkeypatch.setattr(queue_view, "SELECTIVE_FILTER_ROWS", 10**9 if selective else 0)
    for descending in (True, False):
        query = views.QueueQuery.parse(entity_type="product", sort=sort, order="desc" if descending else "asc",
                                       per_page=20)
        expected = sql_order(seeded_once, sort, descending, "WHERE entity_type = %s", ("product",))
        assert len(expected) > 40
        assert walk(seeded_once, query) == expected, (sort, descending)
        assert walk(seeded_once, query, "previous") == expected, (sort, descending)


def test_the_grid_has_a_sortable_heading_for_every_sortable_column() -> None:
    from ragsync.dashboard.pages import QUEUE_COLUMNS

    assert [c for c, _ in QUEUE_COLUMNS if c not in SORTABLE] == []
    assert sorted(SORTABLE - {c for c, _ in QUEUE_COLUMNS}) == []


def test_filters_combine(seeded_once: Database) -> None:
    query = views.QueueQuery.parse(status="pending", entity_type="product", action="save", sort="updated_at",
                                   order="asc", per_page=20)
    expected = sql_order(seeded_once, "updated_at", False,
                         "WHERE status = %s AND entity_type = %s AND action = %s", ("pending", "product", "save"))
    assert expected and walk(seeded_once, query) == expected
    listing = views.queue_listing(seeded_once, query)
    assert listing.total == len(expected) and not listing.total_capped
    assert {(r["status"], r["entity_type"], r["action"]) for r in listing.rows} == {("pending", "product", "save")}
    assert "document" not in listing.rows[0]


def test_positions_and_links(seeded_once: Database) -> None:
    total = int(seeded_once.scalar("SELECT COUNT(*) FROM rag_sync_queue"))
    first = views.queue_listing(seeded_once, views.QueueQuery.parse(per_page=20))
    assert first.position_label == f"1–20 of {total}"
    assert first.first is None and first.previous is None and first.next is not None
    second = views.queue_listing(seeded_once, views.QueueQuery.parse(**first.next))
    assert second.position_label == f"21–40 of {total}"
    back = views.queue_listing(seeded_once, views.QueueQuery.parse(**second.previous))  # type: ignore[arg-type]
    assert [r["id"] for r in back.rows] == [r["id"] for r in first.rows] and back.offset == 0
    last = views.queue_listing(seeded_once, views.QueueQuery.parse(**first.last))  # type: ignore[arg-type]
    assert last.next is None and last.offset == total - len(last.rows)
    # a sort on a column that can be NULL pages by offset
    by_sent = views.queue_listing(seeded_once, views.QueueQuery.parse(sort="sent_at", per_page=20))
    assert by_sent.next == {"sort": "sent_at", "order": "desc", "per_page": 20, "offset": 20}


def test_matching_rows_are_counted_up_to_a_cap(seeded_once: Database) -> None:
    query = views.QueueQuery.parse()
    total = int(seeded_once.scalar("SELECT COUNT(*) FROM rag_sync_queue"))
    assert views.count_matching(seeded_once, query) == (total, False)
    assert views.count_matching(seeded_once, query, cap=10) == (10, True)
    assert views.count_matching(seeded_once, views.QueueQuery.parse(status="dead"), cap=10) == (4, False)


@pytest.mark.parametrize("kwargs", [
    {"status": "lost"}, {"entity_type": "order"}, {"action": "update"}, {"sort": "document"},
    {"order": "sideways"}, {"per_page": 7}, {"after": "x", "before": "y"}, {"after": "!!!"},
    {"sort": "created_at", "after": views.encode_cursor("yesterday", 1)},
])
def test_invalid_queue_queries_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(views.InvalidQueryError):
        views.QueueQuery.parse(**kwargs)


def test_cursors_round_trip_every_column_type(seeded_once: Database) -> None:
    row = QueueView(seeded_once).page(limit=1).rows[0]
    for sort in sorted(SORTABLE - NULLABLE_SORTS):
        assert views.decode_cursor(views.encode_cursor(row[sort], row["id"]), sort) == (row[sort], row["id"])


def test_one_item_with_its_document_and_ledger(seeded_once: Database) -> None:
    sent_id = int(seeded_once.scalar("SELECT MIN(id) FROM rag_sync_queue WHERE status = 'sent'"))
    item = views.queue_item(seeded_once, sent_id)
    assert item is not None and "lease_token" not in item.row and "document" not in item.row
    raw = seeded_once.scalar("SELECT document FROM rag_sync_queue_document WHERE queue_id = %s", (sent_id,))
    assert item.document == json.loads(raw) and json.loads(item.document_pretty or "") == json.loads(raw)
    assert item.document_pretty and "\n  " in item.document_pretty
    assert item.ledger is not None and item.ledger.delivered_hash == item.row["content_hash"]
    assert views.queue_item(seeded_once, 10**9) is None


# ---------------------------------------------------------------------------------------------- log


def test_log_pages_newest_first_and_filters_by_event(seeded: Database) -> None:
    audit = AuditLog(seeded)
    for n in range(7):
        audit.write("manual_retry", f"retry {n}", username="admin")
    all_ids = [int(r[0]) for r in seeded.query("SELECT id FROM rag_sync_log ORDER BY id DESC")]
    seen: list[int] = []
    page = views.log_page(seeded, limit=5)
    assert page.newest is None
    while True:
        seen += [e.id for e in page.entries]
        if page.older is None:
            break
        page = views.log_page(seeded, page.older.get("event"), page.older["before_id"], limit=5)
        assert page.newest == {}
    assert seen == all_ids
    retries = views.log_page(seeded, "manual_retry", limit=100)
    assert [e.message for e in retries.entries] == [f"retry {n}" for n in reversed(range(7))]
    assert views.log_page(seeded, "manual_process").entries == []
    with pytest.raises(views.InvalidQueryError):
        views.log_page(seeded, "everything")


# ---------------------------------------------------------------------------------------------- database


def test_a_missing_connection_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_RAGSYNC_DB_MISSING", raising=False)
    with pytest.raises(DashboardUnavailableError) as caught:
        open_database(5, conn_id="ragsync_db_missing")
    assert "ragsync_db_missing" in caught.value.message and caught.value.status_code == 503


def test_a_dead_database_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once the socket is closed
    conn = mysql_connection(DbParams(host="127.0.0.1", port=port, user="root", database="ragsync"))
    monkeypatch.setenv("AIRFLOW_CONN_RAGSYNC_DB_DEAD", json.dumps(conn))
    started = time.monotonic()
    with pytest.raises(DashboardUnavailableError) as caught:
        open_database(5, conn_id="ragsync_db_dead")
    assert time.monotonic() - started < 10
    assert f"127.0.0.1:{port}" in caught.value.message and "password" not in caught.value.message


def test_statements_are_cut_off_at_the_time_limit(ragsync_db: Database) -> None:
    limit_statement_time(ragsync_db, 1)
    started = time.monotonic()
    with pytest.raises(MySQLdb.OperationalError) as caught:
        ragsync_db.query("SELECT SLEEP(5) FROM rag_sync_queue RIGHT JOIN (SELECT 1) AS one ON 1 = 1")
    assert time.monotonic() - started < 4
    assert "did not answer in time" in describe_mysql_error(caught.value)


def test_mysql_errors_are_described_with_a_hint() -> None:
    assert "ragsync db upgrade" in describe_mysql_error(MySQLdb.ProgrammingError(1146, "Table 'x' doesn't exist"))
    assert "lost the connection" in describe_mysql_error(MySQLdb.OperationalError(2013, "Lost connection"))
    assert "refused" in describe_mysql_error(MySQLdb.OperationalError(1045, "Access denied"))


# ---------------------------------------------------------------------------------------------- actions


def test_retry_all_reopens_failed_dead_and_expired_leases_with_the_username(seeded: Database) -> None:
    seeded.execute("UPDATE rag_sync_queue SET lease_expires_at = %s WHERE status = 'processing'",
                   (SystemClock().now() - timedelta(minutes=1),))
    before = QueueRepository(seeded).counts_by_status()
    result = actions.retry(seeded, "alice")
    assert result["retried"] == before["failed"] + before["dead"]
    assert result["stuck_reset"] == before["processing"]
    after = QueueRepository(seeded).counts_by_status()
    assert after["failed"] == after["dead"] == after["processing"] == 0
    entry = AuditLog(seeded).recent(limit=5, event="manual_retry")[0]
    assert entry.username == "alice"


def test_retry_selected_only_touches_failed_and_dead(seeded: Database) -> None:
    dead = [int(r[0]) for r in seeded.query("SELECT id FROM rag_sync_queue WHERE status = 'dead'")]
    sent = int(seeded.scalar("SELECT MIN(id) FROM rag_sync_queue WHERE status = 'sent'"))
    result = actions.retry(seeded, "bob", ids=[*dead, sent])
    assert result["retried"] == len(dead) and "stuck_reset" not in result
    assert seeded.scalar("SELECT status FROM rag_sync_queue WHERE id = %s", (sent,)) == "sent"


def test_clear_and_delete(seeded: Database) -> None:
    sent = QueueRepository(seeded).counts_by_status()["sent"]
    assert actions.clear(seeded, "carol", "sent") == {"deleted": sent, "status": "sent"}
    with pytest.raises(ValueError):
        actions.clear(seeded, "carol", "pending")
    ids = [int(r[0]) for r in seeded.query("SELECT id FROM rag_sync_queue WHERE status = 'pending' LIMIT 3")]
    assert actions.delete(seeded, "carol", ids) == {"deleted": 3}
    entries = AuditLog(seeded).recent(limit=2, event="manual_clear")
    assert [e.username for e in entries] == ["carol", "carol"]


def _webhook_env(monkeypatch: pytest.MonkeyPatch, url: str, timeout: float = 60) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_RAGSYNC_WEBHOOK", json.dumps({
        "conn_type": "http", "host": url, "password": RECEIVER_SECRET,
        "extra": {"tenant_id": RECEIVER_TENANT, "timeout": timeout}}))


def test_connection_test_pings_the_receiver_and_is_audited(ragsync_db: Database, receiver: ReferenceReceiver,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _webhook_env(monkeypatch, receiver.url)
    result = actions.test_connection(ragsync_db, "dave")
    assert result["ok"] is True and receiver.request_count == 1
    entry = AuditLog(ragsync_db).recent(limit=1, event="connection_test")[0]
    assert entry.username == "dave" and entry.details and entry.details["ok"] is True
    assert actions.configured_endpoint() == (receiver.url.split("?", 1)[0], None)


def test_the_connection_test_waits_at_most_the_capped_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    _webhook_env(monkeypatch, "http://127.0.0.1:9/hook", timeout=60)
    assert actions.bounded_hook("production").config.timeout == actions.TEST_TIMEOUT_SECONDS
    _webhook_env(monkeypatch, "http://127.0.0.1:9/hook", timeout=3)
    assert actions.bounded_hook("production").config.timeout == 3


def test_a_missing_webhook_connection_is_reported(ragsync_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_RAGSYNC_WEBHOOK", raising=False)
    endpoint, problem = actions.configured_endpoint()
    assert endpoint is None and problem and "ragsync_webhook" in problem
    result = actions.test_connection(ragsync_db, "erin")
    assert result["ok"] is False and "ragsync_webhook" in result["message"]


# ---------------------------------------------------------------------------------------------- error pages


@pytest.fixture
def app_with_auth_stubbed() -> Any:
    """Return a test client of the dashboard app with Airflow's auth stubbed out (signed in as admin).

    Real authentication and authorization are covered against a real API server in tests/e2e;
    this client exists to render the error pages without starting one.
    """
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient

    from ragsync.dashboard import access
    from ragsync.dashboard.app import create_app

    app = create_app()
    app.dependency_overrides[get_user] = lambda: SimpleAuthManagerUser(username="admin", role="admin")
    app.dependency_overrides[access.can_read] = lambda: None
    app.dependency_overrides[access.current_permissions] = lambda: access.Permissions("admin", True, True)
    return TestClient(app)


def test_pages_say_which_connection_is_missing(app_with_auth_stubbed: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_RAGSYNC_DB", raising=False)
    page = app_with_auth_stubbed.get("/", headers={"Accept": "text/html"})
    assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
    assert "Airflow connection &#39;ragsync_db&#39; is not defined" in page.text
    api = app_with_auth_stubbed.get("/api/overview")
    assert api.status_code == 503 and "AIRFLOW_CONN_RAGSYNC_DB" in api.json()["detail"]


def test_pages_answer_at_once_when_the_database_is_down(app_with_auth_stubbed: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AIRFLOW_CONN_RAGSYNC_DB", json.dumps(
        mysql_connection(DbParams(host="127.0.0.1", port=port, user="root", database="ragsync"))))
    started = time.monotonic()
    page = app_with_auth_stubbed.get("/queue", headers={"Accept": "text/html"})
    assert time.monotonic() - started < 10
    assert page.status_code == 503 and f"127.0.0.1:{port}" in page.text
