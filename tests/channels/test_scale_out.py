"""Many processes: two web processes and an engine share PostgreSQL and Redis. A caller on
one web process keeps every event when it dies and the page moves to the other; an engine
killed mid-call is started again and carries the call on."""
from __future__ import annotations

import secrets

import pytest

from realtime.store.database import Store
from realtime.store.models import DialerMode
from realtime.store import migrate
from tests.processes import Serving

from .conftest import SIM_PASSWORD, SIM_USER, CallerClient
from .floor import PERSON, add_caller, add_campaign, phone, seed_account


def assert_gapless(seqs: list[int]) -> None:
    assert seqs == list(range(1, len(seqs) + 1)), seqs


@pytest.mark.postgres
@pytest.mark.redis
async def test_a_caller_survives_a_dead_web_process_and_a_restarted_engine(
        tmp_path, postgres_url, redis_server, simulator, far_end, unused_port):
    await migrate.upgrade(postgres_url)
    store = Store(postgres_url)
    try:
        floor = await seed_account(store)
        numbers = [phone(PERSON) for _ in range(3)]
        campaign = await add_campaign(store, floor, DialerMode.POWER, numbers)
        _, username = await add_caller(store, floor, campaign)
    finally:
        await store.close()
    env = {"REALTIME_DATABASE_URL": postgres_url, "REALTIME_REDIS_URL": redis_server.url,
           "REALTIME_ARI_URL": simulator.url, "REALTIME_ARI_USER": SIM_USER, "REALTIME_ARI_PASSWORD": SIM_PASSWORD,
           "REALTIME_SECRET_KEY": secrets.token_urlsafe(32), "REALTIME_DATA_DIR": str(tmp_path)}
    engine_port = unused_port()
    processes: list[Serving] = []

    async def serve(role: str, port: int) -> Serving:
        process = await Serving.start(port, "--role", role, "--no-demo", env=env)
        processes.append(process)
        return process

    caller = None
    try:
        engine = await serve("engine", engine_port)
        first, second = await serve("web", unused_port()), await serve("web", unused_port())
        caller = CallerClient(f"http://127.0.0.1:{first.port}", username)
        await caller.open()
        await caller.ok("start")
        connected = await caller.next("call_connected")
        await caller.state("on_call")

        await first.kill()  # the web process dies under the page
        await far_end.hang_up(f"lead-{connected['call_id']}")  # meanwhile the lead hangs up
        caller.url = f"http://127.0.0.1:{second.port}"
        await caller.connect(last_seq=caller.last_seq)  # the page reconnects to the other one
        await caller.next("call_ended", call_id=connected["call_id"], by="lead")
        await caller.state("wrap_up")
        await caller.ok("submit", {"call_id": connected["call_id"],
                                   "lead_id": connected["household"]["leads"][0]["id"], "then": "continue"})
        following = await caller.next("call_connected")
        await caller.state("on_call")

        await engine.kill()  # the engine dies mid-call; the call stays up in Asterisk
        engine = await serve("engine", engine_port)  # and comes back (same engine id: same host, port)
        await caller.state("on_call", reason="recovered")
        await caller.ok("hangup")
        await caller.next("call_ended", call_id=following["call_id"])
        await caller.state("wrap_up")
        await caller.ok("submit", {"call_id": following["call_id"],
                                   "lead_id": following["household"]["leads"][0]["id"], "then": "stop"})
        await caller.next("session_ended", reason="stopped")
        # Every event once, in order, across a dead web process and a restarted engine.
        assert_gapless(caller.seqs())
        assert await far_end.channels() == []
    finally:
        if caller is not None:
            await caller.close()
        for process in processes:
            if process.proc.returncode is None:
                await process.stop()
