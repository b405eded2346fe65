"""The clocks: the system's, and the fake one tests move by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ragsync.state.clock import ManualClock, SystemClock


def test_system_clock_is_naive_utc() -> None:
    now = SystemClock().now()
    assert now.tzinfo is None
    assert abs(now - datetime.now(UTC).replace(tzinfo=None)) < timedelta(seconds=5)


def test_manual_clock_stands_still_until_moved() -> None:
    clock = ManualClock(datetime(2026, 1, 1))
    assert clock.now() == clock.now() == datetime(2026, 1, 1)
    assert clock.advance(minutes=5, seconds=3) == datetime(2026, 1, 1, 0, 5, 3)
    clock.advance(hours=1)
    assert clock.now() == datetime(2026, 1, 1, 1, 5, 3)
    with pytest.raises(ValueError):
        clock.advance(seconds=-1)


def test_manual_clock_takes_aware_times_as_utc() -> None:
    clock = ManualClock(datetime(2026, 1, 1, 12, tzinfo=UTC))
    assert clock.now() == datetime(2026, 1, 1, 12)
