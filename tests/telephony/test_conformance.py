"""Conformance: our ARI client against the simulator replays the scenarios recorded from a
real Asterisk 22.10.1 (``tests/telephony/data/ari-observed``) and must see the same event sequences.

Each scenario is driven through :class:`AriClient` (and, for transfers and music on hold,
through the call-control layer above it); every event the client delivers is recorded
and reduced to a *step* (type plus the decisive value: channel state, dialstatus, cause,
Stasis args, the Stasis/AMD variables), ids are normalised by role, and each channel's
steps are compared with the channel of the recorded scenario that plays the same part.
The recording is split into scenarios with the ``=== name`` headers of
``probe-transcript.txt`` (its event lines are the JSONL events, in the same order).

Normalisation, and why:
* ``ChannelVarset`` other than STASISSTATUS/AMDSTATUS/AMDCAUSE is dropped: BRIDGEPEER,
  RTPAUDIOQOS* and PLAYBACKSTATUS are media details nothing of ours reads;
* ``ChannelDialplan NoOp`` is dropped: a comment line of the probe's own AMD context;
* ``ChannelStateChange Ringing`` and ``Dial RINGING`` come from two Asterisk threads and
  were recorded in both orders (SIP answer vs SIP no-answer), so a pair is compared
  unordered.
"""
from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from realtime.health import Status
from realtime.telephony import Conference, Supervision, dial_lead
from realtime.telephony.ari import AriClient, EndpointUnreachable
from realtime.telephony.ari.events import (
    ChannelDestroyed,
    ChannelDialplan,
    ChannelHangupRequest,
    ChannelStateChange,
    ChannelVarset,
    Dial,
    Event,
    PlaybackEvent,
    StasisStart,
    decode_event,
)
from realtime.telephony.transfer import Transfer
from tests.conftest import ARI_OBSERVED

WAIT = 5.0
KEPT_VARIABLES = {"STASISSTATUS", "AMDSTATUS", "AMDCAUSE"}
_EVENT_LINE = re.compile(r"^\s+\d+\s+(\w+)\s")


# -- reducing events to comparable steps -------------------------------------------------
def subject(event: Event) -> str | None:
    """The channel (or, for bridge-only events, the bridge) an event is about."""
    if isinstance(event, PlaybackEvent):
        return event.playback.target[1]
    ids = event.channel_ids or event.bridge_ids
    return ids[0] if ids else None


def step(event: Event) -> str | None:
    """What must match the recording; ``None`` for events normalised away."""
    if isinstance(event, Dial):
        return f"Dial {event.dialstatus!r}"
    if isinstance(event, ChannelStateChange):
        return f"ChannelStateChange {event.channel.state}"
    if isinstance(event, ChannelVarset):
        return f"ChannelVarset {event.variable}={event.value!r}" if event.variable in KEPT_VARIABLES else None
    if isinstance(event, ChannelDialplan):
        return None if event.dialplan_app == "NoOp" else f"ChannelDialplan {event.dialplan_app}"
    if isinstance(event, ChannelHangupRequest):
        return f"ChannelHangupRequest {event.cause}{' soft' if event.soft else ''}"
    if isinstance(event, ChannelDestroyed):
        return f"ChannelDestroyed {event.cause}"
    if isinstance(event, StasisStart):
        return f"StasisStart {list(event.args)}"
    if isinstance(event, PlaybackEvent):
        return f"{event.type} {event.playback.state}"
    return event.type


_UNORDERED = {"ChannelStateChange Ringing", "Dial 'RINGING'"}


def canonical(steps: Iterable[str]) -> list[str]:
    result: list[str] = []
    for item in steps:
        if result and item in _UNORDERED and result[-1] in _UNORDERED and item < result[-1]:
            result.insert(len(result) - 1, item)
        else:
            result.append(item)
    return result


def steps_of(events: Iterable[Event], channel_id: str) -> list[str]:
    return canonical(s for e in events if subject(e) == channel_id and (s := step(e)) is not None)


def with_app_args(steps: list[str], *args: str) -> list[str]:
    """A recorded sequence as it reads when the originate asked for ``appArgs`` (the
    probe sent none; our legs send their role)."""
    first = steps.index("StasisStart []")
    return steps[:first] + [f"StasisStart {list(args)}"] + steps[first + 1:]


