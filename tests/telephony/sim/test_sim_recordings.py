"""Bridge recordings as Asterisk 22 answers them (res/ari/resource_bridges.c and
resource_recordings.c, res/res_stasis_recording.c): status codes, error texts, events."""
from __future__ import annotations

import io
import wave

import pytest


async def recorded_bridge(ari, events, bridge_id: str, channel_id: str) -> None:
    """An answered channel in a new bridge."""
    await ari.request("POST", "/channels", endpoint="PJSIP/agent101", app="dialer", channelId=channel_id)
    await events.wait_for("StasisStart", channel_id)
    await ari.request("POST", "/bridges", bridgeId=bridge_id)
    await ari.request("POST", f"/bridges/{bridge_id}/addChannel", channel=channel_id)


def recording_events(events) -> list[tuple[str, str, str]]:
    return [(e["type"], e["recording"]["name"], e["recording"]["state"]) for e in events.events
            if e["type"].startswith("Recording")]


async def test_record_answers_201_queued_then_starts_and_stop_finishes_it(ari, events):
    await recorded_bridge(ari, events, "rec-br", "r-1")
    async with ari.session.post(ari.base + "/bridges/rec-br/record", headers=ari.auth,
                                params={"name": "call-1", "format": "wav", "ifExists": "fail"}) as response:
        assert response.status == 201
        assert response.headers["Location"] == "/recordings/live/call-1"
        assert await response.json() == {"name": "call-1", "format": "wav", "state": "queued",
                                         "target_uri": "bridge:rec-br"}
    started = await events.wait_for("RecordingStarted")
    assert started["recording"] == {"name": "call-1", "format": "wav", "state": "recording",
                                    "target_uri": "bridge:rec-br"}
    assert (await ari.request("GET", "/recordings/live/call-1"))[1]["state"] == "recording"

    assert await ari.request("POST", "/recordings/live/call-1/stop") == (204, "")
    finished = await events.wait_for("RecordingFinished")
    assert list(finished["recording"]) == ["name", "format", "state", "target_uri", "duration"]
    assert finished["recording"]["state"] == "done" and finished["recording"]["duration"] >= 0
    assert recording_events(events) == [("RecordingStarted", "call-1", "recording"),
                                        ("RecordingFinished", "call-1", "done")]
    assert await ari.request("GET", "/recordings/live/call-1") == (404, {"message": "Recording not found"})
    assert await ari.request("GET", "/recordings/stored/call-1") == (200, {"name": "call-1", "format": "wav"})
    _, journal = await ari.sim("GET", "journal")
    assert [(r["name"], r["target_uri"], r["state"]) for r in journal["recordings"]] == [
        ("call-1", "bridge:rec-br", "done")]


async def test_the_stored_file_is_a_wav_of_the_recording(ari, events, simulator):
    await recorded_bridge(ari, events, "file-br", "r-2")
    await ari.request("POST", "/bridges/file-br/record", name="call-2", format="wav", maxDurationSeconds=2)
    finished = await events.wait_for("RecordingFinished")  # at maxDurationSeconds
    assert finished["recording"]["duration"] == 2
    async with ari.session.get(ari.base + "/recordings/stored/call-2/file", headers=ari.auth) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "audio/wav"
        audio = await response.read()
    assert audio[:4] == b"RIFF" and audio[8:12] == b"WAVE"
    with wave.open(io.BytesIO(audio)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        assert wav.getnframes() == 2 * 8000

    assert await ari.request("DELETE", "/recordings/stored/call-2") == (204, "")
    assert await ari.request("GET", "/recordings/stored/call-2/file") == (404, {"message": "Recording not found"})
    assert await ari.request("DELETE", "/recordings/stored/call-2") == (404, {"message": "Recording not found"})


async def test_destroying_the_bridge_finishes_the_recording(ari, events):
    await recorded_bridge(ari, events, "gone-br", "r-3")
    await ari.request("POST", "/bridges/gone-br/record", name="call-3", format="wav")
    await events.wait_for("RecordingStarted")
    await ari.request("DELETE", "/bridges/gone-br")
    finished = await events.wait_for("RecordingFinished")
    assert finished["recording"]["name"] == "call-3"
    order = [e["type"] for e in events.events if e["type"] in ("RecordingFinished", "BridgeDestroyed")]
    assert order == ["RecordingFinished", "BridgeDestroyed"]


async def test_the_last_party_leaving_finishes_the_recording(ari, events):
    # The Recorder channel is pushed in as LONELY: alone in the bridge, it is kicked out.
    await recorded_bridge(ari, events, "empty-br", "r-4")
    await ari.request("POST", "/bridges/empty-br/record", name="call-4", format="wav")
    await events.wait_for("RecordingStarted")
    await ari.request("POST", "/bridges/empty-br/removeChannel", channel="r-4")
    finished = await events.wait_for("RecordingFinished")
    assert (finished["recording"]["name"], finished["recording"]["state"]) == ("call-4", "done")


@pytest.mark.parametrize("params, status, message", [
    ({"format": "wav"}, 500, "Error parsing request"),  # no name: Asterisk has no check of its own
    ({"name": "x"}, 422, "specified format is unknown on this system"),
    ({"name": "x", "format": "mp9"}, 422, "specified format is unknown on this system"),
    ({"name": "x", "format": "wav", "ifExists": "keep"}, 400, "ifExists invalid"),
    ({"name": "x", "format": "wav", "terminateOn": "5"}, 400, "terminateOn invalid"),
])
async def test_bad_parameters_answer_as_asterisk_does(ari, events, params, status, message):
    await recorded_bridge(ari, events, "bad-br", "r-5")
    assert await ari.request("POST", "/bridges/bad-br/record", **params) == (status, {"message": message})
    assert not recording_events(events)


async def test_names_in_use_and_unknown_targets(ari, events):
    assert await ari.request("POST", "/bridges/nobody/record", name="x", format="wav") == (
        404, {"message": "Bridge not found"})
    for path in ("/recordings/live/nope/stop", "/recordings/live/nope", "/recordings/stored/nope/file"):
        method = "POST" if path.endswith("stop") else "GET"
        assert await ari.request(method, path) == (404, {"message": "Recording not found"})

    await recorded_bridge(ari, events, "dup-br", "r-6")
    assert (await ari.request("POST", "/bridges/dup-br/record", name="dup", format="wav"))[0] == 201
    in_use = (409, {"message": "Recording 'dup' already exists and can not be overwritten"})
    assert await ari.request("POST", "/bridges/dup-br/record", name="dup", format="wav", ifExists="overwrite") \
        == in_use  # live: never, whatever ifExists says
    await ari.request("POST", "/recordings/live/dup/stop")
    await events.wait_for("RecordingFinished")
    assert await ari.request("POST", "/bridges/dup-br/record", name="dup", format="wav") == in_use  # fail: the default
    status, again = await ari.request("POST", "/bridges/dup-br/record", name="dup", format="wav", ifExists="overwrite")
    assert (status, again["state"]) == (201, "queued")
