"""Asyncio client for the Asterisk REST Interface (ARI) of Asterisk 22: REST calls,
typed events over the events websocket, reconnect with reconciliation."""
from .client import AriClient, RecordingFile
from .dispatch import EventWaiter, Registration
from .errors import (
    AriBadRequest,
    AriConflict,
    AriError,
    AriInvalidState,
    AriNotFound,
    AriUnauthorized,
    AriUnprocessable,
    EndpointUnreachable,
    NoSuchBridge,
    NoSuchChannel,
    NoSuchPlayback,
    NoSuchRecording,
    TelephonyUnavailable,
)
from .models import Bridge, CallerId, Channel, DialplanLocation, LiveRecording, Playback

__all__ = [
    "AriBadRequest", "AriClient", "AriConflict", "AriError", "AriInvalidState", "AriNotFound",
    "AriUnauthorized", "AriUnprocessable", "Bridge", "CallerId", "Channel", "DialplanLocation",
    "EndpointUnreachable", "EventWaiter", "LiveRecording", "NoSuchBridge", "NoSuchChannel",
    "NoSuchPlayback", "NoSuchRecording", "Playback", "RecordingFile", "Registration",
    "TelephonyUnavailable",
]
