"""Every request the client can send, checked against Asterisk 22's ARI description:
path and method exist, each query parameter exists with an allowed value, required ones
are present, multi-valued ones are comma-joined in one parameter."""
from __future__ import annotations

import inspect

import pytest
from multidict import MultiDict

from realtime.telephony.ari import AriClient

from .recording_ari import RecordingAri
from .swagger import find_operation, validate_request

# Each client method with the calls that exercise it (defaults, then every option).
CALLS = {
    "originate": [
        lambda c: c.originate("PJSIP/5551234@trunk"),
        lambda c: c.originate("PJSIP/5551234@trunk", channel_id="call-1", other_channel_id="call-1b",
                              app_args=["outbound", "42"], caller_id='"Dialer" <5551000>', timeout=-1,
                              variables={"CAMPAIGN": "c1", "ROLE": {"value": "lead", "report_events": True}}),
    ],
    "create_channel": [
        lambda c: c.create_channel("PJSIP/agent101"),
        lambda c: c.create_channel("Local/x@sim", channel_id="c2", other_channel_id="c2b",
                                   app_args="agent", variables={"ROLE": "agent"}),
    ],
    "dial": [lambda c: c.dial("c2"), lambda c: c.dial("c2", caller="c1", timeout=30)],
    "get_channel": [lambda c: c.get_channel("call-1;2")],
    "list_channels": [lambda c: c.list_channels()],
    "hangup": [lambda c: c.hangup("c1"), lambda c: c.hangup("c1", reason="busy"),
               lambda c: c.hangup("c1", reason_code=21)],
    "answer": [lambda c: c.answer("c1")],
    "ring": [lambda c: c.ring("c1")],
    "ring_stop": [lambda c: c.ring_stop("c1")],
    "continue_in_dialplan": [
        lambda c: c.continue_in_dialplan("c1", context="impactdialing-amd", extension="test"),
        lambda c: c.continue_in_dialplan("c1", context="amd", extension="s", priority=2, label="start"),
    ],
    "play": [lambda c: c.play("c1", "sound:hello-world"),
             lambda c: c.play("c1", ["sound:a", "digits:42", "tone:ring;tonezone=us"],
                              playback_id="pb-1", lang="en")],
    "snoop": [lambda c: c.snoop("c1", spy="both"),
              lambda c: c.snoop("c1", spy="both", whisper="out", app_args=["coach", "7"], snoop_id="s1"),
              lambda c: c.snoop("c1", whisper="in")],
    "mute": [lambda c: c.mute("c1"), lambda c: c.mute("c1", "in")],
    "unmute": [lambda c: c.unmute("c1"), lambda c: c.unmute("c1", "out")],
    "hold": [lambda c: c.hold("c1")],
    "unhold": [lambda c: c.unhold("c1")],
    "start_moh": [lambda c: c.start_moh("c1"), lambda c: c.start_moh("c1", "default")],
    "stop_moh": [lambda c: c.stop_moh("c1")],
    "get_variable": [lambda c: c.get_variable("c1", "AMDSTATUS")],
    "set_variable": [lambda c: c.set_variable("c1", "ROLE", "lead")],
    "send_dtmf": [lambda c: c.send_dtmf("c1", "1234#"),
                  lambda c: c.send_dtmf("c1", "9", before=10, between=100, duration=120, after=5)],
    "create_bridge": [lambda c: c.create_bridge(),
                      lambda c: c.create_bridge("conf-1", type=["mixing", "dtmf_events"], name="caller 7"),
                      lambda c: c.create_bridge(type="holding")],
    "get_bridge": [lambda c: c.get_bridge("conf-1")],
    "list_bridges": [lambda c: c.list_bridges()],
    "destroy_bridge": [lambda c: c.destroy_bridge("conf-1")],
    "add_channel": [lambda c: c.add_channel("conf-1", "c1"),
                    lambda c: c.add_channel("conf-1", ["c1", "c2"], role="announcer")],
    "remove_channel": [lambda c: c.remove_channel("conf-1", ["c1", "c2"])],
    "bridge_start_moh": [lambda c: c.bridge_start_moh("conf-1"),
                         lambda c: c.bridge_start_moh("conf-1", "default")],
    "bridge_stop_moh": [lambda c: c.bridge_stop_moh("conf-1")],
    "bridge_play": [lambda c: c.bridge_play("conf-1", "sound:beep"),
                    lambda c: c.bridge_play("conf-1", ["sound:a", "sound:b"], playback_id="pb-2", lang="en")],
    "record_bridge": [lambda c: c.record_bridge("conf-1", "call-1"),
                      lambda c: c.record_bridge("conf-1", "call-2", format="gsm", max_duration_seconds=3600,
                                                max_silence_seconds=0, if_exists="overwrite", beep=True,
                                                terminate_on="#")],
    "get_live_recording": [lambda c: c.get_live_recording("call-1")],
    "stop_recording": [lambda c: c.stop_recording("call-1")],
    "delete_stored_recording": [lambda c: c.delete_stored_recording("call-1")],
    "open_stored_recording": [lambda c: read_all(c, "call-1")],
    "get_playback": [lambda c: c.get_playback("pb-1")],
    "stop_playback": [lambda c: c.stop_playback("pb-1")],
    "subscribe": [lambda c: c.subscribe("channel:c9"),
                  lambda c: c.subscribe(["channel:c9", "bridge:conf-1"])],
    "unsubscribe": [lambda c: c.unsubscribe(["channel:c9", "bridge:conf-1"])],
}
NOT_REST = {"connect", "close", "settle"}


