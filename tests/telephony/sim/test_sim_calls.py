"""Calls through the simulator produce the event sequences a real Asterisk 22 produced
(``tests/telephony/data/ari-observed``), per channel, with the same field sets and key orders."""
from __future__ import annotations

import re

import pytest

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")


async def test_originate_bridge_snoop_hangup_matches_the_recording(ari, events, recording):
    status, channel = await ari.request(
        "POST", "/channels", endpoint="Local/answer@sim", app="dialer", appArgs="outbound,42",
        callerId="Dialer <5551000>", channelId="call-1", json_body={"variables": {"CAMPAIGN": "c1"}})
    assert status == 200
    assert (channel["id"], channel["state"]) == ("call-1", "Down")
    assert re.fullmatch(r"Local/answer@sim-[0-9a-f]{8};1", channel["name"])
    start = await events.wait_for("StasisStart", "call-1")
    assert start["args"] == ["outbound", "42"]
    assert start["channel"]["caller"] == start["channel"]["connected"] == {"name": "Dialer", "number": "5551000"}
    assert start["channel"]["dialplan"]["app_data"] == "dialer,outbound,42"

    assert (await ari.request("POST", "/bridges", type="mixing", bridgeId="br-1"))[0] == 200
    assert await ari.request("POST", "/bridges/br-1/addChannel", channel="call-1") == (204, "")
    status, snoop = await ari.request("POST", "/channels/call-1/snoop", spy="both", app="dialer",
                                      appArgs="snoop", snoopId="snoop-1")
    assert status == 200 and snoop["state"] == "Up"
    assert re.fullmatch(r"Snoop/call-1-[0-9a-f]{8}", snoop["name"])
    await events.wait_for("StasisStart", "snoop-1", args=["snoop"])
    assert await ari.request("DELETE", "/channels/call-1") == (204, "")
    await events.wait_for("ChannelDestroyed", "call-1")
    await events.wait_for("ChannelDestroyed", "call-1;2")
    assert await ari.request("DELETE", "/bridges/br-1") == (204, "")
    await events.wait_for("BridgeDestroyed")

    assert events.of("call-1") and events.of("call-1;2")
    assert [e["type"] for e in events.of("call-1") if "bridge" in e] == ["ChannelEnteredBridge", "ChannelLeftBridge"]
    assert [e for e in events.events if e["type"] == "BridgeDestroyed"][0]["bridge"]["channels"] == []
    assert events.steps("call-1") == recording.steps("call-4166679")
    assert events.steps("call-1;2") == recording.steps("call-4166679;2")
    assert events.steps("snoop-1") == recording.steps("snoop-4166680") == ["StasisStart ['snoop']", "StasisEnd"]
    assert recording.mismatched_shapes(events.events) == []


def collapsed(steps: list[str]) -> list[str]:
    """Asterisk re-announces BRIDGEPEER when audiohooks change; repeats carry nothing new."""
    return [s for n, s in enumerate(steps) if n == 0 or s != steps[n - 1]]


async def test_supervisor_listen_and_whisper_through_a_snoop_matches_the_recording(ari, events, recording):
    for cid, who in (("cust", "echo"), ("agent", "answer"), ("sup", "answer")):
        await ari.request("POST", "/channels", endpoint=f"Local/{who}@sim", app="dialer", channelId=cid)
        await events.wait_for("StasisStart", cid)
    await ari.request("POST", "/bridges/b1")
    await ari.request("POST", "/bridges/b1/addChannel", channel="cust,agent")
    await ari.request("POST", "/channels/agent/snoop/snp", spy="both", whisper="out", app="dialer")
    await events.wait_for("StasisStart", "snp")
    await ari.request("POST", "/bridges/b2")
    await ari.request("POST", "/bridges/b2/addChannel", channel="snp,sup")
    status, b2 = await ari.request("GET", "/bridges/b2")
    assert b2["channels"] == ["snp", "sup"]
    await ari.request("POST", "/bridges/b2/removeChannel", channel="sup")
    await ari.request("DELETE", "/channels/snp")
    await events.wait_for("StasisEnd", "snp")
    for cid in ("cust", "agent", "sup"):
        await ari.request("DELETE", f"/channels/{cid}")
        await events.wait_for("ChannelDestroyed", cid)
    for bridge in ("b1", "b2"):
        await ari.request("DELETE", f"/bridges/{bridge}")
    for mine, recorded in (("cust", "cust-4167907"), ("agent", "agent-4167907"), ("sup", "sup-4167907"),
                           ("snp", "snp-4167907")):
        assert collapsed(events.steps(mine)) == collapsed(recording.steps(recorded)), mine
    assert recording.mismatched_shapes(events.events) == []


