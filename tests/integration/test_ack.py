"""A 2xx counts as delivered only when it acknowledges: garbage answers from a real loopback server fail.

The server stands for what answers 200 without being the receiver (a proxy's or a login page, a
stub, a misconfigured route): it is a real ``http.server`` on loopback, answering every POST with
the same status and body. Under the default ``ack="json"`` nothing is ``sent``, every row is
``failed`` with the status and the body's first bytes, the ledger records no delivery and the
connection test fails; with ``ack="status"`` the same answers deliver.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from fixtures.fixed_answer import FixedAnswerServer, fixed_answer_server
from ragsync.db import Database
from ragsync.delivery.hook import RagWebhookHook, safe_url
from ragsync.documents.model import Document
from ragsync.pipeline.deliver import deliver
from ragsync.settings import BreakerSettings, QueueSettings, Settings
from ragsync.state.breaker import CLOSED, CircuitBreaker
from ragsync.state.clock import ManualClock
from ragsync.state.ledger import Ledger
from ragsync.state.queue import QueueRepository

START = datetime(2026, 1, 2, 10, 30)
SECRET = "ack-test-secret"
LOGIN_PAGE = (b"<!DOCTYPE html>\n<html><head><title>Sign in - Corporate SSO</title></head>"
              b"<body><form action=/login>" + b"x" * 3000 + b"</form></body></html>")
DOCUMENTS = 5
SETTINGS = Settings(queue=QueueSettings(batch_size=2), breaker=BreakerSettings(failure_threshold=10))


@pytest.fixture(params=[
    pytest.param((LOGIN_PAGE, "text/html; charset=utf-8", "not JSON"), id="html-page"),
    pytest.param((b'{"accepted": 3,,}', "application/json", "not JSON"), id="invalid-json"),
    pytest.param((b"", "text/plain", "empty"), id="empty-body"),
])
def garbage(request: pytest.FixtureRequest) -> Iterator[tuple[FixedAnswerServer, str]]:
    body, content_type, reason = request.param
    with fixed_answer_server(200, body, content_type) as server:
        yield server, reason


def doc(i: int) -> Document:
    return Document("product", str(i), 1, "save", {"name": f"product {i}"}, START)


def rows(db: Database) -> list[dict[str, Any]]:
    return db.query_dicts("SELECT entity_id, status, attempts, last_http_status, last_error FROM rag_sync_queue"
                          " ORDER BY id")


def test_a_200_with_garbage_is_not_a_delivery(ragsync_db: Database, garbage: tuple[FixedAnswerServer, str]) -> None:
    server, reason = garbage
    clock = ManualClock(START)
    QueueRepository(ragsync_db, clock).enqueue([doc(i) for i in range(DOCUMENTS)])
    keys = [("product", str(i), 1) for i in range(DOCUMENTS)]
    hook = RagWebhookHook.from_values(server.url, SECRET, timeout=10)

    result = deliver(ragsync_db, hook, SETTINGS, clock)

    assert (result.sent, result.failed, result.batches) == (0, DOCUMENTS, 3)
    assert server.requests == 3
    body_start = server.body.decode()[:100] or "(empty)"
    for row in rows(ragsync_db):
        assert (row["status"], row["attempts"], row["last_http_status"]) == ("failed", 1, 200), row
        error = row["last_error"]
        assert error.startswith(f"HTTP 200, not acknowledged: the body is {reason}"), error
        assert 'set the connection extra ack to "status"' in error
        assert f"body: {body_start}" in error  # the body's first bytes
        assert len(error) <= 2000  # the queue's cut, however long the page
    assert all(entry.delivered_hash is None for entry in Ledger(ragsync_db).lookup(keys).values())
    assert result.breaker_state == CLOSED  # 3 failures of 10; each counted like a 5xx (see below)
    breaker = CircuitBreaker(ragsync_db, safe_url(hook.url), SETTINGS.breaker, clock).state()
    assert breaker.consecutive_failures == 3 and (breaker.last_error or "").startswith("HTTP 200, not acknowledged")

    ok, message = hook.test_connection()
    assert not ok
    assert message.startswith(f"{server.url} answered HTTP 200, not acknowledged: the body is {reason}"), message
    assert "not a proxy or a login page" in message

    # the same answers count when the connection says a 2xx alone acknowledges
    relaxed = RagWebhookHook.from_values(server.url, SECRET, timeout=10, ack="status")
    assert relaxed.test_connection()[0]
    clock.advance(minutes=10)  # past the first retry delay (5 min ±10%)
    again = deliver(ragsync_db, relaxed, SETTINGS, clock)
    assert (again.sent, again.failed) == (DOCUMENTS, 0)
    assert {row["status"] for row in rows(ragsync_db)} == {"sent"}
    assert all(entry.delivered_hash for entry in Ledger(ragsync_db).lookup(keys).values())
