"""How each webhook response is classified, when a failed row is tried again, and Retry-After parsing.

The classification (also in docs/delivery.md, "Retries and backoff" and "Dead letters"):

==============================================  ==========  =============================================
response                                        outcome     effect
==============================================  ==========  =============================================
2xx that acknowledges (see below)               SENT        rows ``sent``, ledger updated; breaker success
2xx that does not acknowledge                   RETRY       like a 5xx: the endpoint is not the receiver
timeout, connection error, 3xx, 408, 429, 5xx   RETRY       rows ``failed`` per schedule; breaker failure
401, 403                                        AUTH        like RETRY, audit says secret/tenant is wrong
400, 413, 422                                   SPLIT       halve the batch; a lone bad item goes ``dead``
410                                             GONE        rows ``failed``; the breaker opens
any other 4xx (404, 405, 409, ...)              RETRY       most likely a wrong URL or a transient state
==============================================  ==========  =============================================

What acknowledges is the connection extra ``ack`` (:func:`acknowledgement_problem`):

* ``json`` (the default): a 2xx whose body is a JSON object that does not report a failure
  (``"ok": false``, ``"success": false``, ``"status": "error"``/``"fail"``/``"failed"``, or a
  non-empty ``"error"``). An empty body, a 204, HTML, invalid JSON or a JSON array/string/number
  is not an acknowledgement: a proxy's error page, a login page or a catch-all route answers 200
  too, and taking it for one would mark the items ``sent`` and never send them again;
* ``status``: any 2xx, whatever its body (for backends that answer 2xx with no or a non-JSON body).

The hook applies the rule to each answer and gives a 2xx that fails it the ``error_kind``
:data:`NOT_ACKNOWLEDGED`, which :func:`classify_response` classifies as RETRY.
"""

from __future__ import annotations

import enum
import json
import random
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Protocol

RETRY_JITTER = 0.1
"""The spread of every retry delay: ±10%, so that rows failed together do not all come back at once."""
RETRY_AFTER_MIN_SECONDS = 1.0
RETRY_AFTER_MAX_SECONDS = 3600.0
SPLIT_STATUSES = frozenset({400, 413, 422})
AUTH_STATUSES = frozenset({401, 403})
ACK_JSON = "json"
ACK_STATUS = "status"
ACK_MODES = (ACK_JSON, ACK_STATUS)
"""The values of the ``ragsync_webhook`` connection's extra ``ack``; ``json`` is the default."""
NOT_ACKNOWLEDGED = "not_acknowledged"
"""The ``error_kind`` of a 2xx answer that is not an acknowledgement."""
FAILED_STATUSES = frozenset({"error", "fail", "failed"})
NOT_THE_RECEIVER_HINT = (
    "is the URL the receiver's, not a proxy or a login page? If your backend answers 2xx without a JSON object, "
    'set the connection extra ack to "status"')


class Outcome(enum.Enum):
    """What a webhook response means for the batch that was sent."""

    SENT = "sent"
    RETRY = "retry"
    AUTH = "auth"
    SPLIT = "split"
    GONE = "gone"

    @property
    def is_failure(self) -> bool:
        """Return True when the breaker counts this outcome as a failure."""
        return self in (Outcome.RETRY, Outcome.AUTH, Outcome.GONE)


def classify_response(status: int | None, error_kind: str | None = None) -> Outcome:
    """Classify an HTTP status (None: no response, see ``error_kind``) into an :class:`Outcome`.

    A 2xx with ``error_kind`` :data:`NOT_ACKNOWLEDGED` (see :func:`acknowledgement_problem`) is RETRY.
    """
    if status is None:
        return Outcome.RETRY
    if 200 <= status <= 299:
        return Outcome.RETRY if error_kind == NOT_ACKNOWLEDGED else Outcome.SENT
    if status in AUTH_STATUSES:
        return Outcome.AUTH
    if status in SPLIT_STATUSES:
        return Outcome.SPLIT
    if status == 410:
        return Outcome.GONE
    return Outcome.RETRY


