"""ARI resource objects (Channel, Bridge, Playback, LiveRecording) decoded from Asterisk's JSON.

Field names follow the ARI models of Asterisk 22 (``channels.json``, ``bridges.json``,
``playbacks.json``, ``recordings.json``); optional fields Asterisk leaves out decode to ``None``/empty.
Objects are snapshots of one moment: treat them as read-only (Channel, Bridge and
Playback are not frozen only because frozen dataclasses cost three times as much to
build, and one is built for nearly every event).
"""
from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from typing import Any, Mapping, NamedTuple


def split_target(uri: str) -> tuple[str, str]:
    """``"bridge:conf-1"`` -> ``("bridge", "conf-1")`` (a playback's or recording's target)."""
    kind, _, target_id = uri.partition(":")
    return kind, target_id


def parse_timestamp(value: str | None) -> datetime | None:
    """Asterisk's ``2026-11-26T14:31:51.599+0000`` (no colon in the offset) as an aware datetime."""
    if not value:
        return None
    try:
        # Python >= 3.11 reads the colon-less offset itself, and is ~50x faster than strptime.
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class CallerId(NamedTuple):
    name: str = ""
    number: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> CallerId:
        if not data:
            return _NO_CALLER
        return cls(data.get("name", ""), data.get("number", ""))


_NO_CALLER = CallerId()


class DialplanLocation(NamedTuple):
    context: str = ""
    exten: str = ""
    priority: int = 0
    app_name: str = ""
    app_data: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> DialplanLocation:
        data = data or {}
        return cls(
            data.get("context", ""),
            data.get("exten", ""),
            int(data.get("priority", 0) or 0),
            data.get("app_name", ""),
            data.get("app_data", ""),
        )


@dataclasses.dataclass(slots=True)
class Channel:
    id: str
    name: str = ""
    state: str = ""
    caller: CallerId = CallerId()
    connected: CallerId = CallerId()
    dialplan: DialplanLocation = DialplanLocation()
    creationtime: datetime | None = None
    language: str = ""
    accountcode: str = ""
    protocol_id: str = ""
    channelvars: Mapping[str, str] = dataclasses.field(default_factory=dict)
    caller_rdnis: str | None = None
    tenantid: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Channel:
        return cls(
            id=data["id"],
            name=data.get("name", ""),
            state=data.get("state", ""),
            caller=CallerId.from_json(data.get("caller")),
            connected=CallerId.from_json(data.get("connected")),
            dialplan=DialplanLocation.from_json(data.get("dialplan")),
            creationtime=parse_timestamp(data.get("creationtime")),
            language=data.get("language", ""),
            accountcode=data.get("accountcode", ""),
            protocol_id=data.get("protocol_id", ""),
            channelvars=dict(data.get("channelvars") or {}),
            caller_rdnis=data.get("caller_rdnis"),
            tenantid=data.get("tenantid"),
        )


@dataclasses.dataclass(slots=True)
class Bridge:
    id: str
    technology: str = ""
    bridge_type: str = ""
    bridge_class: str = ""
    creator: str = ""
    name: str = ""
    channels: tuple[str, ...] = ()
    creationtime: datetime | None = None
    video_mode: str | None = None
    video_source_id: str | None = None
    bridgevars: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Bridge:
        return cls(
            id=data["id"],
            technology=data.get("technology", ""),
            bridge_type=data.get("bridge_type", ""),
            bridge_class=data.get("bridge_class", ""),
            creator=data.get("creator", ""),
            name=data.get("name", ""),
            channels=tuple(data.get("channels") or ()),
            creationtime=parse_timestamp(data.get("creationtime")),
            video_mode=data.get("video_mode"),
            video_source_id=data.get("video_source_id"),
            bridgevars=dict(data.get("bridgevars") or {}),
        )


@dataclasses.dataclass(slots=True)
class Playback:
    id: str
    media_uri: str = ""
    target_uri: str = ""
    state: str = ""
    language: str | None = None
    next_media_uri: str | None = None

    @property
    def target(self) -> tuple[str, str]:
        """``("channel", id)`` or ``("bridge", id)`` from ``target_uri``."""
        return split_target(self.target_uri)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Playback:
        return cls(
            id=data["id"],
            media_uri=data.get("media_uri", ""),
            target_uri=data.get("target_uri", ""),
            state=data.get("state", ""),
            language=data.get("language"),
            next_media_uri=data.get("next_media_uri"),
        )


@dataclasses.dataclass(slots=True)
class LiveRecording:
    """A recording in progress or just ended: ``state`` queued, recording, paused, done,
    failed or canceled; ``duration`` (seconds) once it is done; ``cause`` when it failed."""

    name: str
    format: str = ""
    target_uri: str = ""
    state: str = ""
    duration: int | None = None
    talking_duration: int | None = None
    silence_duration: int | None = None
    cause: str | None = None

    @property
    def target(self) -> tuple[str, str]:
        """``("channel", id)`` or ``("bridge", id)`` from ``target_uri``."""
        return split_target(self.target_uri)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LiveRecording:
        return cls(
            name=data["name"],
            format=data.get("format", ""),
            target_uri=data.get("target_uri", ""),
            state=data.get("state", ""),
            duration=data.get("duration"),
            talking_duration=data.get("talking_duration"),
            silence_duration=data.get("silence_duration"),
            cause=data.get("cause"),
        )
