"""AriClient over real HTTP and websockets against a recording ARI stand-in:
request shapes, error mapping, event routing and order, reconnect and reconcile."""
from __future__ import annotations

import asyncio

import pytest

from realtime.health import Status
from realtime.telephony.ari import (
    AriBadRequest,
    AriClient,
    AriConflict,
    AriInvalidState,
    AriNotFound,
    AriUnauthorized,
    AriUnprocessable,
    EndpointUnreachable,
    NoSuchBridge,
    NoSuchChannel,
    NoSuchPlayback,
    TelephonyUnavailable,
)
from realtime.telephony.ari.events import (
    BridgeGone,
    ChannelDestroyed,
    ChannelEnteredBridge,
    ChannelGone,
    ChannelStateChange,
    Dial,
    PlaybackFinished,
    StasisStart,
)

from .recording_ari import RecordingAri, bridge_json, channel_json

APP = "test"


@pytest.fixture
async def ari():
    server = await RecordingAri().start()
    yield server
    await server.close()


@pytest.fixture
async def client(ari):
    client = AriClient(ari.url, "ari", "secret", APP, request_timeout=2.0, reconnect_backoff=(0.01, 0.05))
    yield client
    await client.close()


def stasis_start(channel_id: str, *args: str) -> dict:
    return {"type": "StasisStart", "args": list(args), "channel": channel_json(channel_id, "Up")}


def destroyed(channel_id: str, cause: int = 16) -> dict:
    return {"type": "ChannelDestroyed", "cause": cause, "cause_txt": "Normal Clearing",
            "channel": channel_json(channel_id, "Up")}


# -- requests -------------------------------------------------------------------------
async def test_originate_sends_app_args_comma_joined_and_variables_in_body(ari, client):
    channel = await client.originate(
        "PJSIP/5551234@trunk", channel_id="call-1", app_args=("outbound", "42"),
        caller_id="Dialer <5551000>", timeout=20, variables={"CAMPAIGN": "c1", "LEAD": 42},
    )
    assert channel.id == "call-1" and channel.state == "Down"
    (request,) = ari.requests
    assert (request.method, request.path) == ("POST", "/channels")
    assert dict(request.query) == {
        "endpoint": "PJSIP/5551234@trunk", "app": APP, "appArgs": "outbound,42",
        "callerId": "Dialer <5551000>", "timeout": "20", "channelId": "call-1",
    }
    assert request.body == {"variables": {"CAMPAIGN": "c1", "LEAD": "42"}}  # Asterisk wants strings


async def test_several_channels_and_media_go_in_one_comma_joined_parameter(ari, client):
    await client.add_channel("b1", ["c1", "c2", "c3"], role="participant")
    await client.play("c1", ["sound:hello", "digits:42"], playback_id="pb-9")
    add, play = ari.requests
    assert add.query.getall("channel") == ["c1,c2,c3"]
    assert play.query.getall("media") == ["sound:hello,digits:42"]
    assert play.query["playbackId"] == "pb-9"


async def test_ids_are_escaped_in_paths(ari, client):
    await client.hangup("call-1;2")
    await client.answer("odd/id")
    assert [r.raw_path for r in ari.requests] == ["/ari/channels/call-1;2", "/ari/channels/odd%2Fid/answer"]


async def test_bad_arguments_are_refused_before_any_request(ari, client):
    with pytest.raises(ValueError):
        await client.originate("PJSIP/1@trunk", app_args=("a,b",))
    with pytest.raises(ValueError):
        await client.hangup("c1", reason="busy", reason_code=17)
    with pytest.raises(ValueError):
        await client.hangup("c1", reason="slammed")
    with pytest.raises(ValueError):
        await client.snoop("c1")
    with pytest.raises(ValueError):
        await client.snoop("c1", spy="everything")
    with pytest.raises(ValueError):
        await client.mute("c1", "sideways")
    with pytest.raises(ValueError):
        await client.play("c1", [])
    with pytest.raises(ValueError):
        await client.get_channel("")
    assert ari.requests == []