def acknowledgement_problem(status: int, body: bytes, ack: str = ACK_JSON) -> str | None:
    """Return why a 2xx answer with ``body`` does not acknowledge the request under ``ack``; None when it does.

    Statuses other than 2xx are not judged here (None): :func:`classify_response` decides them.
    """
    if ack == ACK_STATUS or not 200 <= status <= 299:
        return None
    if not body.strip():
        return f"the body is empty ({NOT_THE_RECEIVER_HINT})"
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return f"the body is not JSON ({NOT_THE_RECEIVER_HINT})"
    if not isinstance(answer, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(answer), "a number")
        return f"the body is JSON {kind}, not an object ({NOT_THE_RECEIVER_HINT})"
    for key in ("ok", "success"):
        if answer.get(key) is False:
            return f'the JSON object reports a failure ("{key}": false): the backend did not take the request'
    status_text = answer.get("status")
    if isinstance(status_text, str) and status_text.strip().lower() in FAILED_STATUSES:
        return f'the JSON object reports a failure ("status": "{status_text[:40]}"): the backend did not take the request'
    if answer.get("error") not in (None, "", False, {}, []):
        return "the JSON object reports a failure (a non-empty \"error\"): the backend did not take the request"
    return None


class RetrySettings(Protocol):
    """The queue settings the retry schedule reads (``ragsync.settings.QueueSettings`` has them)."""

    @property
    def max_retries(self) -> int: ...
    @property
    def retry_delays_minutes(self) -> Sequence[float]: ...


class FailedRow(Protocol):
    """What the schedule needs of a row whose attempt failed (``ragsync.state.queue.QueueRow`` has it)."""

    @property
    def id(self) -> int: ...
    @property
    def attempts(self) -> int: ...


def retry_delay(attempt: int, delays_minutes: Sequence[float], jitter: float = RETRY_JITTER,
                rng: random.Random | None = None) -> float:
    """Return the seconds to wait after failed attempt number ``attempt`` (1-based), with ±``jitter``.

    Attempt 1 waits ``delays_minutes[0]``, attempt 2 ``delays_minutes[1]``, ...; past the end of the
    list the last delay repeats.
    """
    if not delays_minutes:
        raise ValueError("retry_delays_minutes must not be empty")
    base = float(delays_minutes[min(max(attempt, 1), len(delays_minutes)) - 1]) * 60.0
    spread = (rng or random).uniform(-jitter, jitter) if jitter else 0.0
    return max(0.0, base * (1.0 + spread))


def retry_at(attempts: int, settings: RetrySettings, now: datetime, rng: random.Random | None = None,
             retry_after_seconds: float | None = None) -> datetime | None:
    """Return when a row whose attempt just failed is due again; None when it is dead (retries used up).

    ``attempts`` is what the row had spent before this failure (``QueueRow.attempts``), so this
    was attempt ``attempts + 1``. ``max_retries`` retries follow the first attempt; retry *i*
    waits ``retry_delays_minutes[i-1]`` ±10% (:func:`retry_delay`; the last delay repeats), and
    never less than the backend's ``Retry-After`` (``retry_after_seconds``).
    """
    attempt = attempts + 1
    if attempt > settings.max_retries:
        return None
    delay = retry_delay(attempt, settings.retry_delays_minutes, RETRY_JITTER, rng)
    if retry_after_seconds is not None:
        delay = max(delay, retry_after_seconds)
    return now + timedelta(seconds=delay)


def retry_schedule(rows: Iterable[FailedRow], settings: RetrySettings, now: datetime,
                   rng: random.Random | None = None,
                   retry_after_seconds: float | None = None) -> dict[int, datetime | None]:
    """Return ``row id -> when it is due again`` (None: dead) for rows whose attempt failed (:func:`retry_at`).

    What ``QueueRepository.settle_failed`` is told to write.
    """
    return {row.id: retry_at(row.attempts, settings, now, rng, retry_after_seconds) for row in rows}


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Return a ``Retry-After`` header's wait in seconds, clamped to [1 s, 3600 s]; None when absent or invalid.

    Both forms are accepted: delta-seconds (``120``) and an HTTP date
    (``Wed, 21 Oct 2026 07:28:00 GMT``, relative to ``now``, naive UTC).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    seconds: float
    if text.isdigit():
        seconds = float(text)
    else:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if moment is None:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        reference = (now or datetime.now(UTC).replace(tzinfo=None)).replace(tzinfo=UTC)
        seconds = (moment - reference).total_seconds()
    return min(RETRY_AFTER_MAX_SECONDS, max(RETRY_AFTER_MIN_SECONDS, seconds))
