"""Abandonment = abandoned ÷ human-answered calls per campaign, over 30 days and 24 hours."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from realtime.dialer.abandonment import abandonment
from realtime.store.models import CallAttempt, CallStatus

NOW = dt.datetime(2026, 11, 26, 15, 0, tzinfo=dt.timezone.utc)


async def test_rolling_windows_count_by_answer_time(floor):
    campaign = await floor.campaign(acceptable_abandon_rate=Decimal("0.03"))
    other = await floor.campaign()
    [household] = await floor.households(campaign, ["+12025550100"])
    [elsewhere] = await floor.households(other, ["+12025550101"])

    def attempt(campaign_id: int, household_id: int, status: CallStatus, ago: dt.timedelta, answered=True):
        at = NOW - ago
        return CallAttempt(
            account_id=floor.account_id, campaign_id=campaign_id, household_id=household_id,
            dialer_mode="predictive", status=status, dialed_at=at - dt.timedelta(seconds=10),
            answered_at=at if answered else None,
        )

    hour, day = dt.timedelta(hours=1), dt.timedelta(days=1)
    rows = [
        # Within 24 hours: 3 human answers, 1 abandoned.
        attempt(campaign.id, household.id, CallStatus.COMPLETED, hour),
        attempt(campaign.id, household.id, CallStatus.CONNECTED, 2 * hour),
        attempt(campaign.id, household.id, CallStatus.ABANDONED, 3 * hour),
        # Within 30 days: 2 more human answers, both abandoned.
        attempt(campaign.id, household.id, CallStatus.ABANDONED, 2 * day),
        attempt(campaign.id, household.id, CallStatus.ABANDONED, 29 * day),
        # Not human answers: machines, voicemail, busy, no answer.
        attempt(campaign.id, household.id, CallStatus.MACHINE, hour),
        attempt(campaign.id, household.id, CallStatus.VOICEMAIL_LEFT, hour),
        attempt(campaign.id, household.id, CallStatus.BUSY, hour, answered=False),
        attempt(campaign.id, household.id, CallStatus.NO_ANSWER, hour, answered=False),
        # Too old, and another campaign's.
        attempt(campaign.id, household.id, CallStatus.ABANDONED, 31 * day),
        attempt(other.id, elsewhere.id, CallStatus.ABANDONED, hour),
    ]
    async with floor.store.transaction() as session:
        session.add_all(rows)

    report = await abandonment(floor.store, campaign.id, now=NOW)
    assert (report.last_24_hours.abandoned, report.last_24_hours.human_answered) == (1, 3)
    assert (report.last_30_days.abandoned, report.last_30_days.human_answered) == (3, 5)
    assert report.last_30_days.rate == 0.6 and report.over_limit
    assert report.as_json()["last_24_hours"] == {"abandoned": 1, "human_answered": 3, "rate": 0.3333}

    # A day later the 24-hour window has emptied; the oldest abandon has left the 30 days.
    later = await abandonment(floor.store, campaign.id, now=NOW + 2 * day)
    assert later.last_24_hours.human_answered == 0 and later.last_24_hours.rate == 0.0
    assert (later.last_30_days.abandoned, later.last_30_days.human_answered) == (2, 4)
