"""Callers who phone in and give a PIN, against the simulator: the inbound call as
Asterisk presents it, joining the conference, wrong PINs, hanging up while typing,
how a PIN ends, and two callers at once."""
from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from realtime.telephony import Conference, EndedBy, dial_lead
from realtime.telephony.ari.events import (
    ChannelDestroyed,
    ChannelHangupRequest,
    Event,
    PlaybackContinuing,
    PlaybackStarted,
    StasisEnd,
    StasisStart,
)
from realtime.telephony.dial_in import DialIn, DialInEnd, DialInPrompts, DialInResult, DialInTarget
from realtime.telephony.roles import CAMPAIGN, ROLE, SESSION

WAIT = 5.0
DID = "+15555551000"
PROMPTS = DialInPrompts()
PINS = {"1234": DialInTarget("s1", "camp-7"), "246810": DialInTarget("s2", "camp-7"),
        "5678": DialInTarget("s3", "camp-8", moh_class="jazz")}


class Heard:
    """Every event our application received, and a way to await one that came or will come."""

    def __init__(self, client) -> None:
        self.events: list[Event] = []
        self._wakeups: list[asyncio.Future] = []
        client.on_event(self._on_event)

    def _on_event(self, event: Event) -> None:
        self.events.append(event)
        for wakeup in self._wakeups:
            if not wakeup.done():
                wakeup.set_result(None)
        self._wakeups.clear()

    async def wait(self, predicate: Callable[[Event], bool], count: int = 1) -> Event:
        """The ``count``-th event matching ``predicate``."""
        async def until() -> Event:
            while True:
                matches = [event for event in self.events if predicate(event)]
                if len(matches) >= count:
                    return matches[count - 1]
                wakeup = asyncio.get_running_loop().create_future()
                self._wakeups.append(wakeup)
                await wakeup

        return await asyncio.wait_for(until(), WAIT)

    def sounds(self, channel_id: str) -> list[str]:
        """The sounds the caller heard start, in order."""
        return [event.playback.media_uri for event in self.events
                if isinstance(event, (PlaybackStarted, PlaybackContinuing))
                and event.playback.target == ("channel", channel_id)]

    def of(self, channel_id: str, kind: type[Event]) -> list[Event]:
        return [event for event in self.events if isinstance(event, kind) and channel_id in event.channel_ids]


def playing(channel_id: str, media: str) -> Callable[[Event], bool]:
    return lambda event: (isinstance(event, (PlaybackStarted, PlaybackContinuing))
                          and event.playback.target == ("channel", channel_id) and event.playback.media_uri == media)


class Desk:
    """The dial-in service with a fake PIN store, and each call's result by channel."""

    def __init__(self, telephony, far_end, **options) -> None:
        self.far_end = far_end
        self.app = telephony.app
        self.pins = dict(PINS)
        self.pins_asked: list[str] = []
        self._results: dict[str, asyncio.Future[DialInResult]] = {}
        self.service = DialIn(telephony, self.resolve, self.on_result, **options)
        self.service.start()

    async def resolve(self, pin: str) -> DialInTarget | None:
        self.pins_asked.append(pin)
        return self.pins.get(pin)

    def _future(self, channel_id: str) -> asyncio.Future[DialInResult]:
        return self._results.setdefault(channel_id, asyncio.get_running_loop().create_future())

    def on_result(self, result: DialInResult) -> None:
        self._future(result.channel_id).set_result(result)

    async def result(self, channel_id: str) -> DialInResult:
        return await asyncio.wait_for(asyncio.shield(self._future(channel_id)), WAIT)

    async def call(self, number: str) -> str:
        """A phone calls the DID; the dialplan runs Stasis(app,dial-in). Returns the channel id."""
        channel = await self.far_end.request("POST", "inbound", app=self.app, args="dial-in", to=DID,
                                             **{"from": number})
        return channel["id"]

    async def press(self, channel_id: str, digits: str) -> None:
        await self.far_end.request("POST", f"channels/{channel_id}/dtmf", digits=digits)


