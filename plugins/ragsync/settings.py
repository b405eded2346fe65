"""Typed, validated settings: the Airflow Variable ``ragsync_config`` merged over the seed's defaults.

Secrets never live here; they come from Airflow connections (see ``ragsync.db`` and
``ragsync.delivery.hook``). Loading is done inside tasks and CLI commands, never at DAG parse
time, and every problem raises one :class:`~ragsync.errors.ConfigError` naming the key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ragsync.errors import ConfigError
from ragsync.vocabulary import CMS_DOCUMENT_TYPES, PROMOTION_SCOPES

VARIABLE_KEY = "ragsync_config"
ENVIRONMENTS = ("production", "staging", "development")
CMS_MODES = ("blacklist", "whitelist")


@dataclass(frozen=True)
class ProductSettings:
    """Which products are synced and which attributes they carry."""

    enabled: bool = True
    include_disabled: bool = False
    attributes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CmsPageSettings:
    """Which CMS pages are synced; ``document_types`` overrides detection per identifier."""

    enabled: bool = True
    mode: str = "blacklist"
    identifiers: tuple[str, ...] = ("no-route",)
    document_types: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CmsBlockSettings:
    """Which CMS blocks are synced; an empty list means every active block."""

    enabled: bool = True
    identifiers: tuple[str, ...] = ()


@dataclass(frozen=True)
class CategorySettings:
    """Which categories are synced."""

    enabled: bool = True
    min_level: int = 2
    include_inactive: bool = False


@dataclass(frozen=True)
class PromotionSettings:
    """Which price rules are synced."""

    enabled: bool = True
    type: str = "both"
    include_coupon_codes: bool = False


@dataclass(frozen=True)
class QueueSettings:
    """Batching, retry and housekeeping of the delivery queue."""

    batch_size: int = 50
    max_batch_bytes: int = 4 * 1024 * 1024
    max_retries: int = 3
    retry_delays_minutes: tuple[float, ...] = (5, 15, 60)
    cleanup_days: int = 7
    stuck_after_minutes: int = 30
    delivery_workers: int = 1


@dataclass(frozen=True)
class BreakerSettings:
    """Circuit breaker thresholds."""

    failure_threshold: int = 5
    open_seconds: int = 300


@dataclass(frozen=True)
class ReconcileSettings:
    """Safety limit for deletes found by a full sync."""

    max_delete_fraction: float = 0.2


@dataclass(frozen=True)
class AlertSettings:
    """When a delivery run ends in a failed task, so that Airflow's alerting sees it."""

    fail_on_dead: bool = True
    breaker_open_minutes: int = 30


