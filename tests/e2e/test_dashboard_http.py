"""Who may call which RAG Sync route, over HTTP against the real API server (Bearer tokens and no login)."""

from __future__ import annotations

import pytest
import requests

from ragsync.state.audit import AuditLog
from ragsync.state.queue_view import QueueView

from .conftest import AirflowServer

READ_ROUTES = ["/ragsync/", "/ragsync/queue", "/ragsync/queue?status=failed&sort=attempts&order=asc",
               "/ragsync/log", "/ragsync/log?event=batch_sent", "/ragsync/api/overview", "/ragsync/api/queue",
               "/ragsync/api/log", "/ragsync/static/ragsync.css", "/ragsync/static/ragsync.js"]
ACTIONS = {
    "test-connection": {},
    "process-queue": {},
    "retry": {"statuses": ["failed", "dead"]},
    "clear": {"status": "sent"},
    "delete": {"ids": [1]},
}
PAGES = ["/ragsync/", "/ragsync/queue", "/ragsync/log"]


def some_queue_id(server: AirflowServer) -> int:
    """Return the id of an existing queue row."""
    return int(server.db.scalar("SELECT MIN(id) FROM rag_sync_queue"))


def test_every_route_needs_a_login(airflow_server: AirflowServer) -> None:
    anonymous = requests.Session()
    item = f"/ragsync/queue/{some_queue_id(airflow_server)}"
    for path in [*READ_ROUTES, item, "/ragsync/api" + item.removeprefix("/ragsync")]:
        response = anonymous.get(airflow_server.url + path, timeout=30, allow_redirects=False)
        assert response.status_code == 401, path
    for action, body in ACTIONS.items():
        response = anonymous.post(f"{airflow_server.url}/ragsync/api/actions/{action}", json=body, timeout=30)
        assert response.status_code == 401, action
    garbage = requests.get(f"{airflow_server.url}/ragsync/api/overview", timeout=30,
                           headers={"Authorization": "Bearer not-a-jwt"})
    assert garbage.status_code in (401, 403)


def test_a_browser_without_a_login_is_sent_to_airflows_login_page(airflow_server: AirflowServer) -> None:
    for path in PAGES:
        response = requests.get(airflow_server.url + path, timeout=30, allow_redirects=False,
                                headers={"Accept": "text/html"})
        assert response.status_code == 303, path
        assert "/auth/login?next=" in response.headers["location"]


def test_no_public_docs_or_openapi(airflow_server: AirflowServer) -> None:
    for path in ("/ragsync/docs", "/ragsync/redoc", "/ragsync/openapi.json"):
        assert requests.get(airflow_server.url + path, timeout=30).status_code == 404


def test_viewer_reads_everything_and_may_do_nothing(airflow_server: AirflowServer) -> None:
    viewer = airflow_server.session("viewer")
    item = some_queue_id(airflow_server)
    for path in [*READ_ROUTES, f"/ragsync/queue/{item}", f"/ragsync/api/queue/{item}"]:
        response = viewer.get(airflow_server.url + path, timeout=30)
        assert response.status_code == 200, (path, response.text[:300])
    counts = QueueView(airflow_server.db).counts_by_status()
    log_size = airflow_server.db.scalar("SELECT COUNT(*) FROM rag_sync_log")
    for action, body in ACTIONS.items():
        response = viewer.post(f"{airflow_server.url}/ragsync/api/actions/{action}", json=body, timeout=30)
        assert response.status_code == 403, action
    assert QueueView(airflow_server.db).counts_by_status() == counts
    assert airflow_server.db.scalar("SELECT COUNT(*) FROM rag_sync_log") == log_size