@pytest.fixture
def heard(telephony) -> Heard:
    return Heard(telephony.client)


@pytest.fixture
def desk(telephony, far_end, heard) -> Desk:
    return Desk(telephony, far_end, digit_timeout=WAIT)


async def test_an_inbound_call_enters_the_app_as_asterisk_presents_it(telephony, far_end, heard):
    channel = await far_end.request("POST", "inbound", app=telephony.app, args="dial-in", to=DID,
                                    name="Pat", **{"from": "+15555550199"})
    start = await heard.wait(lambda e: isinstance(e, StasisStart) and channel["id"] in e.channel_ids)
    assert start.args == ("dial-in",)
    assert start.channel.state == "Ring"
    assert start.channel.name.startswith("PJSIP/trunk-")
    assert (start.channel.caller.name, start.channel.caller.number) == ("Pat", "+15555550199")
    assert start.channel.protocol_id  # the SIP Call-ID
    plan = start.channel.dialplan
    assert (plan.context, plan.exten, plan.priority, plan.app_name, plan.app_data) == (
        "from-trunk", DID, 1, "Stasis", f"{telephony.app},dial-in")
    await telephony.client.answer(channel["id"])
    assert (await telephony.client.get_channel(channel["id"])).state == "Up"

    await far_end.hang_up(channel["id"])
    await heard.wait(lambda e: isinstance(e, StasisEnd) and channel["id"] in e.channel_ids)
    # Any later event is a barrier: a ChannelDestroyed would have been sent before it.
    other = await far_end.request("POST", "inbound", app=telephony.app, **{"from": "+15555550198"})
    await heard.wait(lambda e: isinstance(e, StasisStart) and other["id"] in e.channel_ids)
    assert [type(e) for e in heard.events if channel["id"] in e.channel_ids][-2:] == [ChannelHangupRequest, StasisEnd]
    assert not heard.of(channel["id"], ChannelDestroyed)  # not subscribed: Asterisk sends none


async def test_the_right_pin_joins_the_callers_conference(telephony, desk, heard, pbx_state, far_end):
    channel_id = await desk.call("+15555550101")
    await heard.wait(playing(channel_id, PROMPTS.pin))
    await desk.press(channel_id, "1234#")
    result = await desk.result(channel_id)

    assert result.outcome is DialInEnd.JOINED
    assert (result.target, result.caller_number, result.attempts) == (PINS["1234"], "+15555550101", 1)
    conference = result.conference
    assert conference.caller.id == channel_id and conference.caller.is_up
    assert await pbx_state.members("conf-s1") == {channel_id}
    assert pbx_state.moh_playing("conf-s1")
    assert (await pbx_state.roles(channel_id))[ROLE] == "caller"
    assert (await telephony.client.get_channel(channel_id)).state == "Up"
    assert heard.sounds(channel_id) == [PROMPTS.pin]
    assert desk.pins_asked == ["1234"]

    await far_end.hang_up(channel_id)
    assert (await conference.wait_caller_gone(WAIT)).by is EndedBy.FAR_END
    await conference.close()


async def test_two_wrong_pins_then_the_right_one(desk, heard, pbx_state):
    channel_id = await desk.call("+15555550102")
    for attempt, digits in enumerate(("9999#", "1111#", "5678#"), start=1):
        await heard.wait(playing(channel_id, PROMPTS.pin), count=attempt)
        await desk.press(channel_id, digits)
    result = await desk.result(channel_id)

    assert (result.outcome, result.attempts, result.target) == (DialInEnd.JOINED, 3, PINS["5678"])
    assert heard.sounds(channel_id) == [PROMPTS.pin, PROMPTS.invalid, PROMPTS.pin, PROMPTS.invalid, PROMPTS.pin]
    assert await pbx_state.members("conf-s3") == {channel_id}
    assert (await pbx_state.roles(channel_id))[SESSION] == "s3"
    await result.conference.close()


