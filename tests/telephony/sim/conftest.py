"""Fixtures for the PBX simulator tests: a running simulator, a raw ARI client (plain
aiohttp, as any ARI client would talk to Asterisk), and the real Asterisk recordings."""
from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from pathlib import Path

import aiohttp
import pytest

from realtime.telephony.sim import SimConfig, start_simulator
from tests.conftest import ARI_OBSERVED

RECORDED_EVENTS = ARI_OBSERVED / "probe-events.jsonl"
SPEED = 100.0
APP = "dialer"
AUTH = {"Authorization": aiohttp.encode_basic_auth("ari", "ari")}


class EventLog:
    """Everything one events websocket received, in order, and a way to await more."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[dict] = []
        self.raw: list[str] = []
        self.closed = asyncio.Event()
        self._waiters: dict[tuple, list[tuple[dict, asyncio.Future]]] = defaultdict(list)
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            event = json.loads(message.data)
            self.raw.append(message.data)
            self.events.append(event)
            for key in ((event["type"], subject_id(event)), (event["type"], None)):
                for fields, future in self._waiters.get(key, ()):
                    if not future.done() and _has(event, fields):
                        future.set_result(event)
        self.closed.set()
        for waiters in self._waiters.values():
            for _, future in waiters:
                if not future.done():
                    future.set_exception(AssertionError("events websocket closed"))

    async def wait_for(self, event_type: str, channel_id: str | None = None, timeout: float = 5.0,
                       **fields) -> dict:
        """The first event of `event_type` (for `channel_id`, with `fields`) ever received."""
        for event in self.events:
            if event["type"] == event_type and channel_id in (None, subject_id(event)) and _has(event, fields):
                return event
        if self.closed.is_set():
            raise AssertionError(f"events websocket closed before {event_type} for {channel_id}")
        future = asyncio.get_running_loop().create_future()
        self._waiters[(event_type, channel_id)].append((fields, future))
        return await asyncio.wait_for(future, timeout)

    def steps(self, channel_id: str) -> list[str]:
        return steps(self.events, channel_id)

    def of(self, channel_id: str) -> list[dict]:
        return [event for event in self.events if subject_id(event) == channel_id]

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()


def _has(event: dict, fields: dict) -> bool:
    return all(event.get(key) == value for key, value in fields.items())


def subject_id(event: dict) -> str | None:
    """Id of the channel an event is about (``peer`` for Dial)."""
    channel = event.get("channel") or event.get("peer")
    return channel["id"] if channel else None


def step(event: dict) -> str:
    """An event reduced to what must match the recording: type and the decisive value."""
    kind = event["type"]
    if kind == "Dial":
        return f"Dial {event['dialstatus']!r}"
    if kind == "ChannelStateChange":
        return f"ChannelStateChange {event['channel']['state']}"
    if kind == "ChannelVarset":
        value = event["value"]
        if event["variable"] == "BRIDGEPEER" and value:
            value = "<peers>"  # channel names differ from run to run
        return f"ChannelVarset {event['variable']}={value!r}"
    if kind == "ChannelDialplan":
        return f"ChannelDialplan {event['dialplan_app']}"
    if kind == "ChannelHangupRequest":
        return f"ChannelHangupRequest {event.get('cause')}{' soft' if event.get('soft') else ''}"
    if kind == "ChannelDestroyed":
        return f"ChannelDestroyed {event['cause']}"
    if kind == "StasisStart":
        return f"StasisStart {event['args']}"
    return kind


def steps(events: list[dict], channel_id: str) -> list[str]:
    return [step(event) for event in events if subject_id(event) == channel_id]


def shape(event: dict) -> tuple:
    """Key order of an event and of the objects in it."""
    nested = tuple((key, tuple(event[key])) for key in ("channel", "peer", "bridge", "playback")
                   if isinstance(event.get(key), dict))
    return tuple(event), nested


class Recording:
    """Events of the real Asterisk 22.10.1 run (``tests/telephony/data/ari-observed/probe-events.jsonl``)."""

    def __init__(self, path: Path) -> None:
        self.events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        self.raw = path.read_text().splitlines()
        self.shapes: dict[str, set[tuple]] = defaultdict(set)
        for event in self.events:
            self.shapes[event["type"]].add(shape(event))

    def steps(self, channel_id: str) -> list[str]:
        return steps(self.events, channel_id)

    def mismatched_shapes(self, events: list[dict]) -> list[tuple]:
        """Our events whose key orders no recorded event of the same type has."""
        return [(event["type"], shape(event)) for event in events
                if event["type"] in self.shapes and shape(event) not in self.shapes[event["type"]]]


@pytest.fixture(scope="session")
def recording() -> Recording:
    return Recording(RECORDED_EVENTS)


class Ari:
    """Raw ARI over HTTP: returns (status, decoded body or text)."""

    def __init__(self, session: aiohttp.ClientSession, base: str, root: str) -> None:
        self.session = session
        self.base = base
        self.root = root
        self.auth = AUTH

    async def request(self, method: str, path: str, *, json_body=None, auth=True, **params):
        url = path if path.startswith("http") else self.base + path
        kwargs = {"params": {k: str(v) for k, v in params.items()}}
        if json_body is not None:
            kwargs["json"] = json_body
        if auth:
            kwargs["headers"] = AUTH
        async with self.session.request(method, url, **kwargs) as response:
            text = await response.text()
            body = json.loads(text) if text and response.content_type == "application/json" else text
            return response.status, body

    async def events(self, app: str = APP, **params) -> EventLog:
        query = {"app": app, "api_key": "ari:ari", **params}
        ws = await self.session.ws_connect(f"{self.base}/events", params=query)
        return EventLog(ws)

    async def sim(self, method: str, path: str, **body):
        return await self.request(method, f"{self.root}/_sim/{path}", json_body=body or None)


@pytest.fixture
async def simulator():
    sim = await start_simulator(SimConfig(speed=SPEED, control=True))
    yield sim
    await sim.close()


@pytest.fixture
async def ari(simulator):
    async with aiohttp.ClientSession() as session:
        yield Ari(session, simulator.url, simulator.url.removesuffix("/ari"))


@pytest.fixture
async def events(ari):
    log = await ari.events()
    yield log
    await log.close()
