"""How each webhook response is classified, how long to wait before a retry, and Retry-After parsing.

The classification is design.md section 5's table:

==============================================  ==========  =============================================
response                                        outcome     effect
==============================================  ==========  =============================================
2xx                                             SENT        rows ``sent``, ledger updated; breaker success
timeout, connection error, 3xx, 408, 429, 5xx   RETRY       rows ``failed`` per schedule; breaker failure
401, 403                                        AUTH        like RETRY, audit says secret/tenant is wrong
400, 413, 422                                   SPLIT       halve the batch; a lone bad item goes ``dead``
410                                             GONE        rows ``failed``; the breaker opens
any other 4xx (404, 405, 409, ...)              RETRY       most likely a wrong URL or a transient state
==============================================  ==========  =============================================
"""

from __future__ import annotations

import enum
import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRY_AFTER_MIN_SECONDS = 1.0
RETRY_AFTER_MAX_SECONDS = 3600.0
SPLIT_STATUSES = frozenset({400, 413, 422})
AUTH_STATUSES = frozenset({401, 403})


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
    """Classify an HTTP status (None: no response, see ``error_kind``) into an :class:`Outcome`."""
    if status is None:
        return Outcome.RETRY
    if 200 <= status <= 299:
        return Outcome.SENT
    if status in AUTH_STATUSES:
        return Outcome.AUTH
    if status in SPLIT_STATUSES:
        return Outcome.SPLIT
    if status == 410:
        return Outcome.GONE
    return Outcome.RETRY


def retry_delay(attempt: int, delays_minutes: tuple[float, ...] | list[float], jitter: float = 0.1,
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
