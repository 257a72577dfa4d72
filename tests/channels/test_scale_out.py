"""Many processes: two web processes and an engine share PostgreSQL and Redis. A caller on
one web process keeps every event when it dies and the page moves to the other; an engine
killed mid-call is started again and carries the call on; a supervisor on one web process
watches and acts on a caller of the other."""
from __future__ import annotations

import secrets

import pytest

from realtime.store.database import Store
from realtime.store.models import DialerMode
from realtime.store import migrate
from tests.processes import Serving

from .conftest import SIM_PASSWORD, SIM_USER, CallerClient, SupervisorClient
from .floor import PERSON, add_caller, add_campaign, add_user, phone, seed_account


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


@pytest.mark.postgres
@pytest.mark.redis
async def test_a_supervisor_on_one_web_process_watches_and_acts_on_a_caller_of_another(
        tmp_path, postgres_url, redis_server, simulator, far_end, unused_port):
    await migrate.upgrade(postgres_url)
    store = Store(postgres_url)
    try:
        floor = await seed_account(store)
        campaign = await add_campaign(store, floor, DialerMode.POWER, [phone(PERSON) for _ in range(3)])
        _, username = await add_caller(store, floor, campaign)
        supervisor_id, email = await add_user(store, floor)
    finally:
        await store.close()
    env = {"REALTIME_DATABASE_URL": postgres_url, "REALTIME_REDIS_URL": redis_server.url,
           "REALTIME_ARI_URL": simulator.url, "REALTIME_ARI_USER": SIM_USER, "REALTIME_ARI_PASSWORD": SIM_PASSWORD,
           "REALTIME_SECRET_KEY": secrets.token_urlsafe(32), "REALTIME_DATA_DIR": str(tmp_path)}
    processes = [await Serving.start(unused_port(), "--role", role, "--no-demo", env=env)
                 for role in ("engine", "web", "web")]
    _, first, second = processes
    caller = CallerClient(f"http://127.0.0.1:{first.port}", username)
    console = SupervisorClient(f"http://127.0.0.1:{second.port}", email)
    try:
        await caller.open()
        await caller.ok("start")
        connected = await caller.next("call_connected")
        session_id = connected["session_id"]
        await console.open()  # within the engine's full refresh, the floor has the call
        await console.until(lambda: console.sessions.get(session_id, {}).get("state") == "on_call", "the call")
        await console.ok("monitor", {"session_id": session_id, "mode": "listen"})
        await console.until(lambda: console.sessions[session_id]["monitors"], "the supervisor on the caller")
        assert await far_end.channel_ids(f"supervisor-{supervisor_id}-")
        await console.ok("kick", {"session_id": session_id})
        await caller.next("session_ended", reason="kicked")
        await console.until(lambda: session_id not in console.sessions, "the session's end")
        assert await far_end.channels() == []
    finally:
        await caller.close()
        await console.close()
        for process in processes:
            if process.proc.returncode is None:
                await process.stop()
