"""The product as ``realtime serve`` builds it, on an ARI simulator of the test's own (over
real HTTP and websockets, deterministic far ends, fast clock, its control API on), and
callers who sign in over HTTP and work through real Socket.IO clients."""
from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import socketio
from aiohttp import web
from aiohttp.test_utils import TestServer

from realtime import app_keys
from realtime.channels.monitor import EVENTS
from realtime.config import load_settings
from realtime.server import create_app
from realtime.store.database import Store
from realtime.telephony.sim.config import SimConfig
from realtime.telephony.sim.server import RunningSimulator, create_sim_app

from .floor import PASSWORD, FloorData, seed_account

SIM_USER, SIM_PASSWORD = "ari", "ari"
SPEED = 20.0  # a 2 s ring takes 100 ms; a 5 s conversation 250 ms
TIMEOUT = 10.0


class FarEnd:
    """The simulator's control API: the people at the far end of the calls."""

    def __init__(self, simulator: RunningSimulator) -> None:
        self.simulator = simulator
        self.root = simulator.url.removesuffix("/ari")
        self.headers = {"Authorization": aiohttp.encode_basic_auth(SIM_USER, SIM_PASSWORD)}

    async def request(self, method: str, path: str, **params: Any) -> Any:
        async with aiohttp.ClientSession(headers=self.headers) as http:
            async with http.request(method, f"{self.root}/{path}", json=params or None) as resp:
                assert resp.status < 300, await resp.text()
                return await resp.json() if resp.content_type == "application/json" else None

    async def hang_up(self, channel_id: str) -> None:
        await self.request("POST", f"_sim/channels/{channel_id}/hangup")

    async def dtmf(self, channel_id: str, digits: str) -> None:
        await self.request("POST", f"_sim/channels/{channel_id}/dtmf", digits=digits)

    async def dial_in(self, caller_number: str = "+12025550142") -> dict:
        return await self.request("POST", "_sim/inbound", app="impactdialing", args="dial-in", **{"from": caller_number})

    async def channels(self) -> list[dict]:
        return await self.request("GET", "ari/channels")

    async def bridges(self) -> list[dict]:
        return await self.request("GET", "ari/bridges")

    async def channel_ids(self, prefix: str) -> list[str]:
        return [c["id"] for c in await self.channels() if c["id"].startswith(prefix)]


WIRE = web.AppKey("wire", list)


@web.middleware
async def record_requests(request: web.Request, handler):
    """Keep every ARI request (method, path, query) as the simulator received it."""
    request.app[WIRE].append((request.method, request.path, dict(request.query)))
    return await handler(request)


@pytest.fixture
async def simulator() -> AsyncIterator[RunningSimulator]:
    """The simulator; ``simulator.app[WIRE]`` lists the ARI requests it received."""
    app = create_sim_app(SimConfig(user=SIM_USER, password=SIM_PASSWORD, outcomes="deterministic", speed=SPEED,
                                   control=True, seed=7))
    app[WIRE] = []
    app.middlewares.append(record_requests)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    running = RunningSimulator(app, runner, "127.0.0.1", runner.addresses[0][1])
    yield running
    await running.close()


@pytest.fixture
def far_end(simulator) -> FarEnd:
    return FarEnd(simulator)


class Product:
    """One server process's application, reachable over real sockets."""

    def __init__(self, server: TestServer) -> None:
        self.server = server
        self.app = server.app

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @property
    def store(self) -> Store:
        return self.app[app_keys.STORE]

    async def close(self, timeout: float = 60.0) -> None:
        """Stop it as ``realtime serve`` does on SIGTERM. A stop that hangs fails here with the
        stacks of the tasks it waits on, not later as a bare test timeout that names none."""
        closing = asyncio.ensure_future(self.server.close())
        if not (await asyncio.wait([closing], timeout=timeout))[0]:
            waits = "\n".join(_awaiting(task) for task in asyncio.all_tasks())  # the stop's own task too
            closing.cancel()
            await asyncio.gather(closing, return_exceptions=True)
            raise AssertionError(f"the product did not stop within {timeout} s; its tasks:\n{waits}")
        closing.result()