# -- errors ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "status", "body", "call", "error", "error_id"),
    [
        ("GET", "/channels/gone", 404, {"message": "Channel not found"},
         lambda c: c.get_channel("gone"), NoSuchChannel, "no-such-channel"),
        ("DELETE", "/bridges/gone", 404, {"message": "Bridge not found"},
         lambda c: c.destroy_bridge("gone"), NoSuchBridge, "no-such-bridge"),
        ("DELETE", "/playbacks/gone", 404, {"message": "Playback not found"},
         lambda c: c.stop_playback("gone"), NoSuchPlayback, "no-such-playback"),
        ("POST", "/channels/c1/answer", 409, {"message": "Channel not in Stasis application"},
         lambda c: c.answer("c1"), AriConflict, "ari-conflict"),
        ("POST", "/channels/c1/answer", 412, {"message": "Channel in invalid state"},
         lambda c: c.answer("c1"), AriInvalidState, "ari-invalid-state"),
        ("POST", "/bridges/b1/removeChannel", 422, {"message": "Channel not in this bridge"},
         lambda c: c.remove_channel("b1", "c1"), AriUnprocessable, "ari-unprocessable"),
        ("POST", "/bridges/b1/addChannel", 400, {"message": "Channel not found"},
         lambda c: c.add_channel("b1", "c9"), NoSuchChannel, "no-such-channel"),
        ("POST", "/channels", 400, {"message": "Invalid endpoint specified"},
         lambda c: c.originate("nonsense"), AriBadRequest, "ari-bad-request"),
        ("POST", "/channels", 500, {"error": "Allocation failed"},
         lambda c: c.originate("Bogus/123"), EndpointUnreachable, "endpoint-unreachable"),
        ("POST", "/bridges", 500, {"message": "Unable to create bridge"},
         lambda c: c.create_bridge(type="bogus"), TelephonyUnavailable, "telephony-unavailable"),
        ("GET", "/channels", 503, {"message": "Asterisk not booted"},
         lambda c: c.list_channels(), TelephonyUnavailable, "telephony-unavailable"),
        ("POST", "/applications/test/subscription", 404, {"message": "Application not found"},
         lambda c: c.subscribe("channel:x"), AriNotFound, "ari-not-found"),
    ],
)
async def test_error_replies_become_domain_errors_keeping_asterisk_text(
    ari, client, method, path, status, body, call, error, error_id
):
    ari.replies[(method, path)] = (status, body)
    with pytest.raises(error) as caught:
        await call(client)
    assert type(caught.value) is error
    assert caught.value.error_id == error_id
    assert caught.value.status == status
    assert caught.value.message == (body.get("message") or body.get("error"))


async def test_unreachable_asterisk_is_telephony_unavailable(unused_port):
    client = AriClient(f"http://127.0.0.1:{unused_port()}/ari", "ari", "x", APP, request_timeout=2.0)
    try:
        with pytest.raises(TelephonyUnavailable) as caught:
            await client.list_channels()
        assert type(caught.value) is TelephonyUnavailable
        with pytest.raises(TelephonyUnavailable):
            await client.connect()
        assert client.health().status is Status.DOWN
    finally:
        await client.close()


async def test_asterisk_that_accepts_but_never_answers_times_out_as_unavailable():
    silent = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    client = AriClient(f"http://127.0.0.1:{port}/ari", "ari", "x", APP, request_timeout=0.2)
    try:
        with pytest.raises(TelephonyUnavailable, match="no reply within"):
            await client.list_channels()
        with pytest.raises(TelephonyUnavailable, match="timed out"):
            await client.connect()
    finally:
        await client.close()
        silent.close()


async def test_unset_variable_reads_as_none(ari, client):
    ari.replies[("GET", "/channels/c1/variable")] = (404, {"message": "Provided variable was not found"})
    assert await client.get_variable("c1", "AMDSTATUS") is None
    ari.replies[("GET", "/channels/c1/variable")] = (404, {"message": "Channel not found"})
    with pytest.raises(NoSuchChannel):
        await client.get_variable("c1", "AMDSTATUS")