async def test_three_wrong_pins_hear_goodbye_and_are_hung_up(telephony, desk, heard, pbx_state):
    channel_id = await desk.call("+15555550103")
    for attempt in range(1, 4):
        await heard.wait(playing(channel_id, PROMPTS.pin), count=attempt)
        await desk.press(channel_id, f"{attempt}{attempt}{attempt}#")
    result = await desk.result(channel_id)

    assert (result.outcome, result.attempts, result.conference) == (DialInEnd.REFUSED, 3, None)
    assert desk.pins_asked == ["111", "222", "333"]
    assert heard.sounds(channel_id)[-2:] == [PROMPTS.invalid, PROMPTS.goodbye]
    hangup = await heard.wait(lambda e: isinstance(e, ChannelHangupRequest) and channel_id in e.channel_ids)
    assert hangup.soft  # we hung up, after the goodbye had played
    assert heard.events.index(hangup) > heard.events.index(await heard.wait(playing(channel_id, PROMPTS.goodbye)))
    assert await pbx_state.channels() == {} and await pbx_state.bridges() == {}


async def test_a_caller_hanging_up_while_typing_leaves_nothing_behind(desk, heard, far_end, pbx_state):
    channel_id = await desk.call("+15555550104")
    await heard.wait(playing(channel_id, PROMPTS.pin))
    await desk.press(channel_id, "12")
    await heard.wait(lambda e: e.type == "ChannelDtmfReceived" and channel_id in e.channel_ids, count=2)
    await far_end.hang_up(channel_id)
    result = await desk.result(channel_id)

    assert (result.outcome, result.attempts) == (DialInEnd.HUNG_UP, 1)
    assert desk.pins_asked == []
    assert await pbx_state.channels() == {} and await pbx_state.bridges() == {}


async def test_a_conference_gone_before_the_caller_joins_fails_the_call_cleanly(telephony, desk, heard, pbx_state):
    # Open as far as the caller flow knows, but its bridge is already gone from Asterisk.
    desk.pins["999"] = DialInTarget("s9", "camp-7", conference=Conference(telephony, "s9", "camp-7"))
    channel_id = await desk.call("+15555550105")
    await heard.wait(playing(channel_id, PROMPTS.pin))
    await desk.press(channel_id, "999#")
    result = await desk.result(channel_id)

    assert (result.outcome, result.attempts, result.conference) == (DialInEnd.FAILED, 1, None)
    hangup = await heard.wait(lambda e: isinstance(e, ChannelHangupRequest) and channel_id in e.channel_ids)
    assert hangup.soft  # we hung up: nobody would ever have served the caller
    assert await pbx_state.channels() == {}


async def test_six_digits_submit_the_pin_and_a_following_hash_is_no_new_attempt(desk, heard, pbx_state):
    channel_id = await desk.call("+15555550105")
    await heard.wait(playing(channel_id, PROMPTS.pin))
    await desk.press(channel_id, "111111#")  # six digits submit; the habitual '#' is not an empty PIN
    await heard.wait(playing(channel_id, PROMPTS.pin), count=2)
    await desk.press(channel_id, "246810")
    result = await desk.result(channel_id)

    assert (result.outcome, result.attempts) == (DialInEnd.JOINED, 2)
    assert desk.pins_asked == ["111111", "246810"]
    assert await pbx_state.members("conf-s2") == {channel_id}
    await result.conference.close()


async def test_a_pause_after_the_last_digit_submits_the_pin(telephony, far_end, heard, pbx_state):
    # At 50x, digits come 7 ms apart; a pause of 1 s ends the PIN (ample even on a busy machine).
    desk = Desk(telephony, far_end, digit_timeout=1.0)
    channel_id = await desk.call("+15555550106")
    await heard.wait(playing(channel_id, PROMPTS.pin))
    await desk.press(channel_id, "1234")
    result = await desk.result(channel_id)

    assert (result.outcome, result.attempts) == (DialInEnd.JOINED, 1)
    assert desk.pins_asked == ["1234"]
    await result.conference.close()


