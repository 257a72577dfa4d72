"""A migrated store on both databases, and a campaign with households to dial."""
from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import AsyncIterator, Iterable

import pytest

from realtime.store import migrate
from realtime.store.database import Store
from realtime.store.models import Account, Campaign, DialerMode, Household, Lead, LeadList

_keys = itertools.count(1)


@pytest.fixture
async def store(empty_database_url: str) -> AsyncIterator[Store]:
    """A store on a database migrated to head, on SQLite and on PostgreSQL."""
    await migrate.upgrade(empty_database_url)
    store = Store(empty_database_url)
    try:
        yield store
    finally:
        await store.close()


@dataclasses.dataclass
class Floor:
    """An account with campaigns and lists, built straight in the store."""

    store: Store
    account_id: int

    async def campaign(self, **fields: object) -> Campaign:
        values = dict(
            name="Get out the vote", dialer_mode=DialerMode.PREDICTIVE,
            calling_hours_start=dt.time(0, 0), calling_hours_end=dt.time(23, 59),
            time_zone="UTC", recycle_interval_seconds=600,
        )
        values.update(fields)
        async with self.store.transaction() as session:
            campaign = Campaign(account_id=self.account_id, **values)
            session.add(campaign)
        return campaign

    async def lead_list(self, campaign: Campaign, *, enabled: bool = True) -> LeadList:
        async with self.store.transaction() as session:
            lead_list = LeadList(account_id=self.account_id, campaign_id=campaign.id, name="list", enabled=enabled)
            session.add(lead_list)
        return lead_list

    async def households(
        self, campaign: Campaign, phones: Iterable[str], *, lead_list: LeadList | None = None,
        leads_each: int = 1,
    ) -> list[Household]:
        """One household per phone, in upload order, each with ``leads_each`` open leads."""
        async with self.store.transaction() as session:
            households = []
            base = await session.scalar(
                Household.__table__.select().with_only_columns(Household.position)
                .where(Household.campaign_id == campaign.id).order_by(Household.position.desc()).limit(1)
            ) or 0
            for position, phone in enumerate(phones, start=base + 1):
                household = Household(
                    account_id=self.account_id, campaign_id=campaign.id, phone=phone, position=position,
                )
                session.add(household)
                households.append(household)
            await session.flush()
            for household in households:
                for n in range(leads_each):
                    session.add(Lead(
                        account_id=self.account_id, household_id=household.id, campaign_id=campaign.id,
                        lead_list_id=lead_list.id if lead_list else None, first_name=f"Lead {n}",
                    ))
        return households


@pytest.fixture
async def floor(shared_store: Store) -> Floor:
    """A new account (so a test sees only its own rows) in the module's database."""
    store = shared_store
    n = next(_keys)
    async with store.transaction() as session:
        account = Account(name="Acme", api_key=f"key-{n}", api_secret="secret")
        session.add(account)
    return Floor(store, account.id)


# -- telephony: the built-in simulator over real HTTP and websockets ----------------------
SIM_SPEED = 50.0  # simulated seconds per real second: a 2 s ring takes 40 ms
SIM_USER, SIM_PASSWORD, SIM_APP = "ari", "secret", "impactdialing"


class Simulator:
    """The running simulator and its control API (its journal has its own timestamps)."""

    def __init__(self, running) -> None:
        self.running = running
        self.root = running.url.removesuffix("/ari")

    async def journal(self) -> dict:
        import aiohttp

        headers = {"Authorization": aiohttp.encode_basic_auth(SIM_USER, SIM_PASSWORD)}
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.get(f"{self.root}/_sim/journal") as resp:
                assert resp.status == 200, await resp.text()
                return await resp.json()


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    from realtime.telephony.sim.config import SimConfig
    from realtime.telephony.sim.server import start_simulator

    running = await start_simulator(SimConfig(
        user=SIM_USER, password=SIM_PASSWORD, outcomes="deterministic", speed=SIM_SPEED, control=True, seed=1,
    ))
    try:
        yield Simulator(running)
    finally:
        await running.close()


@pytest.fixture
async def telephony(simulator: Simulator):
    from realtime.telephony import Telephony
    from realtime.telephony.ari import AriClient

    client = AriClient(simulator.running.url, SIM_USER, SIM_PASSWORD, SIM_APP, request_timeout=5.0)
    await client.connect()
    telephony = Telephony(client, dial_template="PJSIP/{number}@trunk")
    try:
        yield telephony
    finally:
        await telephony.close()


async def caller_sessions(floor: Floor, campaign: Campaign, count: int) -> list[int]:
    """Logged-in caller sessions (rows the call attempts point at)."""
    from realtime.store.models import Caller, CallerSession

    async with floor.store.transaction() as session:
        rows = []
        for n in range(count):
            caller = Caller(account_id=floor.account_id, username=f"caller{n}-{campaign.id}",
                            pin=f"{campaign.id:04d}{n:02d}", campaign_id=campaign.id)
            session.add(caller)
            await session.flush()
            row = CallerSession(account_id=floor.account_id, caller_id=caller.id, campaign_id=campaign.id,
                                started_at=dt.datetime.now(dt.timezone.utc))
            session.add(row)
            rows.append(row)
        await session.flush()
        return [row.id for row in rows]
