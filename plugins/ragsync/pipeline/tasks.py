"""What the DAG tasks call: one function per task; connections and settings are read at run time.

Every function here is a thin adapter between Airflow (params, skip/fail exceptions, XCom-sized
return values) and the use-cases in :mod:`ragsync.pipeline`. Nothing runs at import time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from typing import Any, NoReturn

from ragsync.db import MAGENTO_CONN_ID, RAGSYNC_CONN_ID, Database
from ragsync.errors import ConfigError, describe, is_transient
from ragsync.pipeline.scope import refuse_unknown_params, resync_from_params, types_for
from ragsync.settings import Settings, load_settings
from ragsync.vocabulary import RETRYABLE_STATUSES

log = logging.getLogger(__name__)


def _fail(message: str) -> NoReturn:
    from airflow.sdk.exceptions import AirflowFailException

    raise AirflowFailException(message)


def _skip(message: str) -> NoReturn:
    from airflow.sdk.exceptions import AirflowSkipException

    raise AirflowSkipException(message)


def configure_logging(settings: Settings) -> None:
    """Apply ``debug`` and ``log_file`` to ragsync's loggers (task logs always get the lines)."""
    logger = logging.getLogger("ragsync")
    logger.setLevel(logging.DEBUG if settings.debug else logging.INFO)
    if settings.log_file and not any(getattr(h, "_ragsync", False) for h in logger.handlers):
        try:
            handler = logging.FileHandler(settings.log_file)
        except OSError as exc:
            raise ConfigError(f"ragsync_config: log_file {settings.log_file!r} cannot be opened "
                              f"({exc.strerror}); create its folder or fix the path") from None
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._ragsync = True  # type: ignore[attr-defined]
        logger.addHandler(handler)


class Runtime:
    """Settings, databases and webhook hook of one task run, opened on first use."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()
        configure_logging(self.settings)

    @cached_property
    def magento(self) -> Database:
        """Return Magento's database (connection ``magento_db``)."""
        return Database.from_conn_id(MAGENTO_CONN_ID)

    @cached_property
    def ragsync(self) -> Database:
        """Return the pipeline's database (connection ``ragsync_db``)."""
        return Database.from_conn_id(RAGSYNC_CONN_ID)

    @cached_property
    def hook(self) -> Any:
        """Return the webhook hook (connection ``ragsync_webhook``)."""
        from ragsync.delivery.hook import RagWebhookHook

        return RagWebhookHook(environment=self.settings.environment)

    def require_enabled(self) -> None:
        """Skip the task, saying why, when the master switch is off."""
        if not self.settings.enabled:
            _skip('ragsync is disabled: set "enabled": true in the ragsync_config Variable to sync')

    def close(self) -> None:
        """Close the database connections that were opened."""
        for name in ("magento", "ragsync"):
            if name in self.__dict__:
                self.__dict__[name].close()


@contextmanager
def task_runtime(require_enabled: bool = True) -> Iterator[Runtime]:
    """Open a task's runtime and apply ragsync's one error rule to whatever the task body raises.

    Permanent errors (a missing connection or schema, bad settings or params, an unknown store, a
    missing Magento table, a refused login) fail the task at once with their message: retrying
    cannot fix them. Transient ones (connection refused, server gone away, lock wait timeout,
    deadlock, an unreadable metadata database) are raised again, so Airflow's retries apply.
    Airflow's own skip and fail exceptions pass through untouched.
    """
    runtime: Runtime | None = None
    try:
        runtime = Runtime()
        if require_enabled:
            runtime.require_enabled()
        yield runtime
    except Exception as exc:
        transient = is_transient(exc)
        if transient is False:
            _fail(describe(exc))
        if transient:
            log.warning("transient failure, Airflow retries the task: %s", describe(exc))
        raise
    finally:
        if runtime is not None:
            runtime.close()


def prepare(require_enabled: bool = True) -> dict[str, Any]:
    """Refuse undeclared trigger params, check the switch, apply migrations, validate a resync's params.

    Reads the DAG, its declared params and the run's conf from the task context, so every DAG's
    first task is the same call.
    """
    from airflow.sdk import get_current_context

    from ragsync.state.migrations import upgrade

    context = get_current_context()
    dag_id = context["dag"].dag_id
    conf = getattr(context.get("dag_run"), "conf", None) or {}
    with task_runtime(require_enabled=False) as runtime:
        refuse_unknown_params(dag_id, conf, tuple(context["dag"].params.keys()))
        if require_enabled:
            runtime.require_enabled()
        applied = upgrade(runtime.ragsync)
        if applied:
            log.info("applied migrations: %s", ", ".join(f"{m.version:03d}_{m.name}" for m in applied))
        if dag_id == "ragsync_resync":
            wanted = resync_from_params(dict(context["params"]), runtime.magento)
            log.info("resync of %d %s ids%s", len(wanted.ids), wanted.entity_type,
                     f" in store {wanted.store}" if wanted.store else "")
        return {"migrations_applied": [m.version for m in applied]}


def full_sync(dag_kind: str) -> dict[str, Any]:
    """Run the scheduled full sync, with safe deletes, of a DAG's entity types; return counts per type."""
    from ragsync.pipeline.alerts import emit_sync_metrics
    from ragsync.pipeline.sync import SyncService, is_type_enabled

    with task_runtime() as runtime:
        service = SyncService(runtime.magento, runtime.ragsync, runtime.settings)
        results: dict[str, Any] = {}
        for entity_type in types_for(dag_kind):
            if not is_type_enabled(runtime.settings, entity_type):
                log.info("%s sync is switched off in ragsync_config; skipping it", entity_type)
                results[entity_type] = "disabled"
                continue
            results[entity_type] = service.sync(entity_type).counts()
        emit_sync_metrics(results)
        return results


