"""Stasis applications, their events websockets, and event fan-out.

An event body is serialised once; each receiving application gets that text with its own
``asterisk_id``/``application`` tail, queued on its websocket's writer so that a slow
client never blocks the PBX.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable

from aiohttp import web

from .model import ASTERISK_ID, ari_time

logger = logging.getLogger(__name__)


class EventStream:
    """One events websocket; owns the apps named in its ``app=`` parameter."""

    def __init__(self, ws: web.WebSocketResponse, apps: list[str]) -> None:
        self.ws = ws
        self.apps = apps
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._writer = asyncio.get_running_loop().create_task(self._write())

    def send(self, text: str) -> None:
        self._queue.put_nowait(text)

    async def _write(self) -> None:
        while (text := await self._queue.get()) is not None:
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                break

    async def close(self) -> None:
        """Flush what is queued, then close the socket (server side)."""
        self._queue.put_nowait(None)
        await asyncio.gather(self._writer, return_exceptions=True)
        await self.ws.close()


async def close_streams(streams: Iterable[EventStream]) -> None:
    await asyncio.gather(*(stream.close() for stream in list(streams)), return_exceptions=True)


class Application:
    def __init__(self, name: str) -> None:
        self.name = name
        # What each event sent to this app ends with; fixed, so not rebuilt per event.
        self.tail = f',"asterisk_id":"{ASTERISK_ID}","application":{json.dumps(name)}}}'
        self.stream: EventStream | None = None
        self.allowed: list[dict] = []
        self.disallowed: list[dict] = []
        self.endpoint_ids: set[str] = set()
        self.device_names: set[str] = set()

    def wants(self, event_type: str) -> bool:
        if self.allowed and not any(item.get("type") == event_type for item in self.allowed):
            return False
        return not any(item.get("type") == event_type for item in self.disallowed)


class Applications:
    """Registry of apps by name and the fan-out of events to them."""

    def __init__(self) -> None:
        self.apps: dict[str, Application] = {}
        self._all: set[str] = set()   # apps connected with subscribeAll=true

    def get(self, name: str) -> Application | None:
        return self.apps.get(name)

    def serves(self, name: str) -> bool:
        app = self.apps.get(name)
        return app is not None and app.stream is not None

    def connect(self, stream: EventStream, subscribe_all: bool) -> None:
        for name in stream.apps:
            app = self.apps.get(name) or self.apps.setdefault(name, Application(name))
            previous = app.stream
            app.stream = stream
            if subscribe_all:
                self._all.add(name)
            else:
                self._all.discard(name)
            if previous is not None and previous is not stream:
                body = {"type": "ApplicationReplaced", "timestamp": ari_time(),
                        "application": name, "asterisk_id": ASTERISK_ID}
                previous.send(json.dumps(body, separators=(",", ":")))

    def disconnect(self, stream: EventStream) -> None:
        for name in stream.apps:
            app = self.apps.get(name)
            if app is not None and app.stream is stream:
                app.stream = None
                self._all.discard(name)

    def emit(self, apps: Iterable[str], body: dict) -> None:
        """Send `body` (keys in wire order, without the per-app tail) to `apps`."""
        names = set(apps)
        names.update(self._all)
        if not names:
            return
        text = json.dumps(body, separators=(",", ":"))[:-1]
        event_type = body["type"]
        for name in names:
            app = self.apps.get(name)
            if app is None or app.stream is None or not app.wants(event_type):
                continue
            app.stream.send(text + app.tail)
