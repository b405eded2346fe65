"""What the DAG tasks call: one function per task; connections and settings are read at run time.

Every function here is a thin adapter between Airflow (params, skip/fail exceptions, XCom-sized
return values) and the use-cases in :mod:`ragsync.pipeline`. Nothing runs at import time.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from ragsync.db import MAGENTO_CONN_ID, RAGSYNC_CONN_ID, Database
from ragsync.errors import ConfigError, RagSyncError
from ragsync.settings import Settings, load_settings

log = logging.getLogger(__name__)

CMS_TYPES = {"all": ("cms_page", "cms_block"), "pages": ("cms_page",), "blocks": ("cms_block",)}
PROMOTION_TYPES = ("both", "cart", "catalog")


def _fail(message: str) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    raise AirflowFailException(message)


def _skip(message: str) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    raise AirflowSkipException(message)


def configure_logging(settings: Settings) -> None:
    """Apply ``debug`` and ``log_file`` to ragsync's loggers (task logs always get the lines)."""
    logger = logging.getLogger("ragsync")
    logger.setLevel(logging.DEBUG if settings.debug else logging.INFO)
    if settings.log_file and not any(getattr(h, "_ragsync", False) for h in logger.handlers):
        handler = logging.FileHandler(settings.log_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._ragsync = True  # type: ignore[attr-defined]
        logger.addHandler(handler)


class Runtime:
    """Settings, databases and webhook hook of one task run, opened on first use."""

    def __init__(self, settings: Settings | None = None) -> None:
        try:
            self.settings = settings or load_settings()
        except ConfigError as exc:
            _fail(str(exc))
            raise
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


def _entity_types(dag_kind: str, params: Mapping[str, Any]) -> tuple[str, ...]:
    if dag_kind == "cms":
        choice = params.get("type") or "all"
        if choice not in CMS_TYPES:
            _fail(f"param type must be one of {', '.join(CMS_TYPES)}, got {choice!r}")
        return CMS_TYPES[choice]
    return (dag_kind,)


def prepare(dag_kind: str | None = None, params: Mapping[str, Any] | None = None,
            require_enabled: bool = True) -> dict[str, Any]:
    """Check the switch, apply migrations and validate the run's params before any work."""
    from ragsync.state.migrations import upgrade

    runtime = Runtime()
    try:
        if require_enabled:
            runtime.require_enabled()
        applied = upgrade(runtime.ragsync)
        if applied:
            log.info("applied migrations: %s", ", ".join(f"{m.version:03d}_{m.name}" for m in applied))
        if dag_kind and params is not None:
            validate_params(runtime, dag_kind, params)
        return {"migrations_applied": [m.version for m in applied]}
    except ConfigError as exc:
        _fail(str(exc))
        raise
    finally:
        runtime.close()


def validate_params(runtime: Runtime, dag_kind: str, params: Mapping[str, Any]) -> None:
    """Fail with a clear message when ids, store or type are wrong (unknown stores list the valid ones)."""
    from ragsync.magento.context import MagentoContext
    from ragsync.pipeline.sync import parse_ids

    if dag_kind == "promotion":
        if params.get("type") not in (None, *PROMOTION_TYPES):
            _fail(f"param type must be one of {', '.join(PROMOTION_TYPES)}, got {params.get('type')!r}")
        parse_ids("promotion", promotion_ids(params.get("ids"), params.get("type")))
        return
    for entity_type in _entity_types(dag_kind, params):
        parse_ids(entity_type, params.get("ids"))
    store = params.get("store")
    if store not in (None, ""):
        MagentoContext(runtime.magento).select_stores([store])


def full_sync(dag_kind: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Run the full (or, with ids, manual) sync of a DAG's entity types; return counts per type."""
    from ragsync.pipeline.sync import SyncService, is_type_enabled

    params = dict(params or {})
    runtime = Runtime()
    runtime.require_enabled()
    try:
        service = SyncService(runtime.magento, runtime.ragsync, _promotion_settings(runtime.settings, params))
        results: dict[str, Any] = {}
        for entity_type in _entity_types(dag_kind, params):
            if not is_type_enabled(runtime.settings, entity_type):
                log.info("%s sync is switched off in ragsync_config; skipping it", entity_type)
                results[entity_type] = "disabled"
                continue
            ids = params.get("ids") or None
            if entity_type == "promotion":
                ids = promotion_ids(ids, params.get("type"))
            result = service.sync(entity_type, ids=ids,
                                  stores=params.get("store") or None, force=bool(params.get("force")),
                                  dry_run=bool(params.get("dry_run")))
            for document in result.dry_run_documents[:200]:
                log.info("dry run document: %s", {k: document[k] for k in ("type", "id", "store_id", "action", "hash")})
            results[entity_type] = result.counts()
        return results
    except RagSyncError as exc:
        _fail(str(exc))
        raise
    finally:
        runtime.close()


def promotion_ids(ids: Any, promotion_type: str | None) -> list[str] | None:
    """Turn rule ids into promotion ids: ``cart-N``/``catalog-N`` by type (both kinds for ``both``)."""
    if not ids:
        return None
    kinds = {"cart": ("cart",), "catalog": ("catalog",)}.get(promotion_type or "both", ("cart", "catalog"))
    result: list[str] = []
    for raw in ids:
        text = str(raw).strip()
        if text.startswith(("cart-", "catalog-")):
            result.append(text)
        else:
            result.extend(f"{kind}-{text}" for kind in kinds)
    return result


def _promotion_settings(settings: Settings, params: Mapping[str, Any]) -> Settings:
    from dataclasses import replace

    wanted = params.get("type")
    if wanted in ("cart", "catalog", "both") and wanted != settings.promotions.type:
        return replace(settings, promotions=replace(settings.promotions, type=wanted))
    return settings


def capture_changes() -> dict[str, Any]:
    """Queue what changed in Magento since the last capture, for every enabled entity type."""
    from ragsync.pipeline.sync import ENTITY_TYPES, SyncService, is_type_enabled

    runtime = Runtime()
    runtime.require_enabled()
    try:
        service = SyncService(runtime.magento, runtime.ragsync, runtime.settings)
        return {t: service.capture(t).counts() for t in ENTITY_TYPES if is_type_enabled(runtime.settings, t)}
    except RagSyncError as exc:
        _fail(str(exc))
        raise
    finally:
        runtime.close()


def delivery_shards() -> list[int]:
    """Return the shard numbers the delivery task is mapped over (``queue.delivery_workers``)."""
    runtime = Runtime()
    runtime.require_enabled()
    return list(range(runtime.settings.queue.delivery_workers))


def deliver_shard(shard: int, time_budget_seconds: float = 50.0) -> dict[str, Any]:
    """Deliver due queue rows of one shard until the queue is empty or the budget is used."""
    from ragsync.pipeline.deliver import deliver

    runtime = Runtime()
    runtime.require_enabled()
    try:
        shards = runtime.settings.queue.delivery_workers
        result = deliver(runtime.ragsync, runtime.hook, runtime.settings, time_budget_seconds=time_budget_seconds,
                         worker=f"shard-{shard}", shard=shard if shards > 1 else None,
                         shards=shards if shards > 1 else None)
        return _plain(result)
    finally:
        runtime.close()


def cleanup_queue(days: int | None = None) -> dict[str, Any]:
    """Delete ``sent`` rows older than ``days`` (default ``queue.cleanup_days``)."""
    from ragsync.pipeline.maintenance import cleanup_sent

    runtime = Runtime()
    runtime.require_enabled()
    try:
        return _plain(cleanup_sent(runtime.ragsync, runtime.settings, days=days))
    finally:
        runtime.close()


def reset_stuck_items() -> dict[str, Any]:
    """Return ``processing`` rows whose lease expired to ``pending``."""
    from ragsync.pipeline.maintenance import reset_stuck

    runtime = Runtime()
    runtime.require_enabled()
    try:
        return _plain(reset_stuck(runtime.ragsync, runtime.settings))
    finally:
        runtime.close()


def queue_admin(action: str, status: str | None = None, confirm: bool = False,
                username: str | None = None) -> dict[str, Any]:
    """Retry failed/dead items, clear items by status, or test the connection."""
    from ragsync.pipeline import maintenance

    runtime = Runtime()
    try:
        if action == "test_connection":
            return _plain(maintenance.test_connection(runtime.ragsync, runtime.hook, username=username))
        if action == "retry":
            statuses = (status,) if status in ("failed", "dead") else ("failed", "dead")
            return _plain(maintenance.retry_items(runtime.ragsync, statuses, username=username))
        if action == "clear":
            if not status:
                _fail("action clear needs a status: sent, failed, dead or all")
            if not confirm:
                _fail(f"clearing {status} items deletes queue rows: trigger again with confirm=true")
            return _plain(maintenance.clear(runtime.ragsync, str(status), username=username))
        _fail(f"unknown action {action!r}: use retry, clear or test_connection")
        return {}
    except ConfigError as exc:
        _fail(str(exc))
        raise
    finally:
        runtime.close()


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