async def test_every_event_carries_asterisk_id_application_and_an_asterisk_timestamp(ari, events):
    await ari.request("POST", "/channels", endpoint="PJSIP/15555550111@trunk", app="dialer", channelId="ts-1")
    await events.wait_for("StasisStart", "ts-1")
    await ari.request("DELETE", "/channels/ts-1")
    await events.wait_for("ChannelDestroyed", "ts-1")
    for raw, event in zip(events.raw, events.events):
        assert list(event)[-2:] == ["asterisk_id", "application"]
        assert event["asterisk_id"] == "02:fc:00:00:00:01" and event["application"] == "dialer"
        assert TIMESTAMP.match(event["timestamp"])
        assert ", " not in raw[:40]  # compact JSON, as Asterisk writes it


async def test_pjsip_number_rings_then_answers_into_stasis(ari, events, recording):
    await ari.request("POST", "/channels", endpoint="PJSIP/15555550111@trunk", app="dialer",
                      channelId="sip-1", callerId="5551000")
    await events.wait_for("StasisStart", "sip-1")
    assert events.steps("sip-1") == [
        "Dial ''", "ChannelStateChange Ringing", "Dial 'RINGING'", "ChannelStateChange Up",
        "Dial 'ANSWER'", "ChannelVarset STASISSTATUS=''", "StasisStart []"]
    dial = events.events[0]
    assert dial["dialstring"] == "15555550111@trunk"
    assert re.fullmatch(r"PJSIP/trunk-[0-9a-f]{8}", dial["peer"]["name"])
    assert dial["peer"]["dialplan"]["app_name"] == "AppDial2"
    assert recording.mismatched_shapes(events.events) == []


@pytest.mark.parametrize("number, recorded_id", [
    ("15555550171", "sipbusy-4216763"),
    ("15555550183", "sipnoanswer-4217467"),
])
async def test_pjsip_failures_match_the_sip_recordings(ari, events, recording, number, recorded_id):
    await ari.request("POST", "/channels", endpoint=f"PJSIP/{number}@trunk", app="dialer",
                      channelId="fail-1", timeout=5)
    destroyed = await events.wait_for("ChannelDestroyed", "fail-1")
    recorded = [e for e in recording.events if e["type"] == "ChannelDestroyed"
                and e["channel"]["id"] == recorded_id][0]
    assert (destroyed["cause"], destroyed["cause_txt"], destroyed["tech_cause"]) == (
        recorded["cause"], recorded["cause_txt"], recorded["tech_cause"])
    assert events.steps("fail-1") == recording.steps(recorded_id)
    assert recording.mismatched_shapes(events.events) == []


@pytest.mark.parametrize("number, recorded_id, cause, final_dial", [
    ("15555550175", "busy-4170725", 17, "BUSY"),
    ("15555550192", "congestion-4171728", 34, "CONGESTION"),
    ("15555550185", "noanswer-4173433", 19, None),
])
async def test_local_failures_match_the_recordings(ari, events, recording, number, recorded_id, cause, final_dial):
    await ari.request("POST", "/channels", endpoint=f"Local/{number}@sim", app="dialer",
                      channelId="out-1", timeout=3)
    await events.wait_for("ChannelDestroyed", "out-1;2")
    destroyed = await events.wait_for("ChannelDestroyed", "out-1")
    assert destroyed["cause"] == cause
    final = [e["dialstatus"] for e in events.of("out-1") if e["type"] == "Dial"][-1]
    assert final == (final_dial or "RINGING")  # no closing Dial on an originate timeout
    assert events.steps("out-1") == recording.steps(recorded_id)
    assert events.steps("out-1;2") == recording.steps(f"{recorded_id};2")
    assert not any(e["type"] == "StasisStart" for e in events.events)


async def test_numbers_ending_95_to_99_are_refused_like_an_unknown_endpoint(ari, events):
    assert await ari.request("POST", "/channels", endpoint="PJSIP/15555550197@trunk", app="dialer") == (
        500, {"error": "Allocation failed"})
    assert await ari.request("GET", "/channels") == (200, [])


async def test_duplicate_channel_id_is_refused(ari, events):
    await ari.request("POST", "/channels", endpoint="PJSIP/agent101", app="dialer", channelId="dup-1")
    assert await ari.request("POST", "/channels", endpoint="PJSIP/agent102", app="dialer", channelId="dup-1") == (
        409, {"message": "Channel with given unique ID already exists"})


