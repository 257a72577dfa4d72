"""AriClient against the built-in PBX simulator over real HTTP and websockets: the call
flows the dialer and conferences use, error mapping, reconnects and restarts."""
from __future__ import annotations

import asyncio
import base64

import aiohttp
import pytest

from realtime.health import Status
from realtime.telephony.ari import (
    AriClient,
    AriConflict,
    AriUnprocessable,
    EndpointUnreachable,
    NoSuchBridge,
    NoSuchChannel,
    NoSuchPlayback,
    NoSuchRecording,
    TelephonyUnavailable,
)
from realtime.telephony.ari.events import (
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelEnteredBridge,
    ChannelGone,
    ChannelLeftBridge,
    Dial,
    Event,
    PlaybackFinished,
    PlaybackStarted,
    RecordingFinished,
    RecordingStarted,
    StasisEnd,
    StasisStart,
)
from realtime.telephony.sim import SimConfig, start_simulator

APP = "impactdialing"
USER, PASSWORD = "ari", "sim-secret"
SPEED = 50.0  # a 2 s ring takes 40 ms
WAIT = 5.0
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}


@pytest.fixture
async def sim():
    simulator = await start_simulator(
        SimConfig(user=USER, password=PASSWORD, outcomes="deterministic", speed=SPEED, control=True, seed=7)
    )
    yield simulator
    await simulator.close()


@pytest.fixture
async def client(sim):
    client = AriClient(sim.url, USER, PASSWORD, APP, request_timeout=5.0, reconnect_backoff=(0.01, 0.1))
    await client.connect()
    yield client
    await client.close()


async def control(sim, path: str, **params) -> None:
    """The simulator's /_sim control API (plays the far end, breaks connections)."""
    root = sim.url.removesuffix("/ari")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{root}/_sim/{path}", json=params or None, headers=AUTH) as resp:
            assert resp.status < 300, await resp.text()


class CallLog:
    """Every event of one channel, and the first event of a kind, awaitable."""

    def __init__(self, client: AriClient, channel_id: str) -> None:
        self.events: list[Event] = []
        self._client = client
        self._channel_id = channel_id
        client.on_channel(channel_id, self.events.append)

    def expect(self, kind: type[Event], **fields):
        return self._client.wait_for(
            lambda e: isinstance(e, kind) and self._channel_id in e.channel_ids
            and all(getattr(e, k) == v for k, v in fields.items()),
            WAIT,
        )

    def kinds(self) -> list[str]:
        return [e.type for e in self.events]

    def dial_statuses(self) -> list[str]:
        return [e.dialstatus for e in self.events if isinstance(e, Dial)]


async def answered_agent(client: AriClient, endpoint: str, channel_id: str) -> CallLog:
    """An agent's phone originated into our application and answered: its events."""
    agent = CallLog(client, channel_id)
    answered = agent.expect(StasisStart)
    await client.originate(endpoint, channel_id=channel_id)
    await answered
    return agent


def number(last_two: str) -> str:
    return f"PJSIP/155555501{last_two}@trunk"


async def test_originate_answer_bridge_snoop_hangup(client):
    lead = CallLog(client, "lead-1")
    answered = lead.expect(StasisStart)
    channel = await client.originate(
        number("00"), channel_id="lead-1", app_args=["outbound", "42"], caller_id="Dialer <5551000>",
        variables={"CAMPAIGN": "c1"},
    )
    assert (channel.id, channel.state) == ("lead-1", "Down")
    start = await answered
    assert start.args == ("outbound", "42")
    assert start.channel.state == "Up"
    assert start.channel.caller.number == "5551000"
    assert lead.dial_statuses() == ["", "RINGING", "ANSWER"]
    assert await client.get_variable("lead-1", "CAMPAIGN") == "c1"

    bridge = await client.create_bridge("conf-1", name="caller 7")
    assert (bridge.id, bridge.bridge_type, bridge.channels) == ("conf-1", "mixing", ())
    entered = lead.expect(ChannelEnteredBridge)
    await client.add_channel("conf-1", "lead-1")
    assert (await entered).bridge.channels == ("lead-1",)
    assert (await client.get_bridge("conf-1")).channels == ("lead-1",)

    supervisor = CallLog(client, "snoop-1")
    snooping = supervisor.expect(StasisStart)
    snoop = await client.snoop("lead-1", spy="both", whisper="out", app_args=["coach"], snoop_id="snoop-1")
    assert snoop.id == "snoop-1" and snoop.name.startswith("Snoop/lead-1-")
    assert (await snooping).args == ("coach",)

    destroyed = lead.expect(ChannelDestroyed)
    snoop_ended = supervisor.expect(StasisEnd)
    await client.hangup("lead-1")
    assert (await destroyed).cause == 16
    await snoop_ended
    assert {"ChannelLeftBridge", "StasisEnd"} <= set(lead.kinds())
    with pytest.raises(NoSuchChannel):
        await client.get_channel("lead-1")
    await client.destroy_bridge("conf-1")
    with pytest.raises(NoSuchBridge):
        await client.get_bridge("conf-1")


