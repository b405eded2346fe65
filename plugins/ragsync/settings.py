"""Typed, validated settings: the Airflow Variable ``ragsync_config`` merged over the seed's defaults.

Secrets never live here; they come from Airflow connections (see ``ragsync.db`` and
``ragsync.delivery.hook``). Loading is done inside tasks and CLI commands, never at DAG parse
time, and every problem raises one :class:`~ragsync.errors.ConfigError` naming the key.

Every setting is declared once, as its dataclass field: :func:`_setting` puts the default there and
a :class:`SettingRule` (parser, bounds, choices) in the field's metadata. :func:`parse_settings` is
one walk over :func:`dataclasses.fields`, so a new setting needs no parser code of its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import Field, asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

from ragsync.errors import ConfigError
from ragsync.vocabulary import CMS_DOCUMENT_TYPES, PROMOTION_SCOPES

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "CMS_DOCUMENT_TYPES", "CMS_MODES", "ENVIRONMENTS", "VARIABLE_KEY", "AlertSettings", "BreakerSettings",
    "CategorySettings", "CmsBlockSettings", "CmsPageSettings", "ProductSettings", "PromotionSettings",
    "QueueSettings", "ReconcileSettings", "SettingRule", "Settings", "declared_settings", "load_settings",
    "parse_settings",
]

VARIABLE_KEY = "ragsync_config"
ENVIRONMENTS = ("production", "staging", "development")
CMS_MODES = ("blacklist", "whitelist")

_T = TypeVar("_T")
_D = TypeVar("_D", bound="DataclassInstance")

_Parser = Callable[[str, Any, "SettingRule"], Any]
"""``parse(key, value, rule)``: the value read, or a :class:`ConfigError` naming ``key``."""

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
    if isinstance(value, int | float):
        return f"a number of {len(text)} characters"
    return f"a {type(value).__name__}"


def _key_shown(key: str) -> str:
    """A key the user wrote, for a message: as it is when short, else only its length (it may be a secret)."""
    return key if len(key) <= _SHOWN_MAX else f"({_shown(key)})"


def _refused(key: str, problem: str) -> ConfigError:
    return ConfigError(f"ragsync_config: {key} {problem}")


# --- the rules a setting can carry -------------------------------------------------------------


@dataclass(frozen=True)
class SettingRule:
    """How one setting is read: its parser and the bounds or choices the parser enforces.

    ``parse(key, value, rule)`` gets the full key (``queue.batch_size``) for its messages.
    ``null_is_default``: an explicit JSON ``null`` means the default instead of being refused.
    ``section``: the dataclass of a nested section (parsed by its own fields' rules).
    """

    parse: _Parser
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    null_is_default: bool = False
    section: type[DataclassInstance] | None = None


def _setting(default: _T, parse: _Parser, *, minimum: float | None = None,
             maximum: float | None = None, choices: Iterable[str] = (), null_is_default: bool = False) -> _T:
    """Declare a setting: its default and its rule, in one place (the dataclass field)."""
    rule = SettingRule(parse, minimum, maximum, tuple(choices), null_is_default)
    return field(default=default, metadata={"rule": rule})


def _section(cls: type[_D]) -> _D:
    """Declare a nested section: an object read by its own fields' rules; missing or null = its defaults."""
    rule = SettingRule(_parse_section, null_is_default=True, section=cls)
    return field(default_factory=cls, metadata={"rule": rule})


def _rule(setting: Field[Any]) -> SettingRule:
    rule: SettingRule = setting.metadata["rule"]
    return rule


def _bool(key: str, value: Any, rule: SettingRule) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
        return value.lower() in ("true", "yes", "1")
    raise _refused(key, f"must be true or false, got {_shown(value)}")


def _within(key: str, number: float, rule: SettingRule) -> None:
    low, high = rule.minimum, rule.maximum
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = [f"at least {low}"] if low is not None else []
        bounds += [f"at most {high}"] if high is not None else []
        raise _refused(key, f"must be {' and '.join(bounds)}, got {_shown(number)}")


def _int(key: str, value: Any, rule: SettingRule) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _refused(key, f"must be a whole number, got {_shown(value)}")
    try:
        number = int(value)
    except ValueError:
        raise _refused(key, f"must be a whole number, got {_shown(value)}") from None
    _within(key, number, rule)
    return number


def _number(key: str, value: Any, rule: SettingRule) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _refused(key, f"must be a number, got {_shown(value)}")
    try:
        number = float(value)
    except ValueError:
        raise _refused(key, f"must be a number, got {_shown(value)}") from None
    _within(key, number, rule)
    return number


def _minutes(key: str, value: Any, rule: SettingRule) -> tuple[float, ...]:
    """A non-empty list (or comma-separated string) of minutes, each checked against the rule's bounds."""
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not value:
        raise _refused(key, "must be a non-empty list of minutes")
    return tuple(_number(f"{key}[{i}]", item, rule) for i, item in enumerate(value))


def _choice(key: str, value: Any, rule: SettingRule) -> str:
    if value not in rule.choices:
        raise _refused(key, f"must be one of {', '.join(rule.choices)}; got {_shown(value)}")
    return str(value)


def _choice_per_key(key: str, value: Any, rule: SettingRule) -> dict[str, str]:
    """An object whose keys are free (identifiers) and whose every value is one of the rule's choices."""
    if not isinstance(value, Mapping):
        raise _refused(key, "must be an object identifier -> type")
    for ident, chosen in value.items():
        _choice(f"{key}.{_key_shown(str(ident))}", chosen, rule)
    return dict(value)


def _strings(key: str, value: Any, rule: SettingRule) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str | int) for v in value):
        raise _refused(key, f"must be a list of strings, got {_shown(value)}")
    return tuple(str(v) for v in value)


