"""The simulated PBX's objects (channels, bridges, playbacks, recordings) and their ARI JSON shapes.

Key order of every JSON object follows what Asterisk 22 puts on the wire.
"""
from __future__ import annotations

import asyncio
import io
import time
import wave
from collections import deque
from dataclasses import dataclass, field

from .farend import FarEnd

ASTERISK_ID = "02:fc:00:00:00:01"
ASTERISK_VERSION = "22.10.1"

# Q.850 cause -> cause_txt, as Asterisk's ast_cause2str() writes them.
CAUSE_TEXT = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    3: "No route to destination",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    21: "Call Rejected",
    26: "Answered elsewhere",
    27: "Destination out of order",
    28: "Invalid number format",
    31: "Normal, unspecified",
    34: "Circuit/channel congestion",
    38: "Network out of order",
    58: "Bearer capability not available",
    127: "Interworking, unspecified",
}

# DELETE /channels/{id}?reason=... -> Q.850 cause
HANGUP_REASONS = {
    "normal": 16,
    "busy": 17,
    "congestion": 34,
    "no_answer": 19,
    "timeout": 18,
    "rejected": 21,
    "unallocated": 1,
    "normal_unspecified": 31,
    "number_incomplete": 28,
    "codec_mismatch": 58,
    "interworking": 127,
    "failure": 38,
    "answered_elsewhere": 26,
}

# Q.850 cause -> SIP response a PJSIP far end would have sent (reported as tech_cause).
SIP_RESPONSE = {17: 486, 19: 480, 34: 503, 21: 603, 1: 404}


def cause_text(cause: int) -> str:
    return CAUSE_TEXT.get(cause, "Unknown")


def dial_status(cause: int) -> str:
    """Final Dial status for a dial attempt that ended with `cause` (main/dial.c)."""
    if cause == 17:
        return "BUSY"
    if cause == 34:
        return "CONGESTION"
    if cause == 3:
        return "CHANUNAVAIL"
    return "NOANSWER"


_formatted_second = [-1, ""]  # every event carries a timestamp: format each second once


def ari_time(at: float | None = None) -> str:
    """``2026-11-26T14:31:51.599+0000``: milliseconds, offset without colon."""
    at = time.time() if at is None else at
    second = int(at)
    if second != _formatted_second[0]:
        _formatted_second[:] = [second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))]
    return f"{_formatted_second[1]}.{int(at * 1000) % 1000:03d}+0000"


@dataclass
class Playback:
    id: str
    media: list[str]
    target_uri: str
    language: str = "en"
    state: str = "queued"
    index: int = 0
    target: object = None            # the Channel or Bridge it plays to
    timer: asyncio.Handle | None = None
    ends_at: float = 0.0             # loop time the current media ends
    remaining: float | None = None   # simulated seconds left while paused

    @property
    def media_uri(self) -> str:
        return self.media[self.index]

    def json(self) -> dict:
        body = {"id": self.id, "media_uri": self.media_uri}
        if self.index + 1 < len(self.media):
            body["next_media_uri"] = self.media[self.index + 1]
        body.update(target_uri=self.target_uri, language=self.language, state=self.state)
        return body


@dataclass
class LiveRecording:
    """A bridge being recorded (Asterisk's Recorder channel, not modelled as a channel)."""

    name: str
    format: str
    target_uri: str
    bridge: object = None            # the Bridge it records
    max_duration: int = 0            # simulated seconds; 0 = no limit
    state: str = "queued"
    started_at: float | None = None  # loop time of RecordingStarted
    duration: int | None = None      # whole simulated seconds, once done
    timer: asyncio.Handle | None = None

    def json(self) -> dict:
        # res_stasis_recording.c packs name, format, state, target_uri, then the duration.
        body = {"name": self.name, "format": self.format, "state": self.state, "target_uri": self.target_uri}
        if self.duration is not None:
            body["duration"] = self.duration
        return body


WAV_RATE = 8000
WAV_MAX_SECONDS = 60  # the stored file's audio is silence; no need to hold an hour of it


