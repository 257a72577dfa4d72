"""Benchmark: a predictive campaign's answered calls reaching their callers, against a bare
ARI loop that bridges on StasisStart, on the same simulator in the same run.

    python bench/callflow.py [--callers 100] [--seconds 30] [--speed 10]

The PBX simulator runs in a process of its own (deterministic far ends, sped up, its
journal on). Then, one after the other:

* ours - the application ``realtime serve`` builds, in a process of its own, on that
  simulator: a predictive campaign, ``--callers`` callers connected over Socket.IO from this
  process, each started (their phones answer at once), saving results and going on after
  every call; the leads answer after 2 (simulated) seconds and hang up after 5 of talk;
* bare - a loop on the bare ARI of the same simulator with as many agent channels, each in
  a bridge of its own, dialling one lead per free agent and adding the lead to its agent's
  bridge on its StasisStart: nothing but the requests any product must make.

Measured from the simulator's journal (its own clock): for each lead that reached a caller,
the far end answering -> the lead entering the caller's bridge, p50 and p99. The last line
is ``summary: callers=N calls=N answer_to_bridge_p99_ms=N ratio_to_bare=x.xx``, the ratio of
our p99 to the bare loop's (lower is better; the law allows 2 s).
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import socketio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

USER, PASSWORD = "ari", "ari"
AUTH = {"Authorization": aiohttp.encode_basic_auth(USER, PASSWORD)}
LEADS = 20_000


def lead_number(i: int) -> str:
    return f"+1202{i:05d}{40 + i % 20:02d}"  # endings 40-59: answers, talks 5 s, hangs up


# -- our server (run with --serve) ---------------------------------------------------------------

async def serve(port: int, ari_url: str, callers: int) -> None:
    from aiohttp import web

    from realtime import app_keys
    from realtime.config import load_settings
    from realtime.server import create_app
    from realtime.sessions import start_session
    from realtime.store import migrate
    from realtime.store.accounts import create_account
    from realtime.store.models import Caller, Campaign, DialerMode, Household, Lead
    from realtime.store.people import SignedIn

    data_dir = tempfile.mkdtemp(prefix="callflow-bench-")
    settings = load_settings({"data_dir": data_dir, "port": port, "ari_url": ari_url, "ari_user": USER,
                              "ari_password": PASSWORD}, environ={})
    await migrate.upgrade(settings.database_url)
    app = create_app(settings)
    people: list[SignedIn] = []

    async def seed(app: web.Application) -> None:
        import datetime as dt

        async with app[app_keys.STORE].transaction() as session:
            account = (await create_account(session, "Bench")).account
            campaign = Campaign(account_id=account.id, name="Bench", dialer_mode=DialerMode.PREDICTIVE,
                                calling_hours_start=dt.time(0, 0), calling_hours_end=dt.time(0, 0),
                                time_zone="UTC", max_lines=callers * 3, ring_timeout_seconds=20)
            # A window of zero length dials nothing: open it around now instead.
            now = dt.datetime.now(dt.timezone.utc)
            campaign.calling_hours_start = (now - dt.timedelta(hours=1)).time().replace(second=0, microsecond=0)
            campaign.calling_hours_end = (now + dt.timedelta(hours=2)).time().replace(second=0, microsecond=0)
            session.add(campaign)
            await session.flush()
            people_rows = [Caller(account_id=account.id, username=f"bench{i}", pin=f"{i:06d}", password_hash="x",
                                  campaign_id=campaign.id, phone_endpoint=f"PJSIP/agent{i}") for i in range(callers)]
            session.add_all(people_rows)
            for start in range(0, LEADS, 1000):
                households = [Household(account_id=account.id, campaign_id=campaign.id, phone=lead_number(i),
                                        position=i) for i in range(start, start + 1000)]
                session.add_all(households)
                await session.flush()
                session.add_all(Lead(account_id=account.id, campaign_id=campaign.id, household_id=h.id,
                                     first_name="Bench") for h in households)
            await session.flush()
            people.extend(SignedIn("caller", c.id, account.id, "caller", c.username) for c in people_rows)

    async def cookies(request: web.Request) -> web.Response:
        signer, store = request.app[app_keys.SESSION_SIGNER], request.app[app_keys.STORE]
        return web.json_response([(await start_session(store, signer, p))[1] for p in people])

    app.on_startup.append(seed)
    app.router.add_get("/_bench/cookies", cookies)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("listening", flush=True)
    await asyncio.Event().wait()


async def run_ours(ari_url: str, args: argparse.Namespace) -> int:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", "--port", str(port), "--ari-url", ari_url,
        "--callers", str(args.callers), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        cwd=str(ROOT))
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 120)
        if b"listening" not in line:
            raise SystemExit(f"the server did not start: {line!r}")
        url = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/_bench/cookies") as resp:
                tokens = await resp.json()
        calls = itertools.count()
        clients = [await caller(url, token, calls) for token in tokens]
        await asyncio.gather(*(c.call("start", {}, namespace="/caller", timeout=30) for c in clients))
        await asyncio.sleep(args.seconds)
        for client in clients:
            await client.disconnect()
        return next(calls)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def caller(url: str, token: str, calls) -> socketio.AsyncClient:
    """A caller who saves results as soon as each call ends and goes on."""
    client = socketio.AsyncClient(reconnection=False)
    current: dict = {}

    async def connected(data: dict) -> None:
        current.update(call_id=data["call_id"], lead_id=data["household"]["leads"][0]["id"])
        next(calls)

    async def state(data: dict) -> None:
        if data["state"] == "wrap_up" and current:
            submit = {"call_id": current["call_id"], "lead_id": current["lead_id"], "then": "continue"}
            current.clear()
            await client.emit("submit", submit, namespace="/caller")

    client.on("call_connected", connected, namespace="/caller")
    client.on("state_changed", state, namespace="/caller")
    await client.connect(url, namespaces=["/caller"], transports=["websocket"],
                         headers={"Cookie": f"realtime_session={token}"}, wait_timeout=60)
    return client


# -- the bare loop ---------------------------------------------------------------------------------

async def run_bare(ari_url: str, args: argparse.Namespace) -> int:
    app = "bare"
    numbers = (lead_number(i) for i in itertools.count(LEADS))
    bridge_of: dict[str, str] = {}  # lead channel -> its agent's bridge
    free: asyncio.Queue[str] = asyncio.Queue()
    calls = 0
    async with aiohttp.ClientSession(headers=AUTH) as http:
        ws = await http.ws_connect(f"{ari_url.replace('http', 'ws', 1)}/events?app={app}")

        async def post(path: str, **params: str) -> None:
            async with http.post(f"{ari_url}{path}", params=params) as resp:
                assert resp.status < 300, await resp.text()

        for i in range(args.callers):
            await post(f"/bridges/bare-{i}", type="mixing")
            await post("/channels", endpoint=f"PJSIP/bare-agent{i}", app=app, channelId=f"bare-agent-{i}")

        async def read() -> None:
            nonlocal calls
            async for message in ws:
                event = json.loads(message.data)
                channel = event.get("channel", {}).get("id", "")
                if event["type"] == "StasisStart" and channel.startswith("bare-agent-"):
                    await post(f"/bridges/bare-{channel.removeprefix('bare-agent-')}/addChannel", channel=channel)
                    free.put_nowait(f"bare-{channel.removeprefix('bare-agent-')}")
                elif event["type"] == "StasisStart" and channel in bridge_of:
                    await post(f"/bridges/{bridge_of[channel]}/addChannel", channel=channel)
                    calls += 1
                elif event["type"] == "ChannelDestroyed" and channel in bridge_of:
                    free.put_nowait(bridge_of.pop(channel))

        async def dial() -> None:
            for n in itertools.count():
                bridge = await free.get()
                channel = f"bare-lead-{n}"
                bridge_of[channel] = bridge
                await post("/channels", endpoint=f"PJSIP/{next(numbers)}@trunk", app=app, channelId=channel,
                           timeout="20")

        tasks = [asyncio.create_task(read()), asyncio.create_task(dial())]
        await asyncio.sleep(args.seconds)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await ws.close()
    return calls


# -- measuring ---------------------------------------------------------------------------------------

async def journal(root: str) -> dict:
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.get(f"{root}/_sim/journal") as resp:
            return await resp.json()


async def clear_journal(root: str) -> None:
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.delete(f"{root}/_sim/journal") as resp:
            assert resp.status == 204


def answer_to_bridge(record: dict, prefix: str) -> list[float]:
    """Simulated-clock-free: both stamps are the simulator's wall clock, in ms."""
    return [1000 * (c["bridged_at"] - c["answered_at"]) for c in record["channels"]
            if c["id"].startswith(prefix) and c["answered_at"] and c["bridged_at"]]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def main(args: argparse.Namespace) -> None:
    port = free_port()
    env = {**os.environ, "REALTIME_ARI_USER": USER, "REALTIME_ARI_PASSWORD": PASSWORD}
    simulator = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "realtime.telephony.sim", "--port", str(port), "--outcomes", "deterministic",
        "--speed", str(args.speed), "--control", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, env=env, cwd=str(ROOT))
    root = f"http://127.0.0.1:{port}"
    try:
        line = await asyncio.wait_for(simulator.stdout.readline(), 30)
        if b"listening" not in line:
            raise SystemExit(f"the simulator did not start: {line!r}")
        results = {}
        for name, runner, prefix in (("ours", run_ours, "lead-"), ("bare", run_bare, "bare-lead-")):
            await clear_journal(root)
            started = time.perf_counter()
            calls = await runner(f"{root}/ari", args)
            latencies = answer_to_bridge(await journal(root), prefix)
            results[name] = {"calls": calls, "bridged": len(latencies), "seconds": time.perf_counter() - started,
                             "p50_ms": percentile(latencies, 0.5), "p99_ms": percentile(latencies, 0.99),
                             "max_ms": max(latencies, default=float("nan"))}
    finally:
        if simulator.returncode is None:
            simulator.kill()
        await simulator.wait()
    print(f"{args.callers} callers, {args.seconds:g} s each, simulator speed {args.speed:g}")
    print(f"{'variant':<8}{'calls':>8}{'bridged':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for name, figures in results.items():
        print(f"{name:<8}{figures['calls']:>8}{figures['bridged']:>9}{figures['p50_ms']:>9.1f}"
              f"{figures['p99_ms']:>9.1f}{figures['max_ms']:>9.1f}")
    ours, bare = results["ours"], results["bare"]
    print(f"summary: callers={args.callers} calls={ours['bridged']} answer_to_bridge_p99_ms={ours['p99_ms']:.0f} "
          f"ratio_to_bare={ours['p99_ms'] / bare['p99_ms']:.2f}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--callers", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long each variant runs")
    parser.add_argument("--speed", type=float, default=10.0, help="simulator time compression")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ari-url", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.serve:
        asyncio.run(serve(arguments.port, arguments.ari_url, arguments.callers))
    else:
        asyncio.run(main(arguments))
