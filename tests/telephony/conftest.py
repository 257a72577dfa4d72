"""Fixtures for the call-control tests: the built-in PBX simulator (deterministic
far ends, fast clock, control API on) and a connected :class:`Telephony` over real
HTTP and websockets."""
from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web

from realtime.telephony import Conference, Telephony, dial_lead
from realtime.telephony.ari import AriClient
from realtime.telephony.roles import VARIABLES
from realtime.telephony.sim.config import SimConfig
from realtime.telephony.sim.server import RunningSimulator, create_sim_app

APP = "impactdialing"
USER, PASSWORD = "ari", "secret"
AMD_CONTEXT = "impactdialing-amd"
SPEED = 50.0  # a 2 s ring takes 40 ms; AMD's 2.2 s take 44 ms
AUTH = {"Authorization": aiohttp.encode_basic_auth(USER, PASSWORD)}


class FarEnd:
    """The simulator's control API: plays the far end, breaks connections, reads the journal."""

    def __init__(self, simulator: RunningSimulator) -> None:
        self.simulator = simulator
        self.root = simulator.url.removesuffix("/ari")

    async def request(self, method: str, path: str, **params) -> object:
        async with aiohttp.ClientSession() as http:
            async with http.request(method, f"{self.root}/_sim/{path}", json=params or None,
                                    headers=AUTH) as resp:
                assert resp.status < 300, await resp.text()
                return await resp.json() if resp.content_type == "application/json" else None

    async def hang_up(self, channel_id: str, cause: int = 16) -> None:
        await self.request("POST", f"channels/{channel_id}/hangup", cause=cause)

    async def journal(self) -> dict:
        return await self.request("GET", "journal")  # type: ignore[return-value]

    async def drop_websockets(self) -> None:
        await self.request("POST", "websockets/drop")

    async def restart(self) -> None:
        await self.request("POST", "restart")


WIRE = web.AppKey("wire", list)


@web.middleware
async def record_requests(request: web.Request, handler):
    """Keep every ARI request (method, path, query) as it arrived on the wire."""
    request.app[WIRE].append((request.method, request.path, dict(request.query)))
    return await handler(request)


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "sim_speed(speed): run the simulator's clock at this speed")


@pytest.fixture(autouse=True)
def no_background_task_dies(caplog):
    """In every call-control test: no background task ends on an error. Each one handles
    (and logs, saying what it was doing) the ARI errors it meets; ``Telephony.spawn``
    logs "telephony task ... failed" for anything that got through, a defect."""
    yield
    died = [record.getMessage() for when in ("setup", "call", "teardown") for record in caplog.get_records(when)
            if record.name == "realtime.telephony.service" and record.msg.startswith("telephony task")]
    assert died == []


@pytest.fixture
async def pbx(request):
    """The simulator; ``pbx.app[WIRE]`` lists the requests it received."""
    marker = request.node.get_closest_marker("sim_speed")
    app = create_sim_app(SimConfig(
        user=USER, password=PASSWORD, outcomes="deterministic", speed=marker.args[0] if marker else SPEED,
        amd_context=AMD_CONTEXT, control=True, seed=1))
    app[WIRE] = []
    app.middlewares.append(record_requests)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    simulator = RunningSimulator(app, runner, "127.0.0.1", runner.addresses[0][1])
    yield simulator
    await simulator.close()


@pytest.fixture
def wire(pbx) -> list[tuple[str, str, dict]]:
    return pbx.app[WIRE]


@pytest.fixture
def far_end(pbx) -> FarEnd:
    return FarEnd(pbx)


class PbxState:
    """What the PBX shows through ARI itself (and, for music on hold, which produces no
    events, the requests it received): tests check this, not simulator internals."""

    def __init__(self, client: AriClient, wire: list) -> None:
        self.client = client
        self.wire = wire

    async def channels(self) -> dict:
        return {channel.id: channel for channel in await self.client.list_channels()}

    async def bridges(self) -> dict:
        return {bridge.id: bridge for bridge in await self.client.list_bridges()}

    async def members(self, bridge_id: str) -> set[str]:
        return set((await self.client.get_bridge(bridge_id)).channels)

    async def roles(self, channel_id: str) -> dict[str, str | None]:
        return {name: await self.client.get_variable(channel_id, name) for name in VARIABLES}

    def moh_playing(self, bridge_id: str) -> bool:
        moh = [method for method, path, _ in self.wire if path == f"/ari/bridges/{bridge_id}/moh"]
        return bool(moh) and moh[-1] == "POST"


@pytest.fixture
def pbx_state(telephony, wire) -> PbxState:
    return PbxState(telephony.client, wire)


@pytest.fixture
async def telephony(pbx):
    client = AriClient(pbx.url, USER, PASSWORD, APP, request_timeout=5.0, reconnect_backoff=(0.01, 0.1))
    await client.connect()
    telephony = Telephony(client, dial_template="PJSIP/{number}@trunk", amd_context=AMD_CONTEXT)
    yield telephony
    await telephony.close()


@pytest.fixture
async def call(telephony):
    """A caller's conference (session ``s1``) with a connected lead: ``(conference, lead)``."""
    conference = await Conference.open(telephony, "s1", "camp-7", "PJSIP/agent101")
    lead = await dial_lead(telephony, call_id="c1", campaign_id="camp-7", number="+15555550101")
    await asyncio.wait_for(lead.answered, 5.0)
    await lead.connect_to(conference)
    yield conference, lead
    await conference.close()