async def test_busy_number_ends_with_dial_busy_and_cause_17(client):
    call = CallLog(client, "busy-1")
    destroyed = call.expect(ChannelDestroyed)
    await client.originate(number("70"), channel_id="busy-1")
    assert (await destroyed).cause == 17
    assert call.dial_statuses()[-1] == "BUSY"
    assert "StasisStart" not in call.kinds()


async def test_congested_number_ends_with_dial_congestion_and_cause_34(client):
    call = CallLog(client, "cong-1")
    destroyed = call.expect(ChannelDestroyed)
    await client.originate(number("90"), channel_id="cong-1")
    assert (await destroyed).cause == 34
    assert call.dial_statuses()[-1] == "CONGESTION"


async def test_unanswered_number_times_out_with_cause_19_and_no_final_dial(client):
    call = CallLog(client, "noans-1")
    destroyed = call.expect(ChannelDestroyed)
    await client.originate(number("80"), channel_id="noans-1", timeout=2)
    assert (await destroyed).cause == 19
    assert call.dial_statuses() == ["", "RINGING"]


async def test_callee_hanging_up_after_talking_to_the_caller_ends_the_call(client):
    call = CallLog(client, "short-1")
    answered = call.expect(StasisStart)
    agent_answered = client.wait_for(lambda e: isinstance(e, StasisStart) and e.channel.id == "agent-9", WAIT)
    await client.originate(number("45"), channel_id="short-1")
    await client.originate("PJSIP/agent109", channel_id="agent-9")
    await answered
    await agent_answered
    await client.create_bridge("conf-short")
    destroyed = call.expect(ChannelDestroyed)
    await client.add_channel("conf-short", ["agent-9", "short-1"])
    assert (await destroyed).cause == 16
    assert call.kinds().index("ChannelLeftBridge") < call.kinds().index("ChannelDestroyed")


async def test_unreachable_endpoint_is_its_own_error(client):
    with pytest.raises(EndpointUnreachable) as caught:
        await client.originate(number("97"))
    assert caught.value.error_id == "endpoint-unreachable"
    assert caught.value.status == 500 and caught.value.message == "Allocation failed"
    with pytest.raises(EndpointUnreachable):
        await client.originate("Bogus/123")


async def test_missing_things_and_wrong_states_map_to_domain_errors(client):
    with pytest.raises(NoSuchChannel):
        await client.get_channel("nope")
    with pytest.raises(NoSuchChannel):
        await client.hangup("nope")
    with pytest.raises(NoSuchChannel):
        await client.snoop("nope", spy="both")
    with pytest.raises(NoSuchBridge):
        await client.destroy_bridge("nope")
    with pytest.raises(NoSuchBridge):
        await client.add_channel("nope", "x")
    with pytest.raises(NoSuchPlayback):
        await client.stop_playback("nope")

    ringing = CallLog(client, "ring-1")
    rang = ringing.expect(Dial, dialstatus="RINGING")
    await client.originate(number("85"), channel_id="ring-1")
    await rang
    with pytest.raises(AriConflict) as caught:
        await client.answer("ring-1")  # not in Stasis while ringing
    assert caught.value.message == "Channel not in Stasis application"
    with pytest.raises(AriConflict):
        await client.originate(number("85"), channel_id="ring-1")  # duplicate id
    await client.create_bridge("conf-x")
    with pytest.raises(NoSuchChannel):
        await client.add_channel("conf-x", "nope")
    with pytest.raises(AriUnprocessable):
        await client.remove_channel("conf-x", "ring-1")
    with pytest.raises(AriConflict):
        await client.create_bridge("conf-x")
    gone = ringing.expect(ChannelDestroyed)
    await client.hangup("ring-1", reason="normal")
    await gone
    assert ringing.dial_statuses()[-1] == "NOANSWER"


