"""Typed ARI events decoded from the JSON frames of ``/ari/events``.

Each event keeps the frame it came from (``raw``) and its ``timestamp`` as an aware
datetime. ``channel_ids``/``bridge_ids`` say which channels and bridges an event is
about; the client routes events to per-channel and per-bridge handlers with them.
A frame that cannot be decoded (unknown type, missing fields) becomes
:class:`UnknownEvent`, never an exception. Every handler gets the same event object:
treat it as read-only.

The nested objects (``channel``, ``peer``, ``bridge``, ``playback`` ...) are decoded from
``raw`` on first access: routing needs only their ids, most handlers look at a few
events closely, and decoding a Channel costs as much as parsing the whole frame.
"""
from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timezone
from typing import Any, Callable, ClassVar, Generic, Mapping, TypeVar

from .models import Bridge, Channel, LiveRecording, Playback, parse_timestamp, split_target

logger = logging.getLogger(__name__)

_EVENT_TYPES: dict[str, type[Event]] = {}


def _event(cls: type[Event]) -> type[Event]:
    _EVENT_TYPES[cls.__name__] = cls
    return cls


T = TypeVar("T")


class _Nested(Generic[T]):
    """An ARI object inside the frame, decoded on first access (``None`` when absent)."""

    def __init__(self, decode: Callable[[Mapping[str, Any]], T]) -> None:
        self._decode = decode
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, event: Event | None, owner: type | None = None) -> T:
        if event is None:
            return self  # type: ignore[return-value]
        data = event.raw.get(self._name)
        value = self._decode(data) if data else None
        event.__dict__[self._name] = value  # later reads skip the descriptor
        return value  # type: ignore[return-value]


