"""
### RAG Sync: queue administration

Manual only. `action`: `retry` puts failed and dead items (or only `status`) back to pending;
`clear` deletes items of `status` (sent, failed, dead or all) and needs `confirm`;
`test_connection` POSTs a signed ping to the backend. Every action goes to the audit log.
Works while the `enabled` switch is off, so the queue can be operated during an outage.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from ragsync.vocabulary import CLEARABLE_STATUSES


@dag(
    dag_id="ragsync_queue_admin",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["ragsync", "maintenance"],
    doc_md=__doc__,
    allowed_run_types=["manual"],
    default_args={"owner": "ragsync", "retries": 0},
    params={
        "action": Param("test_connection", enum=["retry", "clear", "test_connection"]),
        "status": Param(None, type=["null", "string"], enum=[None, *CLEARABLE_STATUSES, "all"],
                        description="retry: failed or dead (empty = both); clear: which status"),
        "confirm": Param(False, type="boolean", description="Required for clear"),
    },
)
def ragsync_queue_admin() -> None:
    @task
    def prepare() -> dict[str, Any]:
        from ragsync.pipeline import tasks

        return tasks.prepare(require_enabled=False)

    @task
    def run_action(params: dict[str, Any] | None = None, dag_run: Any = None) -> dict[str, Any]:
        from ragsync.pipeline import tasks

        params = params or {}
        user = getattr(dag_run, "triggering_user_name", None) if dag_run is not None else None
        return tasks.queue_admin(str(params.get("action") or ""), params.get("status"), bool(params.get("confirm")),
                                 username=user or "airflow")

    prepare() >> run_action()


ragsync_queue_admin()