async def test_in_call_controls_playbacks_and_dtmf(client, sim):
    agent = await answered_agent(client, "PJSIP/agent101", "agent-1")

    started = agent.expect(PlaybackStarted)
    finished = agent.expect(PlaybackFinished)
    playback = await client.play("agent-1", ["sound:hello-world", "digits:7"], playback_id="pb-1")
    assert playback.id == "pb-1" and playback.target == ("channel", "agent-1")
    assert (await started).playback.id == "pb-1"
    assert (await finished).playback.state == "done"

    tone = await client.play("agent-1", "tone:ring")
    assert (await client.get_playback(tone.id)).id == tone.id
    stopped = agent.expect(PlaybackFinished)
    await client.stop_playback(tone.id)
    await stopped

    for action in (client.mute("agent-1", "in"), client.unmute("agent-1", "in"), client.hold("agent-1"),
                   client.unhold("agent-1"), client.start_moh("agent-1"), client.stop_moh("agent-1"),
                   client.set_variable("agent-1", "ROLE", "agent"), client.send_dtmf("agent-1", "12")):
        await action
    assert await client.get_variable("agent-1", "ROLE") == "agent"
    assert await client.get_variable("agent-1", "NEVER_SET") is None

    digits = []
    client.on_channel("agent-1", lambda e: digits.append(e.digit) if isinstance(e, ChannelDtmfReceived) else None)
    pound = agent.expect(ChannelDtmfReceived, digit="#")
    await control(sim, "channels/agent-1/dtmf", digits="19#")
    await pound
    assert digits == ["1", "9", "#"]

    bridge = await client.create_bridge(type=["mixing", "dtmf_events"])
    await client.add_channel(bridge.id, ["agent-1"])
    await client.bridge_start_moh(bridge.id)
    await client.bridge_stop_moh(bridge.id)
    on_bridge = []
    client.on_bridge(bridge.id, on_bridge.append)
    announced = client.wait_for(lambda e: isinstance(e, PlaybackFinished) and e.playback.id == "pb-b", WAIT)
    await client.bridge_play(bridge.id, "sound:beep", playback_id="pb-b")
    await announced
    left = agent.expect(ChannelLeftBridge)
    await client.remove_channel(bridge.id, "agent-1")
    await left
    assert [type(e) for e in on_bridge] == [PlaybackStarted, PlaybackFinished, ChannelLeftBridge]
    assert "agent-1" in {c.id for c in await client.list_channels()}
    assert bridge.id in {b.id for b in await client.list_bridges()}


async def test_recording_a_bridge_from_start_to_stored_audio(client):
    await answered_agent(client, "PJSIP/agent101", "rec-1")
    await client.create_bridge("conf-rec")
    await client.add_channel("conf-rec", "rec-1")
    on_bridge = []
    client.on_bridge("conf-rec", lambda e: on_bridge.append(e) if e.type.startswith("Recording") else None)
    finished = client.wait_for(lambda e: isinstance(e, RecordingFinished), WAIT)
    started = client.wait_for(lambda e: isinstance(e, RecordingStarted), WAIT)

    recording = await client.record_bridge("conf-rec", "call-rec-1", if_exists="fail", beep=False)
    assert (recording.name, recording.state, recording.target) == ("call-rec-1", "queued", ("bridge", "conf-rec"))
    assert (await started).recording.state == "recording"
    assert (await client.get_live_recording("call-rec-1")).state == "recording"
    with pytest.raises(AriConflict, match="already exists"):
        await client.record_bridge("conf-rec", "call-rec-1", if_exists="overwrite")
    await client.stop_recording("call-rec-1")
    done = (await finished).recording
    assert (done.name, done.format, done.state) == ("call-rec-1", "wav", "done") and done.duration >= 0
    assert [type(e) for e in on_bridge] == [RecordingStarted, RecordingFinished]  # routed by target_uri

    async with await client.open_stored_recording("call-rec-1") as audio:
        assert audio.content_type == "audio/wav"
        body = b"".join([chunk async for chunk in audio.chunks(1024)])
    assert body[:4] == b"RIFF" and len(body) == audio.size
    await client.delete_stored_recording("call-rec-1")
    for gone in (client.stop_recording("call-rec-1"), client.open_stored_recording("call-rec-1"),
                 client.delete_stored_recording("call-rec-1"), client.get_live_recording("call-rec-1")):
        with pytest.raises(NoSuchRecording, match="Recording not found"):
            await gone
    with pytest.raises(NoSuchBridge):
        await client.record_bridge("no-such-bridge", "x")
    with pytest.raises(ValueError):
        await client.record_bridge("conf-rec", "x", if_exists="keep")
    # What is left open is closed with the client: no connection leaks from a 404.
    assert (await client.list_bridges())[0].id == "conf-rec"


