"""Where ragsync reads the time: naive UTC datetimes, from the system or from a clock tests move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Tell the current time as a naive UTC datetime (what the pipeline's DATETIME columns hold)."""

    def now(self) -> datetime:
        """Return the current time, naive UTC."""
        ...


class SystemClock:
    """Read the machine's clock."""

    def now(self) -> datetime:
        """Return the current time, naive UTC."""
        return datetime.now(UTC).replace(tzinfo=None)

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A fake clock you must move: it stands still until :meth:`advance` or :meth:`set` is called.

    It exists for tests (retry schedules, leases and the circuit breaker span minutes or hours)
    and for replaying a scenario; production code uses :class:`SystemClock`.
    """

    def __init__(self, start: datetime | None = None) -> None:
        moment = start or datetime(2026, 1, 2, 10, 30, 0)
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        self._now = moment

    def now(self) -> datetime:
        """Return the time the clock was last moved to."""
        return self._now

    def advance(self, seconds: float = 0, minutes: float = 0, hours: float = 0) -> datetime:
        """Move the clock forward and return the new time."""
        delta = timedelta(seconds=seconds, minutes=minutes, hours=hours)
        if delta < timedelta(0):
            raise ValueError("a ManualClock only moves forward")
        self._now += delta
        return self._now

    def set(self, moment: datetime) -> None:
        """Jump to ``moment`` (naive UTC), forward only."""
        if moment < self._now:
            raise ValueError("a ManualClock only moves forward")
        self._now = moment

    def __repr__(self) -> str:
        return f"ManualClock({self._now.isoformat()})"