async def test_ringing_channel_is_not_in_stasis_and_cancelling_it_ends_the_dial(ari, events, recording):
    await ari.request("POST", "/channels", endpoint="Local/15555550180@sim", app="dialer",
                      channelId="ring-1", otherChannelId="ringB-1", timeout=-1)
    await events.wait_for("Dial", "ring-1", dialstatus="RINGING")
    not_in_stasis = (409, {"message": "Channel not in Stasis application"})
    assert await ari.request("POST", "/channels/ring-1/answer") == not_in_stasis
    assert await ari.request("POST", "/channels/ring-1/play", media="sound:hello") == not_in_stasis
    assert await ari.request("POST", "/channels/ring-1/variable", variable="X", value="1") == not_in_stasis
    # Reading is another matter: Asterisk looks the channel up by name, Stasis or not.
    assert await ari.request("GET", "/channels/ring-1/variable", variable="X") == (
        404, {"message": "Provided variable was not found"})
    assert await ari.request("GET", "/channels/gone-1/variable", variable="X") == (
        404, {"message": "Provided channel was not found"})
    status, other_half = await ari.request("GET", "/channels/ringB-1")
    assert (status, other_half["state"]) == (200, "Ring")
    assert await ari.request("DELETE", "/channels/ring-1") == (204, "")
    await events.wait_for("ChannelDestroyed", "ringB-1")
    assert events.steps("ring-1") == recording.steps("ring-4212201")
    assert events.steps("ringB-1") == recording.steps("ringB-4212201")


async def test_created_channel_is_in_stasis_unanswered_until_dialed(ari, events, recording):
    status, created = await ari.request("POST", "/channels/create", endpoint="Local/15555550120@sim",
                                        app="dialer", channelId="cd-1")
    assert (status, created["state"]) == (200, "Down")
    await events.wait_for("StasisStart", "cd-1")
    invalid = (412, {"message": "Channel in invalid state"})
    assert await ari.request("POST", "/channels/cd-1/answer") == invalid
    assert await ari.request("POST", "/channels/cd-1/play", media="sound:hello") == invalid
    await ari.request("POST", "/bridges/bcd-1")
    assert await ari.request("POST", "/bridges/bcd-1/addChannel", channel="cd-1") == (204, "")
    assert await ari.request("POST", "/channels/cd-1/dial", timeout=30) == (204, "")
    await events.wait_for("Dial", "cd-1", dialstatus="ANSWER")
    assert await ari.request("POST", "/channels/cd-1/dial") == (409, {"message": "Channel is not in the 'Down' state"})
    await ari.request("DELETE", "/channels/cd-1")
    await events.wait_for("ChannelDestroyed", "cd-1")
    assert events.steps("cd-1") == recording.steps("cd-4208892")
    assert recording.mismatched_shapes(events.events) == []


async def test_hangup_reasons(ari, events):
    await ari.request("POST", "/channels", endpoint="Local/agent@sim", app="dialer", channelId="r-1")
    await events.wait_for("StasisStart", "r-1")
    assert await ari.request("DELETE", "/channels/r-1", reason="bogus") == (
        400, {"message": "Invalid reason for hangup reason provided"})
    assert await ari.request("DELETE", "/channels/r-1", reason="busy", reason_code="17") == (
        400, {"message": "The reason and reason_code can't both be specified"})
    assert await ari.request("DELETE", "/channels/r-1", reason_code="17") == (204, "")
    mine = await events.wait_for("ChannelDestroyed", "r-1")
    other = await events.wait_for("ChannelDestroyed", "r-1;2")
    assert (mine["cause"], mine["cause_txt"], other["cause"]) == (17, "User busy", 17)
    assert await ari.request("DELETE", "/channels/r-1") == (404, {"message": "Channel not found"})