def test_admin_acts_and_the_audit_log_names_them(airflow_server: AirflowServer) -> None:
    admin = airflow_server.session("admin")
    url = f"{airflow_server.url}/ragsync/api/actions"
    target = int(airflow_server.db.scalar("SELECT MAX(id) FROM rag_sync_queue WHERE status = 'pending'"))
    response = admin.post(f"{url}/delete", json={"ids": [target]}, timeout=30)
    assert response.status_code == 200 and response.json() == {"deleted": 1}
    assert QueueView(airflow_server.db).get(target) is None
    entry = AuditLog(airflow_server.db).recent(limit=1)[0]
    assert (entry.event, entry.username) == ("manual_clear", "admin")

    response = admin.post(f"{url}/test-connection", json={}, timeout=30)
    assert response.status_code == 200 and response.json()["ok"] is True
    entry = AuditLog(airflow_server.db).recent(limit=1)[0]
    assert (entry.event, entry.username) == ("connection_test", "admin")

    sent = QueueView(airflow_server.db).counts_by_status()["sent"]
    response = admin.post(f"{url}/clear", json={"status": "sent"}, timeout=30)
    assert response.status_code == 200 and response.json() == {"deleted": sent, "status": "sent"}
    assert QueueView(airflow_server.db).counts_by_status()["sent"] == 0


def test_actions_take_json_posts_only(airflow_server: AirflowServer) -> None:
    admin = airflow_server.session("admin")
    url = f"{airflow_server.url}/ragsync/api/actions"
    assert admin.post(f"{url}/clear", data={"status": "sent"}, timeout=30).status_code == 415
    assert admin.get(f"{url}/clear", timeout=30).status_code == 405
    assert admin.post(f"{url}/clear", json={"status": "everything"}, timeout=30).status_code == 422
    assert admin.post(f"{url}/delete", json={"ids": []}, timeout=30).status_code == 422
    assert admin.post(f"{url}/retry", json={"statuses": ["sent"]}, timeout=30).status_code == 422


def test_bad_filters_are_refused_with_the_allowed_values(airflow_server: AirflowServer) -> None:
    admin = airflow_server.session("admin")
    response = admin.get(f"{airflow_server.url}/ragsync/api/queue?status=lost", timeout=30)
    assert response.status_code == 400 and "pending" in response.json()["detail"]
    response = admin.get(f"{airflow_server.url}/ragsync/api/queue?sort=document", timeout=30)
    assert response.status_code == 400
    response = admin.get(f"{airflow_server.url}/ragsync/api/queue?sort=id&after=%%%", timeout=30)
    assert response.status_code == 400
    # the page validates the same query string the same way, and says so in HTML
    response = admin.get(f"{airflow_server.url}/ragsync/queue?sort=document", timeout=30,
                         headers={"Accept": "text/html"})
    assert response.status_code == 400 and "text/html" in response.headers["content-type"]
    assert "sort must be one of" in response.text
    response = admin.get(f"{airflow_server.url}/ragsync/queue/999999999", timeout=30,
                         headers={"Accept": "text/html"})
    assert response.status_code == 404 and "does not exist" in response.text


def test_queue_api_pages_through_every_row_with_its_links(airflow_server: AirflowServer) -> None:
    admin = airflow_server.session("admin")
    expected = [int(r[0]) for r in airflow_server.db.query(
        "SELECT id FROM rag_sync_queue ORDER BY created_at, id")]
    seen: list[int] = []
    params: dict[str, object] | None = {"sort": "created_at", "order": "asc", "per_page": 20}
    while params is not None:
        page = admin.get(f"{airflow_server.url}/ragsync/api/queue", params=params, timeout=30).json()
        seen += [row["id"] for row in page["rows"]]
        params = page["next"]
    assert seen == expected


def test_the_plugin_is_registered_with_its_navigation(airflow_server: AirflowServer) -> None:
    plugins = airflow_server.session("admin").get(f"{airflow_server.url}/api/v2/plugins", timeout=30).json()
    ours = next(p for p in plugins["plugins"] if p["name"] == "ragsync")
    assert [a["url_prefix"] for a in ours["fastapi_apps"]] == ["/ragsync"]
    views = {v["name"]: v for v in ours["external_views"]}
    assert set(views) == {"Dashboard", "Queue", "Log"}
    assert {v["category"] for v in views.values()} == {"RAG Sync"}
    assert views["Queue"]["href"] == "/ragsync/queue" and views["Dashboard"]["url_route"] == "ragsync-dashboard"


@pytest.mark.parametrize("path", PAGES)
def test_pages_render_for_a_signed_in_user(airflow_server: AirflowServer, path: str) -> None:
    response = airflow_server.session("admin").get(airflow_server.url + path, timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'data-username="admin"' in response.text
