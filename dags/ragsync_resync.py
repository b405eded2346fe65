"""
### RAG Sync: resync

Manual only. Rebuild exactly the given entities and queue them; reconciles and deletes nothing
beyond them (an entity that left a store view becomes a delete there, as in every sync).

* `type`: `product` (default), `category`, `cms_page`, `cms_block` or `promotion`.
* `ids`: entity ids (promotions: rule ids for both kinds, or `cart-3` / `catalog-2`).
* `skus`: product SKUs, resolved to ids in Magento (type `product` only). `ids` or `skus` is required.
* `store`: one store view, code or id; empty = every synced store view.
* `force`: queue even when the backend already has this version. `dry_run`: build and log, queue nothing.

Unknown params, malformed ids, unknown SKUs or stores fail the run before any work, with the reason.
The next `ragsync_process_queue` run delivers what was queued.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from ragsync.vocabulary import ENTITY_TYPES


@dag(
    dag_id="ragsync_resync",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=1),
    tags=["ragsync", "magento", "manual"],
    doc_md=__doc__,
    allowed_run_types=["manual"],
    default_args={"owner": "ragsync", "retries": 2, "retry_delay": timedelta(minutes=1)},
    params={
        "type": Param("product", enum=list(ENTITY_TYPES),
                      description="Entity type"),
        "ids": Param([], type=["null", "array"], items={"type": ["integer", "string"]},
                     description="Entity ids (promotions: rule ids, or cart-N / catalog-N)"),
        "skus": Param([], type=["null", "array"], items={"type": "string", "minLength": 1},
                      description="Product SKUs (type product)"),
        "store": Param(None, type=["null", "string"], description="Store view code or id; empty = all"),
        "force": Param(False, type="boolean", description="Queue even when the backend has this version"),
        "dry_run": Param(False, type="boolean", description="Build and log the documents, queue nothing"),
    },
)
def ragsync_resync() -> None:
    @task
    def prepare() -> dict[str, Any]:
        from ragsync.pipeline import tasks

        return tasks.prepare()

    @task
    def sync(params: dict[str, Any] | None = None) -> dict[str, Any]:
        from ragsync.pipeline import tasks

        return tasks.resync(params or {})

    prepare() >> sync()


ragsync_resync()
