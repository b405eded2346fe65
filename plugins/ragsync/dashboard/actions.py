"""The dashboard's actions: each one call into ``ragsync.pipeline.maintenance`` or Airflow, audited with the user.

Nothing is delivered inside the web server: Process Queue creates a DAG run of
``ragsync_process_queue`` through Airflow's own trigger code (the scheduler runs it), and Test
Connection sends one signed ping with a timeout of at most :data:`TEST_TIMEOUT_SECONDS`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from ragsync.dashboard.access import PROCESS_DAG_ID
from ragsync.dashboard.views import PROCESS_EVENT
from ragsync.db import Database
from ragsync.delivery.hook import RagWebhookHook, safe_url
from ragsync.errors import ConfigError, TransientError
from ragsync.pipeline import maintenance
from ragsync.settings import Settings, load_settings
from ragsync.state.audit import AuditLog
from ragsync.vocabulary import CLEARABLE_STATUSES, RETRYABLE_STATUSES

if TYPE_CHECKING:
    from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
    from airflow.models.dagbag import DBDagBag
    from fastapi import Request
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

TEST_TIMEOUT_SECONDS = 15.0
RETRYABLE = RETRYABLE_STATUSES
CLEARABLE_HERE = CLEARABLE_STATUSES[:3]  # pending is cleared from the CLI or the admin DAG only


def settings_or_defaults() -> tuple[Settings, str | None]:
    """Return the validated settings, or the defaults and the reason the Variable was rejected."""
    try:
        return load_settings(), None
    except (ConfigError, TransientError) as exc:
        return Settings(), str(exc)


def configured_endpoint() -> tuple[str | None, str | None]:
    """Return the webhook URL without credentials or query, or None and why it is not configured."""
    try:
        return safe_url(RagWebhookHook().url), None
    except (ConfigError, TransientError) as exc:
        return None, str(exc)


def bounded_hook(environment: str) -> RagWebhookHook:
    """Return the webhook hook with its timeout capped, so that a click never waits longer than that."""
    hook = RagWebhookHook(environment=environment)
    try:
        config = hook.config
    except (ConfigError, TransientError):
        return hook  # test_connection() reports the configuration problem
    return RagWebhookHook.from_values(
        url=config.url, secret=config.secret, tenant_id=config.tenant_id,
        timeout=min(config.timeout, TEST_TIMEOUT_SECONDS), verify=config.verify, environment=environment,
        ack=config.ack,
    )


def test_connection(db: Database, username: str) -> dict[str, Any]:
    """Send a signed ping to the backend, audit the answer with the user's name, and return it."""
    settings, _problem = settings_or_defaults()
    hook = bounded_hook(settings.environment)
    try:
        result = maintenance.test_connection(db, hook, username=username)
    finally:
        hook.close()
    log.info("connection test by %s: ok=%s", username, result["ok"])
    return result


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported


def retry(db: Database, username: str, ids: Sequence[int] | None = None,
          statuses: Sequence[str] = RETRYABLE) -> dict[str, Any]:
    """Make failed/dead items (all of them, or the selected ids) due now with a fresh retry budget.

    Retrying everything also returns items stuck in ``processing`` (their lease expired: a
    worker died) to the queue, as the seed's troubleshooting guide promises of Retry Failed.
    """
    counts: dict[str, Any] = dict(maintenance.retry_items(db, tuple(statuses), ids, username=username))
    if ids is None:
        settings, _problem = settings_or_defaults()
        counts["stuck_reset"] = maintenance.reset_stuck(db, settings)["reset"]
    log.info("retry by %s: %s", username, counts)
    return counts


def clear(db: Database, username: str, status: str) -> dict[str, Any]:
    """Delete every queue row of one status (sent, failed or dead); the ledger is untouched."""
    if status not in CLEARABLE_HERE:
        raise ValueError(f"the dashboard clears only {', '.join(CLEARABLE_HERE)} items; got {status!r}")
    result = maintenance.clear(db, status, username=username)
    log.info("clear %s by %s: %d rows", status, username, result["deleted"])
    return result


def delete(db: Database, username: str, ids: Sequence[int]) -> dict[str, Any]:
    """Delete the selected queue rows."""
    result = maintenance.delete_items(db, list(ids), username=username)
    log.info("delete by %s: %d of %d selected rows", username, result["deleted"], len(ids))
    return result


@cache
def dag_bag() -> DBDagBag:
    """Return the API server's kind of DAG bag (serialized DAGs from the metadata DB, cached)."""
    from airflow.api_fastapi.common.dagbag import create_dag_bag

    return create_dag_bag()


def trigger_process_queue(db: Database, request: Request, user: BaseUser, session: Session) -> dict[str, Any]:
    """Create a DAG run of ``ragsync_process_queue`` with Airflow's own trigger endpoint code, and audit it."""
    from airflow.api_fastapi.core_api.datamodels.dag_run import TriggerDAGRunPostBody
    from airflow.api_fastapi.core_api.routes.public.dag_run import trigger_dag_run
    from airflow.models.dag import DagModel
    from sqlalchemy import select

    username = user.get_name()
    body = TriggerDAGRunPostBody(logical_date=None, note=f"Process Queue from the RAG Sync dashboard by {username}")
    # Annotated as the response model, it returns the DagRun row (FastAPI converts it for its own route).
    run: Any = trigger_dag_run(dag_id=PROCESS_DAG_ID, body=body, dag_bag=dag_bag(), user=user, session=session,
                               request=request)
    session.commit()
    run_id = str(run.run_id)
    paused = bool(session.scalar(select(DagModel.is_paused).where(DagModel.dag_id == PROCESS_DAG_ID)))
    settings, problem = settings_or_defaults()
    notes = []
    if paused:
        notes.append(f"the DAG {PROCESS_DAG_ID} is paused: the run waits until it is unpaused")
    if problem:
        notes.append(f"the ragsync_config Variable is invalid, so the run will fail: {problem}")
    elif not settings.enabled:
        notes.append("ragsync is disabled (ragsync_config.enabled is false): the run will skip delivery")
    state = str(getattr(run.state, "value", run.state))
    AuditLog(db).write(PROCESS_EVENT, f"queue processing requested: DAG run {run_id} of {PROCESS_DAG_ID} created",
                       username=username, details={"dag_id": PROCESS_DAG_ID, "run_id": run_id, "paused": paused})
    log.info("Process Queue by %s: created DAG run %s (%s)", username, run_id, state)
    return {"dag_id": PROCESS_DAG_ID, "run_id": run_id, "state": state, "paused": paused, "notes": notes}
