"""Benchmark: session events from the engine to callers' sockets, against bare python-socketio.

    python bench/fanout.py [--clients 1000] [--rounds 20] [--rate 2000]

Two servers, each in a process of its own on loopback, with ``--clients`` Socket.IO clients
(websocket) in this process:

* ours - the application ``realtime serve`` builds (SQLite, memory bus, the built-in PBX
  simulator), one caller session per client. Events are published on the engine side
  (``CallFlowEngine.publish``): numbered and kept in the session's event log, carried by the
  bus to the ``/caller`` namespace, handed to each session's socket in order;
* bare - a python-socketio server on aiohttp whose driver emits the same events to the same
  number of clients with ``sio.emit(..., to=sid)``.

Each variant runs a burst (``--rounds`` events per client, all at once: deliveries/s until
the last is received) and a paced run (events spread at ``--rate`` per second: publish to
receipt p50/p99). A small driver route on each server (``/_bench/...``, added by this
script, not by the product) mints sign-in cookies and publishes. The last line is
``summary: clients=N deliveries_per_s=N p99_ms=N ratio_to_socketio=x.xx`` (ratio of burst
deliveries/s).
"""
from __future__ import annotations

import argparse
import asyncio
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


# -- the servers (run with --serve) -------------------------------------------------------------

async def serve_ours(port: int, clients: int) -> None:
    from aiohttp import web

    from realtime import app_keys
    from realtime.config import load_settings
    from realtime.server import create_app
    from realtime.sessions import start_session
    from realtime.store import migrate
    from realtime.store.accounts import create_account
    from realtime.store.models import Caller, Campaign, DialerMode
    from realtime.store.people import SignedIn

    data_dir = tempfile.mkdtemp(prefix="fanout-")
    settings = load_settings({"data_dir": data_dir, "port": port, "sim_outcomes": "deterministic"}, environ={})
    await migrate.upgrade(settings.database_url)
    app = create_app(settings)
    people: list[SignedIn] = []

    async def seed(app: web.Application) -> None:
        store = app[app_keys.STORE]
        async with store.transaction() as session:
            account = (await create_account(session, "Fanout")).account
            campaign = Campaign(account_id=account.id, name="Fanout", dialer_mode=DialerMode.PREVIEW)
            session.add(campaign)
            await session.flush()
            callers = [Caller(account_id=account.id, username=f"fan{i}", pin=f"{i:06d}", campaign_id=campaign.id,
                              password_hash="x") for i in range(clients)]
            session.add_all(callers)
            await session.flush()
            people.extend(SignedIn("caller", c.id, account.id, "caller", c.username) for c in callers)

    async def cookies(request: web.Request) -> web.Response:
        signer, store = request.app[app_keys.SESSION_SIGNER], request.app[app_keys.STORE]
        tokens = [(await start_session(store, signer, person))[1] for person in people]
        return web.json_response(tokens)

    async def publish(request: web.Request) -> web.Response:
        body = await request.json()
        engine = request.app[app_keys.CALLFLOW]
        sessions = [s for s in engine.sessions.values() if not s.ended]
        await drive(body, len(sessions), lambda i, payload: engine.publish(sessions[i], "call_ringing", payload))
        return web.json_response({"sessions": len(sessions)})

    app.on_startup.append(seed)
    app.router.add_get("/_bench/cookies", cookies)
    app.router.add_post("/_bench/publish", publish)
    await run(app, port)


async def serve_bare(port: int, clients: int) -> None:
    from aiohttp import web

    sio = socketio.AsyncServer(async_mode="aiohttp", transports=["websocket"], cors_allowed_origins=[])
    connected: list[str] = []
    sio.on("connect", lambda sid, environ, auth=None: connected.append(sid), namespace="/caller")
    app = web.Application()
    sio.attach(app)

    async def cookies(request: web.Request) -> web.Response:
        return web.json_response(["bare"] * clients)

    async def publish(request: web.Request) -> web.Response:
        body = await request.json()
        sids = list(connected)

        async def emit(i: int, payload: dict) -> None:
            await sio.emit("call_ringing", payload, to=sids[i], namespace="/caller")

        await drive(body, len(sids), emit)
        return web.json_response({"sessions": len(sids)})

    app.router.add_get("/_bench/cookies", cookies)
    app.router.add_post("/_bench/publish", publish)
    await run(app, port)


async def drive(body: dict, count: int, emit) -> None:
    """``rounds`` events per client, all at once (rate 0) or spread at ``rate`` per second."""
    rounds, rate = body["rounds"], body["rate"]
    started = time.perf_counter()
    sent = 0
    for r in range(rounds):
        for i in range(count):
            if rate:
                delay = started + sent / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            result = emit(i, {"call_id": f"r{r}", "sent_at": time.time()})
            if asyncio.iscoroutine(result):
                await result
            sent += 1