# -- the recording -----------------------------------------------------------------------
class Scenario:
    def __init__(self, name: str, events: list[Event]) -> None:
        self.name = name
        self.events = events

    def channels(self, prefix: str = "") -> list[str]:
        """Ids of the scenario's channels (not ``;2`` halves), in order of appearance."""
        seen: list[str] = []
        for event in self.events:
            channel_id = subject(event)
            if channel_id and event.channel_ids and ";" not in channel_id and channel_id not in seen:
                if channel_id.startswith(prefix):
                    seen.append(channel_id)
        return seen

    def steps(self, channel_id: str) -> list[str]:
        return steps_of(self.events, channel_id)


class Observed:
    def __init__(self, directory: Path) -> None:
        raw = (directory / "probe-events.jsonl").read_text().splitlines()
        events = iter(decode_event(json.loads(line)) for line in raw if line.strip())
        self.scenarios: dict[str, Scenario] = {}
        current: list[Event] | None = None
        for line in (directory / "probe-transcript.txt").read_text().splitlines():
            if line.startswith("=== "):
                current = []
                self.scenarios[line[4:]] = Scenario(line[4:], current)
            elif current is not None and (match := _EVENT_LINE.match(line)) and match.group(1) not in ("HTTP", "GET"):
                event = next(events)
                assert event.type == match.group(1), (line, event.type)
                current.append(event)

    def __getitem__(self, prefix: str) -> Scenario:
        [scenario] = [s for name, s in self.scenarios.items() if name.startswith(prefix)]
        return scenario


@pytest.fixture(scope="module")
def observed() -> Observed:
    return Observed(ARI_OBSERVED)


class Recorder:
    """Every event our client delivers, in delivery order, and awaitable."""

    def __init__(self, client: AriClient) -> None:
        self.client = client
        self.events: list[Event] = []
        client.on_event(self.events.append)

    def expect(self, kind: str, channel_id: str, check: Callable[[Event], bool] = lambda e: True):
        return self.client.wait_for(lambda e: e.type == kind and subject(e) == channel_id and check(e), WAIT)

    def steps(self, channel_id: str) -> list[str]:
        return steps_of(self.events, channel_id)


@pytest.fixture
def recorder(telephony) -> Recorder:
    return Recorder(telephony.client)


def test_the_recording_splits_into_its_scenarios(observed):
    assert observed["basic"].channels() == ["call-4166679", "snoop-4166680"]
    assert sum(len(s.events) for s in observed.scenarios.values()) == 388


# -- scenarios ---------------------------------------------------------------------------
async def test_originate_answer_bridge_snoop_hangup(telephony, recorder, observed):
    """The probe's first scenario, request for request, over a Local channel."""
    client = telephony.client
    recorded = observed["basic"]
    call, snoop = recorded.channels()
    started = recorder.expect("StasisStart", "call-1")
    await client.originate("Local/answer@sim", channel_id="call-1", app_args=["outbound", "42"],
                           caller_id="Dialer <5551000>", variables={"CAMPAIGN": "c1"})
    await started
    await client.create_bridge("br-1", type="mixing", name="call-call-1")
    await client.add_channel("br-1", "call-1")
    snooped = recorder.expect("StasisStart", "snoop-1")
    await client.snoop("call-1", spy="both", app_args=["snoop"], snoop_id="snoop-1")
    await snooped
    destroyed = recorder.expect("ChannelDestroyed", "call-1")
    await client.hangup("call-1")
    await destroyed
    gone = recorder.expect("BridgeDestroyed", "br-1")
    await client.destroy_bridge("br-1")
    await gone

    assert recorder.steps("call-1") == recorded.steps(call)
    assert recorder.steps("call-1;2") == recorded.steps(f"{call};2")
    assert recorder.steps("snoop-1") == recorded.steps(snoop) == ["StasisStart ['snoop']", "StasisEnd"]
    assert recorder.steps("br-1") == recorded.steps("br-4166680") == ["BridgeDestroyed"]


