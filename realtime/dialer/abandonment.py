"""Abandonment accounting: abandoned ÷ human-answered calls per campaign, over rolling windows.

The legal measure (US TSR/TCPA) is 30 days per campaign; the last 24 hours is shown beside it
so a supervisor sees a bad afternoon before it moves the 30-day figure. Reports and the
pacing controller both read these numbers from here, from the call attempts themselves.
"""
from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from realtime.store.database import Store
from realtime.store.models import CallAttempt, CallStatus, Campaign
from realtime.store.types import utcnow

# A person answered: a caller talked to them, or nobody was free and they were abandoned.
HUMAN_ANSWERED = (CallStatus.CONNECTED, CallStatus.COMPLETED, CallStatus.ABANDONED)
MONTH = dt.timedelta(days=30)
DAY = dt.timedelta(hours=24)


@dataclasses.dataclass(frozen=True)
class AbandonmentRate:
    abandoned: int
    human_answered: int

    @property
    def rate(self) -> float:
        return self.abandoned / self.human_answered if self.human_answered else 0.0

    def as_json(self) -> dict[str, float | int]:
        return {"abandoned": self.abandoned, "human_answered": self.human_answered, "rate": round(self.rate, 4)}


@dataclasses.dataclass(frozen=True)
class AbandonmentReport:
    campaign_id: int
    limit: float
    last_30_days: AbandonmentRate
    last_24_hours: AbandonmentRate
    at: dt.datetime

    @property
    def over_limit(self) -> bool:
        return self.last_30_days.rate > self.limit

    def as_json(self) -> dict[str, object]:
        return {
            "campaign_id": self.campaign_id, "limit": self.limit, "at": self.at.isoformat(),
            "last_30_days": self.last_30_days.as_json(), "last_24_hours": self.last_24_hours.as_json(),
            "over_limit": self.over_limit,
        }


async def abandonment(store: Store, campaign_id: int, *, now: dt.datetime | None = None) -> AbandonmentReport:
    """The campaign's abandonment over the last 30 days and 24 hours, counted by answer time."""
    now = now or utcnow()
    async with store.sessions() as session:
        limit = await session.scalar(select(Campaign.acceptable_abandon_rate).where(Campaign.id == campaign_id))
        if limit is None:
            raise LookupError(f"no campaign {campaign_id}")
        last_30_days, last_24_hours = await _rates(session, campaign_id, now)
    return AbandonmentReport(campaign_id=campaign_id, limit=float(limit), last_30_days=last_30_days,
                             last_24_hours=last_24_hours, at=now)


async def abandonment_rates(store: Store, campaign_id: int) -> tuple[AbandonmentRate, AbandonmentRate]:
    """The rates alone (30 days, 24 hours), for the pacing controller: it knows the limit."""
    async with store.sessions() as session:
        return await _rates(session, campaign_id, utcnow())


async def _rates(session: AsyncSession, campaign_id: int, now: dt.datetime) -> tuple[AbandonmentRate, AbandonmentRate]:
    month_start, day_start = now - MONTH, now - DAY
    human = CallAttempt.status.in_(HUMAN_ANSWERED)
    abandoned = CallAttempt.status == CallStatus.ABANDONED
    in_day = CallAttempt.answered_at > day_start

    def count(condition) -> object:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    query = select(
        count(human), count(abandoned), count(and_(human, in_day)), count(and_(abandoned, in_day)),
    ).where(
        CallAttempt.campaign_id == campaign_id,
        CallAttempt.answered_at > month_start,
        CallAttempt.answered_at <= now,
        # dialed_at bounds the scan through its index; no call rings for a day.
        CallAttempt.dialed_at > month_start - DAY,
    )
    human_30, abandoned_30, human_24, abandoned_24 = (await session.execute(query)).one()
    return (AbandonmentRate(int(abandoned_30), int(human_30)), AbandonmentRate(int(abandoned_24), int(human_24)))
