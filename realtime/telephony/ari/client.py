"""Asyncio ARI client: REST calls as methods, the events websocket as ordered handlers.

What it relies on is only what a real Asterisk 22 does (its recorded answers and events
are test data in ``tests/telephony/data/ari-observed``):
every outcome of a request arrives as events keyed on ``channel.id``/``bridge.id``, and
a REST reply may arrive *after* the events it caused, so register handlers (or create a
:meth:`AriClient.wait_for` waiter) for an id before the request that uses it.

When the events websocket drops, the client reconnects with exponential backoff and
jitter, then reconciles: it lists live channels and bridges, hands them to the
``on_reconnect`` callbacks, and sends a local :class:`ChannelGone`/:class:`BridgeGone` to
the handlers of every channel/bridge that vanished meanwhile, so no call state waits
forever for a ``ChannelDestroyed`` that was lost.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Union
from urllib.parse import quote

import aiohttp
from yarl import URL

from realtime.health import ComponentHealth, Status

from .dispatch import EventDispatcher, EventPredicate, EventWaiter, Handler, Registration
from .errors import (
    AriBadRequest,
    AriError,
    AriNotFound,
    AriUnauthorized,
    EndpointUnreachable,
    NoSuchBridge,
    NoSuchChannel,
    NoSuchPlayback,
    NoSuchRecording,
    TelephonyUnavailable,
    error_for_status,
)
from .events import ApplicationReplaced, BridgeGone, ChannelGone, decode_event, now
from .models import Bridge, Channel, LiveRecording, Playback

logger = logging.getLogger(__name__)

ReconnectCallback = Callable[
    [dict[str, Channel], dict[str, Bridge]], Union[Awaitable[None], None]
]
Media = Union[str, Sequence[str]]

HANGUP_REASONS = frozenset({
    "normal", "busy", "congestion", "no_answer", "timeout", "rejected", "unallocated",
    "normal_unspecified", "number_incomplete", "codec_mismatch", "interworking", "failure",
    "answered_elsewhere",
})
MUTE_DIRECTIONS = frozenset({"both", "in", "out"})
SNOOP_DIRECTIONS = frozenset({"none", "both", "out", "in"})
IF_EXISTS = frozenset({"fail", "overwrite", "append"})
TERMINATE_ON = frozenset({"none", "any", "*", "#"})

# RFC 3986 path-segment characters: channel ids such as "call-1;2" stay readable.
_PATH_SAFE = "!$&'()*+,;=:@"
_HEARTBEAT = 20.0
_CALLBACKS = "callbacks"


class AriClient:
    """One Stasis application on one Asterisk (or the simulator), at ``base_url``
    (``http://host:8088/ari``)."""

    def __init__(
        self,
        base_url: str,
        user: str,
        password: str,
        app: str,
        *,
        request_timeout: float = 10.0,
        max_concurrency: int = 64,
        reconnect_backoff: tuple[float, float] = (0.2, 5.0),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.app = app
        credentials = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self._headers = {"Authorization": f"Basic {credentials}"}
        self._request_timeout = request_timeout
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._max_concurrency = max_concurrency
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._backoff = reconnect_backoff
        self._session: aiohttp.ClientSession | None = None
        self._dispatcher = EventDispatcher()
        self._reconnect_callbacks: dict[str, list[Registration]] = {}
        self._health_callbacks: dict[str, list[Registration]] = {}
        self._events_task: asyncio.Task[None] | None = None
        self._health = ComponentHealth(Status.STARTING, "events websocket not connected yet")
        self._closed = False

    # -- lifecycle ----------------------------------------------------------------
    async def connect(self, *, wait: bool = True) -> None:
        """Open the events websocket and start delivering events.

        With ``wait`` (default) the first connection is made here and its failure raised
        (:class:`TelephonyUnavailable`, :class:`AriUnauthorized`); without, the client
        keeps trying in the background and reports progress through :meth:`health`.
        """
        if self._closed:
            raise RuntimeError("AriClient is closed")
        if self._events_task is not None and not self._events_task.done():
            return
        self._dispatcher.start()
        ws = None
        if wait:
            try:
                ws = await self._open_websocket()
            except AriError as exc:
                self._set_health(Status.DOWN, str(exc))
                raise
            self._set_health(Status.UP)
        self._events_task = asyncio.get_running_loop().create_task(
            self._run_events(ws, connected_before=ws is not None), name=f"ari-events-{self.app}"
        )

    async def close(self) -> None:
        self._closed = True
        if self._events_task is not None:
            self._events_task.cancel()
            await asyncio.gather(self._events_task, return_exceptions=True)
            self._events_task = None
        await self._dispatcher.stop()
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._set_health(Status.DOWN, "closed")

    async def __aenter__(self) -> AriClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def health(self) -> ComponentHealth:
        return self._health

    @property
    def busy(self) -> bool:
        """Every one of its ``max_concurrency`` requests is under way: the next one waits."""
        return self._semaphore.locked()

    def on_health_change(self, callback: Callable[[ComponentHealth], None]) -> Registration:
        """``callback(health)`` (plain function, called inline) whenever the status changes."""
        return _register(self._health_callbacks, callback)

    # -- events -------------------------------------------------------------------
    def on_channel(self, channel_id: str, handler: Handler) -> Registration:
        """Events about ``channel_id`` (``Dial`` for its peer, its playbacks, ``ChannelGone``)."""
        return self._dispatcher.on_channel(channel_id, handler)

    def on_bridge(self, bridge_id: str, handler: Handler) -> Registration:
        """Events about ``bridge_id`` (channels entering/leaving, its playbacks, ``BridgeGone``)."""
        return self._dispatcher.on_bridge(bridge_id, handler)

    def on_event(self, handler: Handler) -> Registration:
        """Every event, after the per-channel and per-bridge handlers of that event."""
        return self._dispatcher.on_event(handler)

    def on_reconnect(self, callback: ReconnectCallback) -> Registration:
        """``callback(live_channels, live_bridges)`` after each reconnect, before any newer event."""
        return _register(self._reconnect_callbacks, callback)

    async def settle(self) -> None:
        """Until every event received so far has been delivered to its handlers (so what
        they track is up to date). Not from inside a handler: it would wait for itself."""
        await self._dispatcher.settle()

    def wait_for(self, predicate: EventPredicate, timeout: float) -> EventWaiter:
        """The first event from now on for which ``predicate`` is true; await the result.

        Registered at once, so ``w = client.wait_for(...); await request; await w`` cannot
        miss an event that arrives before the request's reply. Raises ``TimeoutError``.
        """
        return self._dispatcher.wait_for(predicate, timeout)

    # -- channels -----------------------------------------------------------------
    async def originate(
        self,
        endpoint: str,
        *,
        channel_id: str | None = None,
        other_channel_id: str | None = None,
        app_args: Sequence[str] = (),
        caller_id: str | None = None,
        timeout: int = 30,
        variables: Mapping[str, Any] | None = None,
    ) -> Channel:
        """Dial ``endpoint`` into our Stasis app; returns at once (state ``Down``).

        The outcome arrives as events: ``StasisStart`` when answered, else ``Dial`` with a
        final status and ``ChannelDestroyed``. Raises :class:`EndpointUnreachable` when
        Asterisk cannot even allocate the channel.
        """
        body = await self._request(
            "POST", "/channels",
            params={
                "endpoint": endpoint, "app": self.app, "appArgs": _listing(app_args, "app_args"),
                "callerId": caller_id, "timeout": timeout,
                "channelId": channel_id, "otherChannelId": other_channel_id,
            },
            variables=variables, allocation_failure=EndpointUnreachable,
        )
        return Channel.from_json(body)

    async def create_channel(
        self,
        endpoint: str,
        *,
        channel_id: str | None = None,
        other_channel_id: str | None = None,
        app_args: Sequence[str] = (),
        variables: Mapping[str, Any] | None = None,
    ) -> Channel:
        """Create a channel in our app without dialing it (``StasisStart`` in state ``Down``);
        put it in a bridge, then :meth:`dial` it."""
        body = await self._request(
            "POST", "/channels/create",
            params={
                "endpoint": endpoint, "app": self.app, "appArgs": _listing(app_args, "app_args"),
                "channelId": channel_id, "otherChannelId": other_channel_id,
            },
            variables=variables, allocation_failure=EndpointUnreachable,
        )
        return Channel.from_json(body)

    async def dial(self, channel_id: str, *, caller: str | None = None, timeout: int | None = None) -> None:
        await self._request(
            "POST", _path("channels", channel_id, "dial"),
            params={"caller": caller, "timeout": timeout},
            not_found=NoSuchChannel, allocation_failure=EndpointUnreachable,
        )

    async def get_channel(self, channel_id: str) -> Channel:
        return Channel.from_json(
            await self._request("GET", _path("channels", channel_id), not_found=NoSuchChannel)
        )

    async def list_channels(self) -> list[Channel]:
        return [Channel.from_json(item) for item in await self._request("GET", "/channels")]

    async def hangup(
        self, channel_id: str, *, reason: str | None = None, reason_code: int | str | None = None
    ) -> None:
        """Hang up (works ringing or answered, in Stasis or not); ``reason`` is a name
        (``busy``, ``no_answer``, ...) or ``reason_code`` a Q.850 cause, not both."""
        if reason is not None and reason_code is not None:
            raise ValueError("give reason or reason_code, not both")
        _check_choice("reason", reason, HANGUP_REASONS)
        if reason_code is not None and not str(reason_code).isdigit():
            raise ValueError(f"reason_code must be a Q.850 cause number, got {reason_code!r}")
        await self._request(
            "DELETE", _path("channels", channel_id),
            params={"reason": reason, "reason_code": reason_code}, not_found=NoSuchChannel,
        )

    async def answer(self, channel_id: str) -> None:
        await self._channel_action("POST", channel_id, "answer")

    async def ring(self, channel_id: str) -> None:
        await self._channel_action("POST", channel_id, "ring")

    async def ring_stop(self, channel_id: str) -> None:
        await self._channel_action("DELETE", channel_id, "ring")

    async def continue_in_dialplan(
        self, channel_id: str, *, context: str, extension: str, priority: int = 1, label: str | None = None
    ) -> None:
        """Leave Stasis into the dialplan (always give the full location: without it an
        originated channel goes on wherever its ``dialplan`` field points)."""
        await self._channel_action(
            "POST", channel_id, "continue",
            params={"context": context, "extension": extension, "priority": priority, "label": label},
        )

    async def play(
        self, channel_id: str, media: Media, *, playback_id: str | None = None, lang: str | None = None
    ) -> Playback:
        """Queue media on the channel (a missing file fails as a ``PlaybackFinished``
        event with state ``failed``, not as an error here)."""
        body = await self._channel_action(
            "POST", channel_id, "play",
            params={"media": _listing(media, "media", required=True), "playbackId": playback_id, "lang": lang},
        )
        return Playback.from_json(body)

    async def snoop(
        self,
        channel_id: str,
        *,
        spy: str = "none",
        whisper: str = "none",
        app_args: Sequence[str] = (),
        snoop_id: str | None = None,
    ) -> Channel:
        """A new channel in our app that hears (``spy``) and/or talks into (``whisper``)
        the target channel; listen = ``spy="both"``, coach = ``spy="both", whisper="out"``."""
        _check_choice("spy", spy, SNOOP_DIRECTIONS)
        _check_choice("whisper", whisper, SNOOP_DIRECTIONS)
        if spy == "none" and whisper == "none":
            raise ValueError("snoop needs spy or whisper (or both) other than 'none'")
        body = await self._channel_action(
            "POST", channel_id, "snoop",
            params={
                "spy": spy, "whisper": whisper, "app": self.app,
                "appArgs": _listing(app_args, "app_args"), "snoopId": snoop_id,
            },
        )
        return Channel.from_json(body)

    async def mute(self, channel_id: str, direction: str = "both") -> None:
        _check_choice("direction", direction, MUTE_DIRECTIONS)
        await self._channel_action("POST", channel_id, "mute", params={"direction": direction})

    async def unmute(self, channel_id: str, direction: str = "both") -> None:
        _check_choice("direction", direction, MUTE_DIRECTIONS)
        await self._channel_action("DELETE", channel_id, "mute", params={"direction": direction})

    async def hold(self, channel_id: str) -> None:
        await self._channel_action("POST", channel_id, "hold")

    async def unhold(self, channel_id: str) -> None:
        await self._channel_action("DELETE", channel_id, "hold")

    async def start_moh(self, channel_id: str, mohclass: str | None = None) -> None:
        await self._channel_action("POST", channel_id, "moh", params={"mohClass": mohclass})

    async def stop_moh(self, channel_id: str) -> None:
        await self._channel_action("DELETE", channel_id, "moh")

    async def get_variable(self, channel_id: str, variable: str) -> str | None:
        """The variable's value, ``None`` when it is not set on the channel."""
        try:
            body = await self._channel_action("GET", channel_id, "variable", params={"variable": variable})
        except NoSuchChannel as exc:
            if "variable" in exc.message.lower():
                return None
            raise
        return body.get("value") if body else None

    async def set_variable(self, channel_id: str, variable: str, value: str) -> None:
        await self._channel_action("POST", channel_id, "variable", params={"variable": variable, "value": value})

    async def send_dtmf(
        self,
        channel_id: str,
        dtmf: str,
        *,
        before: int | None = None,
        between: int | None = None,
        duration: int | None = None,
        after: int | None = None,
    ) -> None:
        await self._channel_action(
            "POST", channel_id, "dtmf",
            params={"dtmf": dtmf, "before": before, "between": between, "duration": duration, "after": after},
        )

    # -- bridges ------------------------------------------------------------------
    async def create_bridge(
        self, bridge_id: str | None = None, *, type: str | Sequence[str] = "mixing", name: str | None = None
    ) -> Bridge:
        body = await self._request(
            "POST", "/bridges",
            params={"type": _listing(type, "type"), "bridgeId": bridge_id, "name": name},
        )
        return Bridge.from_json(body)

    async def get_bridge(self, bridge_id: str) -> Bridge:
        return Bridge.from_json(await self._request("GET", _path("bridges", bridge_id), not_found=NoSuchBridge))

    async def list_bridges(self) -> list[Bridge]:
        return [Bridge.from_json(item) for item in await self._request("GET", "/bridges")]

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self._request("DELETE", _path("bridges", bridge_id), not_found=NoSuchBridge)

    async def add_channel(self, bridge_id: str, channel_ids: str | Sequence[str], *, role: str | None = None) -> None:
        """Raises :class:`NoSuchChannel` (Asterisk: 400) for an unknown channel,
        :class:`AriUnprocessable` (422) for a channel that is not in Stasis."""
        await self._bridge_membership("addChannel", bridge_id, channel_ids, role=role)

    async def remove_channel(self, bridge_id: str, channel_ids: str | Sequence[str]) -> None:
        """Raises :class:`AriUnprocessable` (422) when the channel is not in this bridge."""
        await self._bridge_membership("removeChannel", bridge_id, channel_ids)

    async def bridge_start_moh(self, bridge_id: str, mohclass: str | None = None) -> None:
        await self._request(
            "POST", _path("bridges", bridge_id, "moh"), params={"mohClass": mohclass}, not_found=NoSuchBridge
        )

    async def bridge_stop_moh(self, bridge_id: str) -> None:
        await self._request("DELETE", _path("bridges", bridge_id, "moh"), not_found=NoSuchBridge)

    async def bridge_play(
        self, bridge_id: str, media: Media, *, playback_id: str | None = None, lang: str | None = None
    ) -> Playback:
        body = await self._request(
            "POST", _path("bridges", bridge_id, "play"),
            params={"media": _listing(media, "media", required=True), "playbackId": playback_id, "lang": lang},
            not_found=NoSuchBridge,
        )
        return Playback.from_json(body)

    async def record_bridge(
        self,
        bridge_id: str,
        name: str,
        *,
        format: str = "wav",
        max_duration_seconds: int | None = None,
        max_silence_seconds: int | None = None,
        if_exists: str | None = None,
        beep: bool | None = None,
        terminate_on: str | None = None,
    ) -> LiveRecording:
        """Record the bridge's mixed audio as ``<name>.<format>`` (state ``queued``); the
        outcome arrives as ``RecordingStarted`` then ``RecordingFinished``/``RecordingFailed``,
        routed to the bridge's handlers. Asterisk answers 409 (:class:`AriConflict`) when
        the name is recording already, or is stored and ``if_exists`` is ``fail`` (its default),
        and 422 for a format it does not know."""
        _check_choice("if_exists", if_exists, IF_EXISTS)
        _check_choice("terminate_on", terminate_on, TERMINATE_ON)
        for value, what in ((name, "name"), (format, "format")):
            if not value:
                raise ValueError(f"a recording needs a {what}")
        body = await self._request(
            "POST", _path("bridges", bridge_id, "record"),
            params={
                "name": name, "format": format, "maxDurationSeconds": max_duration_seconds,
                "maxSilenceSeconds": max_silence_seconds, "ifExists": if_exists, "beep": beep,
                "terminateOn": terminate_on,
            },
            not_found=NoSuchBridge,
        )
        return LiveRecording.from_json(body)

    # -- recordings -----------------------------------------------------------------
    async def get_live_recording(self, name: str) -> LiveRecording:
        return LiveRecording.from_json(
            await self._request("GET", _path("recordings", "live", name), not_found=NoSuchRecording)
        )

    async def stop_recording(self, name: str) -> None:
        """Stop and keep a live recording; ``RecordingFinished`` follows."""
        await self._request("POST", _path("recordings", "live", name, "stop"), not_found=NoSuchRecording)

    async def delete_stored_recording(self, name: str) -> None:
        await self._request("DELETE", _path("recordings", "stored", name), not_found=NoSuchRecording)

    async def open_stored_recording(self, name: str, *, timeout: float | None = None) -> RecordingFile:
        """``GET /recordings/stored/{name}/file``: the audio's type and length at once, its
        bytes from :meth:`RecordingFile.chunks`; use it as ``async with`` (it holds one of
        the client's connections). ``timeout`` bounds the whole transfer (default: the
        client's request timeout). Raises :class:`NoSuchRecording`."""
        path = _path("recordings", "stored", name, "file")
        stack = contextlib.AsyncExitStack()
        try:
            response = await stack.enter_async_context(self._exchange("GET", path, timeout=timeout))
            if response.status >= 300:
                payload = await response.read()
                raise error_for_status(
                    response.status, _error_text(payload, response.reason or ""), not_found=NoSuchRecording
                )
        except BaseException:
            await stack.aclose()
            raise
        return RecordingFile(path, response, stack)

    # -- playbacks and subscriptions ----------------------------------------------
    async def get_playback(self, playback_id: str) -> Playback:
        return Playback.from_json(
            await self._request("GET", _path("playbacks", playback_id), not_found=NoSuchPlayback)
        )

    async def stop_playback(self, playback_id: str) -> None:
        await self._request("DELETE", _path("playbacks", playback_id), not_found=NoSuchPlayback)

    async def subscribe(self, event_source: str | Sequence[str]) -> None:
        """Also receive events of e.g. ``channel:<id>`` or ``bridge:<id>`` (a bridge that
        none of our channels entered sends no ``BridgeDestroyed`` otherwise)."""
        await self._request(
            "POST", _path("applications", self.app, "subscription"),
            params={"eventSource": _listing(event_source, "event_source", required=True)},
        )

    async def unsubscribe(self, event_source: str | Sequence[str]) -> None:
        await self._request(
            "DELETE", _path("applications", self.app, "subscription"),
            params={"eventSource": _listing(event_source, "event_source", required=True)},
        )

    # -- REST plumbing ------------------------------------------------------------
    async def _channel_action(
        self, method: str, channel_id: str, action: str, *, params: Mapping[str, Any] | None = None
    ) -> Any:
        return await self._request(
            method, _path("channels", channel_id, action), params=params, not_found=NoSuchChannel
        )

    async def _bridge_membership(
        self, action: str, bridge_id: str, channel_ids: str | Sequence[str], *, role: str | None = None
    ) -> None:
        try:
            await self._request(
                "POST", _path("bridges", bridge_id, action),
                params={"channel": _listing(channel_ids, "channel_ids", required=True), "role": role},
                not_found=NoSuchBridge,
            )
        except AriBadRequest as exc:
            # Asterisk answers 400 (not 404) for an unknown channel id here.
            if exc.message == "Channel not found":
                raise NoSuchChannel(exc.message, status=exc.status) from None
            raise

    def _http(self) -> aiohttp.ClientSession:
        if self._closed:
            raise TelephonyUnavailable("ARI client is closed")
        if self._session is None:
            # Two spare connections: the events websocket holds one for its lifetime.
            connector = aiohttp.TCPConnector(limit=self._max_concurrency + 2, keepalive_timeout=30)
            # The session timeout bounds the websocket handshake (not the open socket).
            self._session = aiohttp.ClientSession(
                headers=self._headers, connector=connector, timeout=self._timeout
            )
        return self._session

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        variables: Mapping[str, Any] | None = None,
        not_found: type[AriNotFound] = AriNotFound,
        allocation_failure: type[AriError] = TelephonyUnavailable,
    ) -> Any:
        # Only `variables` needs a body; everything else goes in the query string.
        body = {"variables": _variables(variables)} if variables else None
        async with self._exchange(method, path, params=params, body=body) as resp:
            payload = await resp.read()
            status = resp.status
            reason = resp.reason or ""
        if status < 300:
            return json.loads(payload) if payload else None
        raise error_for_status(
            status, _error_text(payload, reason), not_found=not_found, allocation_failure=allocation_failure
        )

    @contextlib.asynccontextmanager
    async def _exchange(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        timeout: float | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """One request and its reply (status and headers read, body not yet), with
        transport failures as :class:`TelephonyUnavailable`."""
        session = self._http()
        url = URL(self.base_url + path, encoded=True)
        query = _query(params or {})
        limit = self._request_timeout if timeout is None else timeout
        options = {} if timeout is None else {"timeout": aiohttp.ClientTimeout(total=timeout)}
        async with self._semaphore:
            try:
                async with session.request(method, url, params=query, json=body, **options) as resp:
                    logger.debug("ARI %s %s %s -> %d", method, path, query, resp.status)
                    yield resp
            except asyncio.TimeoutError:
                raise TelephonyUnavailable(f"{method} {path}: no reply within {limit:g}s") from None
            except (aiohttp.ClientError, OSError) as exc:
                raise TelephonyUnavailable(f"{method} {path}: {exc or type(exc).__name__}") from None

    # -- events websocket ---------------------------------------------------------
    def _events_url(self) -> URL:
        url = URL(self.base_url + "/events")
        scheme = {"http": "ws", "https": "wss"}.get(url.scheme, url.scheme)
        return url.with_scheme(scheme).with_query(app=self.app)

    async def _open_websocket(self) -> aiohttp.ClientWebSocketResponse:
        url = self._events_url()
        try:
            ws = await self._http().ws_connect(
                url, heartbeat=_HEARTBEAT, timeout=aiohttp.ClientWSTimeout(ws_close=2.0)
            )
        except aiohttp.WSServerHandshakeError as exc:
            error = error_for_status(exc.status, exc.message or "websocket refused")
            if not isinstance(error, (AriUnauthorized, TelephonyUnavailable)):
                error = TelephonyUnavailable(
                    f"events websocket refused: {exc.status} {exc.message}", status=exc.status
                )
            raise error from None
        except asyncio.TimeoutError:
            raise TelephonyUnavailable("events websocket: connect timed out") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise TelephonyUnavailable(f"events websocket: {exc or type(exc).__name__}") from None
        logger.info("ARI events websocket connected: %s app=%s", url.with_query(None), self.app)
        return ws

    async def _run_events(self, ws: aiohttp.ClientWebSocketResponse | None, *, connected_before: bool) -> None:
        attempt = 0
        try:
            while not self._closed:
                if ws is None:
                    try:
                        ws = await self._open_websocket()
                        if connected_before:
                            await self._reconcile()
                    except Exception as exc:  # AriError, or a listing we could not read
                        if not isinstance(exc, AriError):
                            logger.exception("ARI reconnect failed")
                        if ws is not None:
                            await ws.close()
                            ws = None
                        delay = self._delay(attempt)
                        attempt += 1
                        self._set_health(Status.DOWN, f"{exc}; retrying in {delay:.1f}s")
                        await asyncio.sleep(delay)
                        continue
                    connected_before = True
                    attempt = 0
                    self._set_health(Status.UP)
                try:
                    replaced = await self._read_events(ws)
                except Exception:  # the loop must survive anything a broken socket throws
                    logger.exception("ARI events websocket failed")
                    replaced = False
                await ws.close()
                ws = None
                if replaced:
                    self._set_health(
                        Status.DOWN, "ari-app-replaced: another connection took the Stasis application"
                    )
                    return
                self._set_health(Status.DOWN, "events websocket closed; reconnecting")
                # A socket that drops right after opening must not make us spin.
                await asyncio.sleep(self._delay(0))
        finally:
            if ws is not None:
                await ws.close()

    async def _read_events(self, ws: aiohttp.ClientWebSocketResponse) -> bool:
        """Queue every frame's event until the socket closes; True if our app was taken over."""
        async for message in ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                if message.type is aiohttp.WSMsgType.ERROR:
                    logger.warning("ARI events websocket error: %s", ws.exception())
                    break
                continue
            try:
                data = json.loads(message.data)
            except ValueError:
                logger.warning("ARI sent a frame that is not JSON: %.200r", message.data)
                continue
            event = decode_event(data)
            self._dispatcher.submit(event)
            if isinstance(event, ApplicationReplaced):
                return True
        return False

    async def _reconcile(self) -> None:
        """After a reconnect: what is still live, in the delivery order of events."""
        live_channels = {channel.id: channel for channel in await self.list_channels()}
        live_bridges = {bridge.id: bridge for bridge in await self.list_bridges()}
        logger.info(
            "ARI reconnected: %d live channels, %d live bridges", len(live_channels), len(live_bridges)
        )

        async def reconcile() -> None:
            for registration in list(self._reconnect_callbacks.get(_CALLBACKS, ())):
                try:
                    result = registration.handler(dict(live_channels), dict(live_bridges))
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    logger.exception("ARI reconnect callback %r failed", registration.handler)
            # After the callbacks: they may already have let go of what is gone.
            at = now()
            for channel_id in sorted(self._dispatcher.watched_channels() - live_channels.keys()):
                await self._dispatcher.deliver(ChannelGone(channel_id=channel_id, timestamp=at))
            for bridge_id in sorted(self._dispatcher.watched_bridges() - live_bridges.keys()):
                await self._dispatcher.deliver(BridgeGone(bridge_id=bridge_id, timestamp=at))

        self._dispatcher.submit_job(reconcile)

    def _delay(self, attempt: int) -> float:
        low, high = self._backoff
        ceiling = min(high, low * (2 ** min(attempt, 16)))
        return random.uniform(ceiling / 2, ceiling)

    def _set_health(self, status: Status, detail: str = "") -> None:
        changed = status is not self._health.status
        self._health = ComponentHealth(status, detail)
        if not changed:
            return
        logger.info("ARI telephony %s %s", status.value, detail)
        for registration in list(self._health_callbacks.get(_CALLBACKS, ())):
            try:
                registration.handler(self._health)
            except Exception:
                logger.exception("ARI health callback %r failed", registration.handler)


class RecordingFile:
    """A stored recording being read from Asterisk: ``content_type`` and ``size`` (bytes,
    None when not announced) from its headers, the audio from :meth:`chunks`."""

    def __init__(self, path: str, response: aiohttp.ClientResponse, stack: contextlib.AsyncExitStack) -> None:
        self.content_type = response.headers.get("Content-Type", "application/octet-stream")
        self.size = response.content_length
        self._path = path
        self._response = response
        self._stack = stack

    async def chunks(self, size: int = 64 * 1024) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(size):
                yield chunk
        except asyncio.TimeoutError:
            raise TelephonyUnavailable(f"GET {self._path}: the audio stopped coming") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise TelephonyUnavailable(f"GET {self._path}: {exc or type(exc).__name__}") from None

    async def close(self) -> None:
        await self._stack.aclose()

    async def __aenter__(self) -> RecordingFile:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _register(table: dict[str, list[Registration]], callback: Callable[..., Any]) -> Registration:
    registration = Registration(table, _CALLBACKS, callback)
    table.setdefault(_CALLBACKS, []).append(registration)
    return registration


def _path(*segments: str) -> str:
    for segment in segments:
        if not segment:
            raise ValueError("an ARI id must not be empty")
    return "/" + "/".join(quote(segment, safe=_PATH_SAFE) for segment in segments)


def _listing(values: str | Sequence[str], name: str, *, required: bool = False) -> str | None:
    """ARI takes several values as ONE comma-joined parameter (a repeated key keeps only
    the last value), so a value may not itself contain a comma."""
    items = [values] if isinstance(values, str) else list(values)
    for item in items:
        if not isinstance(item, str) or not item or "," in item:
            raise ValueError(f"{name}: {item!r} must be a non-empty string without commas")
    if required and not items:
        raise ValueError(f"{name}: at least one value is required")
    return ",".join(items) if items else None


def _variables(variables: Mapping[str, Any]) -> dict[str, Any]:
    """Asterisk takes a string, or ``{"value": str, "report_events": bool}``, per variable."""
    return {
        name: dict(value) if isinstance(value, Mapping) else str(value)
        for name, value in variables.items()
    }


def _query(params: Mapping[str, Any]) -> dict[str, str]:
    query = {}
    for key, value in params.items():
        if value is None:
            continue
        query[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return query


def _check_choice(name: str, value: str | None, allowed: frozenset[str]) -> None:
    if value is not None and value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(sorted(allowed))}, got {value!r}")


def _error_text(payload: bytes, reason: str) -> str:
    try:
        body = json.loads(payload)
    except ValueError:
        text = payload.decode("utf-8", "replace").strip()
        return text[:300] or reason
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or reason)
    return reason
