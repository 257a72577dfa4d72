"""Calling hours: the wall-clock window, in the campaign's time zone, when leads may be dialled.

Times are wall-clock, so the window follows daylight-saving changes (09:00 stays 09:00 local).
An end before the start is an overnight window (22:00-06:00); start == end dials nothing,
the safe reading of a window of zero length.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from realtime.store.models import Campaign

UTC = dt.timezone.utc


class InvalidTimeZone(ValueError):
    error_id = "invalid-time-zone"


@dataclasses.dataclass(frozen=True)
class CallingHours:
    start: dt.time
    end: dt.time
    zone: ZoneInfo

    @classmethod
    def of(cls, campaign: Campaign) -> CallingHours:
        return cls.parse(campaign.calling_hours_start, campaign.calling_hours_end, campaign.time_zone)

    @classmethod
    def parse(cls, start: dt.time, end: dt.time, time_zone: str) -> CallingHours:
        try:
            zone = ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidTimeZone(f"unknown time zone {time_zone!r}") from None
        # Seconds are not part of a calling window; minutes are.
        return cls(start.replace(second=0, microsecond=0), end.replace(second=0, microsecond=0), zone)

    @property
    def overnight(self) -> bool:
        return self.end < self.start

    def is_open(self, now: dt.datetime) -> bool:
        local = now.astimezone(self.zone).time()
        if self.start < self.end:
            return self.start <= local < self.end
        if self.overnight:
            return local >= self.start or local < self.end
        return False

    def closes_at(self, now: dt.datetime) -> dt.datetime | None:
        """When the window that is open at ``now`` closes (UTC); None while closed."""
        if not self.is_open(now):
            return None
        local = now.astimezone(self.zone)
        day = local.date()
        if self.overnight and local.time() >= self.start:
            day += dt.timedelta(days=1)
        return _wall_clock(day, self.end, self.zone)

    def opens_at(self, now: dt.datetime) -> dt.datetime | None:
        """When the next window opens (UTC): ``now`` while open, None if it never opens."""
        if self.start == self.end:
            return None
        if self.is_open(now):
            return now.astimezone(UTC)
        local = now.astimezone(self.zone)
        day = local.date()
        if local.time() >= self.start:
            day += dt.timedelta(days=1)
        return _wall_clock(day, self.start, self.zone)


def _wall_clock(day: dt.date, at: dt.time, zone: ZoneInfo) -> dt.datetime:
    """The UTC instant of a local wall-clock time; a time skipped by DST maps past the gap."""
    return dt.datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
