"""The demo account: created once, complete, and never beside a real account."""
from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import func, select

from realtime.store.accounts import authenticate, create_account
from realtime.store.database import Store
from realtime.store.demo import seed_demo
from realtime.store.models import (
    Account,
    Caller,
    CallerGroup,
    Campaign,
    CustomLeadField,
    DialerMode,
    Household,
    HouseholdStatus,
    Lead,
    LeadList,
    Script,
    TransferType,
    User,
    UserRole,
)
from realtime.store.passwords import verify_password


async def count(session, model) -> int:
    return await session.scalar(select(func.count()).select_from(model))


async def test_demo_account_is_complete_and_its_logins_work(store: Store) -> None:
    demo = await seed_demo(store)
    assert demo is not None
    async with store.sessions() as session:
        account = await authenticate(session, demo.api_key, demo.api_auth)
        assert account.name == demo.account_name == "Demo Campaigns"

        users = {u.email: u for u in await session.scalars(select(User))}
        assert set(users) == {demo.admin_email, demo.supervisor_email}
        assert users[demo.admin_email].role is UserRole.ADMIN
        assert verify_password(users[demo.admin_email].password_hash, demo.admin_password)
        supervisor = users[demo.supervisor_email]
        assert supervisor.role is UserRole.SUPERVISOR
        assert supervisor.phone_endpoint == "PJSIP/supervisor1"
        assert verify_password(supervisor.password_hash, demo.supervisor_password)

        campaigns = {c.dialer_mode: c for c in await session.scalars(select(Campaign))}
        predictive, preview = campaigns[DialerMode.PREDICTIVE], campaigns[DialerMode.PREVIEW]
        assert len(campaigns) == 2
        assert predictive.use_amd and predictive.max_lines == 30 and predictive.caller_id
        assert predictive.time_zone == "America/New_York"
        assert (predictive.calling_hours_start.isoformat(), predictive.calling_hours_end.isoformat()) == (
            "00:00:00", "23:59:00")

        callers = {c.username: c for c in await session.scalars(select(Caller))}
        assert [name for name, _ in demo.callers] == ["caller1", "caller2", "caller3"]
        for username, password in demo.callers:
            assert verify_password(callers[username].password_hash, password)
            assert not callers[username].phones_only
        phones_only = [c for c in callers.values() if c.phones_only]
        assert len(phones_only) == 1 and phones_only[0].password_hash is None
        assert phones_only[0].pin == demo.phones_only_pin
        assert phones_only[0].campaign_id == predictive.id
        pins = [c.pin for c in callers.values()]
        assert len(set(pins)) == 4 and all(p.isdigit() and len(p) == 6 for p in pins)
        assert sorted(c.phone_endpoint for c in callers.values()) == [
            f"PJSIP/agent{n}" for n in (101, 102, 103, 104)]
        assert Counter(c.campaign_id for c in callers.values()) == {predictive.id: 3, preview.id: 1}
        group = await session.scalar(select(CallerGroup))
        assert sum(c.caller_group_id == group.id for c in callers.values()) == 2

        script = await session.scalar(select(Script))
        assert script.name == "Get out the vote" and predictive.script_id == script.id
        assert len(script.texts) == 2 and len(script.notes) == 2
        assert len(script.questions) == 3
        assert all(3 <= len(q.responses) <= 4 for q in script.questions)
        retries = [r.value for q in script.questions for r in q.responses if r.retry]
        assert retries == ["Call back later"]
        assert {t.transfer_type for t in script.transfers} == {TransferType.WARM, TransferType.COLD}
        # The simulator answers numbers ending in 00-39.
        assert all(int(t.phone[-2:]) < 40 for t in script.transfers)


async def test_demo_leads_are_one_ready_list_of_300_in_households(store: Store) -> None:
    await seed_demo(store)
    async with store.sessions() as session:
        lead_list = (await session.scalars(select(LeadList).where(LeadList.name == "Precinct 12 voters"))).one()
        assert lead_list.enabled
        leads = (await session.scalars(select(Lead).where(Lead.lead_list_id == lead_list.id))).all()
        households = (await session.scalars(
            select(Household).where(Household.campaign_id == lead_list.campaign_id).order_by(Household.position)
        )).all()
        assert len(leads) == 300
        assert {lead.lead_list_id for lead in leads} == {lead_list.id}
        per_household = Counter(lead.household_id for lead in leads)
        assert set(per_household.values()) == {1, 2} and len(per_household) == len(households)
        assert [h.position for h in households] == list(range(1, len(households) + 1))
        assert {h.status for h in households} == {HouseholdStatus.NOT_CALLED}
        phones = [h.phone for h in households]
        assert len(set(phones)) == len(phones)
        assert all(p.startswith("+1555555") and len(p) == 12 for p in phones)
        # Every band of the simulator's outcome table (by the last two digits) is dialled.
        bands = Counter(min(int(p[-2:]) // 10, 9) for p in phones)
        assert len(bands) == 10
        assert {f.name for f in await session.scalars(select(CustomLeadField))} == {"Party", "Ward"}
        assert all(set(lead.custom_fields) == {"Party", "Ward"} for lead in leads)
        assert all(lead.first_name and lead.last_name and lead.address for lead in leads)


async def test_the_preview_campaign_has_leads_to_preview(store: Store) -> None:
    await seed_demo(store)
    async with store.sessions() as session:
        preview = (await session.scalars(select(Campaign).where(Campaign.dialer_mode == DialerMode.PREVIEW))).one()
        households = await session.scalar(
            select(func.count()).select_from(Household).where(Household.campaign_id == preview.id)
        )
        caller = (await session.scalars(select(Caller).where(Caller.campaign_id == preview.id))).one()
        assert households == 40 and caller.username == "caller3"


async def test_demo_is_seeded_once(store: Store) -> None:
    assert await seed_demo(store) is not None
    async with store.sessions() as session:
        before = {model: await count(session, model) for model in (Account, User, Caller, Lead)}
    assert await seed_demo(store) is None
    async with store.sessions() as session:
        assert {model: await count(session, model) for model in before} == before


async def test_no_demo_beside_an_existing_account(store: Store) -> None:
    async with store.transaction() as session:
        await create_account(session, "Real customer")
    assert await seed_demo(store) is None
    async with store.sessions() as session:
        assert (await session.scalars(select(Account.name))).all() == ["Real customer"]
        assert await count(session, Lead) == 0


async def test_two_processes_seeding_at_once_make_one_demo(migrated_database_url: str) -> None:
    # Two stores are two connection pools, as in two server processes.
    stores = [Store(migrated_database_url), Store(migrated_database_url)]
    try:
        results = await asyncio.gather(*(seed_demo(s) for s in stores))
        assert sum(r is not None for r in results) == 1
        async with stores[0].sessions() as session:
            assert await count(session, Account) == 1
            assert await count(session, Lead) == 340
    finally:
        for s in stores:
            await s.close()