def _id_of(event: Event, key: str) -> tuple[str, ...]:
    nested = event.raw.get(key)
    return (nested["id"],) if nested else ()


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclasses.dataclass(kw_only=True)
class Event:
    type: str
    timestamp: datetime | None = None
    application: str = ""
    asterisk_id: str = ""
    raw: Mapping[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    # Nested objects a frame of this type must carry (each a JSON object with an "id").
    _required: ClassVar[tuple[str, ...]] = ()

    @property
    def channel_ids(self) -> tuple[str, ...]:
        return ()

    @property
    def bridge_ids(self) -> tuple[str, ...]:
        return ()

    @classmethod
    def _fields(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        """The event-specific constructor arguments (the common ones are added by decode)."""
        return {}


@dataclasses.dataclass(kw_only=True)
class UnknownEvent(Event):
    """An event type this client does not model (or a frame it could not decode)."""


@dataclasses.dataclass(kw_only=True)
class ChannelEvent(Event):
    channel = _Nested(Channel.from_json)
    _required = ("channel",)

    @property
    def channel_ids(self) -> tuple[str, ...]:
        return _id_of(self, "channel")


@dataclasses.dataclass(kw_only=True)
class BridgeEvent(Event):
    bridge = _Nested(Bridge.from_json)
    _required = ("bridge",)

    @property
    def bridge_ids(self) -> tuple[str, ...]:
        return _id_of(self, "bridge")


@_event
@dataclasses.dataclass(kw_only=True)
class StasisStart(ChannelEvent):
    args: tuple[str, ...] = ()
    replace_channel = _Nested(Channel.from_json)  # optional

    @classmethod
    def _fields(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        return {"args": tuple(data.get("args") or ())}


@_event
@dataclasses.dataclass(kw_only=True)
class StasisEnd(ChannelEvent):
    pass


@_event
@dataclasses.dataclass(kw_only=True)
class ChannelCreated(ChannelEvent):
    pass


@_event
@dataclasses.dataclass(kw_only=True)
class ChannelStateChange(ChannelEvent):
    pass


@_event
@dataclasses.dataclass(kw_only=True)
class ChannelDestroyed(ChannelEvent):
    """The channel is gone; ``cause`` (Q.850) and ``tech_cause`` (SIP code) are the outcome."""

    cause: int = 0
    cause_txt: str = ""
    tech_cause: int | None = None

    @classmethod
    def _fields(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "cause": int(data.get("cause", 0)),
            "cause_txt": data.get("cause_txt", ""),
            "tech_cause": _int(data.get("tech_cause")),
        }


@_event
@dataclasses.dataclass(kw_only=True)
class ChannelHangupRequest(ChannelEvent):
    """With ``soft`` true, ``cause`` is Asterisk's soft-hangup flag (32 for an ARI DELETE),
    not a Q.850 cause: take the outcome from :class:`ChannelDestroyed`."""

    cause: int | None = None
    soft: bool = False
    tech_cause: int | None = None

    @classmethod
    def _fields(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "cause": _int(data.get("cause")),
            "soft": bool(data.get("soft", False)),
            "tech_cause": _int(data.get("tech_cause")),
        }


@dataclasses.dataclass(kw_only=True)
class _ChannelBridgeEvent(BridgeEvent):
    channel = _Nested(Channel.from_json)  # optional in the model, present in practice

    @property
    def channel_ids(self) -> tuple[str, ...]:
        return _id_of(self, "channel")


@_event
@dataclasses.dataclass(kw_only=True)
class ChannelEnteredBridge(_ChannelBridgeEvent):
    pass


@_event
@dataclasses.dataclass(kw_only=True)
class ChannelLeftBridge(_ChannelBridgeEvent):
    _required = ("bridge", "channel")


@_event
@dataclasses.dataclass(kw_only=True)
class Dial(Event):
    """Progress of a dial attempt on ``peer`` (``dialstatus`` ``""`` → ``RINGING`` → ``ANSWER``,
    or ``BUSY``/``CONGESTION``/``NOANSWER``/...). No final Dial on originate timeout."""

    dialstatus: str = ""
    dialstring: str = ""
    forward: str = ""
    peer = _Nested(Channel.from_json)
    caller = _Nested(Channel.from_json)  # optional: absent for ARI originate/dial
    forwarded = _Nested(Channel.from_json)  # optional
    _required = ("peer",)

    @property
    def channel_ids(self) -> tuple[str, ...]:
        return _id_of(self, "peer") + _id_of(self, "caller")

    @classmethod
    def _fields(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "dialstatus": data.get("dialstatus", ""),
            "dialstring": data.get("dialstring", ""),
            "forward": data.get("forward", ""),
        }


@_event
@dataclasses.dataclass(kw_only=True)
class ChannelDtmfReceived(ChannelEvent):
    """Sent once per digit, when the digit ends."""

    digit: str = ""
    duration_ms: int = 0

    @classmethod
    def _fields(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "digit": data.get("digit", ""),
            "duration_ms": int(data.get("duration_ms", 0)),
        }


@_event
@dataclasses.dataclass(kw_only=True)
class ChannelVarset(Event):
    variable: str = ""
    value: str = ""
    channel = _Nested(Channel.from_json)  # absent for global variables

    @property
    def channel_ids(self) -> tuple[str, ...]:
        return _id_of(self, "channel")

    @classmethod
    def _fields(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        return {"variable": data.get("variable", ""), "value": data.get("value", "")}


@_event
@dataclasses.dataclass(kw_only=True)
class ChannelDialplan(ChannelEvent):
    dialplan_app: str = ""
    dialplan_app_data: str = ""

    @classmethod
    def _fields(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "dialplan_app": data.get("dialplan_app", ""),
            "dialplan_app_data": data.get("dialplan_app_data", ""),
        }


@_event
@dataclasses.dataclass(kw_only=True)
class ChannelCallerId(ChannelEvent):
    caller_presentation: int = 0
    caller_presentation_txt: str = ""

    @classmethod
    def _fields(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "caller_presentation": int(data.get("caller_presentation", 0)),
            "caller_presentation_txt": data.get("caller_presentation_txt", ""),
        }


@_event
@dataclasses.dataclass(kw_only=True)
class ChannelConnectedLine(ChannelEvent):
    pass


@_event
@dataclasses.dataclass(kw_only=True)
class ChannelHold(ChannelEvent):
    musicclass: str | None = None

    @classmethod
    def _fields(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        return {"musicclass": data.get("musicclass")}


@_event
@dataclasses.dataclass(kw_only=True)
class ChannelUnhold(ChannelEvent):
    pass


@_event
@dataclasses.dataclass(kw_only=True)
class ChannelTalkingStarted(ChannelEvent):
    pass


@_event
@dataclasses.dataclass(kw_only=True)
class ChannelTalkingFinished(ChannelEvent):
    duration: int = 0

    @classmethod
    def _fields(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        return {"duration": int(data.get("duration", 0))}


@dataclasses.dataclass(kw_only=True)
class _TargetedEvent(Event):
    """About a playback or a recording: routed to its target (``channel:<id>``/``bridge:<id>``)."""

    def _target(self, kind: str) -> tuple[str, ...]:
        target_kind, target_id = split_target(self.raw[self._required[0]].get("target_uri", ""))
        return (target_id,) if target_kind == kind else ()

    @property
    def channel_ids(self) -> tuple[str, ...]:
        return self._target("channel")

    @property
    def bridge_ids(self) -> tuple[str, ...]:
        return self._target("bridge")


@dataclasses.dataclass(kw_only=True)
class PlaybackEvent(_TargetedEvent):
    playback = _Nested(Playback.from_json)
    _required = ("playback",)


@_event
@dataclasses.dataclass(kw_only=True)
class PlaybackStarted(PlaybackEvent):
    pass


@_event
@dataclasses.dataclass(kw_only=True)
class PlaybackContinuing(PlaybackEvent):
    pass


@_event
@dataclasses.dataclass(kw_only=True)
class PlaybackFinished(PlaybackEvent):
    """``playback.state`` is ``done``, or ``failed`` (missing file, channel hung up)."""


@dataclasses.dataclass(kw_only=True)
class RecordingEvent(_TargetedEvent):
    recording = _Nested(LiveRecording.from_json)
    _required = ("recording",)


@_event
@dataclasses.dataclass(kw_only=True)
class RecordingStarted(RecordingEvent):
    """``recording.state`` is ``recording``."""


@_event
@dataclasses.dataclass(kw_only=True)
class RecordingFinished(RecordingEvent):
    """``recording.state`` is ``done`` (stopped, bridge gone, limit reached); ``duration`` in seconds."""


@_event
@dataclasses.dataclass(kw_only=True)
class RecordingFailed(RecordingEvent):
    """``recording.state`` is ``failed``, ``recording.cause`` says why."""


@_event
@dataclasses.dataclass(kw_only=True)
class BridgeCreated(BridgeEvent):
    pass


@_event
@dataclasses.dataclass(kw_only=True)
class BridgeDestroyed(BridgeEvent):
    pass


@_event
@dataclasses.dataclass(kw_only=True)
class BridgeMerged(BridgeEvent):
    bridge_from = _Nested(Bridge.from_json)
    _required = ("bridge", "bridge_from")

    @property
    def bridge_ids(self) -> tuple[str, ...]:
        return _id_of(self, "bridge") + _id_of(self, "bridge_from")


@_event
@dataclasses.dataclass(kw_only=True)
class ApplicationReplaced(Event):
    """Another websocket took over our Stasis application: we get no more events."""


@dataclasses.dataclass(kw_only=True)
class ChannelGone(Event):
    """Local, not from Asterisk: after a reconnect, a channel we had handlers for no
    longer exists (its ChannelDestroyed was lost while the websocket was down)."""

    type: str = "ChannelGone"
    channel_id: str

    @property
    def channel_ids(self) -> tuple[str, ...]:
        return (self.channel_id,)


@dataclasses.dataclass(kw_only=True)
class BridgeGone(Event):
    """Local, not from Asterisk: after a reconnect, a bridge we had handlers for is gone."""

    type: str = "BridgeGone"
    bridge_id: str

    @property
    def bridge_ids(self) -> tuple[str, ...]:
        return (self.bridge_id,)


# What names a nested object of a frame: recordings have a name, everything else an id.
_IDENTITY = {"recording": "name"}


def now() -> datetime:
    return datetime.now(timezone.utc)


def decode_event(data: Mapping[str, Any]) -> Event:
    """One websocket frame (already parsed JSON) as a typed event."""
    event_type = str(data.get("type", ""))
    common = {
        "type": event_type,
        "timestamp": parse_timestamp(data.get("timestamp")),
        "application": data.get("application", ""),
        "asterisk_id": data.get("asterisk_id", ""),
        "raw": data,
    }
    cls = _EVENT_TYPES.get(event_type)
    if cls is None:
        return UnknownEvent(**common)
    try:
        for key in cls._required:
            ident = _IDENTITY.get(key, "id")
            if not isinstance(data[key], dict) or not isinstance(data[key][ident], str):
                raise ValueError(f"{key} has no {ident}")
        return cls(**common, **cls._fields(data))
    except (KeyError, TypeError, ValueError) as exc:
        logger.warning("undecodable ARI %s event (%s): %.300r", event_type, exc, data)
        return UnknownEvent(**common)


EVENT_TYPES: Mapping[str, type[Event]] = _EVENT_TYPES
