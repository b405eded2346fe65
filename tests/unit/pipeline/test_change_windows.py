"""Which local midnights lie between two captures: where special-price and rule windows open and close."""

from __future__ import annotations

from datetime import date, datetime

from ragsync.magento.changes import local_dates_started


def test_a_capture_just_after_local_midnight_sees_that_day_begin() -> None:
    # 22:58 and 23:01 UTC are 23:58 and 00:01 in Paris (winter, UTC+1)
    assert local_dates_started(datetime(2026, 1, 24, 22, 58), datetime(2026, 1, 24, 23, 1), "Europe/Paris") == [
        date(2026, 1, 25)]
    # the same minutes in London (UTC+0) cross nothing
    assert local_dates_started(datetime(2026, 1, 24, 22, 58), datetime(2026, 1, 24, 23, 1), "Europe/London") == []


def test_midnight_itself_belongs_to_the_later_capture_only() -> None:
    midnight = datetime(2026, 1, 25, 0, 0)
    assert local_dates_started(datetime(2026, 1, 24, 23, 59), midnight, "UTC") == [date(2026, 1, 25)]
    assert local_dates_started(midnight, datetime(2026, 1, 25, 0, 1), "UTC") == []


def test_a_long_pause_sees_every_day_and_an_unknown_zone_is_utc() -> None:
    days = local_dates_started(datetime(2026, 3, 1, 12), datetime(2026, 3, 4, 12), "Not/AZone")
    assert days == [date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)]
    # the night the clocks go forward in Paris still has a midnight
    assert local_dates_started(datetime(2026, 3, 28, 22, 30), datetime(2026, 3, 28, 23, 30), "Europe/Paris") == [
        date(2026, 3, 29)]
