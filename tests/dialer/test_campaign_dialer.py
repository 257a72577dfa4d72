"""Each mode dialling real lines through the PBX simulator over ARI, with the tests deciding
which callers are free. Far ends by the number's last two digits: 00-39 a person who
stays, 60-69 an answering machine, 70-79 busy, 80-89 no answer, 90-94 congestion."""
from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import func, select, update

from realtime.dialer.abandonment import abandonment
from realtime.dialer.campaign_dialer import CampaignDialer, LiveCall
from realtime.dialer.pacing import LineOutcome
from realtime.dialer.queue import DialQueue, DialRefused
from realtime.store.models import (
    CallAttempt,
    CallStatus,
    Campaign,
    DialerMode,
    Household,
    HouseholdStatus,
    Lead,
    LeadStatus,
    Recording,
)
from realtime.telephony import Conference, EndedBy, dial_lead

from .conftest import caller_sessions

WAIT = 20.0


class Callers:
    """Plays the caller flow: one conference per caller session, and the test decides
    who may take a call."""

    def __init__(self, telephony, campaign_id: int) -> None:
        self.telephony = telephony
        self.campaign_id = campaign_id
        self.conferences: dict[int, Conference] = {}
        self.offered: list[int] = []  # sessions offered a call, in order
        self.connected: asyncio.Queue[tuple[int, LiveCall]] = asyncio.Queue()
        self.unavailable: set[int] = set()
        self.windows: asyncio.Queue[tuple] = asyncio.Queue()
        self.emptied = 0  # times the dialer said nothing is left to dial

    async def join(self, *sessions: int) -> None:
        for session_id in sessions:
            self.conferences[session_id] = await Conference.open(
                self.telephony, str(session_id), str(self.campaign_id), f"PJSIP/agent{session_id}")

    async def connect(self, session_id: int, call: LiveCall) -> bool:
        self.offered.append(session_id)
        if session_id in self.unavailable:
            return False
        await call.leg.connect_to(self.conferences[session_id])
        self.connected.put_nowait((session_id, call))
        return True

    async def calling_window(self, campaign_id, closes_at, opens_at) -> None:
        self.windows.put_nowait((closes_at, opens_at))

    async def out_of_leads(self, campaign_id) -> None:
        self.emptied += 1

    async def close(self) -> None:
        for conference in self.conferences.values():
            await conference.close()


@pytest.fixture
async def setup(floor, telephony):
    """Builds a campaign, its callers' conferences and its dialer; stops them afterwards."""
    made = []

    async def build(phones: list[str], *, callers: int = 1, **campaign):
        campaign.setdefault("ring_timeout_seconds", 20)
        c = await floor.campaign(**campaign)
        await floor.households(c, phones)
        sessions = await caller_sessions(floor, c, callers)
        port = Callers(telephony, c.id)
        await port.join(*sessions)
        dialer = CampaignDialer(c.id, queue=DialQueue(floor.store), telephony=telephony, port=port,
                                engine_id="engine-test", tick_seconds=0.05)
        outcomes: asyncio.Queue[LiveCall] = asyncio.Queue()
        dialer.on_outcome(outcomes.put_nowait)
        made.append((dialer, port))
        return c, sessions, port, dialer, outcomes

    yield build
    for dialer, port in made:
        await dialer.stop()
        await port.close()


async def next_outcome(outcomes: asyncio.Queue) -> LiveCall:
    return await asyncio.wait_for(outcomes.get(), WAIT)


async def households(floor, campaign_id: int) -> dict[str, HouseholdStatus]:
    async with floor.store.sessions() as session:
        rows = await session.execute(
            select(Household.phone, Household.status).where(Household.campaign_id == campaign_id))
        return dict(rows.all())


async def attempts(floor, campaign_id: int) -> list[CallAttempt]:
    async with floor.store.sessions() as session:
        return list(await session.scalars(
            select(CallAttempt).where(CallAttempt.campaign_id == campaign_id).order_by(CallAttempt.id)))


def lead_channels(journal: dict) -> list[dict]:
    return [c for c in journal["channels"] if c["id"].startswith("lead-")]