async def test_wrong_password_is_unauthorized_for_rest_and_events(ari):
    client = AriClient(ari.url, "ari", "wrong", APP)
    try:
        with pytest.raises(AriUnauthorized):
            await client.list_channels()
        with pytest.raises(AriUnauthorized):
            await client.connect()
        assert client.health().status is Status.DOWN
    finally:
        await client.close()


# -- events ---------------------------------------------------------------------------
async def test_events_reach_channel_bridge_and_global_handlers_in_arrival_order(ari, client):
    per_channel, per_bridge, everything = [], [], []
    client.on_channel("c1", per_channel.append)
    client.on_bridge("b1", per_bridge.append)

    async def slow_global(event):
        await asyncio.sleep(0)  # an async handler must not reorder later events
        everything.append(event.type)

    client.on_event(slow_global)
    await client.connect()
    last = client.wait_for(lambda e: isinstance(e, ChannelDestroyed), 5)
    await ari.send({"type": "Dial", "dialstatus": "", "dialstring": "5551234@trunk", "forward": "",
                    "peer": channel_json("c1")})
    await ari.send({"type": "ChannelStateChange", "channel": channel_json("c2", "Ringing")})
    await ari.send(stasis_start("c1", "outbound", "42"))
    await ari.send({"type": "ChannelEnteredBridge", "bridge": bridge_json("b1", ["c1"]),
                    "channel": channel_json("c1", "Up")})
    await ari.send({"type": "PlaybackFinished",
                    "playback": {"id": "p1", "media_uri": "sound:x", "target_uri": "bridge:b1",
                                 "language": "en", "state": "done"}})
    await ari.send(destroyed("c1"))
    await last  # resolved by the last global handler of the last event: all ran before
    assert [type(e) for e in per_channel] == [Dial, StasisStart, ChannelEnteredBridge, ChannelDestroyed]
    assert per_channel[1].args == ("outbound", "42")
    assert [e.type for e in per_bridge] == ["ChannelEnteredBridge", "PlaybackFinished"]
    assert isinstance(per_bridge[1], PlaybackFinished)
    assert everything == ["Dial", "ChannelStateChange", "StasisStart", "ChannelEnteredBridge",
                          "PlaybackFinished", "ChannelDestroyed"]


async def test_a_failing_handler_does_not_stop_delivery(ari, client):
    def broken(event):
        raise RuntimeError("handler bug")

    client.on_channel("c1", broken)
    await client.connect()
    waiter = client.wait_for(lambda e: isinstance(e, ChannelDestroyed), 5)
    await ari.send(stasis_start("c1"))
    await ari.send(destroyed("c1"))
    event = await waiter
    assert event.channel.id == "c1" and event.cause == 16


async def test_removed_handler_gets_nothing_more(ari, client):
    seen = []
    registration = client.on_channel("c1", seen.append)
    await client.connect()
    first = client.wait_for(lambda e: isinstance(e, StasisStart), 5)
    await ari.send(stasis_start("c1"))
    await first
    registration.remove()
    registration.remove()  # idempotent
    second = client.wait_for(lambda e: isinstance(e, ChannelDestroyed), 5)
    await ari.send(destroyed("c1"))
    await second
    assert [e.type for e in seen] == ["StasisStart"]


async def test_wait_for_created_before_the_request_sees_events_that_beat_the_reply(ari, client):
    await client.connect()
    waiter = client.wait_for(lambda e: isinstance(e, StasisStart) and e.channel.id == "fast", 5)
    await ari.send(stasis_start("fast"))  # the event arrives before we even originate
    await client.originate("PJSIP/agent101", channel_id="fast")
    assert (await waiter).channel.id == "fast"
    with pytest.raises(TimeoutError):
        await client.wait_for(lambda e: False, 0.05)


