"""The demo account: created once, on a database that holds no account at all.

Everything needed to try the product at once: people with generated passwords,
a script, a predictive and a preview campaign, and 300 made-up leads whose phone
numbers spread over the simulator's outcome table (last two digits).
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import random

from sqlalchemy import exists, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from realtime.store.accounts import create_account
from realtime.store.database import Store
from realtime.store.models import (
    Account,
    Caller,
    CallerGroup,
    Campaign,
    CustomLeadField,
    DialerMode,
    Household,
    Lead,
    LeadList,
    ListStatus,
    Note,
    PossibleResponse,
    Question,
    Script,
    ScriptText,
    Transfer,
    TransferType,
    User,
    UserRole,
)
from realtime.store.passwords import generate_password, generate_pin, hash_password
from realtime.store.types import utcnow

logger = logging.getLogger(__name__)

ACCOUNT_NAME = "Demo Campaigns"
ADMIN_EMAIL = "admin@demo.example"
SUPERVISOR_EMAIL = "supervisor@demo.example"
WEB_CALLERS = ("caller1", "caller2", "caller3")
PHONES_ONLY_CALLER = "caller4"
LEAD_COUNT = 300
PREVIEW_LEAD_COUNT = 40
SHARED_HOUSEHOLDS = 10  # households where two people share the phone
CUSTOM_FIELDS = ("Party", "Ward")
SEED = 20241105  # same demo data on every machine
_CALLER_NAMES = ("Alex Rivera", "Bea Chen", "Carlos Diaz", "Dana Okafor")

# Any constant will do: it only has to be the same in every process seeding this database.
_PG_LOCK_KEY = 0x7265616C74696D65  # "realtime"


@dataclasses.dataclass(frozen=True)
class DemoCredentials:
    account_name: str
    api_key: str
    api_auth: str
    admin_email: str
    admin_password: str
    supervisor_email: str
    supervisor_password: str
    callers: list[tuple[str, str]]  # (username, password) of the web callers
    phones_only_pin: str


async def seed_demo(store: Store) -> DemoCredentials | None:
    """Create the demo account if the database has no account; None if it had one.

    Check and insert happen in one transaction under a lock, so two processes
    starting together on one database create one demo, not two.
    """
    async with store.sessions() as session:
        if await _any_account(session):
            return None
    # Hash before taking the lock: argon2 is the slow part, and threads run it in parallel.
    passwords = {name: generate_password() for name in ("supervisor", *WEB_CALLERS)}
    hashes = dict(zip(passwords, await asyncio.gather(
        *(asyncio.to_thread(hash_password, pw) for pw in passwords.values())
    )))
    async with store.transaction() as session:
        await _lock_for_seeding(session)
        if await _any_account(session):
            return None
        credentials = await _create(session, passwords, hashes)
    logger.info("created the demo account")
    return credentials


async def _any_account(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(exists().select_from(Account))))


async def _lock_for_seeding(session: AsyncSession) -> None:
    if session.bind.dialect.name == "postgresql":
        # Held until the transaction ends; the loser then sees the winner's account.
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    else:
        # SQLite: a write statement (even one touching no row) takes the database's
        # single write lock now, before the check, like BEGIN IMMEDIATE.
        await session.execute(update(Account).where(Account.id < 0).values(name=Account.name))


async def _create(session: AsyncSession, passwords: dict[str, str], hashes: dict[str, str]) -> DemoCredentials:
    created = await create_account(session, ACCOUNT_NAME, admin_email=ADMIN_EMAIL, admin_name="Ada Admin")
    account_id = created.account.id
    created.admin.phone_endpoint = "PJSIP/admin1"
    session.add(User(account_id=account_id, email=SUPERVISOR_EMAIL, name="Sam Supervisor",
                     role=UserRole.SUPERVISOR, password_hash=hashes["supervisor"],
                     phone_endpoint="PJSIP/supervisor1"))

    script = _script(account_id)
    session.add(script)
    await session.flush()
    predictive = Campaign(
        account_id=account_id, name="Get out the vote", dialer_mode=DialerMode.PREDICTIVE,
        script_id=script.id, caller_id="+15555550100", use_amd=True, max_lines=30,
        # All day, so the demo dials whenever someone tries it.
        calling_hours_start=dt.time(0, 0), calling_hours_end=dt.time(23, 59),
        time_zone="America/New_York", recycle_interval_seconds=600,
    )
    preview = Campaign(
        account_id=account_id, name="Volunteer follow-up", dialer_mode=DialerMode.PREVIEW,
        script_id=script.id, caller_id="+15555550101",
        calling_hours_start=dt.time(0, 0), calling_hours_end=dt.time(23, 59),
        time_zone="America/New_York",
    )
    session.add_all([predictive, preview])
    await session.flush()
    group = CallerGroup(account_id=account_id, name="Evening volunteers", campaign_id=predictive.id)
    session.add(group)
    await session.flush()

    pins: set[str] = set()
    callers = []
    for number, username in enumerate((*WEB_CALLERS, PHONES_ONLY_CALLER), start=1):
        pin = generate_pin(pins)
        pins.add(pin)
        phones_only = username == PHONES_ONLY_CALLER
        callers.append(Caller(
            account_id=account_id, username=username, name=_CALLER_NAMES[number - 1], pin=pin,
            password_hash=None if phones_only else hashes[username], phones_only=phones_only,
            phone_endpoint=f"PJSIP/agent{100 + number}",
            campaign_id=preview.id if username == "caller3" else predictive.id,
            caller_group_id=group.id if username in ("caller1", "caller2") else None,
        ))
    session.add_all(callers)

    session.add_all(CustomLeadField(account_id=account_id, name=name) for name in CUSTOM_FIELDS)
    await _leads(session, account_id, predictive.id, "Precinct 12 voters", LEAD_COUNT, SHARED_HOUSEHOLDS, SEED)
    # The preview caller needs leads of their own campaign to look at.
    await _leads(session, account_id, preview.id, "Volunteer sign-ups", PREVIEW_LEAD_COUNT, 0, SEED + 1)
    return DemoCredentials(
        account_name=ACCOUNT_NAME, api_key=created.api_key, api_auth=created.api_auth,
        admin_email=ADMIN_EMAIL, admin_password=created.admin_password or "",
        supervisor_email=SUPERVISOR_EMAIL, supervisor_password=passwords["supervisor"],
        callers=[(username, passwords[username]) for username in WEB_CALLERS],
        phones_only_pin=callers[-1].pin,
    )


def _script(account_id: int) -> Script:
    script = Script(account_id=account_id, name="Get out the vote")
    script.texts = [
        ScriptText(position=1, content=(
            "## Introduction\n\nHi, may I speak with **the person named on screen**? "
            "My name is ___ and I'm a volunteer with *Demo Campaigns*. "
            "We're calling neighbours about the election on **Tuesday, November 5**."
        )),
        ScriptText(position=2, content=(
            "## Closing\n\nThank you for your time! Polls are open **7 am to 8 pm**. "
            "You can find your polling place at vote.example."
        )),
    ]
    script.questions = [
        _question(1, "Can we count on your vote on Election Day?",
                  [("Yes", "1"), ("Leaning yes", "2"), ("Undecided", "3"), ("No", "4")]),
        _question(2, "Which issue matters most to you this year?",
                  [("Cost of living", "1"), ("Schools", "2"), ("Health care", "3"), ("Public safety", "4")]),
        _question(3, "How do you plan to vote?",
                  [("In person on Election Day", "1"), ("Early or by mail", "2"),
                   ("Call back later", "9")], retry="9"),
    ]
    script.notes = [Note(position=1, text="Best time to call back"), Note(position=2, text="Comments")]
    script.transfers = [
        Transfer(label="Volunteer coordinator (warm)", phone="+15555550120", transfer_type=TransferType.WARM),
        Transfer(label="Voter hotline (cold)", phone="+15555550130", transfer_type=TransferType.COLD),
    ]
    return script


def _question(position: int, wording: str, responses: list[tuple[str, str]], retry: str | None = None) -> Question:
    return Question(position=position, text=wording, responses=[
        PossibleResponse(position=i, value=value, keypad=keypad, retry=keypad == retry)
        for i, (value, keypad) in enumerate(responses, start=1)
    ])


_FIRST = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Daniel Lisa Matthew Nancy Anthony "
    "Betty Mark Sandra Donald Ashley Steven Emily Paul Kimberly Andrew Donna Joshua Michelle "
    "Kevin Carol Brian Amanda George Melissa Timothy Deborah Ronald Stephanie Jason Rebecca "
    "Luis Sofia Wei Mei Tomasz Aisha Omar Priya Hiroshi Fatima"
).split()
_LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White "
    "Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres "
    "Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts "
    "Kowalski Okafor Patel Tanaka Haddad Cohen Murphy O'Brien Schmidt Novak"
).split()
_MIDDLE = ("", "", "", "A.", "J.", "M.", "R.", "L.", "E.")
_SUFFIX = ("",) * 20 + ("Jr.", "Sr.", "III")
_STREETS = (
    "Maple Ave", "Oak St", "Pine St", "Cedar Ln", "Elm St", "Washington Blvd", "Lake Rd",
    "Hillside Dr", "Park Pl", "Church St", "Main St", "Sunset Ave", "River Rd", "Highland Ave",
    "Franklin St", "Jefferson Ave", "Spring St", "Mill Rd", "Orchard Way", "Prospect St",
)
_CITIES = (("Albany", "NY", "122"), ("Rochester", "NY", "146"), ("Buffalo", "NY", "142"),
           ("Syracuse", "NY", "132"), ("Ithaca", "NY", "148"), ("Yonkers", "NY", "107"))
_PARTIES = ("Democrat",) * 4 + ("Republican",) * 4 + ("Independent",) * 2 + ("Green", "Unaffiliated")


async def _leads(
    session: AsyncSession, account_id: int, campaign_id: int, name: str, count: int, shared_count: int, seed: int
) -> None:
    """One list, one household per phone (``shared_count`` shared by two people), in upload order."""
    rng = random.Random(seed)
    now = utcnow()
    household_count = count - shared_count
    # Distinct numbers; their last two digits fall evenly over the simulator's outcome table.
    suffixes = rng.sample(range(10_000), household_count)
    lead_list = LeadList(
        account_id=account_id, campaign_id=campaign_id, name=name, enabled=True,
        status=ListStatus.READY, rows_total=count, rows_imported=count,
        households_created=household_count, completed_at=now,
        column_mapping={"First": "first_name", "Middle": "middle_name", "Last": "last_name",
                        "Suffix": "suffix", "Phone": "phone", "Email": "email",
                        "Address": "address", "City": "city", "State": "state", "Zip": "zip_code",
                        **{name: f"custom:{name}" for name in CUSTOM_FIELDS}},
    )
    session.add(lead_list)
    await session.flush()
    household_ids = list(await session.scalars(
        insert(Household).returning(Household.id, sort_by_parameter_order=True),
        [{"account_id": account_id, "campaign_id": campaign_id, "phone": f"+1555555{suffix:04d}",
          "position": position, "created_at": now}
         for position, suffix in enumerate(suffixes, start=1)],
    ))
    shared = set(rng.sample(range(household_count), shared_count))

    rows = []
    for index, household_id in enumerate(household_ids):
        last = rng.choice(_LAST)
        city, state, zip_prefix = rng.choice(_CITIES)
        home = {
            "address": f"{rng.randint(1, 999)} {rng.choice(_STREETS)}",
            "city": city, "state": state, "zip_code": f"{zip_prefix}{rng.randint(0, 99):02d}",
            "country": "US", "custom_fields": {"Ward": f"Ward {rng.randint(1, 9)}"},
        }
        for _ in range(2 if index in shared else 1):
            first = rng.choice(_FIRST)
            rows.append({
                **home,
                "account_id": account_id, "campaign_id": campaign_id, "lead_list_id": lead_list.id,
                "household_id": household_id, "external_id": f"VR{100000 + len(rows)}",
                "first_name": first, "middle_name": rng.choice(_MIDDLE), "last_name": last,
                "suffix": rng.choice(_SUFFIX),
                "email": f"{first}.{last}{rng.randint(1, 99)}@mail.example".lower().replace("'", ""),
                "custom_fields": {**home["custom_fields"], "Party": rng.choice(_PARTIES)},
                "created_at": now,
            })
    await session.execute(insert(Lead), rows)