async def test_far_end_in_40_to_59_hangs_up_after_being_bridged(ari, events):
    await ari.request("POST", "/channels", endpoint="PJSIP/15555550150@trunk", app="dialer", channelId="lead-1")
    await ari.request("POST", "/channels", endpoint="PJSIP/agent101", app="dialer", channelId="agent-1")
    await events.wait_for("StasisStart", "lead-1")
    await events.wait_for("StasisStart", "agent-1")
    await ari.request("POST", "/bridges", bridgeId="conf-1")
    await ari.request("POST", "/bridges/conf-1/addChannel", channel="agent-1,lead-1")
    request = await events.wait_for("ChannelHangupRequest", "lead-1")
    assert request["cause"] == 16 and "soft" not in request
    destroyed = await events.wait_for("ChannelDestroyed", "lead-1")
    assert destroyed["cause"] == 16
    assert events.steps("lead-1")[-6:] == [
        "ChannelHangupRequest 16", "ChannelVarset BRIDGEPEER=''", "ChannelLeftBridge", "StasisEnd",
        "ChannelVarset STASISSTATUS='SUCCESS'", "ChannelDestroyed 16"]
    status, bridge = await ari.request("GET", "/bridges/conf-1")
    assert bridge["channels"] == ["agent-1"]
    assert (await ari.request("GET", "/channels/agent-1"))[0] == 200


async def test_snoop_channel_gets_no_channel_destroyed(ari, events):
    await ari.request("POST", "/channels", endpoint="PJSIP/agent101", app="dialer", channelId="ag-1")
    await events.wait_for("StasisStart", "ag-1")
    assert await ari.request("POST", "/channels/ag-1/snoop", app="dialer") == (
        400, {"message": "Direction must be specified for at least spy or whisper"})
    status, snoop = await ari.request("POST", "/channels/ag-1/snoop/spy-1", spy="both", whisper="out", app="dialer")
    start = await events.wait_for("StasisStart", "spy-1")
    assert start["channel"]["dialplan"] == {"context": "default", "exten": "s", "priority": 1,
                                            "app_name": "Stasis", "app_data": "dialer"}
    await ari.request("DELETE", "/channels/ag-1")
    await events.wait_for("ChannelDestroyed", "ag-1")
    assert events.steps("spy-1") == ["StasisStart []", "StasisEnd"]
    ending = [(e["type"], e["channel"]["id"]) for e in events.events
              if e["type"] in ("StasisEnd", "ChannelDestroyed")]
    assert ending == [("StasisEnd", "ag-1"), ("StasisEnd", "spy-1"), ("ChannelDestroyed", "ag-1")]  # as recorded
    assert await ari.request("GET", "/channels/spy-1") == (404, {"message": "Channel not found"})


async def test_bridge_errors_and_membership(ari, events, recording):
    await ari.request("POST", "/channels", endpoint="PJSIP/agent101", app="dialer", channelId="m-1")
    await events.wait_for("StasisStart", "m-1")
    assert (await ari.request("POST", "/bridges/b-1"))[0] == 200
    assert await ari.request("POST", "/bridges/b-1") == (409, {"message": "Bridge with id 'b-1' already exists"})
    assert await ari.request("POST", "/bridges/b-1/removeChannel", channel="m-1") == (
        422, {"message": "Channel not in this bridge"})
    assert await ari.request("POST", "/bridges/b-1/addChannel", channel="nope") == (400, {"message": "Channel not found"})
    assert await ari.request("POST", "/bridges/nope/addChannel", channel="m-1") == (404, {"message": "Bridge not found"})
    await ari.request("POST", "/bridges/b-1/addChannel", channel="m-1")
    entered = await events.wait_for("ChannelEnteredBridge", "m-1")
    assert entered["bridge"]["technology"] == "simple_bridge" and entered["bridge"]["channels"] == ["m-1"]
    assert await ari.request("POST", "/bridges/b-1/removeChannel", channel="m-1") == (204, "")
    left = await events.wait_for("ChannelLeftBridge", "m-1")
    assert left["bridge"]["channels"] == []
    await ari.request("DELETE", "/bridges/b-1")
    destroyed = await events.wait_for("BridgeDestroyed")
    assert destroyed["bridge"]["id"] == "b-1"
    assert recording.mismatched_shapes(events.events) == []


async def test_third_party_turns_a_mixing_bridge_into_softmix(ari, events):
    for cid in ("x-1", "x-2", "x-3"):
        await ari.request("POST", "/channels", endpoint=f"PJSIP/agent-{cid}", app="dialer", channelId=cid)
        await events.wait_for("StasisStart", cid)
    await ari.request("POST", "/bridges", bridgeId="x-br", type="mixing")
    await ari.request("POST", "/bridges/x-br/addChannel", channel="x-1,x-2,x-3")
    third = await events.wait_for("ChannelEnteredBridge", "x-3")
    assert third["bridge"]["technology"] == "softmix"
    assert third["bridge"]["channels"] == ["x-1", "x-2", "x-3"]
