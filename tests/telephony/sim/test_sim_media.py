"""Playbacks, DTMF and AMD on answered calls, as Asterisk reports them."""
from __future__ import annotations

import pytest


async def answered(ari, events, channel_id: str, endpoint: str = "PJSIP/agent101") -> dict:
    await ari.request("POST", "/channels", endpoint=endpoint, app="dialer", channelId=channel_id)
    return await events.wait_for("StasisStart", channel_id)


async def test_playbacks_answer_201_and_queue_per_channel(ari, events, recording):
    await answered(ari, events, "p-1")
    status, first = await ari.request("POST", "/channels/p-1/play", media="tone:ring", playbackId="pb-1")
    assert status == 201
    assert first == {"id": "pb-1", "media_uri": "tone:ring", "target_uri": "channel:p-1",
                     "language": "en", "state": "playing"}
    status, second = await ari.request("POST", "/channels/p-1/play/pb-2", media="sound:bye")
    assert (status, second["state"]) == (201, "queued")
    await ari.request("DELETE", "/playbacks/pb-1")
    await events.wait_for("PlaybackFinished", None, playback=dict(second, state="done"))
    order = [(e["type"], e["playback"]["id"]) for e in events.events if e["type"].startswith("Playback")]
    assert order == [("PlaybackStarted", "pb-1"), ("PlaybackFinished", "pb-1"),
                     ("PlaybackStarted", "pb-2"), ("PlaybackFinished", "pb-2")]
    assert recording.mismatched_shapes(events.events) == []
    status, journal = await ari.sim("GET", "journal")
    started = [p for p in journal["playbacks"] if p["target_uri"] == "channel:p-1"]
    assert [(p["id"], p["media"], p["state"]) for p in started] == [
        ("pb-1", ["tone:ring"], "done"), ("pb-2", ["sound:bye"], "done")]
    assert started[0]["started_at"] >= journal["channels"][0]["answered_at"]


async def test_a_media_list_continues_then_finishes(ari, events):
    await answered(ari, events, "p-2")
    status, playback = await ari.request("POST", "/channels/p-2/play", media="sound:a,digits:12")
    assert playback["next_media_uri"] == "digits:12"
    finished = await events.wait_for("PlaybackFinished", None)
    assert finished["playback"]["media_uri"] == "digits:12"
    assert [e["type"] for e in events.events if "playback" in e] == [
        "PlaybackStarted", "PlaybackContinuing", "PlaybackFinished"]


async def test_tones_play_until_stopped_and_fail_when_the_channel_hangs_up(ari, events):
    await answered(ari, events, "p-3")
    _, tone = await ari.request("POST", "/channels/p-3/play", media="tone:ring;tonezone=us")
    await events.wait_for("PlaybackStarted", None)
    assert (await ari.request("GET", f"/playbacks/{tone['id']}"))[1]["state"] == "playing"
    assert await ari.request("DELETE", f"/playbacks/{tone['id']}") == (204, "")
    stopped = await events.wait_for("PlaybackFinished", None)
    assert stopped["playback"]["state"] == "done"
    assert await ari.request("GET", f"/playbacks/{tone['id']}") == (404, {"message": "Playback not found"})

    _, ringing = await ari.request("POST", "/channels/p-3/play", media="tone:ring")
    _, queued = await ari.request("POST", "/channels/p-3/play", media="sound:never")
    await ari.request("DELETE", "/channels/p-3")
    await events.wait_for("ChannelDestroyed", "p-3")
    outcome = [(e["type"], e["playback"]["id"], e["playback"]["state"]) for e in events.events
               if e["type"].startswith("Playback") and e["playback"]["id"] in (ringing["id"], queued["id"])]
    assert outcome == [("PlaybackStarted", ringing["id"], "playing"), ("PlaybackFinished", ringing["id"], "failed"),
                       ("PlaybackStarted", queued["id"], "playing"), ("PlaybackFinished", queued["id"], "failed")]


async def test_bridge_playback_reaches_the_apps_of_its_channels(ari, events):
    await answered(ari, events, "p-4")
    await ari.request("POST", "/bridges", bridgeId="pb-br")
    await ari.request("POST", "/bridges/pb-br/addChannel", channel="p-4")
    status, playback = await ari.request("POST", "/bridges/pb-br/play", media="sound:welcome")
    assert (status, playback["target_uri"]) == (201, "bridge:pb-br")
    await events.wait_for("PlaybackFinished", None)


async def test_bridge_music_ends_by_itself_when_the_last_party_leaves(ari, events):
    # Asterisk's music channel is pushed into the bridge as LONELY: alone, it is kicked out.
    await answered(ari, events, "m-1")
    await ari.request("POST", "/bridges/moh-br")
    await ari.request("POST", "/bridges/moh-br/addChannel", channel="m-1")
    assert await ari.request("POST", "/bridges/moh-br/moh") == (204, "")
    await ari.request("POST", "/bridges/moh-br/removeChannel", channel="m-1")
    assert await ari.request("DELETE", "/bridges/moh-br/moh") == (409, {"message": "Bridge isn't playing music"})
    # Started on an empty bridge, nobody leaves: it plays until stopped.
    assert await ari.request("POST", "/bridges/moh-br/moh") == (204, "")
    assert await ari.request("DELETE", "/bridges/moh-br/moh") == (204, "")


