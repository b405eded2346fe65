"""
### RAG Sync: process queue

Every minute: apply the ragsync migrations, capture what changed in Magento since the last run
(`updated_at` past the watermark, with overlap; removed, disabled or hidden entities become
deletes), then deliver due queue items to the RAG backend, mapped over `queue.delivery_workers`
shards. Respects the `enabled` switch and the circuit breaker.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="ragsync_process_queue",
    schedule="* * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=10),
    tags=["ragsync", "magento", "queue"],
    doc_md=__doc__,
    allowed_run_types=["scheduled", "manual"],
    default_args={"owner": "ragsync", "retries": 1, "retry_delay": timedelta(seconds=30)},
)
def ragsync_process_queue() -> None:
    @task
    def prepare() -> dict[str, Any]:
        from ragsync.pipeline import tasks

        return tasks.prepare()

    @task
    def capture_changes() -> dict[str, Any]:
        from ragsync.pipeline import tasks

        return tasks.capture_changes()

    @task
    def delivery_shards() -> list[int]:
        from ragsync.pipeline import tasks

        return tasks.delivery_shards()

    @task
    def deliver(shard: int) -> dict[str, Any]:
        from ragsync.pipeline import tasks

        return tasks.deliver_shard(shard)

    shards = delivery_shards()
    prepare() >> capture_changes() >> shards
    deliver.expand(shard=shards)


ragsync_process_queue()
