"""
### RAG Sync: promotion sync

Hourly: rebuild cart price rules and/or catalog price rules (rules have no timestamps in
Magento, so every run compares hashes), queue what changed, and turn rules that expired, were
disabled or removed into deletes.

Params: `type` (both, cart, catalog; empty = the `promotions.type` setting), `ids` (rule ids; with `type` both, both kinds are tried),
`force`, `dry_run`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task


@dag(
    dag_id="ragsync_promotion_sync",
    schedule="0 * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=50),
    tags=["ragsync", "magento", "full-sync"],
    doc_md=__doc__,
    default_args={"owner": "ragsync", "retries": 2, "retry_delay": timedelta(minutes=2)},
    params={
        "type": Param(None, type=["null", "string"], enum=[None, "both", "cart", "catalog"],
                      description="Cart rules, catalog rules or both; empty = promotions.type of ragsync_config"),
        "ids": Param(None, type=["null", "array"], items={"type": "integer", "minimum": 1},
                     description="Rule ids to sync; empty = every rule (with reconcile)"),
        "force": Param(False, type="boolean", description="Queue even when unchanged"),
        "dry_run": Param(False, type="boolean", description="Build and log the documents, queue nothing"),
    },
)
def ragsync_promotion_sync():
    @task
    def prepare(params=None):
        from ragsync.pipeline import tasks

        return tasks.prepare("promotion", params)

    @task
    def sync(params=None):
        from ragsync.pipeline import tasks

        return tasks.full_sync("promotion", params)

    prepare() >> sync()


ragsync_promotion_sync()
