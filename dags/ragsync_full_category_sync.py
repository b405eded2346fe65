"""
### RAG Sync: full category sync

Nightly: rebuild categories per store view, queue what changed, reconcile deletes.

Trigger with params to resync a few entities: `ids` (a list of integers) syncs exactly those
and reconciles nothing; `store` limits the run to one store view (code or id); `force`
queues documents even when the backend already has them; `dry_run` builds and logs the
documents and queues nothing.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task


@dag(
    dag_id="ragsync_full_category_sync",
    schedule="0 3 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=3),
    tags=["ragsync", "magento", "full-sync"],
    doc_md=__doc__,
    default_args={"owner": "ragsync", "retries": 2, "retry_delay": timedelta(minutes=5)},
    params={
        "ids": Param(None, type=["null", "array"], items={"type": "integer", "minimum": 1},
                     description="Entity ids to sync; empty = everything (with reconcile)"),
        "store": Param(None, type=["null", "string"], description="Store view code or id; empty = all"),
        "force": Param(False, type="boolean", description="Queue even when unchanged"),
        "dry_run": Param(False, type="boolean", description="Build and log the documents, queue nothing"),
    },
)
def ragsync_full_category_sync():
    @task
    def prepare(params=None):
        from ragsync.pipeline import tasks

        return tasks.prepare("category", params)

    @task
    def sync(params=None):
        from ragsync.pipeline import tasks

        return tasks.full_sync("category", params)

    prepare() >> sync()


ragsync_full_category_sync()
