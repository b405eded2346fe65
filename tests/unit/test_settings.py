"""The ragsync_config Variable: defaults, every refusal names the key, and no pasted secret is echoed."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from ragsync.errors import ConfigError
from ragsync.settings import (
    CMS_DOCUMENT_TYPES,
    CMS_MODES,
    ENVIRONMENTS,
    SettingRule,
    Settings,
    declared_settings,
    parse_settings,
)
from ragsync.vocabulary import PROMOTION_SCOPES

SECRET = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
README = Path(__file__).resolve().parents[2] / "README.md"

DECLARED = declared_settings()
SECTIONS = sorted({key.split(".")[0] for key in DECLARED if "." in key})


def _rule(key: str) -> SettingRule:
    rule: SettingRule = DECLARED[key].metadata["rule"]
    return rule


def _keys_of_type(*annotations: str) -> list[str]:
    return [key for key, setting in DECLARED.items() if setting.type in annotations]


def _nest(key: str, value: object) -> dict[str, Any]:
    """``_nest("queue.batch_size", 5)`` -> ``{"queue": {"batch_size": 5}}``."""
    raw: Any = value
    for part in reversed(key.split(".")):
        raw = {part: raw}
    return dict(raw)


def _at(settings: Any, key: str) -> Any:
    for part in key.split("."):
        settings = getattr(settings, part)
    return settings


def _refusal(raw: object) -> str:
    with pytest.raises(ConfigError) as refused:
        parse_settings(raw)  # type: ignore[arg-type]
    message = str(refused.value)
    assert message.startswith("ragsync_config")
    return message


def test_empty_means_the_seed_defaults() -> None:
    assert parse_settings(None) == Settings()
    assert parse_settings("") == Settings()
    settings = parse_settings('{"enabled": true, "queue": {"batch_size": 10}, "stores": "default, fr"}')
    assert settings.enabled and settings.queue.batch_size == 10 and settings.queue.max_retries == 3
    assert settings.stores == ("default", "fr")


# --- defaults ---------------------------------------------------------------------------------


def test_parse_of_an_empty_object_gives_every_dataclass_default() -> None:
    parsed = parse_settings({})
    assert parsed == Settings()
    assert parsed.to_dict() == Settings().to_dict()
    for key, setting in DECLARED.items():
        default = setting.default if setting.default_factory is dataclasses.MISSING else setting.default_factory()
        assert _at(parsed, key) == default, key


def test_every_default_passes_its_own_rule() -> None:
    """The defaults, written back as a Variable, are accepted and read back unchanged."""
    assert parse_settings(Settings().to_dict()) == Settings()
    assert parse_settings(json.dumps(Settings().to_dict())) == Settings()


def test_declared_bounds_and_choices() -> None:
    """The bounds and choices each setting declares (a change here is a change of the documented contract)."""
    bounds = {key: (_rule(key).minimum, _rule(key).maximum) for key in DECLARED
              if (_rule(key).minimum, _rule(key).maximum) != (None, None)}
    assert bounds == {
        "read_workers": (1, 16),
        "capture.fingerprint_buckets_per_run": (1, 100_000),
        "categories.min_level": (1, 20),
        "queue.batch_size": (1, 1000),
        "queue.max_batch_bytes": (1024, None),
        "queue.max_retries": (0, 100),
        "queue.retry_delays_minutes": (0, None),
        "queue.cleanup_days": (1, None),
        "queue.stuck_after_minutes": (1, None),
        "queue.delivery_workers": (1, 64),
        "breaker.failure_threshold": (1, None),
        "breaker.open_seconds": (1, None),
        "reconcile.max_delete_fraction": (0, 1),
        "alerts.breaker_open_minutes": (1, None),
    }
    choices = {key: _rule(key).choices for key in DECLARED if _rule(key).choices}
    assert choices == {
        "environment": ENVIRONMENTS,
        "cms_pages.mode": CMS_MODES,
        "cms_pages.document_types": CMS_DOCUMENT_TYPES,
        "promotions.type": tuple(PROMOTION_SCOPES),
    }
    assert ENVIRONMENTS == ("production", "staging", "development")
    assert CMS_MODES == ("blacklist", "whitelist")


# --- refusals: explicit messages --------------------------------------------------------------


@pytest.mark.parametrize(("raw", "message"), [
    ("{not json", "ragsync_config is not valid JSON"),
    ("[1, 2]", "ragsync_config must be a JSON object"),
    ("3", "ragsync_config must be a JSON object"),
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
    assert message in _refusal(raw)


@pytest.mark.parametrize(("key", "value", "message"), [
    # each bound, with the exact wording
    ("read_workers", 0, "read_workers must be at least 1 and at most 16, got 0"),
    ("read_workers", 17, "read_workers must be at least 1 and at most 16, got 17"),
    ("categories.min_level", 0, "categories.min_level must be at least 1 and at most 20, got 0"),
    ("categories.min_level", 21, "categories.min_level must be at least 1 and at most 20, got 21"),
    ("queue.batch_size", 0, "queue.batch_size must be at least 1 and at most 1000, got 0"),
    ("queue.batch_size", 1001, "queue.batch_size must be at least 1 and at most 1000, got 1001"),
    ("queue.max_batch_bytes", 1023, "queue.max_batch_bytes must be at least 1024, got 1023"),
    ("queue.max_retries", -1, "queue.max_retries must be at least 0 and at most 100, got -1"),
    ("queue.max_retries", 101, "queue.max_retries must be at least 0 and at most 100, got 101"),
    ("queue.retry_delays_minutes", [5, -1], "queue.retry_delays_minutes[1] must be at least 0, got -1.0"),
    ("queue.cleanup_days", 0, "queue.cleanup_days must be at least 1, got 0"),
    ("queue.stuck_after_minutes", 0, "queue.stuck_after_minutes must be at least 1, got 0"),
    ("queue.delivery_workers", 0, "queue.delivery_workers must be at least 1 and at most 64, got 0"),
    ("queue.delivery_workers", 65, "queue.delivery_workers must be at least 1 and at most 64, got 65"),
    ("breaker.failure_threshold", 0, "breaker.failure_threshold must be at least 1, got 0"),
    ("breaker.open_seconds", 0, "breaker.open_seconds must be at least 1, got 0"),
    ("reconcile.max_delete_fraction", -0.1, "reconcile.max_delete_fraction must be at least 0 and at most 1, got -0.1"),
    ("reconcile.max_delete_fraction", 1.5, "reconcile.max_delete_fraction must be at least 0 and at most 1, got 1.5"),
    ("alerts.breaker_open_minutes", 0, "alerts.breaker_open_minutes must be at least 1, got 0"),
    # each choice
    ("environment", "prod", "environment must be one of production, staging, development; got 'prod'"),
    ("cms_pages.mode", "greylist", "cms_pages.mode must be one of blacklist, whitelist; got 'greylist'"),
    ("cms_pages.document_types", {"faq": "blog"},
     "cms_pages.document_types.faq must be one of policy, faq, guide, about, contact, landing, other; got 'blog'"),
    ("promotions.type", "coupon", "promotions.type must be one of both, cart, catalog; got 'coupon'"),
    # type checks that are not one per kind
    ("cms_pages.document_types", ["faq"], "cms_pages.document_types must be an object identifier -> type"),
    ("cms_pages.document_types", None, "cms_pages.document_types must be an object identifier -> type"),
    ("queue.retry_delays_minutes", [], "queue.retry_delays_minutes must be a non-empty list of minutes"),
    ("queue.retry_delays_minutes", "", "queue.retry_delays_minutes must be a non-empty list of minutes"),
    ("queue.retry_delays_minutes", " , ", "queue.retry_delays_minutes must be a non-empty list of minutes"),
    ("queue.retry_delays_minutes", 5, "queue.retry_delays_minutes must be a non-empty list of minutes"),
    ("queue.retry_delays_minutes", {"a": 1}, "queue.retry_delays_minutes must be a non-empty list of minutes"),
    ("queue.retry_delays_minutes", None, "queue.retry_delays_minutes must be a non-empty list of minutes"),
    ("queue.retry_delays_minutes", [5, "x"], "queue.retry_delays_minutes[1] must be a number, got 'x'"),
    ("queue.retry_delays_minutes", "5, x", "queue.retry_delays_minutes[1] must be a number, got ' x'"),
    ("queue.retry_delays_minutes", [True], "queue.retry_delays_minutes[0] must be a number, got True"),
    ("queue.retry_delays_minutes", [None], "queue.retry_delays_minutes[0] must be a number, got None"),
])
def test_each_rule_refuses_with_the_full_key_and_what_is_allowed(key: str, value: object, message: str) -> None:
    assert _refusal(_nest(key, value)) == f"ragsync_config: {message}"


# --- refusals: generated from the declarations, so a new setting is covered as it is added ----


def _bound_cases() -> list[tuple[str, str, float]]:
    cases = []
    for key in DECLARED:
        rule = _rule(key)
        step = 1 if DECLARED[key].type == "int" else 0.5
        if rule.minimum is not None:
            cases.append((key, "at least", rule.minimum - step))
        if rule.maximum is not None:
            cases.append((key, "at most", rule.maximum + step))
    return cases


def _as_given(key: str, value: object) -> tuple[object, str]:
    """The raw value for ``key`` and the key the message names (a list setting is checked item by item)."""
    if DECLARED[key].type == "tuple[float, ...]":
        return [value], f"{key}[0]"
    return value, key


@pytest.mark.parametrize(("key", "side", "value"), _bound_cases())
def test_every_bound_is_refused_just_outside_and_named(key: str, side: str, value: float) -> None:
    raw, named = _as_given(key, value)
    message = _refusal(_nest(key, raw))
    rule = _rule(key)
    assert message.startswith(f"ragsync_config: {named} must be ")
    if rule.minimum is not None:
        assert f"at least {rule.minimum}" in message
    if rule.maximum is not None:
        assert f"at most {rule.maximum}" in message
    assert message.endswith(f", got {float(value) if DECLARED[key].type != 'int' else value}")


@pytest.mark.parametrize(("key", "side", "value"), [
    (key, side, _rule(key).minimum if side == "at least" else _rule(key).maximum) for key, side, _ in _bound_cases()
])
def test_every_bound_is_inclusive(key: str, side: str, value: float) -> None:
    raw, _ = _as_given(key, value)
    parsed = _at(parse_settings(_nest(key, raw)), key)
    assert parsed == (tuple(raw) if isinstance(raw, list) else value)


@pytest.mark.parametrize("key", [key for key in DECLARED if _rule(key).choices])
def test_every_choice_is_accepted_and_anything_else_refused_naming_all(key: str) -> None:
    choices = _rule(key).choices
    per_identifier = DECLARED[key].type == "Mapping[str, str]"
    for choice in choices:
        accepted: object = {"home": choice} if per_identifier else choice
        assert _at(parse_settings(_nest(key, accepted)), key) == accepted
    wrongs: list[object] = ["nope", "", None, 1, True, [choices[0]], choices[0].upper()]
    for wrong in wrongs:
        value: object = {"home": wrong} if per_identifier else wrong
        named = f"{key}.home" if per_identifier else key
        message = _refusal(_nest(key, value))
        assert message.startswith(f"ragsync_config: {named} must be one of {', '.join(choices)}; got ")


@pytest.mark.parametrize("key", _keys_of_type("bool"))
@pytest.mark.parametrize("wrong", ["maybe", "", None, 2, -1, 0.5, [], {}, "on"])
def test_every_switch_refuses_what_is_not_true_or_false(key: str, wrong: object) -> None:
    assert _refusal(_nest(key, wrong)).startswith(f"ragsync_config: {key} must be true or false, got ")


@pytest.mark.parametrize("key", _keys_of_type("bool"))
@pytest.mark.parametrize(("given", "read"), [
    (True, True), (False, False), (1, True), (0, False), ("true", True), ("False", False),
    ("yes", True), ("NO", False), ("1", True), ("0", False),
])
def test_every_switch_reads_the_usual_spellings(key: str, given: object, read: bool) -> None:
    assert _at(parse_settings(_nest(key, given)), key) is read


@pytest.mark.parametrize("key", _keys_of_type("int"))
@pytest.mark.parametrize(("wrong", "shown"), [
    (2.5, "2.5"), ("ten", "'ten'"), ("", "''"), (True, "True"), (None, "None"), ([1], "a list of 1 items"),
    ({}, "an object with 0 keys"),
])
def test_every_whole_number_refuses_what_is_not_one(key: str, wrong: object, shown: str) -> None:
    assert _refusal(_nest(key, wrong)) == f"ragsync_config: {key} must be a whole number, got {shown}"


@pytest.mark.parametrize("key", _keys_of_type("float", "tuple[float, ...]"))
@pytest.mark.parametrize(("wrong", "shown"), [
    ("half", "'half'"), (True, "True"), (None, "None"), ([], "a list of 0 items"), ({}, "an object with 0 keys"),
])
def test_every_number_refuses_what_is_not_one(key: str, wrong: object, shown: str) -> None:
    raw, named = _as_given(key, wrong)
    assert _refusal(_nest(key, raw)) == f"ragsync_config: {named} must be a number, got {shown}"


@pytest.mark.parametrize("key", _keys_of_type("tuple[str, ...]"))
@pytest.mark.parametrize(("wrong", "shown"), [
    (5, "5"), (True, "True"), ({"a": "b"}, "an object with 1 keys"), (["a", None], "a list of 2 items"),
    (["a", ["b"]], "a list of 2 items"), ([1.5], "a list of 1 items"),
])
def test_every_list_of_strings_refuses_what_is_not_one(key: str, wrong: object, shown: str) -> None:
    assert _refusal(_nest(key, wrong)) == f"ragsync_config: {key} must be a list of strings, got {shown}"


@pytest.mark.parametrize("key", _keys_of_type("tuple[str, ...]"))
def test_every_list_of_strings_takes_a_list_or_a_comma_separated_string(key: str) -> None:
    assert _at(parse_settings(_nest(key, ["a", 2])), key) == ("a", "2")
    assert _at(parse_settings(_nest(key, " a , ,b ")), key) == ("a", "b")
    assert _at(parse_settings(_nest(key, "")), key) == ()


@pytest.mark.parametrize("section", SECTIONS)
@pytest.mark.parametrize(("wrong", "shown"), [
    ("all", "'all'"), (1, "1"), (True, "True"), ([], "a list of 0 items"), ([{"enabled": True}], "a list of 1 items"),
])
def test_every_section_must_be_an_object(section: str, wrong: object, shown: str) -> None:
    assert _refusal({section: wrong}) == f"ragsync_config: {section} must be an object, got {shown}"


@pytest.mark.parametrize("section", ["", *SECTIONS])
def test_every_unknown_key_is_refused_listing_the_allowed_ones(section: str) -> None:
    prefix = f"{section}." if section else ""
    allowed = sorted({key[len(prefix):].split(".")[0] for key in DECLARED if key.startswith(prefix)})
    raw: dict[str, Any] = {"nonsense": 1}
    message = _refusal({section: raw} if section else raw)
    assert message == f"ragsync_config: unknown key {prefix}nonsense; allowed keys: {', '.join(allowed)}"


@pytest.mark.parametrize("section", ["", *SECTIONS])
@pytest.mark.parametrize("key", ["secret", "api_secret", "webhook_password", "api_key", "token", "AUTH_TOKEN"])
def test_a_key_that_looks_like_a_secret_is_refused_wherever_it_is(section: str, key: str) -> None:
    prefix = f"{section}." if section else ""
    message = _refusal({section: {key: "x"}} if section else {key: "x"})
    assert message.startswith(f"ragsync_config: {prefix}{key} looks like a secret; secrets belong in the ")
    assert "ragsync_webhook connection's password" in message


def test_the_first_problem_is_the_one_reported() -> None:
    """Unknown keys of a section are checked before its values; sections are read in order."""
    assert "unknown key queue.nope" in _refusal({"queue": {"batch_size": 0, "nope": 1}})
    assert "read_workers" in _refusal({"read_workers": 0, "queue": {"batch_size": 0}})
    assert "products" in _refusal({"products": 1, "queue": 1})


def test_every_setting_that_can_be_refused_has_a_refusal_test() -> None:
    """Each declared key is in one of the generated refusal tests above (``log_file`` takes any text)."""
    covered = {key for key, _, _ in _bound_cases()}
    covered |= {key for key in DECLARED if _rule(key).choices}
    covered |= set(_keys_of_type("bool", "int", "float", "tuple[float, ...]", "tuple[str, ...]"))
    assert set(DECLARED) - covered == {"log_file"}


# --- null and text ----------------------------------------------------------------------------


def test_null_means_the_default_for_stores_sections_and_log_file_only() -> None:
    assert parse_settings({"stores": None}).stores == ()
    assert parse_settings({"log_file": None}).log_file is None
    assert parse_settings({section: None for section in SECTIONS}) == Settings()
    refused = [key for key in DECLARED if key not in ("stores", "log_file")]
    for key in refused:
        assert _refusal(_nest(key, None)).startswith(f"ragsync_config: {key}")


def test_log_file_is_text_and_empty_means_none() -> None:
    assert parse_settings({"log_file": "/var/log/ragsync.log"}).log_file == "/var/log/ragsync.log"
    assert parse_settings({"log_file": ""}).log_file is None
    assert parse_settings({"log_file": False}).log_file is None


def test_numbers_may_be_given_as_text() -> None:
    settings = parse_settings({"read_workers": "4", "queue": {"retry_delays_minutes": "1, 2.5"},
                               "reconcile": {"max_delete_fraction": "0.5"}})
    assert settings.read_workers == 4
    assert settings.queue.retry_delays_minutes == (1.0, 2.5)
    assert settings.reconcile.max_delete_fraction == 0.5


# --- secrets ----------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [
    {"environment": SECRET},
    {"stores": {"a": SECRET}},
    {"products": SECRET},
    {SECRET: True},
    {"enabled": SECRET},
    {"queue": {"batch_size": SECRET}},
    {"queue": {SECRET: 1}},
    {"queue": {"retry_delays_minutes": [SECRET]}},
    {"reconcile": {"max_delete_fraction": SECRET}},
    {"cms_pages": {"mode": SECRET}},
    {"cms_pages": {"document_types": {"faq": SECRET}}},
    {"cms_pages": {"document_types": {SECRET: "blog"}}},
    {"cms_blocks": {"identifiers": [SECRET, None]}},
    {"promotions": {"type": [SECRET]}},
    {"alerts": {"fail_on_dead": SECRET}},
])
def test_a_secret_pasted_into_the_variable_is_never_echoed(raw: dict[str, object]) -> None:
    message = _refusal(raw)
    assert SECRET not in message
    assert "ragsync_config" in message


@pytest.mark.parametrize("key", _keys_of_type("int"))
def test_a_long_out_of_range_number_is_not_echoed(key: str) -> None:
    digits = "-" + "9" * 40
    message = _refusal(_nest(key, digits))
    assert "9" * 30 not in message
    assert message.startswith(f"ragsync_config: {key} must be at least ")
    assert message.endswith("got a number of 41 characters")


# --- README -----------------------------------------------------------------------------------


def _readme_settings() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Settings (`ragsync_config` Variable)")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def _readme_table_keys() -> set[str]:
    """The keys in the first column of the README's settings table.

    ``queue.*`` stands for every key of the section; in ``cms_pages.mode`` / ``identifiers`` a bare
    name belongs to the section named before it in the same cell.
    """
    keys: set[str] = set()
    for line in _readme_settings().splitlines():
        if not line.startswith("| `"):
            continue
        section = ""
        for name in re.findall(r"`([^`]+)`", line.split("|")[1]):
            if "." in name:
                section, _, name = name.rpartition(".")
            full = f"{section}.{name}" if section else name
            if name == "*":
                keys |= {key for key in DECLARED if key.startswith(f"{section}.")}
            else:
                keys.add(full)
    return keys


def test_every_setting_is_in_the_readme_table() -> None:
    documented = _readme_table_keys()
    assert documented - set(DECLARED) == set(), "the README documents keys ragsync does not have"
    assert set(DECLARED) - documented == set(), "document these in README.md's settings table"


def test_the_readme_defaults_block_is_the_dataclass_defaults() -> None:
    block = re.search(r"```json\n(.*?)\n```", _readme_settings(), re.DOTALL)
    assert block is not None
    assert json.loads(block.group(1)) == Settings().to_dict()