async def test_power_dials_one_line_per_free_caller_and_recycles_what_failed(floor, setup, simulator):
    busy, no_answer, congestion, person = "+12025550175", "+12025550185", "+12025550192", "+12025550100"
    campaign, [caller], port, dialer, outcomes = await setup(
        [busy, no_answer, congestion, person], dialer_mode=DialerMode.POWER)
    await dialer.start()
    dialer.caller_free(caller)

    session_id, call = await asyncio.wait_for(port.connected.get(), WAIT)
    assert (session_id, call.household.phone) == (caller, person)
    assert [c.household.phone for c in [await next_outcome(outcomes) for _ in range(3)]] == [
        busy, no_answer, congestion]
    # The caller hangs up on the person, saves the results, and the household is done.
    await call.leg.hangup()
    assert (await next_outcome(outcomes)).outcome is CallStatus.COMPLETED
    assert await dialer.wrap_up(call.call_id) is HouseholdStatus.COMPLETED

    assert await households(floor, campaign.id) == {
        busy: HouseholdStatus.RETRY, no_answer: HouseholdStatus.RETRY,
        congestion: HouseholdStatus.FAILED, person: HouseholdStatus.COMPLETED,
    }
    rows = await attempts(floor, campaign.id)
    assert [r.status for r in rows] == [CallStatus.BUSY, CallStatus.NO_ANSWER, CallStatus.FAILED, CallStatus.COMPLETED]
    assert rows[-1].caller_session_id == caller and rows[-1].connected_at >= rows[-1].answered_at
    # One free caller, one line at a time: no two lead channels were ever up together.
    lines = sorted(lead_channels(await simulator.journal()), key=lambda c: c["created_at"])
    assert len(lines) == 4
    assert all(a["destroyed_at"] <= b["created_at"] for a, b in zip(lines, lines[1:]))


async def test_stopping_for_a_hand_over_leaves_the_conversations_leg_to_those_who_follow_it(floor, setup, telephony):
    person = "+12025550144"
    campaign, [caller], port, dialer, outcomes = await setup([person], dialer_mode=DialerMode.PREVIEW)
    await dialer.start()
    # A conversation taken over from the engine before (as after a restart)...
    queue, before = DialQueue(floor.store), "engine-before:campaign"
    [household] = await queue.reserve(campaign.id, holder=before, count=1)
    attempt_id = await queue.start_call(household.id, holder=before, dialer_mode="preview", channel_id="lead-44")
    lead = await dial_lead(telephony, call_id="44", campaign_id=str(campaign.id), number=person)
    await lead.answered
    await lead.connect_to(port.conferences[caller])
    dialer.adopt_call(call_id="44", attempt_id=attempt_id, household=household, leg=lead, session_id=caller)
    # ...handed over again: the leg's end is not the dialer's to cancel, the recording and the
    # session follow it too.
    await dialer.stop(keep_connected=True)
    assert not lead.ended.done()
    await lead.hangup()
    assert (await lead.wait_ended(WAIT)).by is EndedBy.US