async def read_all(client: AriClient, name: str) -> bytes:
    async with await client.open_stored_recording(name) as audio:
        return b"".join([chunk async for chunk in audio.chunks()])


def test_every_rest_method_of_the_client_is_exercised():
    methods = {
        name for name, member in inspect.getmembers(AriClient, inspect.iscoroutinefunction)
        if not name.startswith("_")
    } - NOT_REST
    assert methods == set(CALLS)


@pytest.fixture
async def recorded():
    server = await RecordingAri().start()
    client = AriClient(server.url, "ari", "secret", "impactdialing")
    try:
        for calls in CALLS.values():
            for call in calls:
                await call(client)
    finally:
        await client.close()
        await server.close()
    return server.requests


async def test_every_request_matches_the_ari_description(recorded):
    reached = set()
    for request in recorded:
        op = validate_request(request.method, request.path, request.query, request.body)
        reached.add(op.nickname + " " + op.path)
    assert len(recorded) == sum(len(calls) for calls in CALLS.values())
    assert "originate /channels" in reached and "snoopChannel /channels/{channelId}/snoop" in reached


async def test_multi_valued_parameters_are_one_comma_joined_value(recorded):
    joined = {
        (r.path, key): r.query[key]
        for r in recorded for key in r.query if "," in r.query[key]
    }
    assert joined[("/bridges/conf-1/addChannel", "channel")] == "c1,c2"
    assert joined[("/channels/c1/play", "media")] == "sound:a,digits:42,tone:ring;tonezone=us"
    assert joined[("/applications/impactdialing/subscription", "eventSource")] == "channel:c9,bridge:conf-1"
    assert joined[("/channels", "appArgs")] == "outbound,42"
    assert joined[("/bridges", "type")] == "mixing,dtmf_events"


def test_the_validator_rejects_what_asterisk_would_not_take():
    """The checks above are only worth something if the validator can say no."""
    bad = [
        ("POST", "/channels", MultiDict(app="a")),  # endpoint missing
        ("PUT", "/channels", MultiDict(endpoint="PJSIP/1")),  # no such method
        ("POST", "/channels/c1/mute", MultiDict(direction="sideways")),
        ("POST", "/bridges/b1/addChannel", MultiDict([("channel", "c1"), ("channel", "c2")])),
        ("POST", "/channels", MultiDict(endpoint="PJSIP/1", app="a", timeout="soon")),
        ("POST", "/channels", MultiDict(endpoint="PJSIP/1", app="a", channel_id="x")),
        ("POST", "/bridges", MultiDict(type="mixing,karaoke")),
        ("GET", "/channels/c1/nothing", MultiDict()),
    ]
    for method, path, query in bad:
        with pytest.raises(AssertionError):
            validate_request(method, path, query, None)
    with pytest.raises(AssertionError):
        validate_request("POST", "/channels", MultiDict(endpoint="PJSIP/1"), {"varaibles": {}})
    assert find_operation("POST", "/channels/create").nickname == "create"
    assert find_operation("POST", "/channels/c1").nickname == "originateWithId"