def _text_or_none(key: str, value: Any, rule: SettingRule) -> str | None:
    """Any value given as text; an empty or false value (``""``, ``null``) means none."""
    return str(value) if value else None


def _parse_section(key: str, value: Any, rule: SettingRule) -> Any:
    if not isinstance(value, Mapping):
        raise _refused(key, f"must be an object, got {_shown(value)}")
    assert rule.section is not None
    return _parse_fields(rule.section, value, f"{key}.")


# --- the settings, each declared once ----------------------------------------------------------


@dataclass(frozen=True)
class ProductSettings:
    """Which products are synced and which attributes they carry."""

    enabled: bool = _setting(True, _bool)
    include_disabled: bool = _setting(False, _bool)
    attributes: tuple[str, ...] = _setting((), _strings)


@dataclass(frozen=True)
class CmsPageSettings:
    """Which CMS pages are synced; ``document_types`` overrides detection per identifier."""

    enabled: bool = _setting(True, _bool)
    mode: str = _setting("blacklist", _choice, choices=CMS_MODES)
    identifiers: tuple[str, ...] = _setting(("no-route",), _strings)
    document_types: Mapping[str, str] = field(
        default_factory=dict, metadata={"rule": SettingRule(_choice_per_key, choices=CMS_DOCUMENT_TYPES)}
    )


@dataclass(frozen=True)
class CmsBlockSettings:
    """Which CMS blocks are synced; an empty list means every active block."""

    enabled: bool = _setting(True, _bool)
    identifiers: tuple[str, ...] = _setting((), _strings)


@dataclass(frozen=True)
class CategorySettings:
    """Which categories are synced."""

    enabled: bool = _setting(True, _bool)
    min_level: int = _setting(2, _int, minimum=1, maximum=20)
    include_inactive: bool = _setting(False, _bool)


@dataclass(frozen=True)
class PromotionSettings:
    """Which price rules are synced."""

    enabled: bool = _setting(True, _bool)
    type: str = _setting("both", _choice, choices=PROMOTION_SCOPES)
    include_coupon_codes: bool = _setting(False, _bool)


@dataclass(frozen=True)
class QueueSettings:
    """Batching, retry and housekeeping of the delivery queue."""

    batch_size: int = _setting(50, _int, minimum=1, maximum=1000)
    max_batch_bytes: int = _setting(4 * 1024 * 1024, _int, minimum=1024)
    max_retries: int = _setting(3, _int, minimum=0, maximum=100)
    retry_delays_minutes: tuple[float, ...] = _setting((5, 15, 60), _minutes, minimum=0)
    cleanup_days: int = _setting(7, _int, minimum=1)
    stuck_after_minutes: int = _setting(30, _int, minimum=1)
    delivery_workers: int = _setting(1, _int, minimum=1, maximum=64)


@dataclass(frozen=True)
class BreakerSettings:
    """Circuit breaker thresholds."""

    failure_threshold: int = _setting(5, _int, minimum=1)
    open_seconds: int = _setting(300, _int, minimum=1)