async def run(app, port: int) -> None:
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("listening", flush=True)
    await asyncio.Event().wait()


# -- the clients ---------------------------------------------------------------------------------

class Receipts:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.last = 0.0
        self.expected = 0
        self.done = asyncio.Event()

    def arrived(self, data: dict) -> None:
        now = time.time()
        self.latencies.append(now - data["sent_at"])
        self.last = now
        if len(self.latencies) >= self.expected:
            self.done.set()

    def reset(self, expected: int) -> None:
        self.latencies, self.last, self.expected = [], 0.0, expected
        self.done.clear()

    def percentile_ms(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")


async def connect_clients(url: str, count: int, receipts: Receipts) -> list[socketio.AsyncClient]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/_bench/cookies") as resp:
            tokens = await resp.json()
    clients = []

    async def one(token: str) -> socketio.AsyncClient:
        client = socketio.AsyncClient(reconnection=False)
        client.on("call_ringing", receipts.arrived, namespace="/caller")
        await client.connect(url, namespaces=["/caller"], transports=["websocket"],
                             headers={"Cookie": f"realtime_session={token}"}, wait_timeout=60)
        return client

    for start in range(0, count, 100):  # in batches: a connection storm is not what is measured
        clients.extend(await asyncio.gather(*(one(t) for t in tokens[start:start + 100])))
    return clients


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(variant: str, args: argparse.Namespace) -> dict:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", variant, "--port", str(port), "--clients", str(args.clients),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, cwd=str(ROOT))
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 120)
        if b"listening" not in line:
            raise SystemExit(f"the {variant} server did not start: {line!r}")
        url = f"http://127.0.0.1:{port}"
        receipts = Receipts()
        clients = await connect_clients(url, args.clients, receipts)
        await asyncio.sleep(1.0)  # let the sessions' opening events settle; not measured
        result = {}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as http:
            for phase, rate in (("burst", 0), ("paced", args.rate)):
                expected = args.clients * args.rounds
                receipts.reset(expected)
                cpu_before = cpu_seconds(process.pid)
                started = time.time()
                async with http.post(f"{url}/_bench/publish", json={"rounds": args.rounds, "rate": rate}) as resp:
                    assert resp.status == 200, await resp.text()
                await asyncio.wait_for(receipts.done.wait(), 300)
                result[phase] = {
                    "deliveries_per_s": expected / (receipts.last - started),
                    "p50_ms": receipts.percentile_ms(0.5), "p99_ms": receipts.percentile_ms(0.99),
                    "server_cpu_ms_per_delivery": 1000 * (cpu_seconds(process.pid) - cpu_before) / expected,
                }
        for client in clients:
            await client.disconnect()
        return result
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def main(args: argparse.Namespace) -> None:
    results = {"bare": await measure("bare", args), "ours": await measure("ours", args)}
    print(f"{args.clients} clients, {args.rounds} events each per phase; paced at {args.rate}/s")
    print(f"{'variant':<8}{'phase':<7}{'deliveries/s':>14}{'p50 ms':>9}{'p99 ms':>9}{'server cpu ms/delivery':>24}")
    for variant in ("ours", "bare"):
        for phase, figures in results[variant].items():
            print(f"{variant:<8}{phase:<7}{figures['deliveries_per_s']:>14.0f}{figures['p50_ms']:>9.1f}"
                  f"{figures['p99_ms']:>9.1f}{figures['server_cpu_ms_per_delivery']:>24.3f}")
    ours, bare = results["ours"], results["bare"]
    print(f"server cpu per delivery, ours / bare: "
          f"{ours['burst']['server_cpu_ms_per_delivery'] / bare['burst']['server_cpu_ms_per_delivery']:.2f}")
    print(json.dumps(results))
    print(f"summary: clients={args.clients} deliveries_per_s={ours['burst']['deliveries_per_s']:.0f} "
          f"p99_ms={ours['paced']['p99_ms']:.0f} "
          f"ratio_to_socketio={ours['burst']['deliveries_per_s'] / bare['burst']['deliveries_per_s']:.2f}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000, help="Socket.IO clients (callers), up to 2000")
    parser.add_argument("--rounds", type=int, default=10, help="events per client in each phase")
    parser.add_argument("--rate", type=int, default=2000, help="events per second in the paced phase")
    parser.add_argument("--serve", choices=("ours", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.serve:
        serve = serve_ours if arguments.serve == "ours" else serve_bare
        asyncio.run(serve(arguments.port, arguments.clients))
    else:
        asyncio.run(main(arguments))
