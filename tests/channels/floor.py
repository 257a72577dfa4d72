"""A calling floor for the live tests: an account with a script, campaigns in each dialer
mode, callers who can sign in, and households whose numbers pick the simulator's far end
(by their last two digits: 00-39 a person who stays, 40-59 one who hangs up after 5 s,
60-69 a machine, 70-79 busy, 80-89 no answer, 90-94 congestion)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import itertools

from realtime.store.accounts import create_account
from realtime.store.database import Store
from realtime.store.models import (
    Caller,
    User,
    UserRole,
    Campaign,
    DialerMode,
    Household,
    Lead,
    Note,
    PossibleResponse,
    Question,
    Recording,
    Script,
    ScriptText,
    Transfer,
    TransferType,
)
from realtime.store.passwords import hash_password

PASSWORD = "correct horse battery"
_HASH = hash_password(PASSWORD)
_numbers = itertools.count(100)

PERSON = "00"        # answers, stays until hung up
SHORT_TALK = "45"    # answers, hangs up after 5 (simulated) seconds
MACHINE = "61"
BUSY = "71"
NO_ANSWER = "81"
CONGESTION = "91"


def phone(outcome: str) -> str:
    """A fresh number (never in a call already) with the given far end."""
    return f"+1202555{next(_numbers) % 100:02d}{outcome}"


def open_hours() -> tuple[dt.time, dt.time]:
    """A window open now and for the next hours, whatever time the tests run."""
    now = dt.datetime.now(dt.timezone.utc)
    return (now - dt.timedelta(hours=2)).time().replace(second=0, microsecond=0), \
        (now + dt.timedelta(hours=3)).time().replace(second=0, microsecond=0)


@dataclasses.dataclass
class ScriptIds:
    id: int
    questions: list[int]
    responses: dict[int, list[int]]  # question -> responses in order
    retry_response: int
    notes: list[int]
    warm_transfer: int
    cold_transfer: int


@dataclasses.dataclass
class FloorData:
    account_id: int
    api_key: str
    api_auth: str
    script: ScriptIds
    campaigns: dict[str, int] = dataclasses.field(default_factory=dict)


async def seed_account(store: Store, name: str = "Live floor") -> FloorData:
    async with store.transaction() as session:
        created = await create_account(session, name, admin_email=f"admin-{next(_numbers)}@floor.example")
        account_id = created.account.id
        script = Script(account_id=account_id, name="Survey")
        script.texts = [ScriptText(content="Hello, **this** is the campaign.", position=0)]
        q1 = Question(text="Will you vote?", position=0, responses=[
            PossibleResponse(value="Yes", keypad="1", position=0),
            PossibleResponse(value="No", keypad="2", position=1),
            PossibleResponse(value="Call back later", keypad="3", position=2, retry=True),
        ])
        q2 = Question(text="Need a ride?", position=1, responses=[
            PossibleResponse(value="Yes", keypad="1", position=0),
            PossibleResponse(value="No", keypad="2", position=1),
        ])
        script.questions = [q1, q2]
        script.notes = [Note(text="Anything else?", position=0)]
        warm = Transfer(label="Field office", phone="+12025550120", transfer_type=TransferType.WARM)
        cold = Transfer(label="Hotline", phone="+12025550121", transfer_type=TransferType.COLD)
        script.transfers = [warm, cold]
        session.add(script)
        await session.flush()
        ids = ScriptIds(script.id, [q1.id, q2.id], {q1.id: [r.id for r in q1.responses],
                                                    q2.id: [r.id for r in q2.responses]},
                        q1.responses[2].id, [script.notes[0].id], warm.id, cold.id)
        return FloorData(account_id, created.account.api_key, created.api_auth, ids)


async def add_campaign(store: Store, floor: FloorData, mode: DialerMode, phones: list[str], *, name: str = "",
                       **settings) -> int:
    start, end = open_hours()
    async with store.transaction() as session:
        values = dict(account_id=floor.account_id, name=name or f"{mode.value} campaign", dialer_mode=mode,
                      script_id=floor.script.id, caller_id="+12025550100", calling_hours_start=start,
                      calling_hours_end=end, time_zone="UTC", ring_timeout_seconds=5)
        values.update(settings)
        campaign = Campaign(**values)
        session.add(campaign)
        await session.flush()
        await _households(session, floor.account_id, campaign.id, phones)
        floor.campaigns[name or mode.value] = campaign.id
        return campaign.id


async def add_households(store: Store, floor: FloorData, campaign_id: int, phones: list[str]) -> None:
    async with store.transaction() as session:
        await _households(session, floor.account_id, campaign_id, phones)


async def _households(session, account_id: int, campaign_id: int, phones: list[str]) -> None:
    for position, number in enumerate(phones):
        household = Household(account_id=account_id, campaign_id=campaign_id, phone=number,
                              position=next(_numbers) * 1000 + position)
        session.add(household)
        await session.flush()
        session.add(Lead(account_id=account_id, household_id=household.id, campaign_id=campaign_id,
                         first_name=f"Lead{position}", last_name="Voter", custom_fields={"Ward": "7"}))


async def add_recording(store: Store, floor: FloorData, name: str = "voicemail") -> int:
    async with store.transaction() as session:
        recording = Recording(account_id=floor.account_id, name=name, content_type="audio/wav",
                              media_uri=f"sound:{name}")
        session.add(recording)
        await session.flush()
        return recording.id


async def add_caller(store: Store, floor: FloorData, campaign_id: int, *, phones_only: bool = False,
                     endpoint: str | None = None, pin: str | None = None) -> tuple[int, str]:
    """A caller of the campaign: (id, username); they sign in with :data:`PASSWORD`."""
    number = next(_numbers)
    username = f"caller{number}"
    async with store.transaction() as session:
        caller = Caller(account_id=floor.account_id, username=username, name=f"Caller {number}",
                        password_hash=None if phones_only else _HASH, phones_only=phones_only,
                        pin=pin or f"{number:06d}", phone_endpoint=endpoint or f"PJSIP/agent{number}",
                        campaign_id=campaign_id)
        session.add(caller)
        await session.flush()
        return caller.id, username


async def add_user(store: Store, floor: FloorData, role: UserRole = UserRole.SUPERVISOR, *,
                   endpoint: str | None = "default") -> tuple[int, str]:
    """An admin or supervisor of the account: (id, email); they sign in with :data:`PASSWORD`.
    ``endpoint`` None: no phone to be called at (they dial in)."""
    number = next(_numbers)
    email = f"{role.value}{number}@floor.example"
    async with store.transaction() as session:
        user = User(account_id=floor.account_id, email=email, name=f"{role.value.title()} {number}",
                    password_hash=_HASH, role=role,
                    phone_endpoint=f"PJSIP/supervisor{number}" if endpoint == "default" else endpoint)
        session.add(user)
        await session.flush()
        return user.id, email