async def test_injected_dtmf_arrives_digit_by_digit(ari, events, recording):
    await answered(ari, events, "d-1")
    assert await ari.sim("POST", "channels/d-1/dtmf", digits="1234#") == (204, "")
    await events.wait_for("ChannelDtmfReceived", "d-1", digit="#")
    received = [(e["digit"], e["duration_ms"]) for e in events.events if e["type"] == "ChannelDtmfReceived"]
    assert received == [(d, 100) for d in "1234#"]
    assert recording.mismatched_shapes(events.events) == []
    assert (await ari.sim("POST", "channels/d-1/dtmf", digits="x"))[0] == 400


async def test_channel_controls_need_stasis_and_valid_arguments(ari, events):
    await answered(ari, events, "c-1")
    assert await ari.request("POST", "/channels/c-1/mute", direction="sideways") == (
        400, {"message": "Invalid direction specified"})
    for method, path in (("POST", "mute"), ("DELETE", "mute"), ("POST", "moh"), ("DELETE", "moh"),
                         ("POST", "ring"), ("DELETE", "ring"), ("POST", "answer")):
        assert await ari.request(method, f"/channels/c-1/{path}") == (204, ""), path
    assert await ari.request("POST", "/channels/c-1/hold") == (204, "")
    assert await ari.request("DELETE", "/channels/c-1/hold") == (204, "")
    await events.wait_for("ChannelUnhold", "c-1")
    assert await ari.request("POST", "/channels/c-1/variable", variable="ROLE", value="agent") == (204, "")
    assert (await events.wait_for("ChannelVarset", "c-1", variable="ROLE"))["value"] == "agent"
    assert await ari.request("GET", "/channels/c-1/variable", variable="ROLE") == (200, {"value": "agent"})


@pytest.mark.parametrize("endpoint, status, cause", [
    ("Local/15555550161@sim", "MACHINE", "LONGGREETING-1500-1500"),
    ("Local/15555550121@sim", "HUMAN", "HUMAN-800-800"),
])
async def test_continue_into_the_amd_context_comes_back_with_the_verdict(ari, events, recording, endpoint, status, cause):
    await answered(ari, events, "amd-1", endpoint)
    assert await ari.request("POST", "/channels/amd-1/continue", context="impactdialing-amd",
                             extension="dialer", priority=1) == (204, "")
    back = await events.wait_for("StasisStart", "amd-1", args=["amd", status, cause])
    assert back["channel"]["dialplan"]["app_name"] == "Stasis"
    assert await ari.request("GET", "/channels/amd-1/variable", variable="AMDSTATUS") == (200, {"value": status})
    steps = events.steps("amd-1")
    assert steps[steps.index("StasisEnd"):] == [
        "StasisEnd", "ChannelDialplan AMD", f"ChannelVarset AMDSTATUS={status!r}",
        f"ChannelVarset AMDCAUSE={cause!r}", "ChannelDialplan Stasis", "ChannelVarset STASISSTATUS=''",
        f"StasisStart ['amd', {status!r}, {cause!r}]"]
    await ari.request("DELETE", "/channels/amd-1")
    await events.wait_for("ChannelDestroyed", "amd-1")
    recorded = [s for s in recording.steps("amdmachine-4194118") if s != "ChannelDialplan NoOp"]
    assert recorded == [s.replace(cause, "LONGGREETING-1500-1500").replace(status, "MACHINE")
                        for s in events.steps("amd-1")]
    assert recording.mismatched_shapes(events.events) == []


async def test_continue_elsewhere_leaves_stasis_and_hangs_up(ari, events):
    await answered(ari, events, "cont-1")
    assert await ari.request("POST", "/channels/cont-1/continue", context="nowhere", extension="s") == (204, "")
    destroyed = await events.wait_for("ChannelDestroyed", "cont-1")
    assert destroyed["cause"] == 16
    assert events.steps("cont-1").count("StasisEnd") == 1


async def test_originate_straight_into_amd_reaches_the_app_only_at_stasis(ari, events):
    await ari.request("POST", "/channels", endpoint="PJSIP/15555550162@trunk", context="impactdialing-amd",
                      extension="dialer", priority=1, channelId="amdo-1")
    assert (await ari.request("POST", "/applications/dialer/subscription", eventSource="channel:amdo-1"))[0] == 200
    await events.wait_for("StasisStart", "amdo-1", args=["amd", "MACHINE", "LONGGREETING-1500-1500"])
    assert await ari.request("POST", "/applications/dialer/subscription", eventSource="channel:nope") == (
        422, {"message": "Event source does not exist"})


async def test_a_missing_sound_is_accepted_then_fails_as_events(ari, events, recording):
    await answered(ari, events, "miss-1")
    status, playback = await ari.request("POST", "/channels/miss-1/play", media="sound:no-such-file")
    assert status == 201
    failed = await events.wait_for("PlaybackFinished", None)
    assert (failed["playback"]["id"], failed["playback"]["state"]) == (playback["id"], "failed")
    recorded = [e["playback"]["state"] for e in recording.events
                if e["type"].startswith("Playback") and e["playback"]["media_uri"] == "sound:no-such-file"]
    assert recorded == ["playing", "failed"]
    assert [e["playback"]["state"] for e in events.events if "playback" in e] == recorded