@dataclass
class StoredRecording:
    name: str
    format: str
    duration: int

    def json(self) -> dict:
        return {"name": self.name, "format": self.format}

    def audio(self) -> bytes:
        """A valid file of the recording's length (capped): 8 kHz mono 16-bit silence."""
        out = io.BytesIO()
        with wave.open(out, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(WAV_RATE)
            wav.writeframes(bytes(2 * WAV_RATE * min(self.duration, WAV_MAX_SECONDS)))
        return out.getvalue()


class Channel:
    """One channel; a Local channel is two of these (`half` points at the other)."""

    def __init__(self, id: str, name: str, *, context: str, exten: str, dialstring: str = "",
                 caller: tuple[str, str] = ("", "")) -> None:
        self.id = id
        self.name = name
        self.state = "Down"
        self.caller = caller
        self.connected = caller
        self.context = context
        self.exten = exten
        self.priority = 1
        self.app_name = ""
        self.app_data = ""
        self.creationtime = ari_time()
        self.language = "en"
        self.dialstring = dialstring
        self.technology = name.split("/", 1)[0]
        self.timeout_timer: asyncio.TimerHandle | None = None
        self.variables: dict[str, str] = {}
        self.reported: list[str] = []          # variables shown in channelvars
        self.subscribers: set[str] = set()     # apps explicitly subscribed
        self.stasis_app: str | None = None
        self.stasis_entries = 0
        self.bridge: Bridge | None = None
        self.half: Channel | None = None       # the other half of a Local channel
        self.is_local_callee = False           # the ;2 half
        self.created_by_ari = False            # POST /channels/create
        self.inbound = False                   # a phone called in (POST /_sim/inbound)
        self.protocol_id = ""                  # SIP Call-ID of an inbound PJSIP call
        self.snoop_target: Channel | None = None
        self.snoops: set[Channel] = set()
        self.far_end: FarEnd | None = None
        self.after_answer: tuple | None = None  # ("stasis", app, args) or ("dialplan", ctx, exten, prio)
        self.dialing = False                   # a dial attempt is in progress
        self.talk_started = False
        self.timers: list[asyncio.TimerHandle] = []
        self.playbacks: deque[Playback] = deque()
        self.gone = False

    def set_dialplan(self, app_name: str, app_data: str = "", *, priority: int | None = None,
                     context: str | None = None, exten: str | None = None) -> None:
        self.app_name, self.app_data = app_name, app_data
        if priority is not None:
            self.priority = priority
        if context is not None:
            self.context = context
        if exten is not None:
            self.exten = exten

    def cancel_timers(self) -> None:
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()

    def json(self) -> dict:
        body = {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "protocol_id": self.protocol_id,
            "caller": {"name": self.caller[0], "number": self.caller[1]},
            "connected": {"name": self.connected[0], "number": self.connected[1]},
            "accountcode": "",
            "dialplan": {"context": self.context, "exten": self.exten, "priority": self.priority,
                         "app_name": self.app_name, "app_data": self.app_data},
            "creationtime": self.creationtime,
            "language": self.language,
        }
        if self.reported:
            body["channelvars"] = {name: self.variables.get(name, "") for name in self.reported}
        return body


@dataclass
class Bridge:
    id: str
    types: list[str]
    name: str = ""
    creationtime: str = field(default_factory=ari_time)
    channels: list[Channel] = field(default_factory=list)
    subscribers: set[str] = field(default_factory=set)
    playbacks: deque[Playback] = field(default_factory=deque)
    recordings: list[LiveRecording] = field(default_factory=list)
    grew_past_two: bool = False
    moh_playing: bool = False

    @property
    def bridge_type(self) -> str:
        return "holding" if "holding" in self.types else "mixing"

    @property
    def technology(self) -> str:
        if self.bridge_type == "holding":
            return "holding_bridge"
        return "softmix" if self.grew_past_two else "simple_bridge"

    def json(self) -> dict:
        return {
            "id": self.id,
            "technology": self.technology,
            "bridge_type": self.bridge_type,
            "bridge_class": "stasis",
            "creator": "Stasis",
            "name": self.name,
            "channels": [channel.id for channel in self.channels],
            "creationtime": self.creationtime,
            "video_mode": "talker" if self.bridge_type == "mixing" else "none",
        }