async def test_a_caller_who_never_types_is_asked_three_times_then_hung_up(telephony, far_end, heard, pbx_state):
    desk = Desk(telephony, far_end, digit_timeout=0.2)
    channel_id = await desk.call("+15555550109")
    result = await desk.result(channel_id)

    assert (result.outcome, result.attempts) == (DialInEnd.REFUSED, 3)
    assert desk.pins_asked == []  # nothing typed is nothing to look up
    assert heard.sounds(channel_id).count(PROMPTS.pin) == 3
    assert await pbx_state.channels() == {}


async def test_an_engine_shutting_down_hangs_up_callers_still_typing(telephony, desk, heard, far_end):
    channel_id = await desk.call("+15555550110")
    await heard.wait(playing(channel_id, PROMPTS.pin))
    await telephony.close()  # nobody could ever take this call back: it must not hang in silence
    record = next(c for c in (await far_end.journal())["channels"] if c["id"] == channel_id)
    assert record["destroyed_at"] is not None


async def test_a_caller_whose_phone_dropped_calls_back_into_the_same_conference(telephony, desk, heard,
                                                                                pbx_state, far_end):
    first = await desk.call("+15555550111")
    await heard.wait(playing(first, PROMPTS.pin))
    await desk.press(first, "1234#")
    conference = (await desk.result(first)).conference
    lead = await dial_lead(telephony, call_id="c1", campaign_id="camp-7", number="+15555550101")
    await lead.answered
    await lead.connect_to(conference)
    await far_end.hang_up(first)
    await conference.wait_caller_gone(WAIT)

    desk.pins["1234"] = DialInTarget("s1", "camp-7", conference=conference)  # the session is still open
    again = await desk.call("+15555550111")
    await heard.wait(playing(again, PROMPTS.pin))
    await desk.press(again, "1234#")
    result = await desk.result(again)

    assert result.outcome is DialInEnd.JOINED and result.conference is conference
    assert conference.caller.id == again and conference.caller.is_up
    assert await pbx_state.members("conf-s1") == {lead.id, again}  # the lead waited on the line
    assert (await pbx_state.roles(again))[ROLE] == "caller"
    await conference.close()


async def test_two_callers_dialling_in_at_once_join_their_own_conferences(desk, heard, pbx_state):
    first, second = await asyncio.gather(desk.call("+15555550107"), desk.call("+15555550108"))
    await asyncio.gather(heard.wait(playing(first, PROMPTS.pin)), heard.wait(playing(second, PROMPTS.pin)))
    await asyncio.gather(desk.press(first, "246810"), desk.press(second, "1234#"))
    one, two = await asyncio.gather(desk.result(first), desk.result(second))

    assert (one.outcome, one.target.session_id, two.outcome, two.target.session_id) == (
        DialInEnd.JOINED, "s2", DialInEnd.JOINED, "s1")
    assert await pbx_state.members("conf-s2") == {first}
    assert await pbx_state.members("conf-s1") == {second}
    assert (await pbx_state.roles(first))[CAMPAIGN] == "camp-7"
    await asyncio.gather(one.conference.close(), two.conference.close())


async def test_a_target_that_takes_the_call_gets_the_answered_channel_instead_of_a_conference(
        telephony, desk, heard, pbx_state):
    taken: list[str] = []

    async def take(channel_id: str) -> None:
        taken.append(channel_id)

    desk.pins["765432"] = DialInTarget(session_id="", campaign_id="", take=take)
    channel_id = await desk.call("+15555550107")
    await heard.wait(playing(channel_id, PROMPTS.pin))
    await desk.press(channel_id, "765432")
    result = await desk.result(channel_id)
    assert (result.outcome, result.conference, taken) == (DialInEnd.JOINED, None, [channel_id])
    assert (await telephony.client.get_channel(channel_id)).state == "Up"  # answered, left to its new owner
    assert not [b for b in (await pbx_state.bridges()).values() if channel_id in b.channels]
    await telephony.client.hangup(channel_id)
