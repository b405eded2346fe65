"""Alerting and metrics in Airflow: ``ragsync_process_queue`` through ``dag.test()`` against MariaDB and the receiver.

A run that buried items, or that finds the breaker open too long, fails its deliver task (the
documented alert: Airflow's failure callbacks and notifiers fire on it); the metrics reach a real
StatsD socket through Airflow's own StatsD client.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.policies import hookimpl

from fixtures.receiver import RECEIVER_SECRET, RECEIVER_TENANT
from ragsync.db import Database
from ragsync.delivery.hook import safe_url
from ragsync.documents.model import Document
from ragsync.settings import BreakerSettings
from ragsync.state.breaker import CircuitBreaker
from ragsync.state.clock import ManualClock, SystemClock
from ragsync.state.migrations import upgrade
from ragsync.state.queue import QueueRepository
from ragsync_dev.demo.airflow_env import connection_environment, variable_environment
from ragsync_dev.receiver import ReferenceReceiver

ROOT = Path(__file__).resolve().parents[2]
OFF = {"enabled": False}
# change capture is switched off, so that the queue holds exactly what a test puts there
CONFIG: dict[str, Any] = {"enabled": True, "environment": "development", "products": OFF, "categories": OFF,
                          "cms_pages": OFF, "cms_blocks": OFF, "promotions": OFF}


FAILURES: list[tuple[str, str, str]] = []  # (dag_id, task_id, exception) seen by the failure callback


def notify(context: Any) -> None:
    """Stand in for a notifier: record what a failure callback of a ragsync task is given."""
    ti = context["ti"]
    FAILURES.append((ti.dag_id, ti.task_id, str(context.get("exception"))))


class AlertingPolicy:
    """The cluster policy the README shows for airflow_local_settings.py: a failure callback on every ragsync task."""

    @staticmethod
    @hookimpl
    def task_policy(task: Any) -> None:
        if task.dag_id.startswith("ragsync_"):
            task.on_failure_callback = [notify]


@pytest.fixture(scope="module")
def dagbag() -> Iterator[Any]:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.settings import get_policy_plugin_manager

    manager = get_policy_plugin_manager()  # where airflow_local_settings.py's policies are registered
    manager.register(AlertingPolicy)
    try:
        bag = DagBag(dag_folder=str(ROOT / "dags"))
    finally:
        manager.unregister(AlertingPolicy)
    assert bag.import_errors == {}
    yield bag


class AlertStack:
    """The pipeline's database, the receiver and the Airflow environment pointing at them."""

    def __init__(self, dagbag: Any, magento: Database, state: Database, receiver: ReferenceReceiver,
                 monkeypatch: pytest.MonkeyPatch) -> None:
        self.dagbag, self.state, self.receiver, self.monkeypatch = dagbag, state, receiver, monkeypatch
        env = connection_environment(magento.params, state.params, receiver.url, secret=RECEIVER_SECRET,
                                     tenant=RECEIVER_TENANT)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        self.configure()
        upgrade(state)

    def configure(self, **overrides: Any) -> None:
        """Set the ragsync_config Variable to CONFIG with ``overrides``."""
        for key, value in variable_environment({**CONFIG, **overrides}).items():
            self.monkeypatch.setenv(key, value)

    def enqueue(self, *ids: int, poison: bool = True) -> None:
        """Queue product documents; with ``poison`` the receiver answers 422 to any request holding one."""
        now = SystemClock().now()
        QueueRepository(self.state).enqueue(
            [Document("product", str(i), 1, "save", {"name": f"product {i}"}, now) for i in ids])
        if poison:
            self.receiver.poison(*(("product", str(i)) for i in ids))

    def run(self) -> tuple[str, dict[str, str]]:
        """Run ragsync_process_queue with dag.test(); return the run's state and each task's state."""
        run = self.dagbag.dags["ragsync_process_queue"].test()
        tasks = {ti.task_id: str(ti.state).rsplit(".", 1)[-1] for ti in run.get_task_instances()}
        return str(run.state).rsplit(".", 1)[-1], tasks

    def statuses(self) -> dict[str, str]:
        """Return entity id -> status of every queue row."""
        return {r[0]: r[1] for r in self.state.query("SELECT entity_id, status FROM rag_sync_queue ORDER BY id")}


