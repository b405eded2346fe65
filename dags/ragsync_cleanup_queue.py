"""
### RAG Sync: clean up the queue

Daily: delete `sent` queue rows older than `days` (default `queue.cleanup_days`). Never touches
pending, processing, failed or dead rows, and never the ledger.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task


@dag(
    dag_id="ragsync_cleanup_queue",
    schedule="0 5 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["ragsync", "maintenance"],
    doc_md=__doc__,
    allowed_run_types=["scheduled", "manual"],
    default_args={"owner": "ragsync", "retries": 2, "retry_delay": timedelta(minutes=5)},
    params={"days": Param(None, type=["null", "integer"], minimum=1,
                          description="Keep sent rows this many days; empty = queue.cleanup_days")},
)
def ragsync_cleanup_queue() -> None:
    @task
    def prepare() -> dict[str, Any]:
        from ragsync.pipeline import tasks

        return tasks.prepare()

    @task
    def cleanup(params: dict[str, Any] | None = None) -> dict[str, Any]:
        from ragsync.pipeline import tasks

        return tasks.cleanup_queue((params or {}).get("days"))

    prepare() >> cleanup()


ragsync_cleanup_queue()