def _awaiting(task: asyncio.Task[Any]) -> str:
    """Where a suspended task waits, down its chain of awaits (``print_stack`` shows only
    the outermost coroutine of a suspended task)."""
    where = [task.get_name()]
    coro: Any = task.get_coro()
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            where.append(f"  {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return "\n".join(where)


async def start_product(tmp_path, simulator: RunningSimulator, **settings: Any) -> Product:
    from realtime.store import migrate

    values = {"data_dir": str(tmp_path), "ari_url": simulator.url, "ari_user": SIM_USER,
              "ari_password": SIM_PASSWORD, "dial_in_number": "+12025550123", **settings}
    loaded = load_settings(values, environ={})
    await migrate.upgrade(loaded.database_url)
    server = TestServer(create_app(loaded), host="127.0.0.1")
    await server.start_server()
    return Product(server)


@pytest.fixture
async def product(tmp_path, simulator) -> AsyncIterator[Product]:
    running = await start_product(tmp_path, simulator)
    yield running
    await running.close()


@pytest.fixture
async def floor(product) -> FloorData:
    return await seed_account(product.store)


class CallerClient:
    """A caller's page: signs in, connects to /caller, keeps every event in order."""

    namespace = "/caller"

    def __init__(self, url: str, username: str) -> None:
        self.url = url
        self.username = username
        self.cookie = ""
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._arrived = asyncio.Condition()
        self._read = 0  # events before this index were consumed by next()
        self.errors: list[Any] = []
        self.sio = socketio.AsyncClient(reconnection=False)
        self.sio.on("*", self._on_event, namespace=self.namespace)
        self.sio.on("connect_error", self._on_connect_error, namespace=self.namespace)

    async def sign_in(self, password: str = PASSWORD) -> None:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{self.url}/login", json={"login": self.username, "password": password}) as resp:
                assert resp.status == 200, await resp.text()
                self.cookie = f"realtime_session={resp.cookies['realtime_session'].value}"

    async def connect(self, *, last_seq: int | None = None, headers: dict[str, str] | None = None) -> None:
        """Connect; a page that had events says the last one it has, and of which session."""
        auth = None
        if last_seq is not None:
            auth = {"last_seq": last_seq}
            if self.events:
                auth["session_id"] = self.events[-1][1]["session_id"]
        await self.sio.connect(self.url, namespaces=[self.namespace], transports=["websocket"], auth=auth,
                               headers={"Cookie": self.cookie, **(headers or {})}, wait_timeout=TIMEOUT)

    async def open(self) -> CallerClient:
        await self.sign_in()
        await self.connect()
        await self.next("session_started")
        return self

    async def _on_event(self, name: str, data: dict[str, Any]) -> None:
        async with self._arrived:
            self.events.append((name, data))
            self._arrived.notify_all()

    async def _on_connect_error(self, data: Any) -> None:
        self.errors.append(data)

    async def call(self, command: str, payload: Any = None) -> dict[str, Any]:
        args = () if payload is None else (payload,)
        return await self.sio.call(command, *args, namespace=self.namespace, timeout=TIMEOUT) if args else \
            await self.sio.call(command, namespace=self.namespace, timeout=TIMEOUT)

    async def ok(self, command: str, payload: Any = None) -> dict[str, Any]:
        ack = await self.call(command, {} if payload is None else payload)
        assert ack.get("ok") is True, (command, ack)
        return ack

    async def next(self, name: str, *, timeout: float = TIMEOUT, **match: Any) -> dict[str, Any]:
        """The first unread event called ``name`` whose payload has ``match``; events
        before it are read too."""
        async def found() -> dict[str, Any]:
            async with self._arrived:
                while True:
                    for index in range(self._read, len(self.events)):
                        event, data = self.events[index]
                        if event == name and all(data.get(k) == v for k, v in match.items()):
                            self._read = index + 1
                            return data
                    await self._arrived.wait()

        try:
            return await asyncio.wait_for(found(), timeout)
        except TimeoutError:
            raise AssertionError(f"no {name} {match or ''} within {timeout} s; got {self.names()}") from None

    async def state(self, state: str, **match: Any) -> dict[str, Any]:
        return await self.next("state_changed", state=state, **match)

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    @property
    def last_seq(self) -> int:
        return max((data["seq"] for _, data in self.events), default=0)

    def seqs(self) -> list[int]:
        return [data["seq"] for _, data in self.events]

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


class SupervisorClient(CallerClient):
    """A supervisor's (or admin's) console: signs in with their email, connects to
    /monitor, keeps every event in order."""

    namespace = "/monitor"

    def __init__(self, url: str, username: str) -> None:
        super().__init__(url, username)
        # The floor as a console shows it: the last floor event with every change since applied.
        self.sessions: dict[int, dict[str, Any]] = {}
        self.campaigns: dict[int, dict[str, Any]] = {}

    async def _on_event(self, name: str, data: dict[str, Any]) -> None:
        if name == "floor":
            self.sessions = {row["session_id"]: row for row in data["sessions"]}
            self.campaigns = {row["campaign_id"]: row for row in data["campaigns"]}
        elif name == "session_updated":
            self.sessions[data["session"]["session_id"]] = data["session"]
        elif name == "session_ended":
            self.sessions.pop(data["session_id"], None)
        elif name == "campaign_updated":
            self.campaigns[data["campaign"]["campaign_id"]] = data["campaign"]
        elif name == "campaign_removed":
            self.campaigns.pop(data["campaign_id"], None)
        await super()._on_event(name, data)

    async def until(self, predicate: collections.abc.Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
        """Wait until the floor as shown satisfies ``predicate``; its (truthy) result."""
        async def found() -> Any:
            async with self._arrived:
                while not (result := predicate()):
                    await self._arrived.wait()
                return result

        try:
            return await asyncio.wait_for(found(), timeout)
        except TimeoutError:
            raise AssertionError(f"the floor never showed {what}; got {self.names()[-20:]}") from None

    async def connect(self, *, stream: str | None = None, last_seq: int | None = None,
                      headers: dict[str, str] | None = None) -> None:
        auth = {"stream": stream, "last_seq": last_seq} if last_seq is not None else None
        await self.sio.connect(self.url, namespaces=[self.namespace], transports=["websocket"], auth=auth,
                               headers={"Cookie": self.cookie, **(headers or {})}, wait_timeout=TIMEOUT)

    async def open(self) -> SupervisorClient:
        await self.sign_in()
        await self.connect()
        await self.next("floor")
        return self

    def latest(self, name: str) -> dict[str, Any]:
        return next(data for event, data in reversed(self.events) if event == name)

    async def session(self, session_id: int, **match: Any) -> dict[str, Any]:
        """The next ``session_updated`` of that session whose row has ``match``."""
        async def found() -> dict[str, Any]:
            async with self._arrived:
                while True:
                    for index in range(self._read, len(self.events)):
                        event, data = self.events[index]
                        if event == "session_updated" and data["session"]["session_id"] == session_id and all(
                                data["session"].get(k) == v for k, v in match.items()):
                            self._read = index + 1
                            return data["session"]
                    await self._arrived.wait()

        try:
            return await asyncio.wait_for(found(), TIMEOUT)
        except TimeoutError:
            raise AssertionError(f"no session_updated of {session_id} with {match}; got {self.names()}") from None


@contextlib.asynccontextmanager
async def opening(product: Product, kind: str) -> AsyncIterator[collections.abc.Callable[..., CallerClient]]:
    """``make(login, url=None)``: a caller's page (``kind`` "caller") or a supervisor's console
    ("supervisor") on the product, or on ``url`` (another of its processes). One factory for
    both, so the two cannot drift: every client is closed at the end, and every event a
    console got is checked against docs/events.md."""
    client_class = {"caller": CallerClient, "supervisor": SupervisorClient}[kind]
    opened: list[CallerClient] = []

    def make(login: str, url: str | None = None) -> CallerClient:
        client = client_class(url or product.url, login)
        opened.append(client)
        return client

    yield make
    for client in opened:
        await client.close()
    if kind == "supervisor":
        # Whatever the test did, every event a console got is one docs/events.md describes.
        for client in opened:
            for name, data in client.events:
                assert name in EVENTS and set(data) - {"seq", "at"} == set(EVENTS[name]), (name, data)


@pytest.fixture
async def supervisors(product) -> AsyncIterator[collections.abc.Callable[..., SupervisorClient]]:
    async with opening(product, "supervisor") as make:
        yield make


@pytest.fixture
async def callers(product) -> AsyncIterator[collections.abc.Callable[..., CallerClient]]:
    async with opening(product, "caller") as make:
        yield make