async def test_undecodable_and_unknown_frames_do_not_break_the_stream(ari, client):
    seen = []
    client.on_event(seen.append)
    await client.connect()
    waiter = client.wait_for(lambda e: isinstance(e, ChannelStateChange), 5)
    for ws in ari.sockets:
        await ws.send_str("not json")
    await ari.send({"type": "StasisStart"})  # no channel: cannot be decoded
    await ari.send({"type": "ChannelTransferAttempted", "x": 1})
    await ari.send({"type": "ChannelStateChange", "channel": channel_json("c1", "Up")})
    await waiter
    assert [e.type for e in seen] == ["StasisStart", "ChannelTransferAttempted", "ChannelStateChange"]
    assert seen[1].raw["x"] == 1


# -- health, reconnect, reconcile -------------------------------------------------------
class HealthLog:
    """Every health change of a client, awaitable one by one."""

    def __init__(self, client: AriClient) -> None:
        self.changes: asyncio.Queue = asyncio.Queue()
        client.on_health_change(self.changes.put_nowait)

    async def next(self, status: Status, timeout: float = 5.0):
        health = await asyncio.wait_for(self.changes.get(), timeout)
        assert health.status is status, health
        return health


async def test_health_is_starting_then_up_then_down_while_reconnecting(ari, client):
    log = HealthLog(client)
    assert client.health().status is Status.STARTING
    await client.connect()
    await log.next(Status.UP)
    assert client.health().usable
    ari.refuse_websocket = True
    await ari.drop_websockets()
    assert (await log.next(Status.DOWN)).detail
    ari.refuse_websocket = False
    await log.next(Status.UP)
    await client.close()
    assert (await log.next(Status.DOWN)).detail == "closed"


async def test_connect_without_wait_keeps_trying_until_asterisk_is_up(ari, client):
    log = HealthLog(client)
    ari.refuse_websocket = True
    await client.connect(wait=False)
    down = await log.next(Status.DOWN)
    assert "503" in down.detail
    ari.refuse_websocket = False
    await log.next(Status.UP)
    assert ari.connections == 1


async def test_reconnect_reconciles_and_reports_lost_channels_and_bridges(ari, client):
    order, lost, lost_bridge = [], [], []
    client.on_channel("kept", lambda e: order.append(e.type))
    client.on_channel("lost", lost.append)
    client.on_bridge("old-bridge", lost_bridge.append)
    reconciled = asyncio.get_running_loop().create_future()

    async def on_reconnect(channels, bridges):
        order.append("reconcile")
        reconciled.set_result((set(channels), set(bridges)))

    client.on_reconnect(on_reconnect)
    await client.connect()
    ari.channels = {"kept": channel_json("kept", "Up"), "stranger": channel_json("stranger", "Up")}
    ari.bridges = {"b-live": bridge_json("b-live", ["kept"])}
    bridge_gone = client.wait_for(lambda e: isinstance(e, BridgeGone), 5)
    after = client.wait_for(lambda e: isinstance(e, ChannelDestroyed), 5)
    await ari.drop_websockets()
    await ari.wait_connections(2)
    await ari.send(destroyed("kept"))  # sent at once: may reach the client before its listing
    assert await asyncio.wait_for(reconciled, 5) == ({"kept", "stranger"}, {"b-live"})
    assert (await bridge_gone).bridge_id == "old-bridge"
    assert [(type(e), e.channel_id) for e in lost] == [(ChannelGone, "lost")]
    assert [type(e) for e in lost_bridge] == [BridgeGone]
    await after
    assert order == ["reconcile", "ChannelDestroyed"]  # the engine rebuilds before newer events


async def test_app_taken_over_by_another_connection_stops_the_client(ari, client):
    log = HealthLog(client)
    await client.connect()
    await log.next(Status.UP)
    replaced = client.wait_for(lambda e: e.type == "ApplicationReplaced", 5)
    await ari.send({"type": "ApplicationReplaced"})
    await replaced
    down = await log.next(Status.DOWN)
    assert "ari-app-replaced" in down.detail
    assert ari.connections == 1  # no fight with the connection that took the app over