async def test_lead_answered_bridged_snooped_and_hung_up_like_a_sip_call(telephony, recorder, observed):
    """The same flow the product runs for a lead on a SIP trunk, against the SIP recording."""
    recorded = observed["sip (needs chan_pjsip + SIPp): answer"]
    [sip_call, sip_snoop] = recorded.channels()
    lead = await dial_lead(telephony, call_id="x1", campaign_id="7", number="5551234")
    await asyncio.wait_for(lead.answered, WAIT)
    await telephony.client.create_bridge("sipbr-1")
    await telephony.client.add_channel("sipbr-1", lead.id)
    snooped = recorder.expect("StasisStart", "sipsnoop-1")
    await telephony.client.snoop(lead.id, spy="both", snoop_id="sipsnoop-1")
    await snooped
    await lead.hangup()
    await lead.wait_ended(WAIT)
    await telephony.client.destroy_bridge("sipbr-1")

    assert recorder.steps(lead.id) == with_app_args(recorded.steps(sip_call), "lead")
    # We also see our own snoop go; Asterisk sends no ChannelDestroyed for it.
    assert recorder.steps("sipsnoop-1") == recorded.steps(sip_snoop) == ["StasisStart []", "StasisEnd"]


@pytest.mark.parametrize("scenario, number, ring_timeout, reason", [
    ("sip (needs chan_pjsip + SIPp): busy", "5551271", 30, "busy"),
    ("sip (needs chan_pjsip + SIPp): noanswer", "5551284", 3, "no-answer"),
])
async def test_failed_dials_match_the_sip_recordings(telephony, recorder, observed, scenario, number,
                                                     ring_timeout, reason):
    recorded = observed[scenario]
    [recorded_call] = recorded.channels()
    lead = await dial_lead(telephony, call_id="f1", campaign_id="7", number=number, ring_timeout=ring_timeout)
    end = await lead.wait_ended(WAIT)
    assert end.failure == reason
    assert recorder.steps(lead.id) == recorded.steps(recorded_call)


async def test_unreachable_endpoint_fails_at_originate_with_no_events(telephony, recorder, observed):
    # Recorded: originate to an unknown technology -> 500 {"error": "Allocation failed"}.
    errors = observed["errors"]
    assert all(event.channel_ids != ("bogus",) for event in errors.events)
    with pytest.raises(EndpointUnreachable):
        await telephony.client.originate("Bogus/123", channel_id="bogus-1")
    lead = await dial_lead(telephony, call_id="u1", campaign_id="7", number="5551299")
    assert (await lead.wait_ended(WAIT)).failure == "unreachable"
    # A call that follows is unaffected, and nothing was ever sent about the refused ones.
    ok = await dial_lead(telephony, call_id="u2", campaign_id="7", number="5551201")
    await asyncio.wait_for(ok.answered, WAIT)
    await ok.hangup()
    await ok.wait_ended(WAIT)
    assert recorder.steps("bogus-1") == recorder.steps(lead.id) == []


@pytest.mark.parametrize("scenario, number, verdict", [
    ("amd via /continue: Local/machine@sim", "5551261", "MACHINE"),
    ("amd via /continue: Local/human@sim", "5551201", "HUMAN"),
])
async def test_amd_through_the_dialplan_context(telephony, recorder, observed, scenario, number, verdict):
    recorded = observed[scenario]
    [recorded_call] = recorded.channels()
    lead = await dial_lead(telephony, call_id="a1", campaign_id="7", number=number, amd=True)
    assert (await asyncio.wait_for(lead.answered, WAIT)).value == verdict
    await lead.hangup()
    await lead.wait_ended(WAIT)
    assert recorder.steps(lead.id) == with_app_args(recorded.steps(recorded_call), "lead")


async def test_transfer_legs_follow_the_recorded_answer_bridge_hangup(telephony, recorder, observed):
    """No transfer was recorded: each leg of one must still follow the recorded grammar
    of an answered SIP call (ring, answer, Stasis, bridges, our hangup)."""
    recorded = with_app_args(observed["sip (needs chan_pjsip + SIPp): answer"].steps("sipanswer-4213528"), "lead")
    ring_and_answer = recorded[:recorded.index("StasisStart ['lead']") + 1]
    our_hangup = recorded[recorded.index("ChannelHangupRequest 32 soft"):]
    conference = await Conference.open(telephony, "s1", "7", "PJSIP/agent101")
    lead = await dial_lead(telephony, call_id="t1", campaign_id="7", number="5551201")
    await asyncio.wait_for(lead.answered, WAIT)
    await lead.connect_to(conference)
    transfer = await Transfer.start(telephony, conference, lead, "5551202", "cold", transfer_id="t1")
    await asyncio.wait_for(transfer.connected, WAIT)
    await transfer.drop_party()
    await asyncio.wait_for(transfer.ended, WAIT)
    await lead.wait_ended(WAIT)
    await conference.close()

    party = recorder.steps(transfer.party.id)
    assert party == [s.replace("'lead'", "'transfer'") for s in ring_and_answer] + ["ChannelEnteredBridge"] + our_hangup
    assert recorder.steps(lead.id) == (
        ring_and_answer + ["ChannelEnteredBridge", "ChannelLeftBridge", "ChannelEnteredBridge"] + our_hangup)


