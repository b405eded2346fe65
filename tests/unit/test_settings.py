"""The ragsync_config Variable: defaults, every refusal names the key, and no pasted secret is echoed."""

from __future__ import annotations

import pytest

from ragsync.errors import ConfigError
from ragsync.settings import Settings, parse_settings

SECRET = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"


def test_empty_means_the_seed_defaults() -> None:
    assert parse_settings(None) == Settings()
    assert parse_settings("") == Settings()
    settings = parse_settings('{"enabled": true, "queue": {"batch_size": 10}, "stores": "default, fr"}')
    assert settings.enabled and settings.queue.batch_size == 10 and settings.queue.max_retries == 3
    assert settings.stores == ("default", "fr")


@pytest.mark.parametrize(("raw", "message"), [
    ("{not json", "ragsync_config is not valid JSON"),
    ("[1, 2]", "ragsync_config must be a JSON object"),
    ({"enable": True}, "unknown key enable; allowed keys: alerts, breaker"),
    ({"queue": {"batch": 5}}, "unknown key queue.batch; allowed keys: batch_size"),
    ({"enabled": "maybe"}, "enabled must be true or false, got 'maybe'"),
    ({"environment": "prod"}, "environment must be one of production, staging, development; got 'prod'"),
    ({"queue": {"batch_size": 0}}, "queue.batch_size must be at least 1 and at most 1000, got 0"),
    ({"queue": {"batch_size": 2.5}}, "queue.batch_size must be a whole number"),
    ({"queue": {"retry_delays_minutes": []}}, "queue.retry_delays_minutes must be a non-empty list"),
    ({"queue": {"retry_delays_minutes": [5, "x"]}}, "queue.retry_delays_minutes[1] must be a number"),
    ({"read_workers": 17}, "read_workers must be at least 1 and at most 16, got 17"),
    ({"reconcile": {"max_delete_fraction": 1.5}}, "reconcile.max_delete_fraction must be at least 0"),
    ({"cms_pages": {"mode": "greylist"}}, "cms_pages.mode must be one of blacklist, whitelist"),
    ({"cms_pages": {"document_types": {"faq": "blog"}}}, "cms_pages.document_types.faq must be one of"),
    ({"promotions": {"type": "coupon"}}, "promotions.type must be one of both, cart, catalog"),
    ({"categories": {"min_level": 0}}, "categories.min_level must be at least 1"),
    ({"products": "all"}, "products must be an object, got 'all'"),
    ({"api_secret": "x"}, "api_secret looks like a secret"),
    ({"breaker": {"token": "x"}}, "breaker.token looks like a secret"),
])
def test_every_refusal_names_the_key_and_what_is_allowed(raw: object, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_settings(raw)  # type: ignore[arg-type]
    assert message in str(refused.value)


@pytest.mark.parametrize("raw", [
    {"environment": SECRET},
    {"stores": {"a": SECRET}},
    {"products": SECRET},
    {SECRET: True},
    {"enabled": SECRET},
    {"queue": {"batch_size": SECRET}},
])
def test_a_secret_pasted_into_the_variable_is_never_echoed(raw: dict[str, object]) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_settings(raw)
    assert SECRET not in str(refused.value)
    assert "ragsync_config" in str(refused.value)