async def test_a_live_recording_is_found_by_name_until_it_ends(client, sim):
    await answered_agent(client, "PJSIP/agent101", "rec-2")
    await client.create_bridge("conf-live")
    await client.add_channel("conf-live", "rec-2")
    started = client.wait_for(lambda e: isinstance(e, RecordingStarted), WAIT)
    await client.record_bridge("conf-live", "call-live-1", if_exists="fail")
    await started
    # A connection that did not start it (an engine restarted since) finds it by its name alone.
    other = AriClient(sim.url, USER, PASSWORD, "other", request_timeout=5.0, reconnect_backoff=(0.01, 0.1))
    await other.connect()
    try:
        live = await other.get_live_recording("call-live-1")
        assert (live.name, live.format, live.state, live.target) == ("call-live-1", "wav", "recording",
                                                                    ("bridge", "conf-live"))
        with pytest.raises(NoSuchRecording, match="Recording not found"):
            await other.get_live_recording("call-never")
        finished = client.wait_for(lambda e: isinstance(e, RecordingFinished), WAIT)
        await other.stop_recording("call-live-1")
        await finished
        with pytest.raises(NoSuchRecording, match="Recording not found"):  # stored now, no longer live
            await other.get_live_recording("call-live-1")
    finally:
        await other.close()


async def test_create_then_dial_into_a_bridge(client):
    lead = CallLog(client, "early-1")
    in_stasis = lead.expect(StasisStart)
    created = await client.create_channel(number("01"), channel_id="early-1", app_args=["early"])
    assert created.state == "Down"
    assert (await in_stasis).channel.state == "Down"
    await client.create_bridge("conf-early")
    await client.add_channel("conf-early", "early-1")
    answered = lead.expect(Dial, dialstatus="ANSWER")
    await client.dial("early-1", timeout=10)
    assert (await answered).peer.state == "Up"


async def test_answering_machine_detection_through_the_amd_context(client):
    call = CallLog(client, "amd-1")
    answered = call.expect(StasisStart)
    await client.originate(number("61"), channel_id="amd-1")
    await answered
    back = client.wait_for(
        lambda e: isinstance(e, StasisStart) and e.channel.id == "amd-1" and e.args[:1] == ("amd",), WAIT)
    await client.continue_in_dialplan("amd-1", context="impactdialing-amd", extension=APP)
    assert (await back).args[1] == "MACHINE"
    assert await client.get_variable("amd-1", "AMDSTATUS") == "MACHINE"
    await client.subscribe("channel:amd-1")
    await client.unsubscribe("channel:amd-1")


async def test_dropped_websocket_reconnects_and_reconciles_live_calls(client, sim):
    agent = await answered_agent(client, "PJSIP/agent102", "agent-2")
    await client.create_bridge("conf-2")
    health: asyncio.Queue = asyncio.Queue()
    client.on_health_change(health.put_nowait)
    reconciled = asyncio.get_running_loop().create_future()
    client.on_reconnect(lambda channels, bridges: reconciled.set_result((channels, bridges)))

    await control(sim, "websockets/drop")
    assert (await asyncio.wait_for(health.get(), WAIT)).status is Status.DOWN
    assert (await asyncio.wait_for(health.get(), WAIT)).status is Status.UP
    channels, bridges = await asyncio.wait_for(reconciled, WAIT)
    assert channels["agent-2"].state == "Up"
    assert "conf-2" in bridges

    destroyed = agent.expect(ChannelDestroyed)  # events flow on the new socket
    await client.hangup("agent-2")
    await destroyed
    assert not any(isinstance(e, ChannelGone) for e in agent.events)


async def test_restarted_asterisk_reports_our_lost_channels_as_gone(client, sim):
    agent = await answered_agent(client, "PJSIP/agent103", "agent-3")
    reconciled = asyncio.get_running_loop().create_future()
    client.on_reconnect(lambda channels, bridges: reconciled.set_result(set(channels)))
    gone = agent.expect(ChannelGone)

    await control(sim, "restart")
    assert "agent-3" not in await asyncio.wait_for(reconciled, WAIT)
    assert (await gone).channel_id == "agent-3"
    assert client.health().status is Status.UP


async def test_health_from_start_to_close(sim):
    client = AriClient(sim.url, USER, PASSWORD, APP)
    assert client.health().status is Status.STARTING
    await client.connect()
    assert client.health().status is Status.UP
    await client.close()
    assert client.health().status is Status.DOWN
    with pytest.raises(TelephonyUnavailable):
        await client.list_channels()
