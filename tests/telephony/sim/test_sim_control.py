"""The /_sim control API, app ownership of websockets, and many calls at once."""
from __future__ import annotations

import asyncio


async def test_dropping_websockets_closes_them_and_a_new_one_gets_events(ari, events):
    assert await ari.sim("POST", "websockets/drop") == (200, {"dropped": 1})
    await asyncio.wait_for(events.closed.wait(), 5)
    again = await ari.events()
    try:
        await ari.request("POST", "/channels", endpoint="PJSIP/agent101", app="dialer", channelId="after-drop")
        await again.wait_for("StasisStart", "after-drop")
    finally:
        await again.close()


async def test_restart_forgets_channels_bridges_and_apps(ari, events):
    await ari.request("POST", "/channels", endpoint="PJSIP/agent101", app="dialer", channelId="keep-1")
    await events.wait_for("StasisStart", "keep-1")
    await ari.request("POST", "/bridges", bridgeId="keep-br")
    assert await ari.sim("POST", "restart") == (204, "")
    await asyncio.wait_for(events.closed.wait(), 5)
    assert await ari.request("GET", "/channels") == (200, [])
    assert await ari.request("GET", "/bridges") == (200, [])
    assert await ari.request("GET", "/applications") == (200, [])
    again = await ari.events()
    try:
        await ari.request("POST", "/channels", endpoint="PJSIP/agent101", app="dialer", channelId="keep-1")
        await again.wait_for("StasisStart", "keep-1")
    finally:
        await again.close()


async def test_forced_outcomes_win_over_the_table(ari, events):
    assert await ari.sim("POST", "outcomes", outcome="busy") == (204, "")
    await ari.request("POST", "/channels", endpoint="PJSIP/15555550101@trunk", app="dialer", channelId="f-1")
    assert (await events.wait_for("ChannelDestroyed", "f-1"))["cause"] == 17
    await ari.sim("POST", "outcomes", outcome="refused", number="+15555550102")
    for _ in range(2):
        assert (await ari.request("POST", "/channels", endpoint="PJSIP/15555550102@trunk", app="dialer"))[0] == 500
    assert await ari.sim("DELETE", "outcomes") == (204, "")
    assert (await ari.request("POST", "/channels", endpoint="PJSIP/15555550102@trunk", app="dialer"))[0] == 200
    assert (await ari.sim("POST", "outcomes", outcome="sometimes"))[0] == 400


async def test_far_end_hangup_and_journal_timestamps(ari, events):
    await ari.request("POST", "/channels", endpoint="Local/15555550133@sim", app="dialer", channelId="j-1")
    await events.wait_for("StasisStart", "j-1")
    assert (await ari.request("POST", "/bridges/j-bridge", type="mixing"))[0] == 200
    assert (await ari.request("POST", "/bridges/j-bridge/addChannel", channel="j-1"))[0] == 204
    assert await ari.sim("POST", "channels/j-1/hangup", cause=21) == (204, "")
    destroyed = await events.wait_for("ChannelDestroyed", "j-1")
    assert (destroyed["cause"], destroyed["cause_txt"]) == (21, "Call Rejected")
    assert (await events.wait_for("ChannelHangupRequest", "j-1"))["cause"] == 21
    status, journal = await ari.sim("GET", "journal")
    record = next(c for c in journal["channels"] if c["id"] == "j-1")
    assert record["outcome"] == "human" and record["cause"] == 21
    assert record["created_at"] <= record["answered_at"] <= record["stasis_at"] <= record["bridged_at"] \
        <= record["destroyed_at"]
    assert await ari.sim("POST", "channels/nope/hangup") == (404, {"message": "Channel not found"})


async def test_answered_call_for_an_app_nobody_serves_is_hung_up(ari):
    everything = await ari.events(app="watcher", subscribeAll="true")
    try:
        await ari.request("POST", "/channels", endpoint="PJSIP/agent101", app="ghost", channelId="g-1")
        destroyed = await everything.wait_for("ChannelDestroyed", "g-1")
        assert destroyed["cause"] == 16
        assert "StasisStart" not in [e["type"] for e in everything.events]
        assert "Dial 'ANSWER'" in everything.steps("g-1")
    finally:
        await everything.close()


async def test_a_second_websocket_takes_the_app_over(ari, events):
    second = await ari.events()
    try:
        replaced = await events.wait_for("ApplicationReplaced")
        assert replaced["application"] == "dialer"
        await ari.request("POST", "/channels", endpoint="PJSIP/agent101", app="dialer", channelId="own-1")
        await second.wait_for("StasisStart", "own-1")
        assert events.of("own-1") == []
    finally:
        await second.close()


async def test_apps_see_only_their_channels_unless_subscribed_to_all(ari, events):
    other = await ari.events(app="other")
    everything = await ari.events(app="watcher", subscribeAll="true")
    try:
        await ari.request("POST", "/channels", endpoint="PJSIP/agent101", app="other", channelId="o-1")
        await other.wait_for("StasisStart", "o-1")
        await everything.wait_for("StasisStart", "o-1")
        status, apps = await ari.request("GET", "/applications")
        assert sorted(app["name"] for app in apps) == ["dialer", "other", "watcher"]
        status, app = await ari.request("GET", "/applications/other")
        assert app["channel_ids"] == ["o-1"]
        assert events.of("o-1") == []
    finally:
        await other.close()
        await everything.close()


async def test_hundreds_of_concurrent_calls_each_get_their_own_channel(ari, events):
    ids = [f"bulk-{n}" for n in range(300)]
    replies = await asyncio.gather(*(
        ari.request("POST", "/channels", endpoint=f"PJSIP/1555555{n:04d}@trunk", app="dialer",
                    channelId=cid, timeout=5)
        for n, cid in enumerate(ids)))
    accepted = [cid for cid, (status, _) in zip(ids, replies) if status == 200]
    assert len(accepted) == 285  # endings 95-99 are refused
    assert len({body["name"] for status, body in replies if status == 200}) == 285
    await asyncio.gather(*(events.wait_for("Dial", cid, timeout=30) for cid in accepted))
    status, live = await ari.request("GET", "/channels")
    assert len({c["name"] for c in live}) == len(live)


async def test_event_filter_limits_what_an_app_receives(ari, events):
    status, app = await ari.request("PUT", "/applications/dialer/eventFilter",
                                    json_body={"allowed": [{"type": "StasisStart"}, {"type": "StasisEnd"}]})
    assert (status, app["events_allowed"]) == (200, [{"type": "StasisStart"}, {"type": "StasisEnd"}])
    await ari.request("POST", "/channels", endpoint="PJSIP/agent101", app="dialer", channelId="flt-1")
    await events.wait_for("StasisStart", "flt-1")
    await ari.request("DELETE", "/channels/flt-1")
    await events.wait_for("StasisEnd", "flt-1")
    assert {event["type"] for event in events.events} == {"StasisStart", "StasisEnd"}
