"""Decoding of every event a real Asterisk 22.10.1 sent during the probe run."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from realtime.telephony.ari.events import (
    EVENT_TYPES,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelEnteredBridge,
    ChannelHangupRequest,
    ChannelVarset,
    Dial,
    Event,
    PlaybackFinished,
    RecordingFailed,
    StasisStart,
    UnknownEvent,
    decode_event,
)
from realtime.telephony.ari.models import Bridge, Channel, Playback, parse_timestamp

from tests.conftest import ARI_OBSERVED

from .swagger import API_DOCS

OBSERVED = ARI_OBSERVED / "probe-events.jsonl"  # every event of a real Asterisk 22.10.1 run


def observed_events() -> list[dict]:
    return [json.loads(line) for line in OBSERVED.read_text().splitlines() if line.strip()]


def _channel_matches(channel: Channel, data: dict) -> None:
    assert channel.id == data["id"]
    assert channel.name == data["name"]
    assert channel.state == data["state"]
    assert (channel.caller.name, channel.caller.number) == (data["caller"]["name"], data["caller"]["number"])
    assert (channel.connected.name, channel.connected.number) == (
        data["connected"]["name"], data["connected"]["number"])
    for key in ("context", "exten", "priority", "app_name", "app_data"):
        assert getattr(channel.dialplan, key) == data["dialplan"][key]
    assert channel.creationtime == parse_timestamp(data["creationtime"])
    assert channel.language == data["language"]
    assert channel.protocol_id == data["protocol_id"]
    assert dict(channel.channelvars) == data.get("channelvars", {})


def _bridge_matches(bridge: Bridge, data: dict) -> None:
    for key in ("id", "technology", "bridge_type", "bridge_class", "creator", "name", "video_mode"):
        assert getattr(bridge, key) == data.get(key)
    assert list(bridge.channels) == data["channels"]
    assert bridge.creationtime == parse_timestamp(data["creationtime"])


def _playback_matches(playback: Playback, data: dict) -> None:
    for key in ("id", "media_uri", "target_uri", "state", "language", "next_media_uri"):
        assert getattr(playback, key) == data.get(key)


def test_every_observed_event_decodes_to_its_type_with_every_field_kept():
    events = observed_events()
    assert len(events) > 300
    for data in events:
        event = decode_event(data)
        assert not isinstance(event, UnknownEvent), data["type"]
        assert type(event).__name__ == data["type"]
        assert event.raw is data
        assert event.application == data["application"] == "probe"
        assert event.asterisk_id == data["asterisk_id"]
        assert event.timestamp == parse_timestamp(data["timestamp"]) is not None
        for key, value in data.items():
            if key in ("type", "timestamp", "application", "asterisk_id"):
                continue
            decoded = getattr(event, key)
            if key in ("channel", "peer", "caller", "replace_channel"):
                _channel_matches(decoded, value)
            elif key == "bridge":
                _bridge_matches(decoded, value)
            elif key == "playback":
                _playback_matches(decoded, value)
            elif key == "args":
                assert list(decoded) == value
            else:
                assert decoded == value, (data["type"], key)


def test_observed_events_route_to_the_channels_and_bridges_they_are_about():
    for data in observed_events():
        event = decode_event(data)
        if "channel" in data:
            assert data["channel"]["id"] in event.channel_ids
        if "peer" in data:
            assert event.channel_ids == (data["peer"]["id"],)
        if "bridge" in data:
            assert event.bridge_ids == (data["bridge"]["id"],)
        if "playback" in data:
            kind, _, target = data["playback"]["target_uri"].partition(":")
            assert target in (event.channel_ids if kind == "channel" else event.bridge_ids)


def test_asterisk_timestamps_keep_milliseconds_and_offset():
    stamp = parse_timestamp("2026-11-26T14:31:51.599+0000")
    assert stamp == datetime(2026, 11, 26, 14, 31, 51, 599000, tzinfo=timezone.utc)
    assert parse_timestamp("2026-11-26T09:31:51.599-0500") == stamp
    assert parse_timestamp("2026-11-26T14:31:51.599+00:00") == stamp
    assert parse_timestamp("2026-11-26T15:31:51.599+0100").utcoffset() == timedelta(hours=1)
    assert parse_timestamp("") is None and parse_timestamp("garbage") is None


def test_decisive_fields_of_the_outcome_events():
    by_type: dict[str, list[Event]] = {}
    for data in observed_events():
        event = decode_event(data)
        by_type.setdefault(event.type, []).append(event)
    hangups = by_type["ChannelHangupRequest"]
    assert any(isinstance(e, ChannelHangupRequest) and e.soft and e.cause == 32 for e in hangups)
    destroyed = by_type["ChannelDestroyed"]
    assert any(isinstance(e, ChannelDestroyed) and e.cause == 19 and e.tech_cause == 480 for e in destroyed)
    assert {e.dialstatus for e in by_type["Dial"] if isinstance(e, Dial)} >= {"", "RINGING", "ANSWER", "BUSY"}
    assert [e.digit for e in by_type["ChannelDtmfReceived"] if isinstance(e, ChannelDtmfReceived)] == list("1234#")
    assert any(isinstance(e, StasisStart) and e.args == ("outbound", "42") for e in by_type["StasisStart"])
    assert any(isinstance(e, ChannelVarset) and e.variable == "AMDSTATUS" for e in by_type["ChannelVarset"])
    assert {e.playback.state for e in by_type["PlaybackFinished"] if isinstance(e, PlaybackFinished)} >= {"failed"}
    entered = [e for e in by_type["ChannelEnteredBridge"] if isinstance(e, ChannelEnteredBridge)]
    assert entered[0].bridge.bridge_type == "mixing" and entered[0].channel is not None


def test_every_modelled_type_is_an_asterisk_event_type():
    """Guards against typos: a misspelt class name would silently never match."""
    models = json.loads((API_DOCS / "events.json").read_text())["models"]
    assert set(EVENT_TYPES) <= set(models["Event"]["subTypes"])
    for name, cls in EVENT_TYPES.items():
        properties = models[name]["properties"]
        required = {k for k, v in properties.items() if v.get("required")}
        missing = {k for k in required if k not in cls.__dataclass_fields__ and not hasattr(cls, k)}
        assert not missing, (name, missing)
        # A frame without a required nested object must not decode as this type.
        nested = {k for k in required if properties[k]["type"] in ("Channel", "Bridge", "Playback", "LiveRecording")}
        assert nested <= set(cls._required), (name, nested - set(cls._required))


def test_unknown_or_broken_frames_become_unknown_events_keeping_the_frame():
    unknown = decode_event({"type": "ChannelToneDetected", "timestamp": "2026-11-26T14:31:51.599+0000",
                            "channel": {"id": "x"}})
    assert isinstance(unknown, UnknownEvent) and unknown.raw["channel"] == {"id": "x"}
    broken = decode_event({"type": "ChannelDestroyed", "cause": 16})
    assert isinstance(broken, UnknownEvent) and broken.type == "ChannelDestroyed"


def test_recording_events_carry_the_live_recording_and_reach_its_bridge():
    failed = decode_event({"type": "RecordingFailed", "timestamp": "2026-11-26T14:31:51.599+0000",
                           "recording": {"name": "call-1", "format": "wav", "state": "failed",
                                         "target_uri": "bridge:conf-7", "cause": "Failed to answer channel"}})
    assert isinstance(failed, RecordingFailed)
    assert (failed.recording.state, failed.recording.cause, failed.recording.duration) == (
        "failed", "Failed to answer channel", None)
    assert (failed.bridge_ids, failed.channel_ids) == (("conf-7",), ())
    finished = decode_event({"type": "RecordingFinished", "recording": {
        "name": "call-1", "format": "wav", "state": "done", "target_uri": "channel:c1", "duration": 12}})
    assert (finished.channel_ids, finished.recording.duration) == (("c1",), 12)
    assert isinstance(decode_event({"type": "RecordingStarted", "recording": {"format": "wav"}}), UnknownEvent)