@pytest.fixture
def stack(dagbag: Any, demo_shop: Database, db_factory: Callable[..., Database], receiver: ReferenceReceiver,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[AlertStack]:
    yield AlertStack(dagbag, demo_shop, db_factory("alertstate"), receiver, monkeypatch)


def test_a_run_that_buries_items_fails_its_deliver_task_and_its_failure_callback_fires(
        stack: AlertStack, caplog: pytest.LogCaptureFixture) -> None:
    stack.enqueue(901, 902, 903)
    caplog.set_level("INFO", logger="ragsync")
    FAILURES.clear()
    state, tasks = stack.run()
    assert state == "failed"
    assert tasks["deliver"] == "failed" and tasks["capture_changes"] == "success"
    assert stack.statuses() == {"901": "dead", "902": "dead", "903": "dead"}  # settled first, nothing lost
    alert = ("3 items went dead in this run (rejected by the backend or out of retries): see the RAG Sync Queue"
             " page, status dead")
    assert FAILURES == [("ragsync_process_queue", "deliver", alert)]  # the failure callback has the message
    assert f"ragsync alert: {alert}" in caplog.text

    # a later run with nothing newly dead is green again; with fail_on_dead off, burying does not fail
    assert stack.run()[0] == "success"
    stack.configure(alerts={"fail_on_dead": False})
    stack.enqueue(904)
    assert stack.run()[0] == "success"
    assert stack.statuses()["904"] == "dead"


def test_a_breaker_open_longer_than_the_setting_fails_the_run(stack: AlertStack) -> None:
    endpoint = safe_url(stack.receiver.url)
    opened = SystemClock().now().replace(microsecond=0) - timedelta(minutes=41)
    clock = ManualClock(opened)
    breaker = CircuitBreaker(stack.state, endpoint, BreakerSettings(failure_threshold=1, open_seconds=3600), clock)
    breaker.record_failure("HTTP 503 Service Unavailable")
    stack.enqueue(911, poison=False)

    stack.configure(alerts={"breaker_open_minutes": 45})
    assert stack.run()[0] == "success"  # open, but not for longer than the setting
    stack.configure()
    FAILURES.clear()
    state, tasks = stack.run()
    assert (state, tasks["deliver"]) == ("failed", "failed")
    assert len(FAILURES) == 1 and "the circuit breaker for" in FAILURES[0][2]
    assert stack.statuses() == {"911": "pending"}  # nothing claimed while open, no attempt spent
    assert stack.receiver.request_count == 0
    log = stack.state.query("SELECT message FROM rag_sync_log WHERE event = 'breaker_opened'")
    assert len(log) == 1

    from ragsync.pipeline.alerts import delivery_alerts
    from ragsync.pipeline.deliver import DeliverResult
    from ragsync.settings import Settings

    alerts = delivery_alerts(stack.state, Settings(), DeliverResult(), SystemClock().now(), endpoint=endpoint)
    assert len(alerts) == 1
    assert alerts[0].startswith(f"the circuit breaker for {endpoint} has been open since {opened:%Y-%m-%d %H:%M:%S}"
                                " UTC (41 minutes, more than alerts.breaker_open_minutes=30): last error HTTP 503")


@pytest.fixture
def statsd_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """Point Airflow's real StatsD client at a UDP socket on loopback, as a task process starts it."""
    pytest.importorskip("statsd", reason="Airflow's StatsD client needs the statsd package (apache-airflow[statsd])")
    from airflow.sdk.observability import stats
    from airflow.sdk.observability.metrics import stats_utils

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    for key, value in {"STATSD_ON": "True", "STATSD_HOST": "127.0.0.1", "STATSD_PORT": str(sock.getsockname()[1]),
                       "STATSD_PREFIX": "airflow"}.items():
        monkeypatch.setenv(f"AIRFLOW__METRICS__{key}", value)
    # what the task runner's main() does when a task process starts (dag.test() runs tasks in this one)
    stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=False)
    try:
        yield sock
    finally:
        monkeypatch.undo()
        stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=False)
        sock.close()


def _received(sock: socket.socket) -> list[str]:
    lines: list[str] = []
    while True:
        try:
            data = sock.recv(65535)
        except TimeoutError:
            return lines
        lines.extend(data.decode("utf-8").splitlines())


def test_metrics_reach_statsd_from_the_dag_run(stack: AlertStack, statsd_socket: socket.socket) -> None:
    stack.configure(cms_blocks={"enabled": True})  # change capture queues the shop's blocks
    stack.enqueue(921, 922)
    state, tasks = stack.run()
    assert (state, tasks["deliver"]) == ("failed", "failed")  # the two poisoned items went dead
    counts = dict(stack.state.query("SELECT status, COUNT(*) FROM rag_sync_queue GROUP BY status"))
    sent = counts["sent"]
    assert sent > 0 and counts == {"sent": sent, "dead": 2}

    metrics: dict[str, list[str]] = {}
    for line in _received(statsd_socket):
        name, _, value = line.partition(":")
        if name.startswith("airflow.ragsync."):
            metrics.setdefault(name.removeprefix("airflow."), []).append(value)
    assert metrics["ragsync.items.queued"] == [f"{sent}|c"]
    assert metrics["ragsync.items.sent"] == [f"{sent}|c"]
    assert metrics["ragsync.items.failed"] == ["0|c"]
    assert metrics["ragsync.items.dead"] == ["2|c"]
    assert metrics["ragsync.queue.depth.sent"] == [f"{sent}|g"]
    assert metrics["ragsync.queue.depth.dead"] == ["2|g"]
    for status in ("pending", "processing", "failed"):
        assert metrics[f"ragsync.queue.depth.{status}"] == ["0|g"]
    assert metrics["ragsync.queue.oldest_pending_age_seconds"] == ["0.0|g"]  # nothing pending
    assert metrics["ragsync.breaker.open"] == ["0|g"]


def test_emit_metrics_never_fails_and_reports_the_oldest_pending_age(
        stack: AlertStack, statsd_socket: socket.socket) -> None:
    from ragsync.pipeline.alerts import emit_metrics
    from ragsync.pipeline.deliver import DeliverResult

    stack.enqueue(931, poison=False)
    due = stack.state.scalar("SELECT next_attempt_at FROM rag_sync_queue")
    emit_metrics(stack.state, DeliverResult(breaker_state="open"), now=due + timedelta(seconds=90))
    lines = _received(statsd_socket)
    assert "airflow.ragsync.queue.oldest_pending_age_seconds:90.0|g" in lines
    assert "airflow.ragsync.queue.depth.pending:1|g" in lines
    assert "airflow.ragsync.breaker.open:1|g" in lines

    stack.state.execute("DROP TABLE rag_sync_queue_document, rag_sync_queue")
    emit_metrics(stack.state, DeliverResult(), now=datetime(2026, 1, 1))  # logged at debug, not raised