async def test_predictive_dials_ahead_and_abandons_legally_when_nobody_is_free(floor, setup, simulator):
    people = [f"+120255500{n:02d}" for n in range(8)]
    unanswered = [f"+1202555{n:02d}8{n % 10}" for n in range(40)]
    campaign, callers, port, dialer, outcomes = await setup(
        people + unanswered, callers=5, dialer_mode=DialerMode.PREDICTIVE, name="Vote Early")
    await dialer.start()
    # Its history: one line in ten needed a caller, within about 10 seconds.
    now = dialer.clock()
    for n in range(300):
        human = n % 10 == 0
        dialer.pacer.observe_line(LineOutcome.HUMAN if human else LineOutcome.UNANSWERED, now - 500, now - 490)
    for session_id in callers:
        dialer.caller_free(session_id)

    connected = [await asyncio.wait_for(port.connected.get(), WAIT) for _ in callers]
    abandoned = []
    while len(abandoned) < 3:
        call = await next_outcome(outcomes)
        assert call.outcome in (CallStatus.ABANDONED, CallStatus.NO_ANSWER)
        if call.outcome is CallStatus.ABANDONED:
            abandoned.append(call)
    assert {s for s, _ in connected} == set(callers)
    assert port.offered[:5] == callers  # longest-waiting caller first
    assert {c.household.phone for _, c in connected} | {c.household.phone for c in abandoned} == set(people)

    journal = await simulator.journal()
    lines = lead_channels(journal)
    # Dialled ahead: more lines than free callers on the first tick.
    assert dialer.pacer.decisions[0].lines_to_dial > len(callers) and len(lines) >= len(people)
    # The safe-harbor message started within 2 s of the person answering (our latency is
    # real time: the simulator compresses only the far end's timings).
    answered = {c["id"]: c["answered_at"] for c in lines}
    for call in abandoned:
        [playback] = [p for p in journal["playbacks"] if p["target_uri"] == f"channel:{call.leg.id}"]
        assert playback["started_at"] - answered[call.leg.id] <= 2.0
        assert "characters:Vote Early" in playback["media"]
    rows = {r.id: r for r in await attempts(floor, campaign.id)}
    for call in abandoned:
        row = rows[call.attempt_id]
        assert row.status is CallStatus.ABANDONED
        assert (row.safe_harbor_at - row.answered_at).total_seconds() <= 2.0
    report = await abandonment(floor.store, campaign.id)
    assert (report.last_30_days.abandoned, report.last_24_hours.abandoned) == (3, 3)
    # Every pacing decision is kept with its inputs, for the supervisor dashboard.
    decisions = dialer.status()["decisions"]
    assert decisions and all({"waiting_callers", "lines_in_flight", "target", "human_rate"} <= d["inputs"].keys()
                             for d in decisions)


async def test_a_caller_who_cannot_take_the_call_means_the_next_one_or_an_abandon(floor, setup, simulator):
    campaign, [first, second], port, dialer, outcomes = await setup(
        ["+12025550101", "+12025550102"], callers=2, dialer_mode=DialerMode.POWER)
    async with floor.store.transaction() as session:
        recording = Recording(account_id=floor.account_id, name="sorry", content_type="audio/wav",
                              media_uri="sound:custom/safe-harbor-42")
        session.add(recording)
        await session.flush()
        await session.execute(update(Campaign).where(Campaign.id == campaign.id)
                              .values(safe_harbor_recording_id=recording.id))
    port.unavailable = {first}
    await dialer.start()
    dialer.caller_free(first)
    dialer.caller_free(second)
    session_id, _ = await asyncio.wait_for(port.connected.get(), WAIT)
    assert session_id == second and port.offered[:2] == [first, second]
    # The other line: the first caller still cannot take it and nobody else is free.
    call = await next_outcome(outcomes)
    assert call.outcome is CallStatus.ABANDONED
    playbacks = [p for p in (await simulator.journal())["playbacks"] if p["target_uri"] == f"channel:{call.leg.id}"]
    assert playbacks[0]["media"] == ["sound:custom/safe-harbor-42"]


async def test_amd_machine_gets_one_voicemail_per_household(floor, setup, simulator):
    machine = "+12025550165"
    async with floor.store.transaction() as session:
        recording = Recording(account_id=floor.account_id, name="vm", content_type="audio/wav",
                              media_uri="sound:custom/vm-7")
        session.add(recording)
    campaign, [caller], port, dialer, outcomes = await setup(
        [machine], dialer_mode=DialerMode.POWER, use_amd=True, leave_voicemail=True,
        voicemail_recording_id=recording.id, call_back_after_voicemail=True, recycle_interval_seconds=0)
    await dialer.start()
    dialer.caller_free(caller)
    first, second = await next_outcome(outcomes), await next_outcome(outcomes)
    await dialer.stop()
    assert (first.outcome, second.outcome) == (CallStatus.VOICEMAIL_LEFT, CallStatus.MACHINE)
    playbacks = [p for p in (await simulator.journal())["playbacks"] if p["media"] == ["sound:custom/vm-7"]]
    assert len(playbacks) == 1 and playbacks[0]["target_uri"] == f"channel:{first.leg.id}"
    rows = await attempts(floor, campaign.id)
    assert [r.amd_result for r in rows[:2]] == ["MACHINE", "MACHINE"]
    assert port.offered == []  # machines never reach a caller