@dataclass(frozen=True)
class ReconcileSettings:
    """Safety limit for deletes found by a full sync."""

    max_delete_fraction: float = _setting(0.2, _number, minimum=0, maximum=1)


@dataclass(frozen=True)
class CaptureSettings:
    """How change capture finds changes that Magento's changelogs do not record."""

    fingerprints: bool = _setting(True, _bool)
    fingerprint_buckets_per_run: int = _setting(10, _int, minimum=1, maximum=100_000)


@dataclass(frozen=True)
class AlertSettings:
    """When a delivery run ends in a failed task, so that Airflow's alerting sees it."""

    fail_on_dead: bool = _setting(True, _bool)
    breaker_open_minutes: int = _setting(30, _int, minimum=1)


@dataclass(frozen=True)
class Settings:
    """All non-secret settings of ragsync."""

    enabled: bool = _setting(False, _bool)
    environment: str = _setting("production", _choice, choices=ENVIRONMENTS)
    debug: bool = _setting(False, _bool)
    log_file: str | None = _setting(None, _text_or_none)
    stores: tuple[str, ...] = _setting((), _strings, null_is_default=True)
    read_workers: int = _setting(2, _int, minimum=1, maximum=16)
    products: ProductSettings = _section(ProductSettings)
    cms_pages: CmsPageSettings = _section(CmsPageSettings)
    cms_blocks: CmsBlockSettings = _section(CmsBlockSettings)
    categories: CategorySettings = _section(CategorySettings)
    promotions: PromotionSettings = _section(PromotionSettings)
    queue: QueueSettings = _section(QueueSettings)
    breaker: BreakerSettings = _section(BreakerSettings)
    reconcile: ReconcileSettings = _section(ReconcileSettings)
    capture: CaptureSettings = _section(CaptureSettings)
    alerts: AlertSettings = _section(AlertSettings)

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as plain JSON-able data."""
        plain: dict[str, Any] = json.loads(json.dumps(asdict(self)))
        return plain


# --- reading ---------------------------------------------------------------------------------


def _check_unknown(prefix: str, given: Mapping[str, Any], known: type[DataclassInstance]) -> None:
    names = {f.name for f in fields(known)}
    for key in given:
        if any(word in key.lower() for word in _SECRET_WORDS):
            raise ConfigError(
                f"ragsync_config: {prefix}{key} looks like a secret; secrets belong in the "
                "ragsync_webhook connection's password, never in the Variable"
            )
        if key not in names:
            raise ConfigError(
                f"ragsync_config: unknown key {prefix}{_key_shown(key)}; "
                f"allowed keys: {', '.join(sorted(names))}"
            )


def _parse_fields(cls: type[_D], raw: Mapping[str, Any], prefix: str) -> _D:
    """Read one section: refuse unknown keys, then apply each given key's rule; missing keys keep the default."""
    _check_unknown(prefix, raw, cls)
    given: dict[str, Any] = {}
    for setting in fields(cls):
        rule = _rule(setting)
        if setting.name not in raw or (raw[setting.name] is None and rule.null_is_default):
            continue
        given[setting.name] = rule.parse(prefix + setting.name, raw[setting.name], rule)
    return cls(**given)


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
    return _parse_fields(Settings, raw, "")


def declared_settings() -> dict[str, Field[Any]]:
    """Every setting by its full key (``queue.batch_size``), in declaration order; sections are walked into.

    Each field carries its default and, in ``metadata["rule"]``, its :class:`SettingRule`.
    """

    def walk(cls: type[DataclassInstance], prefix: str) -> Iterator[tuple[str, Field[Any]]]:
        for setting in fields(cls):
            section = _rule(setting).section
            if section is None:
                yield prefix + setting.name, setting
            else:
                yield from walk(section, f"{prefix}{setting.name}.")

    return dict(walk(Settings, ""))


def load_settings() -> Settings:
    """Read the ``ragsync_config`` Variable through Airflow's secrets chain and validate it.

    A Variable that no backend has means the defaults (ragsync stays switched off and says so);
    a backend that cannot be read raises :class:`~ragsync.airflow_secrets.SecretsUnavailableError`,
    never the defaults, so a metadata-database outage is not mistaken for "disabled".
    """
    from ragsync.airflow_secrets import get_variable

    return parse_settings(get_variable(VARIABLE_KEY))