async def test_supervisor_snoop_follows_the_recorded_supervisor_scenario(telephony, recorder, observed):
    recorded = observed["supervisor"]
    recorded_snoop = recorded.channels("snp-")[0]
    conference = await Conference.open(telephony, "s1", "7", "PJSIP/agent101")
    supervision = await Supervision.start(telephony, conference, "PJSIP/supervisor9", "coach", supervisor_id="u9")
    snoop = supervision.snoop_id
    await supervision.stop()
    await asyncio.wait_for(supervision.ended, WAIT)
    await conference.close()
    expected = recorded.steps(recorded_snoop)
    assert expected == ["StasisStart []", "ChannelEnteredBridge", "ChannelHangupRequest 32 soft",
                        "ChannelLeftBridge", "StasisEnd"]
    assert recorder.steps(snoop) == with_app_args(expected, "snoop")


async def test_music_on_hold_adds_no_events_to_the_callers_leg(telephony, recorder, observed, pbx_state):
    """Bridge music on hold was not recorded; what is known: the caller's phone (answering
    at once, like the recorded Local/answer callee) keeps the recorded sequence of an
    answered channel bridged and hung up by us, music or not."""
    recorded = observed["basic"].steps("call-4166679")
    conference = await Conference.open(telephony, "s1", "7", "PJSIP/agent101")
    assert pbx_state.moh_playing("conf-s1")
    await conference.close()
    await conference.caller.wait_ended(WAIT)
    assert recorder.steps(conference.caller.id) == [
        "StasisStart ['caller']" if step.startswith("StasisStart") else step for step in recorded]


async def test_websocket_drop_and_reconnect_loses_nothing_of_a_quiet_call(telephony, recorder, observed, far_end):
    recorded = with_app_args(observed["sip (needs chan_pjsip + SIPp): answer"].steps("sipanswer-4213528"), "lead")
    lead = await dial_lead(telephony, call_id="w1", campaign_id="7", number="5551201")
    await asyncio.wait_for(lead.answered, WAIT)
    await telephony.client.create_bridge("wbr-1")
    await telephony.client.add_channel("wbr-1", lead.id)
    reconnected = asyncio.get_running_loop().create_future()
    telephony.on_resync(lambda report: reconnected.done() or reconnected.set_result(report))
    await far_end.drop_websockets()
    await asyncio.wait_for(reconnected, WAIT)
    assert telephony.health().status is Status.UP
    await lead.hangup()
    await lead.wait_ended(WAIT)
    assert recorder.steps(lead.id) == recorded[:recorded.index("StasisEnd") + 1] + recorded[-2:]
    assert recorded[-2:] == ["ChannelVarset STASISSTATUS='SUCCESS'", "ChannelDestroyed 16"]


async def test_simulator_restart_ends_calls_and_new_ones_match_again(telephony, recorder, observed, far_end):
    recorded = with_app_args(observed["sip (needs chan_pjsip + SIPp): answer"].steps("sipanswer-4213528"), "lead")
    ring_and_answer = recorded[:recorded.index("StasisStart ['lead']") + 1]
    lead = await dial_lead(telephony, call_id="r1", campaign_id="7", number="5551201")
    await asyncio.wait_for(lead.answered, WAIT)
    await far_end.restart()
    await lead.wait_ended(WAIT)
    # Nothing from Asterisk about the lost call: the client's own ChannelGone ends it.
    assert recorder.steps(lead.id) == ring_and_answer + ["ChannelGone"]
    again = await dial_lead(telephony, call_id="r2", campaign_id="7", number="5551201")
    await asyncio.wait_for(again.answered, WAIT)
    await again.hangup()
    await again.wait_ended(WAIT)
    assert recorder.steps(again.id) == [s for s in recorded if "Bridge" not in s]


def test_steps_compare_ringing_pairs_unordered():
    assert canonical(["Dial ''", "Dial 'RINGING'", "ChannelStateChange Ringing"]) == canonical(
        ["Dial ''", "ChannelStateChange Ringing", "Dial 'RINGING'"])
