"""
### RAG Sync: reset stuck items

Every 15 minutes: return `processing` queue rows whose lease expired (a worker died between
POST and settle) to `pending`, so they are delivered again with the same hash.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="ragsync_reset_stuck_items",
    schedule="*/15 * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["ragsync", "maintenance"],
    doc_md=__doc__,
    allowed_run_types=["scheduled", "manual"],
    default_args={"owner": "ragsync", "retries": 2, "retry_delay": timedelta(minutes=1)},
)
def ragsync_reset_stuck_items() -> None:
    @task
    def prepare() -> dict[str, Any]:
        from ragsync.pipeline import tasks

        return tasks.prepare()

    @task
    def reset_stuck() -> dict[str, Any]:
        from ragsync.pipeline import tasks

        return tasks.reset_stuck_items()

    prepare() >> reset_stuck()


ragsync_reset_stuck_items()