async def test_preview_shows_skips_and_dials_for_its_caller(floor, setup):
    first, second, third = "+12025550111", "+12025550112", "+12025550113"
    campaign, [caller], port, dialer, outcomes = await setup(
        [first, second, third], dialer_mode=DialerMode.PREVIEW)
    await dialer.start()
    dialer.caller_free(caller)
    shown = await dialer.preview(caller)
    assert shown.phone == first and await dialer.preview(caller) == shown
    await dialer.skip_preview(caller)
    assert (await dialer.preview(caller)).phone == second

    call = await dialer.dial_preview(caller)
    session_id, connected = await asyncio.wait_for(port.connected.get(), WAIT)
    assert (session_id, connected) == (caller, call)
    await call.leg.hangup()
    await next_outcome(outcomes)
    assert await dialer.wrap_up(call.call_id, retry=True) is HouseholdStatus.RETRY

    # Blocked while on the caller's screen: never dialled.
    assert (await dialer.preview(caller)).phone == third
    async with floor.store.transaction() as session:
        await session.execute(update(Household).where(Household.campaign_id == campaign.id, Household.phone == third)
                              .values(blocked_account=True))
    with pytest.raises(DialRefused) as refused:
        await dialer.dial_preview(caller)
    assert refused.value.error_id == "number-blocked"
    assert await households(floor, campaign.id) == {
        first: HouseholdStatus.RETRY, second: HouseholdStatus.RETRY, third: HouseholdStatus.NOT_CALLED}


async def test_outside_calling_hours_nothing_is_dialled_and_callers_are_told(floor, setup, simulator):
    now = dt.datetime.now(dt.timezone.utc)
    opens = (now + dt.timedelta(hours=2)).replace(second=0, microsecond=0)
    campaign, [caller], port, dialer, outcomes = await setup(
        ["+12025550100"], dialer_mode=DialerMode.POWER, time_zone="UTC",
        calling_hours_start=opens.time(), calling_hours_end=(opens + dt.timedelta(hours=1)).time())
    dialer.caller_free(caller)
    assert await dialer.tick() == 0
    closes_at, opens_at = await asyncio.wait_for(port.windows.get(), WAIT)
    assert (closes_at, opens_at) == (None, opens)
    assert lead_channels(await simulator.journal()) == []


async def test_a_vanished_caller_gives_back_what_it_held(floor, setup):
    shown, person = "+12025550121", "+12025550122"
    campaign, [first, second], port, dialer, outcomes = await setup(
        [shown, person], callers=2, dialer_mode=DialerMode.PREVIEW)
    await dialer.start()
    assert (await dialer.preview(first)).phone == shown
    assert (await dialer.preview(second)).phone == person
    call = await dialer.dial_preview(second)
    await asyncio.wait_for(port.connected.get(), WAIT)
    await call.leg.hangup()
    await next_outcome(outcomes)
    # Both leave without a word: the preview returns to the queue at once, and the
    # conversation without results keeps its lead open.
    await dialer.caller_gone(first)
    await dialer.caller_gone(second)
    assert await households(floor, campaign.id) == {shown: HouseholdStatus.NOT_CALLED, person: HouseholdStatus.RETRY}
    assert dialer.calls == {}


async def test_busy_callers_get_no_lines_until_they_are_free(floor, setup, simulator):
    first_person, second_person = "+12025550131", "+12025550132"
    campaign, [a, b], port, dialer, outcomes = await setup(
        [first_person, second_person], callers=2, dialer_mode=DialerMode.POWER)
    dialer.caller_free(a)
    dialer.caller_free(b)
    dialer.caller_busy(b)  # b took a break before the dialer started
    await dialer.start()
    session_id, call = await asyncio.wait_for(port.connected.get(), WAIT)
    assert (session_id, call.household.phone) == (a, first_person)
    assert len(lead_channels(await simulator.journal())) == 1  # nothing was dialled for b
    dialer.caller_free(b)
    session_id, call = await asyncio.wait_for(port.connected.get(), WAIT)
    assert (session_id, call.household.phone) == (b, second_person)
    assert dialer.waiting_callers == []