def resync(conf: Mapping[str, Any]) -> dict[str, Any]:
    """Sync exactly the ids (or SKUs) of a ``ragsync_resync`` run, reconciling nothing."""
    from ragsync.pipeline.alerts import emit_sync_metrics
    from ragsync.pipeline.sync import SyncService

    with task_runtime() as runtime:
        wanted = resync_from_params(conf, runtime.magento)
        service = SyncService(runtime.magento, runtime.ragsync, runtime.settings)
        result = service.sync(wanted.entity_type, ids=wanted.ids, stores=wanted.store, force=wanted.force,
                              dry_run=wanted.dry_run)
        if not wanted.dry_run:
            emit_sync_metrics({wanted.entity_type: result.counts()})
        if wanted.dry_run:
            counts = result.counts()
            log.info("dry run (nothing written): a real run would queue %d (%d deletes), replace %d, cancel %d "
                     "reverted; skip %d unchanged, %d already queued, %d dead, %d absent deletes, %d older reads",
                     counts["queued"], counts["queued_deletes"], counts["replaced"], counts["cancelled"],
                     counts["skipped_unchanged"], counts["already_queued"], counts["skipped_dead"],
                     counts["skipped_absent_delete"], counts["skipped_older_read"])
        for document in result.dry_run_documents[:200]:
            log.info("dry run document: %s",
                     {k: document[k] for k in ("type", "id", "store_id", "action", "hash", "would")})
        return {wanted.entity_type: result.counts()}


def capture_changes() -> dict[str, Any]:
    """Queue what changed in Magento since the last capture, for every enabled entity type."""
    from ragsync.pipeline.alerts import emit_sync_metrics
    from ragsync.pipeline.capture import capture
    from ragsync.pipeline.sync import SyncService

    with task_runtime() as runtime:
        service = SyncService(runtime.magento, runtime.ragsync, runtime.settings)
        outcome = capture(service)
        results = {t: r.counts() for t, r in outcome.results.items()}
        emit_sync_metrics(results)
        log.info("change sources: changelogs %s; fingerprinted tables %d; changes by source %s",
                 ", ".join(outcome.changelogs) or "none", len(outcome.fingerprinted_tables), outcome.sources)
        return results


def delivery_shards() -> list[int]:
    """Return the shard numbers the delivery task is mapped over (``queue.delivery_workers``)."""
    with task_runtime() as runtime:
        return list(range(runtime.settings.queue.delivery_workers))


def deliver_shard(shard: int, time_budget_seconds: float = 50.0) -> dict[str, Any]:
    """Deliver due queue rows of one shard until the queue is empty or the budget is used."""
    from ragsync.delivery.hook import safe_url
    from ragsync.pipeline.alerts import delivery_alerts, emit_metrics
    from ragsync.pipeline.deliver import deliver
    from ragsync.state.clock import SystemClock

    with task_runtime() as runtime:
        shards = runtime.settings.queue.delivery_workers
        result = deliver(runtime.ragsync, runtime.hook, runtime.settings, time_budget_seconds=time_budget_seconds,
                         worker=f"shard-{shard}", shard=shard if shards > 1 else None,
                         shards=shards if shards > 1 else None)
        # The run's work is settled: metrics first, then fail the task (no retry) if it must alert.
        emit_metrics(runtime.ragsync, result)
        alerts = delivery_alerts(runtime.ragsync, runtime.settings, result, SystemClock().now(),
                                 endpoint=safe_url(runtime.hook.url))
        for alert in alerts:
            log.error("ragsync alert: %s", alert)
        if alerts:
            _fail("; ".join(alerts))
        return _plain(result)


def cleanup_queue(days: int | None = None) -> dict[str, Any]:
    """Delete ``sent`` rows older than ``days`` (default ``queue.cleanup_days``)."""
    from ragsync.pipeline.maintenance import cleanup_sent

    with task_runtime() as runtime:
        return _plain(cleanup_sent(runtime.ragsync, runtime.settings, days=days))


def reset_stuck_items() -> dict[str, Any]:
    """Return ``processing`` rows whose lease expired to ``pending``."""
    from ragsync.pipeline.maintenance import reset_stuck

    with task_runtime() as runtime:
        return _plain(reset_stuck(runtime.ragsync, runtime.settings))


def queue_admin(action: str, status: str | None = None, confirm: bool = False,
                username: str | None = None) -> dict[str, Any]:
    """Retry failed/dead items, clear items by status, or test the connection."""
    from ragsync.pipeline import maintenance

    with task_runtime(require_enabled=False) as runtime:
        if action == "test_connection":
            return _plain(maintenance.test_connection(runtime.ragsync, runtime.hook, username=username))
        if action == "retry":
            statuses = (status,) if status in RETRYABLE_STATUSES else RETRYABLE_STATUSES
            return _plain(maintenance.retry_items(runtime.ragsync, statuses, username=username))
        if action == "clear":
            if not status:
                _fail("action clear needs a status: sent, failed, dead or all")
            if not confirm:
                _fail(f"clearing {status} items deletes queue rows: trigger again with confirm=true")
            return _plain(maintenance.clear(runtime.ragsync, str(status), username=username))
        _fail(f"unknown action {action!r}: use retry, clear or test_connection")


def _plain(value: Any) -> dict[str, Any]:
    """Return a JSON-able dict for XCom from a result dataclass or dict."""
    from dataclasses import asdict, is_dataclass

    if is_dataclass(value) and not isinstance(value, type):
        data = asdict(value)
    elif isinstance(value, Mapping):
        data = dict(value)
    else:
        data = {"result": value}
    return {k: (v if isinstance(v, str | int | float | bool | type(None) | list | dict) else str(v))
            for k, v in data.items()}