@dataclass(frozen=True)
class Settings:
    """All non-secret settings of ragsync."""

    enabled: bool = False
    environment: str = "production"
    debug: bool = False
    log_file: str | None = None
    stores: tuple[str, ...] = ()
    read_workers: int = 2
    products: ProductSettings = field(default_factory=ProductSettings)
    cms_pages: CmsPageSettings = field(default_factory=CmsPageSettings)
    cms_blocks: CmsBlockSettings = field(default_factory=CmsBlockSettings)
    categories: CategorySettings = field(default_factory=CategorySettings)
    promotions: PromotionSettings = field(default_factory=PromotionSettings)
    queue: QueueSettings = field(default_factory=QueueSettings)
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    reconcile: ReconcileSettings = field(default_factory=ReconcileSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as plain JSON-able data."""
        return json.loads(json.dumps(asdict(self)))


_SECTIONS: dict[str, type] = {
    "products": ProductSettings,
    "cms_pages": CmsPageSettings,
    "cms_blocks": CmsBlockSettings,
    "categories": CategorySettings,
    "promotions": PromotionSettings,
    "queue": QueueSettings,
    "breaker": BreakerSettings,
    "reconcile": ReconcileSettings,
    "alerts": AlertSettings,
}

_SECRET_WORDS = ("secret", "password", "api_key", "token")


_SHOWN_MAX = 24


def _shown(value: Any) -> str:
    """Return a value for an error message without echoing what may be a pasted secret.

    Short scalars are shown as they are; a longer string, or a list or object holding one, is
    described by its type and length only, since task logs and the CLI print these messages.
    """
    text = repr(value)
    if len(text) <= _SHOWN_MAX + 2 and not isinstance(value, list | tuple | dict):
        return text
    if isinstance(value, str):
        return f"a string of {len(value)} characters"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} items"
    if isinstance(value, dict):
        return f"an object with {len(value)} keys"
    return f"a {type(value).__name__}"


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
        return value.lower() in ("true", "yes", "1")
    raise ConfigError(f"ragsync_config: {key} must be true or false, got {_shown(value)}")


def _int(key: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(f"ragsync_config: {key} must be a whole number, got {_shown(value)}")
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"ragsync_config: {key} must be a whole number, got {_shown(value)}") from None
    if number < minimum or (maximum is not None and number > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise ConfigError(f"ragsync_config: {key} must be at least {minimum}{upper}, got {number}")
    return number


def _number(key: str, value: Any, minimum: float, maximum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"ragsync_config: {key} must be a number, got {_shown(value)}")
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"ragsync_config: {key} must be a number, got {_shown(value)}") from None
    if number < minimum or (maximum is not None and number > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise ConfigError(f"ragsync_config: {key} must be at least {minimum}{upper}, got {number}")
    return number


def _choice(key: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(f"ragsync_config: {key} must be one of {', '.join(allowed)}; got {_shown(value)}")
    return str(value)


def _strings(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str | int) for v in value):
        raise ConfigError(f"ragsync_config: {key} must be a list of strings, got {_shown(value)}")
    return tuple(str(v) for v in value)


def _check_unknown(prefix: str, given: Mapping[str, Any], known: type) -> None:
    names = {f.name for f in fields(known)}
    for key in given:
        if any(word in key.lower() for word in _SECRET_WORDS):
            raise ConfigError(
                f"ragsync_config: {prefix}{key} looks like a secret; secrets belong in the "
                "ragsync_webhook connection's password, never in the Variable"
            )
        if key not in names:
            shown = key if len(key) <= _SHOWN_MAX else f"({_shown(key)})"
            raise ConfigError(
                f"ragsync_config: unknown key {prefix}{shown}; allowed keys: {', '.join(sorted(names))}"
            )


def _section(name: str, raw: Any) -> Any:
    if raw is None:
        return _SECTIONS[name]()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"ragsync_config: {name} must be an object, got {_shown(raw)}")
    _check_unknown(f"{name}.", raw, _SECTIONS[name])
    k = f"{name}."
    if name == "products":
        return ProductSettings(
            enabled=_bool(k + "enabled", raw.get("enabled", True)),
            include_disabled=_bool(k + "include_disabled", raw.get("include_disabled", False)),
            attributes=_strings(k + "attributes", raw.get("attributes", [])),
        )
    if name == "cms_pages":
        overrides = raw.get("document_types", {})
        if not isinstance(overrides, Mapping):
            raise ConfigError(f"ragsync_config: {k}document_types must be an object identifier -> type")
        for ident, doc_type in overrides.items():
            _choice(f"{k}document_types.{ident}", doc_type, CMS_DOCUMENT_TYPES)
        return CmsPageSettings(
            enabled=_bool(k + "enabled", raw.get("enabled", True)),
            mode=_choice(k + "mode", raw.get("mode", "blacklist"), CMS_MODES),
            identifiers=_strings(k + "identifiers", raw.get("identifiers", ["no-route"])),
            document_types=dict(overrides),
        )
    if name == "cms_blocks":
        return CmsBlockSettings(
            enabled=_bool(k + "enabled", raw.get("enabled", True)),
            identifiers=_strings(k + "identifiers", raw.get("identifiers", [])),
        )
    if name == "categories":
        return CategorySettings(
            enabled=_bool(k + "enabled", raw.get("enabled", True)),
            min_level=_int(k + "min_level", raw.get("min_level", 2), 1, 20),
            include_inactive=_bool(k + "include_inactive", raw.get("include_inactive", False)),
        )
    if name == "promotions":
        return PromotionSettings(
            enabled=_bool(k + "enabled", raw.get("enabled", True)),
            type=_choice(k + "type", raw.get("type", "both"), tuple(PROMOTION_SCOPES)),
            include_coupon_codes=_bool(k + "include_coupon_codes", raw.get("include_coupon_codes", False)),
        )
    if name == "queue":
        delays = raw.get("retry_delays_minutes", [5, 15, 60])
        if isinstance(delays, str):
            delays = [d for d in delays.split(",") if d.strip()]
        if not isinstance(delays, list | tuple) or not delays:
            raise ConfigError(f"ragsync_config: {k}retry_delays_minutes must be a non-empty list of minutes")
        return QueueSettings(
            batch_size=_int(k + "batch_size", raw.get("batch_size", 50), 1, 1000),
            max_batch_bytes=_int(k + "max_batch_bytes", raw.get("max_batch_bytes", 4 * 1024 * 1024), 1024),
            max_retries=_int(k + "max_retries", raw.get("max_retries", 3), 0, 100),
            retry_delays_minutes=tuple(
                _number(f"{k}retry_delays_minutes[{i}]", d, 0) for i, d in enumerate(delays)
            ),
            cleanup_days=_int(k + "cleanup_days", raw.get("cleanup_days", 7), 1),
            stuck_after_minutes=_int(k + "stuck_after_minutes", raw.get("stuck_after_minutes", 30), 1),
            delivery_workers=_int(k + "delivery_workers", raw.get("delivery_workers", 1), 1, 64),
        )
    if name == "breaker":
        return BreakerSettings(
            failure_threshold=_int(k + "failure_threshold", raw.get("failure_threshold", 5), 1),
            open_seconds=_int(k + "open_seconds", raw.get("open_seconds", 300), 1),
        )
    if name == "alerts":
        return AlertSettings(
            fail_on_dead=_bool(k + "fail_on_dead", raw.get("fail_on_dead", True)),
            breaker_open_minutes=_int(k + "breaker_open_minutes", raw.get("breaker_open_minutes", 30), 1),
        )
    return ReconcileSettings(
        max_delete_fraction=_number(k + "max_delete_fraction", raw.get("max_delete_fraction", 0.2), 0, 1),
    )


def parse_settings(raw: Mapping[str, Any] | str | None) -> Settings:
    """Validate ``raw`` (a mapping or a JSON string) and merge it over the defaults."""
    if raw is None or raw == "":
        return Settings()
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"ragsync_config is not valid JSON: {exc}") from None
    if not isinstance(raw, Mapping):
        raise ConfigError("ragsync_config must be a JSON object")
    _check_unknown("", raw, Settings)
    stores = raw.get("stores", [])
    return Settings(
        enabled=_bool("enabled", raw.get("enabled", False)),
        environment=_choice("environment", raw.get("environment", "production"), ENVIRONMENTS),
        debug=_bool("debug", raw.get("debug", False)),
        log_file=str(raw["log_file"]) if raw.get("log_file") else None,
        stores=_strings("stores", stores if stores is not None else []),
        read_workers=_int("read_workers", raw.get("read_workers", 2), 1, 16),
        **{name: _section(name, raw.get(name)) for name in _SECTIONS},
    )


def load_settings() -> Settings:
    """Read the ``ragsync_config`` Variable through Airflow's secrets chain and validate it.

    A Variable that no backend has means the defaults (ragsync stays switched off and says so);
    a backend that cannot be read raises :class:`~ragsync.airflow_secrets.SecretsUnavailableError`,
    never the defaults, so a metadata-database outage is not mistaken for "disabled".
    """
    from ragsync.airflow_secrets import get_variable

    return parse_settings(get_variable(VARIABLE_KEY))
