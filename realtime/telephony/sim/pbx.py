"""The simulated PBX: channels, bridges, playbacks, recordings and the events they produce.

Operations mirror ARI calls and raise `AriError` the way Asterisk 22 answers them; call
progress runs on loop timers (``call_later``), one set per channel, so thousands of calls
cost no tasks. Event sequences and field orders follow the recordings in
``tests/telephony/data/ari-observed``.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable

from . import farend
from .config import SimConfig
from .farend import FarEnd, Outcomes
from .journal import Journal
from .model import (HANGUP_REASONS, SIP_RESPONSE, Bridge, Channel, LiveRecording, Playback, StoredRecording,
                    ari_time, cause_text, dial_status)
from .stasis import Applications

logger = logging.getLogger(__name__)

KNOWN_TECHNOLOGIES = {"PJSIP", "SIP", "IAX2", "Local"}
BRIDGE_TYPES = {"mixing", "holding", "dtmf_events", "proxy_media", "video_sfu", "video_single",
                "sdp_label"}
SNOOP_DIRECTIONS = ("none", "both", "out", "in")
MUTE_DIRECTIONS = ("both", "in", "out")
NOT_ANSWERED_STATES = ("Down", "Rsrved", "Ringing")
SOUND_SECONDS = 1.5
AMD_HUMAN_SECONDS = 2.2
AMD_MACHINE_SECONDS = 2.3
DTMF_DIGIT_SECONDS = 0.1
DTMF_GAP_SECONDS = 0.25
DTMF_DIGITS = set("0123456789ABCD*#")
# File formats Asterisk's format modules usually register (ast_get_format_for_file_ext).
RECORDING_FORMATS = {"wav", "WAV", "wav49", "gsm", "ulaw", "alaw", "sln", "g722", "g729", "ogg", "h264"}
RECORDING_TERMINATIONS = {"", "none", "any", "*", "#"}
RECORDING_IF_EXISTS = {"", "fail", "overwrite", "append"}


class AriError(Exception):
    """An ARI error reply: status and ``{"message": ...}`` (or ``{"error": ...}``)."""

    def __init__(self, status: int, message: str, key: str = "message") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.key = key


def parse_caller_id(text: str) -> tuple[str, str]:
    """``"Name" <number>``, ``Name <number>`` or a bare number -> (name, number)."""
    text = text.strip()
    if "<" in text and text.endswith(">"):
        name, number = text[:-1].split("<", 1)
        return name.strip().strip('"'), number.strip()
    return "", text


def media_missing(uri: str) -> bool:
    """The simulator's stand-in for a file Asterisk cannot find: a sound or recording whose
    name starts with ``no-such`` (as ``sound:no-such-file`` in the recordings)."""
    scheme, _, name = uri.partition(":")
    return scheme in ("sound", "recording") and name.startswith("no-such")


def media_seconds(uri: str) -> float | None:
    """Nominal simulated length of one media URI; None = never ends (tones)."""
    scheme, _, rest = uri.partition(":")
    if scheme == "tone":
        return None
    if scheme in ("digits", "number", "characters"):
        return 0.5 * max(len(rest), 1)
    return SOUND_SECONDS


class Pbx:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.apps = Applications()
        self.outcomes = Outcomes(config)
        self.journal = Journal()
        self.channels: dict[str, Channel] = {}
        self.bridges: dict[str, Bridge] = {}
        self.playbacks: dict[str, Playback] = {}
        self.recordings: dict[str, LiveRecording] = {}       # live, by name
        self.stored: dict[str, StoredRecording] = {}          # on "disk": kept across restarts
        self._sequence: dict[str, int] = {}
        self.started_at = time.time()

    # ------------------------------------------------------------------ plumbing

    @property
    def _loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    def _later(self, channel: Channel, seconds: float, callback: Callable, *args) -> asyncio.TimerHandle:
        """Run `callback` after `seconds` of simulated time, unless the channel goes first."""
        handle = self._loop.call_later(seconds / self.config.speed, callback, *args)
        channel.timers.append(handle)
        return handle

    def _next(self, kind: str) -> int:
        number = self._sequence.get(kind, 0)
        self._sequence[kind] = number + 1
        return number

    def _next_suffix(self, kind: str) -> str:
        """Channel name suffix: a per-technology counter in 8 hex digits."""
        return f"{self._next(kind):08x}"

    def _unique_id(self) -> str:
        """Asterisk-style uniqueid: ``<epoch seconds>.<sequence>``."""
        return f"{int(time.time())}.{self._next('uniqueid')}"

    @staticmethod
    def _recipients(channel: Channel) -> set[str]:
        apps = set(channel.subscribers)
        if channel.stasis_app:
            apps.add(channel.stasis_app)
        return apps

    def _channel_event(self, channel: Channel, event_type: str, **fields) -> None:
        body = {"type": event_type, "timestamp": ari_time(), **fields, "channel": channel.json()}
        self.apps.emit(self._recipients(channel), body)

    def _varset(self, channel: Channel, variable: str, value: str) -> None:
        body = {"variable": variable, "value": value, "type": "ChannelVarset",
                "timestamp": ari_time(), "channel": channel.json()}
        self.apps.emit(self._recipients(channel), body)

    def _hangup_request(self, channel: Channel, cause: int, *, soft: bool = False,
                        tech_cause: int | None = None) -> None:
        body: dict = {"cause": cause}
        if tech_cause is not None:
            body["tech_cause"] = tech_cause
        if soft:
            body["soft"] = True
        body.update(type="ChannelHangupRequest", timestamp=ari_time(), channel=channel.json())
        self.apps.emit(self._recipients(channel), body)

    def _dial_event(self, channel: Channel, status: str) -> None:
        body = {"type": "Dial", "timestamp": ari_time(), "dialstatus": status, "forward": "",
                "dialstring": channel.dialstring, "peer": channel.json()}
        self.apps.emit(self._recipients(channel), body)

    def _state(self, channel: Channel, state: str) -> None:
        channel.state = state
        self._channel_event(channel, "ChannelStateChange")

    def _dialplan(self, channel: Channel, app: str, data: str = "", **where) -> None:
        channel.set_dialplan(app, data, **where)
        self._channel_event(channel, "ChannelDialplan", dialplan_app=app, dialplan_app_data=data)

    def _bridge_event(self, bridge: Bridge, event_type: str, channel: Channel | None = None) -> None:
        body = {"type": event_type, "timestamp": ari_time(), "bridge": bridge.json()}
        apps = set(bridge.subscribers)
        if channel is not None:
            body["channel"] = channel.json()
            apps |= self._recipients(channel)
        self.apps.emit(apps, body)

    # ------------------------------------------------------------------ lookups

    def channel(self, channel_id: str) -> Channel:
        channel = self.channels.get(channel_id)
        if channel is None:
            raise AriError(404, "Channel not found")
        return channel

    def controlled(self, channel_id: str, *, needs_answer: bool = True) -> Channel:
        """A channel the app controls: in Stasis (409) and, usually, answered (412)."""
        channel = self.channel(channel_id)
        if channel.stasis_app is None:
            raise AriError(409, "Channel not in Stasis application")
        if needs_answer and channel.state in NOT_ANSWERED_STATES:
            raise AriError(412, "Channel in invalid state")
        return channel

    def bridge(self, bridge_id: str) -> Bridge:
        bridge = self.bridges.get(bridge_id)
        if bridge is None:
            raise AriError(404, "Bridge not found")
        return bridge

    def live_recording(self, name: str) -> LiveRecording:
        recording = self.recordings.get(name)
        if recording is None:
            raise AriError(404, "Recording not found")
        return recording

    def stored_recording(self, name: str) -> StoredRecording:
        recording = self.stored.get(name)
        if recording is None:
            raise AriError(404, "Recording not found")
        return recording

    def playback(self, playback_id: str) -> Playback:
        playback = self.playbacks.get(playback_id)
        if playback is None:
            raise AriError(404, "Playback not found")
        return playback

    # ------------------------------------------------------------------ originate / create

    def _new_channel(self, params: dict, variables: dict, channel_id: str | None, *,
                     app: str | None, created: bool) -> Channel:
        endpoint = params.get("endpoint")
        if not endpoint:
            raise AriError(400, "Endpoint must be specified")
        if "/" not in endpoint:
            raise AriError(400, "Invalid endpoint specified")
        channel_id = channel_id or params.get("channelId")
        other_id = params.get("otherChannelId") or (f"{channel_id};2" if channel_id else self._unique_id())
        channel_id = channel_id or self._unique_id()
        technology, resource = endpoint.split("/", 1)
        is_local = technology == "Local"
        if channel_id in self.channels or (is_local and not created and other_id in self.channels):
            raise AriError(409, "Channel with given unique ID already exists")
        if technology not in KNOWN_TECHNOLOGIES:
            raise AriError(500, "Allocation failed", key="error")
        far_end = self.outcomes.decide(resource)
        if far_end.kind == farend.REFUSED:
            raise AriError(500, "Allocation failed", key="error")
        caller = parse_caller_id(params["callerId"]) if params.get("callerId") else ("", "")
        if is_local:
            exten, _, context = resource.partition("@")
            context = context or "default"
            name = f"Local/{resource}-{self._next_suffix('Local')}"
            channel = Channel(channel_id, name + ";1", context=context, exten=exten,
                              dialstring=resource, caller=caller)
        else:
            peer = resource.split("/", 1)[0] if "/" in resource else resource.rpartition("@")[2]
            name = f"{technology}/{peer}-{self._next_suffix(technology)}"
            channel = Channel(channel_id, name, context="default", exten="s",
                              dialstring=resource, caller=caller)
        channel.far_end = far_end
        channel.created_by_ari = created
        if not created:
            channel.set_dialplan("AppDial2", "(Outgoing Line)")
        self._set_variables(channel, variables)
        if is_local and not created:
            half = Channel(other_id, name + ";2", context=context, exten=exten, caller=caller)
            half.state = "Ring"
            half.is_local_callee = True
            half.variables = dict(channel.variables)
            half.half, channel.half = channel, half
            self.channels[half.id] = half
            if app:
                half.subscribers.add(app)
        if app:
            channel.subscribers.add(app)
        self.channels[channel.id] = channel
        self._announce(channel)
        if channel.half is not None:
            self._announce(channel.half)
        self.journal.channel_created(channel.id, channel.name, endpoint, far_end.kind)
        return channel

    def _announce(self, channel: Channel) -> None:
        """ChannelCreated: nobody is subscribed to a brand-new channel but subscribeAll apps."""
        self.apps.emit((), {"type": "ChannelCreated", "timestamp": ari_time(), "channel": channel.json()})

    @staticmethod
    def _set_variables(channel: Channel, variables: dict) -> None:
        for name, value in (variables or {}).items():
            if isinstance(value, dict):
                if value.get("report_events"):
                    channel.reported.append(name)
                value = value.get("value", "")
            channel.variables[name] = str(value)

    def originate(self, params: dict, variables: dict, channel_id: str | None = None) -> dict:
        if not params.get("endpoint"):
            raise AriError(400, "Endpoint must be specified")
        app = params.get("app")
        extension = params.get("extension")
        if not app and not extension:
            raise AriError(400, "Application or extension must be specified")
        timeout = self._int(params.get("timeout"), 30, "timeout")
        channel = self._new_channel(params, variables, channel_id, app=app, created=False)
        if app:
            args = params["appArgs"].split(",") if params.get("appArgs") else []
            channel.after_answer = ("stasis", app, args)
        else:
            priority = self._int(params.get("priority"), 1, "priority")
            channel.after_answer = ("dialplan", params.get("context") or "default", extension, priority)
        reply = channel.json()
        self._loop.call_soon(self._begin_dial, channel, timeout)
        return reply

    def create(self, params: dict, variables: dict) -> dict:
        app = params.get("app")
        if params.get("endpoint") and not app:
            raise AriError(400, "Application name is required")
        channel = self._new_channel(params, variables, None, app=app, created=True)
        args = params["appArgs"].split(",") if params.get("appArgs") else []
        reply = channel.json()
        self._loop.call_soon(self._enter_stasis, channel, app, args, True)
        return reply

    def inbound(self, params: dict) -> dict:
        """A phone calls in and the dialplan runs ``Stasis(app[,args])``: a PJSIP channel
        in state ``Ring`` (the app answers it), which the app is not subscribed to until
        ``StasisStart``, so after ``StasisEnd`` only an explicit subscription brings its
        ``ChannelDestroyed``."""
        app = params.get("app")
        if not app:
            raise AriError(400, "Application name is required")
        args = params["args"].split(",") if params.get("args") else []
        endpoint = params.get("endpoint") or "trunk"
        name = f"PJSIP/{endpoint}-{self._next_suffix('PJSIP')}"
        caller = (params.get("name") or "", params.get("from") or "")
        channel = Channel(self._unique_id(), name, context=params.get("context") or "from-trunk",
                          exten=params.get("to") or "s", caller=caller)
        channel.connected = ("", "")
        channel.state = "Ring"
        channel.inbound = True
        channel.protocol_id = str(uuid.uuid4())
        channel.set_dialplan("Stasis", ",".join([app, *args]))
        self.channels[channel.id] = channel
        self._announce(channel)
        self.journal.channel_created(channel.id, name, f"PJSIP/{endpoint}", None)
        self._loop.call_soon(self._enter_stasis, channel, app, args, False)
        return channel.json()

    def dial(self, channel_id: str, params: dict) -> None:
        channel = self.controlled(channel_id, needs_answer=False)
        if channel.state != "Down" or channel.dialing:
            raise AriError(409, "Channel is not in the 'Down' state")
        if not channel.created_by_ari:
            raise AriError(409, "Dialing a channel not created by ARI")
        if params.get("caller") and params["caller"] not in self.channels:
            raise AriError(404, "Caller not found")
        timeout = self._int(params.get("timeout"), 0, "timeout")
        self._begin_dial(channel, timeout)

    @staticmethod
    def _int(value: str | None, default: int, name: str) -> int:
        if value in (None, ""):
            return default
        try:
            return int(value)
        except ValueError:
            raise AriError(400, f"Invalid value for {name}") from None

    # ------------------------------------------------------------------ call progress

    def _begin_dial(self, channel: Channel, timeout: int) -> None:
        if channel.gone:
            return
        half = channel.half
        channel.dialing = True
        if half is not None:  # the callee half of an originated Local channel
            for name, value in half.variables.items():
                self._varset(half, name, value)
            if channel.caller != ("", ""):
                self._channel_event(half, "ChannelCallerId", caller_presentation=0,
                                    caller_presentation_txt="Presentation Allowed, Not Screened")
                self._channel_event(half, "ChannelConnectedLine")
        self._dial_event(channel, "")
        if timeout > 0:
            channel.timeout_timer = self._later(channel, timeout, self._dial_timeout, channel)
        far_end = channel.far_end
        if far_end.kind == farend.AGENT:
            self._far_answer(channel)
        elif far_end.kind in (farend.BUSY, farend.CONGESTION):
            if half is not None:
                self._dialplan(half, "Wait", f"{far_end.ring:g}")
            cause = 17 if far_end.kind == farend.BUSY else 34
            self._later(channel, far_end.ring, self._far_reject, channel, cause)
        else:
            if half is not None:
                self._dialplan(half, "Ringing")
            self._state(channel, "Ringing")
            if half is not None:
                self._dialplan(half, "Wait", f"{far_end.ring:g}")
            self._dial_event(channel, "RINGING")
            if far_end.kind != farend.NO_ANSWER:
                self._later(channel, far_end.ring, self._far_answer, channel)

    def _end_dial(self, channel: Channel) -> bool:
        """Stop the dial attempt; False if there was none."""
        if not channel.dialing:
            return False
        channel.dialing = False
        timer = channel.timeout_timer
        if timer is not None:
            timer.cancel()
        return True

    def _far_answer(self, channel: Channel) -> None:
        if channel.gone or not self._end_dial(channel):
            return
        half = channel.half
        if half is not None and not half.gone:
            self._dialplan(half, "Answer")
            self._state(half, "Up")
        self._state(channel, "Up")
        self._dial_event(channel, "ANSWER")
        self.journal.channel_mark(channel.id, "answered")
        plan = channel.after_answer
        if plan is None:
            return
        if plan[0] == "stasis":
            self._enter_stasis(channel, plan[1], plan[2], False)
        else:
            self._run_dialplan(channel, plan[1], plan[2], plan[3])

    def _far_reject(self, channel: Channel, cause: int) -> None:
        """The far end refuses a ringing call (busy, congestion, rejected)."""
        if not channel.gone and channel.dialing:
            self._callee_ends(channel, cause)

    def _dial_timeout(self, channel: Channel) -> None:
        """Originate timeout: destroyed with cause 19 and, as in Asterisk, no final Dial."""
        if channel.gone or not self._end_dial(channel):
            return
        self._teardown(channel, 19, self._tech_cause(channel, 19))

    def far_hangup(self, channel: Channel, cause: int = 16) -> None:
        """The far end hangs up (or refuses, if still ringing)."""
        if channel.gone:
            return
        if channel.is_local_callee:
            channel = channel.half
        if channel.snoop_target is not None:
            self._teardown(channel, cause)
        else:
            self._callee_ends(channel, cause)

    def _callee_ends(self, channel: Channel, cause: int) -> None:
        """The callee goes first (the ;2 half of a Local channel), then our channel."""
        dialing = self._end_dial(channel)
        half = channel.half if channel.half is not None and not channel.half.gone else None
        tech_cause = None
        if half is not None:
            self._dialplan(half, "Hangup", str(cause))
            self._hangup_request(half, 16, soft=True)
            self._hangup_request(channel, cause)
            self._finish(half, cause)
        else:
            tech_cause = self._tech_cause(channel, cause)
            self._hangup_request(channel, cause, tech_cause=tech_cause)
        if dialing:
            self._dial_event(channel, dial_status(cause))
        self._teardown(channel, cause, tech_cause)

    @staticmethod
    def _tech_cause(channel: Channel, cause: int) -> int | None:
        if channel.technology != "PJSIP":
            return None
        return SIP_RESPONSE.get(cause)

    def _enter_stasis(self, channel: Channel, app: str, args: list[str], dialplan_event: bool) -> None:
        if channel.gone:
            return
        data = ",".join([app, *args])
        if not self.apps.serves(app):
            # Asterisk: Stasis() fails for an app no websocket serves, and the call ends.
            logger.info("stasis app %r is not connected; hanging up %s", app, channel.id)
            self._teardown(channel, 16)
            return
        if dialplan_event:
            priority = channel.priority + 1 if channel.app_name == "AMD" else channel.priority
            self._dialplan(channel, "Stasis", data, priority=priority)
        else:
            channel.set_dialplan("Stasis", data)
        if channel.snoop_target is None:
            self._varset(channel, "STASISSTATUS", "")
        channel.stasis_app = app
        channel.stasis_entries += 1
        self._channel_event(channel, "StasisStart", args=args)
        self.journal.channel_mark(channel.id, "stasis")

    def _leave_stasis(self, channel: Channel) -> None:
        if channel.bridge is not None:
            self._leave_bridge(channel)
        self._channel_event(channel, "StasisEnd")
        channel.stasis_app = None

    def _run_dialplan(self, channel: Channel, context: str, exten: str, priority: int) -> None:
        if context == self.config.amd_context:
            self._dialplan(channel, "AMD", "", context=context, exten=exten, priority=priority)
            machine = channel.far_end is not None and channel.far_end.kind == farend.MACHINE
            seconds = AMD_MACHINE_SECONDS if machine else AMD_HUMAN_SECONDS
            self._later(channel, seconds, self._amd_done, channel, exten, machine)
        else:
            # Nothing of the real dialplan is simulated: no such extension, the call ends.
            channel.set_dialplan("", "", context=context, exten=exten, priority=priority)
            self._loop.call_soon(self.far_hangup, channel, 16)

    def _amd_done(self, channel: Channel, app: str, machine: bool) -> None:
        if channel.gone:
            return
        status, cause = ("MACHINE", "LONGGREETING-1500-1500") if machine else ("HUMAN", "HUMAN-800-800")
        for name, value in (("AMDSTATUS", status), ("AMDCAUSE", cause)):
            channel.variables[name] = value
            self._varset(channel, name, value)
        self._enter_stasis(channel, app, ["amd", status, cause], True)

    def _teardown(self, channel: Channel, cause: int, tech_cause: int | None = None) -> None:
        """End a channel: its playbacks, snoops, bridge and Stasis, then ChannelDestroyed
        (and the other half of a Local channel)."""
        if channel.gone:
            return
        channel.gone = True
        channel.cancel_timers()
        self._fail_playbacks(channel)
        if channel.stasis_app is not None:
            self._leave_stasis(channel)
            if channel.snoop_target is None:
                # Asterisk reports it once per Stasis() the channel went through (AMD round trip: twice).
                for _ in range(channel.stasis_entries):
                    self._varset(channel, "STASISSTATUS", "SUCCESS")
        elif channel.bridge is not None:
            self._leave_bridge(channel)
        for snoop in list(channel.snoops):
            self._teardown(snoop, 16)
        if (not channel.created_by_ari and not channel.inbound and channel.app_name == "Stasis"
                and channel.snoop_target is None):
            channel.set_dialplan("AppDial2", "(Outgoing Line)")
        half = channel.half if channel.half is not None and not channel.half.gone else None
        if half is not None:
            self._hangup_request(half, cause)
        self._finish(channel, cause, tech_cause)
        if half is not None:
            half.gone = True
            self._hangup_request(half, 16, soft=True)
            half.set_dialplan("", "")
            self._finish(half, cause)

    def _finish(self, channel: Channel, cause: int, tech_cause: int | None = None) -> None:
        channel.gone = True
        channel.cancel_timers()
        body: dict = {"type": "ChannelDestroyed", "timestamp": ari_time(), "cause": cause,
                      "cause_txt": cause_text(cause)}
        if tech_cause is not None:
            body["tech_cause"] = tech_cause
        body["channel"] = channel.json()
        self.apps.emit(self._recipients(channel), body)
        if self.channels.get(channel.id) is channel:
            del self.channels[channel.id]
        if channel.snoop_target is not None:
            channel.snoop_target.snoops.discard(channel)
        self.journal.channel_destroyed(channel.id, cause)

    # ------------------------------------------------------------------ channel operations

    def hangup(self, channel_id: str, params: dict) -> None:
        channel = self.channel(channel_id)
        reason, code = params.get("reason"), params.get("reason_code")
        if reason and code:
            raise AriError(400, "The reason and reason_code can't both be specified")
        cause = 16
        if reason:
            if reason not in HANGUP_REASONS:
                raise AriError(400, "Invalid reason for hangup reason provided")
            cause = HANGUP_REASONS[reason]
        elif code:
            if not code.isdigit():
                raise AriError(400, "Invalid reason for hangup reason code provided")
            cause = int(code)
        if channel.is_local_callee:
            self.far_hangup(channel, cause)
            return
        self._hangup_request(channel, 32, soft=True)
        if self._end_dial(channel):
            self._dial_event(channel, dial_status(cause))
        self._teardown(channel, cause)

    def answer(self, channel_id: str) -> None:
        channel = self.controlled(channel_id)
        if channel.state != "Up":
            self._state(channel, "Up")

    def continue_in_dialplan(self, channel_id: str, params: dict) -> None:
        channel = self.controlled(channel_id)
        priority = self._int(params.get("priority"), 1, "priority")
        context = params.get("context") or channel.context
        exten = params.get("extension") or channel.exten
        self._leave_stasis(channel)
        self._run_dialplan(channel, context, exten, priority)

    def move(self, channel_id: str, params: dict) -> None:
        channel = self.controlled(channel_id, needs_answer=False)
        app = params.get("app")
        if not app:
            raise AriError(400, "Application name is required")
        args = params["appArgs"].split(",") if params.get("appArgs") else []
        self._leave_stasis(channel)
        self._enter_stasis(channel, app, args, True)

    def mute(self, channel_id: str, params: dict) -> None:
        direction = params.get("direction") or "both"
        if direction not in MUTE_DIRECTIONS:
            raise AriError(400, "Invalid direction specified")
        self.controlled(channel_id)

    def hold(self, channel_id: str, on: bool) -> None:
        channel = self.controlled(channel_id)
        self._channel_event(channel, "ChannelHold" if on else "ChannelUnhold")

    def no_op(self, channel_id: str) -> None:
        """Audio-only operations (ring, progress, moh, silence) that produce no events."""
        self.controlled(channel_id)

    def send_dtmf(self, channel_id: str, params: dict) -> None:
        if not params.get("dtmf"):
            raise AriError(400, "DTMF is required")
        self.controlled(channel_id)

    def get_variable(self, channel_id: str, params: dict) -> dict:
        """Any channel, in Stasis or not (Asterisk looks it up by name, not through its
        Stasis control, so a ringing channel's variables can be read)."""
        name = params.get("variable")
        if not name:
            raise AriError(400, "Variable name is required")
        channel = self.channels.get(channel_id)
        if channel is None:
            raise AriError(404, "Provided channel was not found")
        if name not in channel.variables:
            raise AriError(404, "Provided variable was not found")
        return {"value": channel.variables[name]}

    def set_variable(self, channel_id: str, params: dict) -> None:
        """Only in Stasis: a ringing channel answers 409 (recorded in the state matrix)."""
        name = params.get("variable")
        if not name:
            raise AriError(400, "Variable name is required")
        channel = self.controlled(channel_id, needs_answer=False)
        channel.variables[name] = params.get("value", "")
        self._varset(channel, name, channel.variables[name])

    def snoop(self, channel_id: str, params: dict, snoop_id: str | None = None) -> dict:
        spy = params.get("spy") or "none"
        whisper = params.get("whisper") or "none"
        if spy not in SNOOP_DIRECTIONS:
            raise AriError(400, "Invalid direction specified for spy")
        if whisper not in SNOOP_DIRECTIONS:
            raise AriError(400, "Invalid direction specified for whisper")
        if spy == "none" and whisper == "none":
            raise AriError(400, "Direction must be specified for at least spy or whisper")
        app = params.get("app")
        if not app:
            raise AriError(400, "Application name is required")
        target = self.channels.get(channel_id)
        if target is None:
            raise AriError(404, "Provided channel was not found")
        snoop_id = snoop_id or params.get("snoopId") or self._unique_id()
        if snoop_id in self.channels:
            raise AriError(500, "Snoop channel could not be created")
        name = f"Snoop/{target.id}-{self._next_suffix('Snoop')}"
        snoop = Channel(snoop_id, name, context="default", exten="s")
        snoop.state = "Up"
        snoop.snoop_target = target
        target.snoops.add(snoop)
        self.channels[snoop_id] = snoop
        self._announce(snoop)
        self.journal.channel_created(snoop_id, name, f"snoop:{target.id}", None)
        args = params["appArgs"].split(",") if params.get("appArgs") else []
        snoop.set_dialplan("Stasis", ",".join([app, *args]))
        reply = snoop.json()
        self._loop.call_soon(self._enter_stasis, snoop, app, args, False)
        return reply

    # ------------------------------------------------------------------ bridges

    def create_bridge(self, params: dict, bridge_id: str | None = None) -> dict:
        bridge_id = bridge_id or params.get("bridgeId") or str(uuid.uuid4())
        types = [word for word in (params.get("type") or "mixing").split(",") if word]
        if any(word not in BRIDGE_TYPES for word in types):
            raise AriError(500, "Unable to create bridge. Possible duplicate bridge id '(null)'")
        if bridge_id in self.bridges:
            raise AriError(409, f"Bridge with id '{bridge_id}' already exists")
        bridge = Bridge(bridge_id, types, name=params.get("name") or "")
        self.bridges[bridge_id] = bridge
        self._bridge_event(bridge, "BridgeCreated")
        return bridge.json()

    def _bridge_members(self, params: dict) -> list[Channel]:
        ids = [part for part in (params.get("channel") or "").split(",") if part]
        if not ids:
            raise AriError(400, "Missing parameter channel")
        members = []
        for channel_id in ids:
            channel = self.channels.get(channel_id)
            if channel is None:
                raise AriError(400, "Channel not found")
            members.append(channel)
        return members

    def add_to_bridge(self, bridge_id: str, params: dict) -> None:
        bridge = self.bridge(bridge_id)
        members = self._bridge_members(params)
        if any(channel.stasis_app is None for channel in members):
            raise AriError(422, "Channel not in Stasis application")
        for channel in members:
            if channel.bridge is bridge:
                continue
            if channel.bridge is not None:
                self._leave_bridge(channel)
            bridge.channels.append(channel)
            channel.bridge = bridge
            if len(bridge.channels) > 2:
                bridge.grew_past_two = True
            bridge.subscribers.add(channel.stasis_app)
            self.journal.channel_mark(channel.id, "bridged")
            self._bridge_event(bridge, "ChannelEnteredBridge", channel)
            self._update_bridge_peers(bridge)
        if len(bridge.channels) >= 2:
            for channel in bridge.channels:
                self._start_talking(channel)

    def _start_talking(self, channel: Channel) -> None:
        """A far end that hangs up after a while starts counting once it has company."""
        far_end = channel.far_end
        if far_end is None or far_end.talk is None or channel.talk_started or channel.state != "Up":
            return
        channel.talk_started = True
        self._later(channel, far_end.talk, self.far_hangup, channel, 16)

    def remove_from_bridge(self, bridge_id: str, params: dict) -> None:
        bridge = self.bridge(bridge_id)
        members = self._bridge_members(params)
        if any(channel.bridge is not bridge for channel in members):
            raise AriError(422, "Channel not in this bridge")
        for channel in members:
            self._leave_bridge(channel)

    def _update_bridge_peers(self, bridge: Bridge) -> None:
        """BRIDGEPEER: the other parties' names, set once a bridge has two or more."""
        if len(bridge.channels) < 2:
            return
        for channel in bridge.channels:
            peers = ",".join(other.name for other in bridge.channels if other is not channel)
            if channel.variables.get("BRIDGEPEER") != peers:
                channel.variables["BRIDGEPEER"] = peers
                self._varset(channel, "BRIDGEPEER", peers)

    def _leave_bridge(self, channel: Channel) -> None:
        bridge = channel.bridge
        if channel.variables.get("BRIDGEPEER"):
            channel.variables["BRIDGEPEER"] = ""
            self._varset(channel, "BRIDGEPEER", "")
        bridge.channels.remove(channel)
        channel.bridge = None
        if not bridge.channels:
            # Asterisk plays bridge music through a channel of its own pushed in as LONELY
            # (stasis_app_bridge_moh_channel): when the last other party leaves it is kicked
            # out, and the music ends by itself.
            bridge.moh_playing = False
        self._bridge_event(bridge, "ChannelLeftBridge", channel)
        if not bridge.channels:
            # The Recorder channel is pushed in as LONELY too: alone, its recording ends.
            for recording in list(bridge.recordings):
                self._finish_recording(recording)

    def bridge_moh(self, bridge_id: str, on: bool) -> None:
        """No audio is simulated, only whether music plays: starting it again is fine,
        stopping it when none plays is a 409 (res_ari_bridges' stop_moh)."""
        bridge = self.bridge(bridge_id)
        if not on and not bridge.moh_playing:
            raise AriError(409, "Bridge isn't playing music")
        bridge.moh_playing = on

    def destroy_bridge(self, bridge_id: str) -> None:
        bridge = self.bridge(bridge_id)
        for channel in list(bridge.channels):
            self._leave_bridge(channel)
        for playback in list(bridge.playbacks):
            self._finish_playback(playback, "done", start_next=False)
        for recording in list(bridge.recordings):
            self._finish_recording(recording)
        del self.bridges[bridge_id]
        self._bridge_event(bridge, "BridgeDestroyed")

    # ------------------------------------------------------------------ playbacks

    def play(self, target: Channel | Bridge, params: dict, playback_id: str | None = None) -> dict:
        media = [uri for uri in (params.get("media") or "").split(",") if uri]
        if not media:
            raise AriError(400, "Missing parameter media")
        playback_id = playback_id or params.get("playbackId") or str(uuid.uuid4())
        kind = "channel" if isinstance(target, Channel) else "bridge"
        language = params.get("lang") or getattr(target, "language", "en")
        playback = Playback(playback_id, media, f"{kind}:{target.id}", language=language)
        playback.target = target
        self.playbacks[playback_id] = playback
        target.playbacks.append(playback)
        if len(target.playbacks) == 1:
            self._start_playback(playback)
        return playback.json()

    def play_on_channel(self, channel_id: str, params: dict, playback_id: str | None = None) -> dict:
        return self.play(self.controlled(channel_id), params, playback_id)

    def play_on_bridge(self, bridge_id: str, params: dict, playback_id: str | None = None) -> dict:
        return self.play(self.bridge(bridge_id), params, playback_id)

    def _playback_event(self, playback: Playback, event_type: str) -> None:
        target = playback.target
        apps = self._recipients(target) if isinstance(target, Channel) else set(target.subscribers)
        self.apps.emit(apps, {"type": event_type, "timestamp": ari_time(), "playback": playback.json()})

    def _start_playback(self, playback: Playback) -> None:
        playback.state = "playing"
        self._playback_event(playback, "PlaybackStarted")
        self.journal.playback_started(playback.id, playback.target_uri, playback.media)
        self._play_media(playback)

    def _play_media(self, playback: Playback) -> None:
        if media_missing(playback.media_uri):
            # Not an HTTP error: the playback starts, then fails (as Asterisk does).
            playback.timer = self._loop.call_soon(self._finish_playback, playback, "failed")
        else:
            self._schedule_media(playback, media_seconds(playback.media_uri))

    def _schedule_media(self, playback: Playback, seconds: float | None) -> None:
        playback.timer = None
        if seconds is not None:
            playback.timer = self._loop.call_later(seconds / self.config.speed, self._media_done, playback)
            playback.ends_at = self._loop.time() + seconds / self.config.speed

    def _media_done(self, playback: Playback) -> None:
        if playback.index + 1 < len(playback.media):
            playback.index += 1
            playback.state = "continuing"
            self._playback_event(playback, "PlaybackContinuing")
            playback.state = "playing"
            self._play_media(playback)
        else:
            self._finish_playback(playback, "done")

    def _finish_playback(self, playback: Playback, state: str, *, start_next: bool = True) -> None:
        if playback.timer is not None:
            playback.timer.cancel()
        queue = playback.target.playbacks
        was_current = bool(queue) and queue[0] is playback
        if playback in queue:
            queue.remove(playback)
        self.playbacks.pop(playback.id, None)
        if was_current:
            playback.state = state
            self._playback_event(playback, "PlaybackFinished")
            self.journal.playback_finished(playback.id, state)
            if start_next and queue:
                self._start_playback(queue[0])

    def _fail_playbacks(self, channel: Channel) -> None:
        """The channel hangs up: the running playback fails, queued ones start and fail."""
        while channel.playbacks:
            playback = channel.playbacks[0]
            if playback.state == "queued":
                playback.state = "playing"
                self._playback_event(playback, "PlaybackStarted")
                self.journal.playback_started(playback.id, playback.target_uri, playback.media)
            self._finish_playback(playback, "failed", start_next=False)

    def stop_playback(self, playback_id: str) -> None:
        playback = self.playback(playback_id)
        self._finish_playback(playback, "done")

    def control_playback(self, playback_id: str, params: dict) -> None:
        playback = self.playback(playback_id)
        operation = params.get("operation")
        if operation not in ("restart", "pause", "unpause", "reverse", "forward"):
            raise AriError(400, "Invalid operation")
        if playback.state == "queued":
            raise AriError(409, "Playback not currently playing")
        loop = self._loop
        if operation == "pause" and playback.state == "playing":
            if playback.timer is not None:
                playback.timer.cancel()
                playback.remaining = max(playback.ends_at - loop.time(), 0.0)
                playback.timer = None
            playback.state = "paused"
        elif operation == "unpause" and playback.state == "paused":
            playback.state = "playing"
            if playback.remaining is not None:
                self._schedule_media(playback, playback.remaining * self.config.speed)
                playback.remaining = None
        elif operation == "restart":
            if playback.timer is not None:
                playback.timer.cancel()
            playback.index, playback.state = 0, "playing"
            self._schedule_media(playback, media_seconds(playback.media_uri))

    # ------------------------------------------------------------------ recordings

    def record_bridge(self, bridge_id: str, params: dict) -> dict:
        """POST /bridges/{id}/record, checked in the order of ast_ari_bridges_record() and
        stasis_app_control_record() (Asterisk 22): 201 with the recording ``queued``, then
        RecordingStarted; it ends with RecordingFinished when stopped, at maxDurationSeconds,
        when the bridge is destroyed or its last channel leaves."""
        bridge = self.bridge(bridge_id)
        fmt = params.get("format") or ""
        if fmt not in RECORDING_FORMATS:
            raise AriError(422, "specified format is unknown on this system")
        if (params.get("terminateOn") or "").lower() not in RECORDING_TERMINATIONS:
            raise AriError(400, "terminateOn invalid")
        if_exists = (params.get("ifExists") or "").lower()
        if if_exists not in RECORDING_IF_EXISTS:
            raise AriError(400, "ifExists invalid")
        max_duration = self._int(params.get("maxDurationSeconds"), 0, "maxDurationSeconds")
        max_silence = self._int(params.get("maxSilenceSeconds"), 0, "maxSilenceSeconds")
        name = params.get("name") or ""
        if not name or max_duration < 0 or max_silence < 0:
            # Asterisk has no check of its own before this one: EINVAL is a 500.
            raise AriError(500, "Error parsing request")
        if name in self.recordings or (if_exists in ("", "fail") and name in self.stored):
            raise AriError(409, f"Recording '{name}' already exists and can not be overwritten")
        recording = LiveRecording(name, fmt, f"bridge:{bridge.id}", bridge=bridge, max_duration=max_duration)
        self.recordings[name] = recording
        bridge.recordings.append(recording)
        reply = recording.json()
        recording.timer = self._loop.call_soon(self._start_recording, recording)
        return reply

    def _recording_event(self, recording: LiveRecording, event_type: str) -> None:
        body = {"type": event_type, "timestamp": ari_time(), "recording": recording.json()}
        self.apps.emit(set(recording.bridge.subscribers), body)

    def _start_recording(self, recording: LiveRecording) -> None:
        recording.state = "recording"
        recording.started_at = self._loop.time()
        recording.timer = None
        self._recording_event(recording, "RecordingStarted")
        self.journal.recording_started(recording.name, recording.target_uri)
        if recording.max_duration:
            recording.timer = self._loop.call_later(recording.max_duration / self.config.speed,
                                                    self._finish_recording, recording)

    def _finish_recording(self, recording: LiveRecording) -> None:
        if self.recordings.get(recording.name) is not recording:
            return
        if recording.timer is not None:
            recording.timer.cancel()
        if recording.started_at is None:  # still queued: it starts, then ends at once
            self._start_recording(recording)
            if recording.timer is not None:
                recording.timer.cancel()
        del self.recordings[recording.name]
        recording.bridge.recordings.remove(recording)
        elapsed = (self._loop.time() - recording.started_at) * self.config.speed
        recording.state, recording.duration = "done", int(round(elapsed))
        self.stored[recording.name] = StoredRecording(recording.name, recording.format, recording.duration)
        self._recording_event(recording, "RecordingFinished")
        self.journal.recording_finished(recording.name, "done", recording.duration)

    def stop_recording(self, name: str) -> None:
        recording = self.live_recording(name)
        # 204 first; the recorder thread ends and publishes RecordingFinished afterwards.
        self._loop.call_soon(self._finish_recording, recording)

    def delete_stored_recording(self, name: str) -> None:
        self.stored_recording(name)
        del self.stored[name]

    # ------------------------------------------------------------------ applications

    def subscribe(self, app_name: str, params: dict, on: bool) -> dict:
        app = self.apps.get(app_name)
        if app is None:
            raise AriError(404, "Application not found")
        sources = [part for part in (params.get("eventSource") or "").split(",") if part]
        if not sources:
            raise AriError(400, "Missing parameter eventSource")
        changes = []
        for source in sources:
            scheme, _, name = source.partition(":")
            if scheme == "channel":
                holder, item = getattr(self.channels.get(name), "subscribers", None), app_name
            elif scheme == "bridge":
                holder, item = getattr(self.bridges.get(name), "subscribers", None), app_name
            elif scheme == "endpoint":
                holder, item = (app.endpoint_ids if name else None), name
            elif scheme == "deviceState":
                holder, item = (app.device_names if name else None), name
            else:
                raise AriError(400, "Invalid event source URI scheme")
            if holder is None:
                raise AriError(422, "Event source does not exist")
            changes.append((holder, item))
        for holder, item in changes:
            if on:
                holder.add(item)
            else:
                holder.discard(item)
        return self.application_json(app_name)

    def application_json(self, name: str) -> dict:
        app = self.apps.get(name)
        if app is None:
            raise AriError(404, "Application not found")
        return {
            "name": name,
            "channel_ids": [c.id for c in self.channels.values() if name in c.subscribers],
            "bridge_ids": [b.id for b in self.bridges.values() if name in b.subscribers],
            "endpoint_ids": sorted(app.endpoint_ids),
            "device_names": sorted(app.device_names),
            "events_allowed": app.allowed,
            "events_disallowed": app.disallowed,
        }

    def set_event_filter(self, name: str, body: dict) -> dict:
        app = self.apps.get(name)
        if app is None:
            raise AriError(404, "Application not found")
        app.allowed = list(body.get("allowed") or [])
        app.disallowed = list(body.get("disallowed") or [])
        return self.application_json(name)

    # ------------------------------------------------------------------ simulator control

    def inject_dtmf(self, channel_id: str, digits: str, duration_ms: int = 100) -> None:
        channel = self.channel(channel_id)
        if not digits or any(digit not in DTMF_DIGITS for digit in digits):
            raise AriError(400, "digits must be 0-9, A-D, * or #")
        step = DTMF_DIGIT_SECONDS + DTMF_GAP_SECONDS
        for index, digit in enumerate(digits):
            self._later(channel, DTMF_DIGIT_SECONDS + index * step, self._dtmf_received, channel,
                        digit, duration_ms)

    def _dtmf_received(self, channel: Channel, digit: str, duration_ms: int) -> None:
        if not channel.gone:
            self._channel_event(channel, "ChannelDtmfReceived", digit=digit, duration_ms=duration_ms)

    def force_outcome(self, kind: str, number: str | None, ring: float | None, talk: float | None) -> None:
        if kind not in farend.KINDS:
            raise AriError(400, f"outcome must be one of {', '.join(farend.KINDS)}")
        if ring is None:
            ring = 0.0 if kind in (farend.AGENT, farend.REFUSED) else farend.RING_SECONDS
        self.outcomes.force(FarEnd(kind, ring, talk), number)

    def restart(self) -> None:
        """Forget every channel, bridge, playback and app, as a restarted Asterisk would
        (the caller closes the events websockets)."""
        for channel in self.channels.values():
            channel.gone = True
            channel.cancel_timers()
        for playback in self.playbacks.values():
            if playback.timer is not None:
                playback.timer.cancel()
        for recording in self.recordings.values():
            if recording.timer is not None:
                recording.timer.cancel()
        self.channels.clear()
        self.bridges.clear()
        self.playbacks.clear()
        self.recordings.clear()  # the stored ones stay: they are files on disk
        self._sequence.clear()
        self.started_at = time.time()
        self.apps = Applications()
