"""
### RAG Sync: full category sync

Nightly: rebuild categories per store view, queue what changed, reconcile deletes.

Takes no params: a run triggered with any is refused before any work. To resync a few entities,
trigger **ragsync_resync** with `type` and `ids`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="ragsync_full_category_sync",
    schedule="0 3 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=3),
    tags=["ragsync", "magento", "full-sync"],
    doc_md=__doc__,
    allowed_run_types=["scheduled", "manual"],  # a backfill of a full sync means nothing
    default_args={"owner": "ragsync", "retries": 2, "retry_delay": timedelta(minutes=5)},
)
def ragsync_full_category_sync() -> None:
    @task
    def prepare() -> dict[str, Any]:
        from ragsync.pipeline import tasks

        return tasks.prepare()

    @task
    def sync() -> dict[str, Any]:
        from ragsync.pipeline import tasks

        return tasks.full_sync("category")

    prepare() >> sync()


ragsync_full_category_sync()
