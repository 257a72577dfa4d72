"""A small ARI stand-in that records every request and answers with canned objects.

It lets the client's own behaviour (request shapes, error mapping, event routing,
reconnects) be tested over real HTTP and websockets without depending on how a
simulator or Asterisk behaves; the integration tests cover that part.
"""
from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
from typing import Any

from aiohttp import WSMsgType, web
from multidict import MultiDict


@dataclasses.dataclass
class RecordedRequest:
    method: str
    path: str  # below /ari, e.g. "/channels/abc/play"
    query: MultiDict[str]
    body: Any
    raw_path: str  # as sent, before percent-decoding


def channel_json(channel_id: str, state: str = "Down", name: str | None = None) -> dict[str, Any]:
    return {
        "id": channel_id, "name": name or f"PJSIP/trunk-{abs(hash(channel_id)) % 10**8:08x}",
        "state": state, "protocol_id": "", "caller": {"name": "", "number": ""},
        "connected": {"name": "", "number": ""}, "accountcode": "",
        "dialplan": {"context": "default", "exten": "s", "priority": 1, "app_name": "", "app_data": ""},
        "creationtime": "2026-11-26T14:31:50.091+0000", "language": "en",
    }


def bridge_json(bridge_id: str, channels: list[str] | None = None) -> dict[str, Any]:
    return {
        "id": bridge_id, "technology": "simple_bridge", "bridge_type": "mixing",
        "bridge_class": "stasis", "creator": "Stasis", "name": "", "channels": channels or [],
        "creationtime": "2026-11-26T14:31:50.091+0000", "video_mode": "talker",
    }


def playback_json(playback_id: str, target: str, media: str) -> dict[str, Any]:
    return {"id": playback_id, "media_uri": media.split(",")[0], "target_uri": target,
            "language": "en", "state": "queued"}


def recording_json(name: str, target: str, state: str = "queued") -> dict[str, Any]:
    return {"name": name, "format": "wav", "state": state, "target_uri": target}


class RecordingAri:
    """``url`` is the ARI base (``http://127.0.0.1:PORT/ari``).

    ``replies[(method, path)] = (status, body)`` overrides the canned answer;
    ``channels``/``bridges`` are what the list calls return.
    """

    def __init__(self, user: str = "ari", password: str = "secret") -> None:
        self.user, self.password = user, password
        self.requests: list[RecordedRequest] = []
        self.replies: dict[tuple[str, str], tuple[int, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.bridges: dict[str, dict[str, Any]] = {}
        self.sockets: list[web.WebSocketResponse] = []
        self.socket_opened = asyncio.Condition()
        self.connections = 0
        self.refuse_websocket = False
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> RecordingAri:
        app = web.Application()
        app.router.add_get("/ari/events", self._events)
        app.router.add_route("*", "/ari/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/ari"
        return self

    async def close(self) -> None:
        await self.drop_websockets()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- websocket ----------------------------------------------------------------
    async def send(self, event: dict[str, Any]) -> None:
        event = {"timestamp": "2026-11-26T14:31:50.087+0000", "application": "test",
                 "asterisk_id": "02:fc:00:00:00:01", **event}
        for ws in list(self.sockets):
            await ws.send_str(json.dumps(event))

    async def drop_websockets(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
        self.sockets.clear()

    async def wait_connections(self, count: int, timeout: float = 10.0) -> None:
        async with self.socket_opened:
            await asyncio.wait_for(
                self.socket_opened.wait_for(lambda: self.connections >= count and self.sockets), timeout
            )

    def _authorised(self, request: web.Request) -> bool:
        auth = request.headers.get("Authorization")
        if auth is None:
            return False
        scheme, _, value = auth.partition(" ")
        return scheme == "Basic" and base64.b64decode(value).decode() == f"{self.user}:{self.password}"

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if not self._authorised(request):
            return web.json_response({"message": "Authentication required"}, status=401)
        if "app" not in request.query:
            return web.Response(status=400, text="<html>HTTP request is missing param: [app]</html>",
                                content_type="text/html")
        if self.refuse_websocket:
            return web.json_response({"message": "Asterisk not booted"}, status=503)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        async with self.socket_opened:
            self.connections += 1
            self.socket_opened.notify_all()
        async for message in ws:
            if message.type is WSMsgType.ERROR:
                break
        if ws in self.sockets:
            self.sockets.remove(ws)
        return ws

    # -- REST ---------------------------------------------------------------------
    async def _rest(self, request: web.Request) -> web.StreamResponse:
        if not self._authorised(request):
            return web.json_response({"message": "Authentication required"}, status=401)
        path = "/" + request.match_info["tail"]
        body = await request.json() if request.can_read_body else None
        self.requests.append(RecordedRequest(request.method, path, request.query.copy(), body,
                                             request.rel_url.raw_path))
        override = self.replies.get((request.method, path))
        if override is not None:
            status, reply = override
            return web.json_response(reply, status=status) if reply is not None else web.Response(status=status)
        return self._canned(request.method, path, request.query)

    def _canned(self, method: str, path: str, query: Any) -> web.StreamResponse:
        parts = path.strip("/").split("/")
        if parts == ["channels"] and method == "GET":
            return web.json_response(list(self.channels.values()))
        if parts == ["bridges"] and method == "GET":
            return web.json_response(list(self.bridges.values()))
        if parts in (["channels"], ["channels", "create"]) and method == "POST":
            return web.json_response(channel_json(query.get("channelId", "generated-1")))
        if parts[0] == "channels" and len(parts) == 2 and method == "GET":
            return web.json_response(channel_json(parts[1], "Up"))
        if parts[0] == "channels" and len(parts) == 3:
            if parts[2] == "snoop":
                return web.json_response(channel_json(query.get("snoopId", "snoop-1"), "Up",
                                                      name=f"Snoop/{parts[1]}-00000001"))
            if parts[2] == "play":
                return web.json_response(
                    playback_json(query.get("playbackId", "pb-1"), f"channel:{parts[1]}", query["media"]),
                    status=201)
            if parts[2] == "variable" and method == "GET":
                return web.json_response({"value": "c1"})
        if parts == ["bridges"] and method == "POST":
            return web.json_response(bridge_json(query.get("bridgeId", "bridge-1")))
        if parts[0] == "bridges" and len(parts) == 2 and method == "GET":
            return web.json_response(bridge_json(parts[1]))
        if parts[0] == "bridges" and len(parts) == 3 and parts[2] == "play":
            return web.json_response(
                playback_json(query.get("playbackId", "pb-2"), f"bridge:{parts[1]}", query["media"]), status=201)
        if parts[0] == "bridges" and len(parts) == 3 and parts[2] == "record":
            return web.json_response(recording_json(query["name"], f"bridge:{parts[1]}"), status=201)
        if parts[:2] == ["recordings", "live"] and len(parts) == 3 and method == "GET":
            return web.json_response(recording_json(parts[2], "bridge:x", "recording"))
        if parts[:2] == ["recordings", "stored"] and parts[-1] == "file":
            return web.Response(body=b"RIFF....WAVE", content_type="audio/wav")
        if parts[0] == "playbacks" and method == "GET":
            return web.json_response(playback_json(parts[1], "channel:x", "sound:hello"))
        if parts[0] == "applications" and method in ("POST", "DELETE"):
            return web.json_response({"name": parts[1], "channel_ids": [], "bridge_ids": [],
                                      "endpoint_ids": [], "device_names": [], "events_allowed": [],
                                      "events_disallowed": []})
        return web.Response(status=204)
