"""Response classification, retry delays and Retry-After parsing (design.md section 5)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from ragsync.delivery.policy import (
    ACK_JSON,
    ACK_STATUS,
    NOT_ACKNOWLEDGED,
    Outcome,
    acknowledgement_problem,
    classify_response,
    parse_retry_after,
    retry_at,
    retry_delay,
    retry_schedule,
)
from ragsync.settings import QueueSettings

NOW = datetime(2026, 1, 2, 10, 30)


@pytest.mark.parametrize(
    ("status", "error_kind", "expected"),
    [
        (200, None, Outcome.SENT), (201, None, Outcome.SENT), (202, None, Outcome.SENT), (204, None, Outcome.SENT),
        (None, "timeout", Outcome.RETRY), (None, "connection", Outcome.RETRY), (None, "tls", Outcome.RETRY),
        (301, None, Outcome.RETRY), (302, None, Outcome.RETRY), (307, None, Outcome.RETRY),
        (408, None, Outcome.RETRY), (429, None, Outcome.RETRY),
        (500, None, Outcome.RETRY), (502, None, Outcome.RETRY), (503, None, Outcome.RETRY), (504, None, Outcome.RETRY),
        (401, None, Outcome.AUTH), (403, None, Outcome.AUTH),
        (400, None, Outcome.SPLIT), (413, None, Outcome.SPLIT), (422, None, Outcome.SPLIT),
        (410, None, Outcome.GONE),
        (404, None, Outcome.RETRY), (409, None, Outcome.RETRY),
    ],
)
def test_classify_response_follows_the_design_table(status: int | None, error_kind: str | None,
                                                     expected: Outcome) -> None:
    assert classify_response(status, error_kind) is expected


HTML_PAGE = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Please log in</body></html>"


def answer_outcome(status: int, body: bytes, ack: str) -> Outcome:
    """Classify an answer as the hook and the delivery run do: the acknowledgement rule, then the status."""
    problem = acknowledgement_problem(status, body, ack)
    return classify_response(status, NOT_ACKNOWLEDGED if problem is not None else None)


@pytest.mark.parametrize(
    ("status", "body", "under_json", "under_status"),
    [
        (200, b'{"accepted": 3}', Outcome.SENT, Outcome.SENT),
        (202, b' {"accepted": 0, "duplicate": true}\n', Outcome.SENT, Outcome.SENT),
        (200, b"{}", Outcome.SENT, Outcome.SENT),
        (200, b'{"ok": true, "error": null}', Outcome.SENT, Outcome.SENT),
        (200, b"[]", Outcome.RETRY, Outcome.SENT),
        (200, b'[{"accepted": 3}]', Outcome.RETRY, Outcome.SENT),
        (200, b'"OK"', Outcome.RETRY, Outcome.SENT),
        (200, b"1", Outcome.RETRY, Outcome.SENT),
        (200, b"true", Outcome.RETRY, Outcome.SENT),
        (200, b"null", Outcome.RETRY, Outcome.SENT),
        (200, HTML_PAGE, Outcome.RETRY, Outcome.SENT),
        (200, b"OK", Outcome.RETRY, Outcome.SENT),
        (200, b'{"accepted": 3', Outcome.RETRY, Outcome.SENT),
        (200, b"\xff\xfe\x00garbage", Outcome.RETRY, Outcome.SENT),
        (200, b"", Outcome.RETRY, Outcome.SENT),
        (200, b" \r\n", Outcome.RETRY, Outcome.SENT),
        (204, b"", Outcome.RETRY, Outcome.SENT),
        (200, b'{"ok": false, "error": "index unavailable"}', Outcome.RETRY, Outcome.SENT),
        (200, b'{"success": false}', Outcome.RETRY, Outcome.SENT),
        (200, b'{"status": "error", "message": "db down"}', Outcome.RETRY, Outcome.SENT),
        (200, b'{"status": "Failed"}', Outcome.RETRY, Outcome.SENT),
        (200, b'{"error": "upstream timeout"}', Outcome.RETRY, Outcome.SENT),
        (200, b'{"status": "ok"}', Outcome.SENT, Outcome.SENT),
        # statuses other than 2xx are classified by their status alone, whatever the body
        (503, b'{"accepted": 3}', Outcome.RETRY, Outcome.RETRY),
        (422, HTML_PAGE, Outcome.SPLIT, Outcome.SPLIT),
        (401, b"", Outcome.AUTH, Outcome.AUTH),
        (410, b"", Outcome.GONE, Outcome.GONE),
    ],
)
def test_a_2xx_counts_as_delivered_only_when_it_acknowledges(status: int, body: bytes, under_json: Outcome,
                                                             under_status: Outcome) -> None:
    assert answer_outcome(status, body, ACK_JSON) is under_json
    assert answer_outcome(status, body, ACK_STATUS) is under_status


def test_a_garbage_2xx_is_a_breaker_failure_and_says_what_to_check() -> None:
    assert classify_response(200, NOT_ACKNOWLEDGED).is_failure
    for body in (HTML_PAGE, b"", b"[1]", b"not json"):
        problem = acknowledgement_problem(200, body)
        assert problem is not None
        assert "proxy or a login page" in problem and 'ack to "status"' in problem, problem
    assert "empty" in (acknowledgement_problem(204, b"") or "")
    assert "not JSON" in (acknowledgement_problem(200, HTML_PAGE) or "")
    assert "array" in (acknowledgement_problem(200, b"[]") or "")
    negative = acknowledgement_problem(200, b'{"ok": false}') or ""
    assert '"ok": false' in negative and "did not take the request" in negative
    assert acknowledgement_problem(200, b'{"accepted": 1}') is None
    assert acknowledgement_problem(500, b"<html>") is None  # not a 2xx: the status decides


def test_breaker_failures_are_retry_auth_and_gone_only() -> None:
    assert {o for o in Outcome if o.is_failure} == {Outcome.RETRY, Outcome.AUTH, Outcome.GONE}


def test_retry_delay_follows_the_schedule_within_ten_percent() -> None:
    rng = random.Random(1)
    delays = (5, 15, 60)
    for attempt, minutes in ((1, 5), (2, 15), (3, 60), (4, 60), (9, 60)):
        for _ in range(200):
            seconds = retry_delay(attempt, delays, rng=rng)
            assert minutes * 60 * 0.9 <= seconds <= minutes * 60 * 1.1


def test_retry_delay_without_jitter_is_exact_and_spreads_with_it() -> None:
    assert retry_delay(2, [5, 15], jitter=0) == 900.0
    rng = random.Random(3)
    assert len({round(retry_delay(1, [5], rng=rng), 3) for _ in range(20)}) > 10


def test_retry_delay_needs_a_schedule() -> None:
    with pytest.raises(ValueError):
        retry_delay(1, [])


def _waited(due: datetime | None) -> float:
    assert due is not None
    return (due - NOW).total_seconds()


def test_retry_at_follows_the_schedule_then_the_row_is_dead() -> None:
    settings = QueueSettings(max_retries=3, retry_delays_minutes=(5, 15, 60))
    rng = random.Random(7)
    for attempts, minutes in ((0, 5), (1, 15), (2, 60)):  # attempts spent before this failure
        for _ in range(50):
            assert minutes * 60 * 0.9 <= _waited(retry_at(attempts, settings, NOW, rng)) <= minutes * 60 * 1.1
    assert retry_at(3, settings, NOW, rng) is None  # the fourth attempt failed: the 3 retries are used up
    assert retry_at(7, settings, NOW, rng) is None
    assert retry_at(0, QueueSettings(max_retries=0), NOW, rng) is None  # no retries: the first failure is final


def test_retry_at_repeats_the_last_delay_and_needs_no_rng() -> None:
    settings = QueueSettings(max_retries=10, retry_delays_minutes=(1, 2))
    for attempts in (1, 4, 9):
        assert 108 <= _waited(retry_at(attempts, settings, NOW)) <= 132


def test_retry_after_only_pushes_the_next_attempt_later_and_never_revives_a_dead_row() -> None:
    settings = QueueSettings(max_retries=3, retry_delays_minutes=(5, 15, 60))
    rng = random.Random(3)
    assert retry_at(0, settings, NOW, rng, retry_after_seconds=3600) == NOW + timedelta(hours=1)
    assert 270 <= _waited(retry_at(0, settings, NOW, rng, retry_after_seconds=10)) <= 330  # the schedule wins
    assert retry_at(3, settings, NOW, rng, retry_after_seconds=10) is None


@dataclass(frozen=True)
class _Row:
    id: int
    attempts: int


def test_retry_schedule_decides_every_row_by_its_own_attempts() -> None:
    settings = QueueSettings(max_retries=3, retry_delays_minutes=(5, 15, 60))
    rows = [_Row(11, 0), _Row(12, 2), _Row(13, 3)]
    schedule = retry_schedule(rows, settings, NOW, random.Random(1))
    assert list(schedule) == [11, 12, 13] and schedule[13] is None
    assert 270 <= _waited(schedule[11]) <= 330
    assert 3240 <= _waited(schedule[12]) <= 3960
    assert retry_schedule(rows, settings, NOW, random.Random(1)) == schedule  # the jitter is the rng's alone
    assert len({retry_schedule(rows[:1], settings, NOW, random.Random(seed))[11] for seed in range(20)}) > 10
    assert retry_schedule([], settings, NOW) == {}


def test_parse_retry_after_delta_seconds_and_bounds() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 30 ") == 30.0
    assert parse_retry_after("0") == 1.0  # lower bound 1 s
    assert parse_retry_after("999999") == 3600.0  # upper bound 1 h
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") is None


def test_parse_retry_after_http_date() -> None:
    now = datetime(2026, 10, 21, 7, 28, 0)
    assert parse_retry_after("Wed, 21 Oct 2026 07:30:00 GMT", now) == 120.0
    assert parse_retry_after("Wed, 21 Oct 2026 07:00:00 GMT", now) == 1.0  # in the past: the lower bound
    assert parse_retry_after("Thu, 22 Oct 2026 07:28:00 GMT", now) == 3600.0
