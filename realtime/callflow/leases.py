"""Which engine owns a campaign: a lease row with a time to live that its holder renews.

An engine takes a campaign when nobody holds it or the holder let the lease run out (it
died or stalled); one UPDATE, or an INSERT that the primary key lets only one engine
win, decides it on SQLite and PostgreSQL alike.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from realtime.store.database import Store
from realtime.store.models import CampaignLease
from realtime.store.types import utcnow

logger = logging.getLogger(__name__)

TTL = dt.timedelta(seconds=30)


class Leases:
    def __init__(self, store: Store, holder: str, *, ttl: dt.timedelta = TTL) -> None:
        self.store = store
        self.holder = holder
        self.ttl = ttl

    async def acquire(self, campaign_id: int) -> bool:
        """Take (or keep) the campaign; False when another live engine holds it."""
        now = utcnow()
        claim = (update(CampaignLease)
                 .where(CampaignLease.campaign_id == campaign_id,
                        or_(CampaignLease.holder == self.holder, CampaignLease.expires_at < now))
                 .values(holder=self.holder, expires_at=now + self.ttl)
                 .execution_options(synchronize_session=False))
        async with self.store.transaction() as session:
            if (await session.execute(claim)).rowcount:
                return True
        try:
            async with self.store.transaction() as session:
                session.add(CampaignLease(campaign_id=campaign_id, holder=self.holder, expires_at=now + self.ttl))
        except IntegrityError:
            return False  # held by a live engine (or it was taken just now)
        logger.info("engine %s took campaign %s", self.holder, campaign_id)
        return True

    async def renew(self, campaign_ids: Collection[int]) -> set[int]:
        """Extend our leases; answers the campaigns still ours."""
        if not campaign_ids:
            return set()
        now = utcnow()
        async with self.store.transaction() as session:
            rows = await session.scalars(
                update(CampaignLease)
                .where(CampaignLease.campaign_id.in_(list(campaign_ids)), CampaignLease.holder == self.holder)
                .values(expires_at=now + self.ttl)
                .returning(CampaignLease.campaign_id)
                .execution_options(synchronize_session=False))
            return set(rows)

    async def release(self, campaign_ids: Collection[int]) -> None:
        if not campaign_ids:
            return
        async with self.store.transaction() as session:
            await session.execute(delete(CampaignLease).where(
                CampaignLease.campaign_id.in_(list(campaign_ids)), CampaignLease.holder == self.holder))

    async def held_elsewhere(self) -> set[int]:
        """Campaigns another live engine holds now."""
        async with self.store.sessions() as session:
            return set(await session.scalars(select(CampaignLease.campaign_id).where(
                CampaignLease.holder != self.holder, CampaignLease.expires_at >= utcnow())))
