"""Calling hours in the campaign's zone: minutes, overnight windows, daylight-saving changes."""
from __future__ import annotations

import datetime as dt

import pytest

from realtime.dialer.calling_hours import CallingHours, InvalidTimeZone

UTC = dt.timezone.utc


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def hours(start: str, end: str, zone: str = "America/New_York") -> CallingHours:
    return CallingHours.parse(dt.time.fromisoformat(start), dt.time.fromisoformat(end), zone)


def test_minutes_matter():
    window = hours("09:30", "20:45")
    # 2026-11-26 is EST (UTC-5).
    assert not window.is_open(utc(2026, 11, 26, 14, 29))
    assert window.is_open(utc(2026, 11, 26, 14, 30))
    assert window.is_open(utc(2026, 11, 27, 1, 44))
    assert not window.is_open(utc(2026, 11, 27, 1, 45))


def test_the_window_follows_daylight_saving_time():
    window = hours("09:00", "21:00")
    # 13:30 UTC is 08:30 EST before the spring change (2026-03-08) and 09:30 EDT after it.
    assert not window.is_open(utc(2026, 3, 7, 13, 30))
    assert window.is_open(utc(2026, 3, 9, 13, 30))
    # On the change day itself the window closes at 21:00 EDT = 01:00 UTC.
    assert window.closes_at(utc(2026, 3, 8, 20, 0)) == utc(2026, 3, 9, 1, 0)
    # And in autumn (2026-11-01) 21:00 EST = 02:00 UTC.
    assert window.closes_at(utc(2026, 11, 1, 20, 0)) == utc(2026, 11, 2, 2, 0)
    assert window.opens_at(utc(2026, 11, 1, 3, 0)) == utc(2026, 11, 1, 14, 0)


def test_overnight_windows_span_midnight():
    window = hours("22:00", "06:00", "Europe/Paris")  # UTC+1 in winter
    assert window.is_open(utc(2026, 1, 10, 21, 0))  # 22:00
    assert window.is_open(utc(2026, 1, 10, 23, 30))  # 00:30
    assert not window.is_open(utc(2026, 1, 11, 5, 0))  # 06:00
    assert not window.is_open(utc(2026, 1, 10, 12, 0))
    # Open late in the evening: closes the next morning; open after midnight: this morning.
    assert window.closes_at(utc(2026, 1, 10, 21, 30)) == utc(2026, 1, 11, 5, 0)
    assert window.closes_at(utc(2026, 1, 11, 1, 0)) == utc(2026, 1, 11, 5, 0)
    assert window.closes_at(utc(2026, 1, 10, 12, 0)) is None
    assert window.opens_at(utc(2026, 1, 10, 12, 0)) == utc(2026, 1, 10, 21, 0)


def test_an_overnight_window_across_the_spring_change():
    window = hours("20:00", "02:30")  # 02:30 does not exist on 2026-03-08 in New York
    open_at = utc(2026, 3, 8, 6, 0)  # 01:00 EST
    assert window.is_open(open_at)
    assert window.closes_at(open_at) == utc(2026, 3, 8, 7, 30)  # 03:30 EDT, right after the gap
    assert not window.is_open(utc(2026, 3, 8, 7, 30))


def test_a_window_of_zero_length_never_opens():
    window = hours("09:00", "09:00")
    assert not window.is_open(utc(2026, 6, 1, 13, 0))
    assert window.opens_at(utc(2026, 6, 1, 13, 0)) is None


def test_an_unknown_zone_is_refused():
    with pytest.raises(InvalidTimeZone):
        hours("09:00", "21:00", "Mars/Olympus_Mons")