async def test_calls_left_by_an_engine_that_died_return_their_households(floor, setup, telephony):
    rang, talked, still_up = "+12025550141", "+12025550142", "+12025550143"
    campaign, [caller], port, dialer, outcomes = await setup(
        [rang, talked, still_up], dialer_mode=DialerMode.PREVIEW)
    # The dead engine had dialled three lines five minutes ago; one person is still on the line.
    queue, dead = DialQueue(floor.store), "engine-dead:campaign"
    then = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    reserved = {h.phone: h for h in await queue.reserve(campaign.id, holder=dead, count=3, now=then)}
    attempt = {phone: await queue.start_call(reserved[phone].id, holder=dead, dialer_mode="power",
                                             channel_id=f"lead-{phone[-2:]}", now=then)
               for phone in (rang, talked, still_up)}
    await queue.update_call(attempt[talked], status=CallStatus.CONNECTED, answered_at=then, connected_at=then,
                            caller_session_id=caller)
    alive = await dial_lead(telephony, call_id=still_up[-2:], campaign_id=str(campaign.id), number=still_up)
    await alive.answered

    await dialer.start()
    assert await households(floor, campaign.id) == {
        rang: HouseholdStatus.RETRY, talked: HouseholdStatus.RETRY, still_up: HouseholdStatus.DIALING}
    rows = {row.id: row for row in await attempts(floor, campaign.id)}
    assert rows[attempt[rang]].status is CallStatus.NO_ANSWER and rows[attempt[rang]].ended_at is not None
    # Results for the conversation were never saved: its lead stays open, nothing is assumed.
    assert rows[attempt[talked]].status is CallStatus.COMPLETED
    assert rows[attempt[still_up]].status is CallStatus.DIALING

    # Once the last person hangs up, the next engine to take the campaign settles it too.
    await alive.hangup()
    await alive.ended
    await dialer.stop()
    successor = CampaignDialer(campaign.id, queue=queue, telephony=telephony, port=port, engine_id="engine-next")
    await successor.start()
    await successor.stop()
    assert (await households(floor, campaign.id))[still_up] is HouseholdStatus.RETRY
    async with floor.store.sessions() as session:
        open_leads = await session.scalar(
            select(func.count()).select_from(Lead).join(Household, Household.id == Lead.household_id)
            .where(Household.campaign_id == campaign.id, Household.phone == talked, Lead.status == LeadStatus.OPEN))
    assert open_leads == 1


async def test_the_trunk_capacity_caps_the_lines_and_the_dashboard_says_it_binds(floor, setup, simulator):
    unanswered = [f"+1202555{n:02d}8{n % 10}" for n in range(12)]  # each rings to the timeout
    campaign, callers, port, dialer, outcomes = await setup(
        unanswered, callers=4, dialer_mode=DialerMode.PREDICTIVE)
    dialer.trunk_lines = 2  # the operator's REALTIME_TRUNK_LINES
    await dialer.start()
    now = dialer.clock()
    for n in range(300):  # its history: one line in ten needed a caller
        dialer.pacer.observe_line(LineOutcome.HUMAN if n % 10 == 0 else LineOutcome.UNANSWERED, now - 500, now - 490)
    for session_id in callers:
        dialer.caller_free(session_id)
    for _ in range(6):
        assert (await next_outcome(outcomes)).outcome is CallStatus.NO_ANSWER

    lines = sorted(lead_channels(await simulator.journal()), key=lambda c: c["created_at"])
    assert len(lines) >= 6
    for line in lines:  # never more than two lead channels up at once
        up = [c for c in lines if c["created_at"] <= line["created_at"] < (c["destroyed_at"] or float("inf"))]
        assert len(up) <= 2
    status = dialer.status()
    assert status["line_caps"] == {"campaign": campaign.max_lines, "trunk": 2}
    binding = [d for d in status["decisions"] if d["cap_binding"] == "trunk"]
    assert binding and all("2 lines (trunk)" in d["reason"] or "line cap 2 (trunk) binds" in d["reason"]
                           for d in binding)
    assert status["cap_binding"] == status["decisions"][-1]["cap_binding"]
