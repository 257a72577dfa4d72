"""Benchmark: session events from the engine to callers' sockets, against bare python-socketio.

    python bench/fanout.py [--clients 1000] [--rounds 10] [--rate 2000] [--repeat 3]

Two servers, each in a process of its own on loopback, with ``--clients`` Socket.IO clients
(websocket) in this process:

* ours - the application ``realtime serve`` builds (SQLite, memory bus, the built-in PBX
  simulator), one caller session per client. Events are published on the engine side
  (``CallFlowEngine.publish``): numbered and kept in the session's event log, carried by the
  bus to the ``/caller`` namespace, handed to each session's socket in order;
* bare - a python-socketio server on aiohttp whose driver emits the same events to the same
  number of clients with ``sio.emit(..., to=sid)``.

Both servers run at once. Each variant runs bursts (``--rounds`` events per client, all at
once: deliveries/s until the last is received), ``--repeat`` of them taken in turns with
the other variant's so that a busy machine weighs on both alike (the median is kept), and
a paced run (events spread at ``--rate`` per second: publish to
receipt p50/p99). A small driver route on each server (``/_bench/...``, added by this
script, not by the product) mints sign-in cookies and publishes. The last line is
``summary: clients=N deliveries_per_s=N p99_ms=N ratio_to_socketio=x.xx`` (ratio of burst
deliveries/s).

    python bench/fanout.py --monitor [--supervisors 50] [--callers 2000] [--changes 200] [--seconds 20]

The monitor run: ``--supervisors`` consoles on ``/monitor`` watch a floor of ``--callers``
caller sessions whose states change ``--changes`` times a second in all (a random session
to a random state), for ``--seconds``:

* ours - the application ``realtime serve`` builds; the sessions are opened through the
  engine (``attach``) and changed on it (``LiveSession.set_state``: the event is numbered,
  logged, published, and the engine's floor reporter and the web side's floor board carry
  it to the consoles, coalesced);
* bare - a python-socketio server that emits every change to every console at once
  (``session_updated``, the same row), nothing coalesced.

The consoles are raw engine.io websocket clients (so that 50 of them fit in this process),
counting every byte they receive and parsing each ``session_updated``: latency is receipt
minus the row's ``since`` (when the state changed on the server). The last line is
``summary: supervisors=N callers=N changes_per_s=N floor_p99_ms=N bytes_per_supervisor_s=N
p99_ratio_to_bare=x.xx bytes_ratio_to_bare=x.xx``.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import socketio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:  # the product is imported by the server processes only
    from realtime.store.database import Store
    from realtime.store.people import SignedIn


# -- the servers (run with --serve) -------------------------------------------------------------

async def seed_campaign(store: Store, name: str, *, callers: int, username_prefix: str,
                        supervisors: int = 0) -> tuple[int, list[SignedIn], list[SignedIn]]:
    """An account and a preview campaign called ``name`` with ``callers`` callers on it
    (``{username_prefix}0``, ``{username_prefix}1``, ...) and ``supervisors`` supervisors:
    the account's id, and the callers and supervisors as signed in. One seeding for both
    runs, so their floors cannot drift apart."""
    from realtime.store.accounts import create_account
    from realtime.store.models import Caller, Campaign, DialerMode, User, UserRole
    from realtime.store.people import SignedIn

    async with store.transaction() as session:
        account = (await create_account(session, name)).account
        campaign = Campaign(account_id=account.id, name=name, dialer_mode=DialerMode.PREVIEW)
        session.add(campaign)
        await session.flush()
        rows = [Caller(account_id=account.id, username=f"{username_prefix}{i}", pin=f"{i:06d}",
                       campaign_id=campaign.id, password_hash="x") for i in range(callers)]
        users = [User(account_id=account.id, email=f"sup{i}@{name.lower()}.example", password_hash="x",
                      role=UserRole.SUPERVISOR) for i in range(supervisors)]
        session.add_all(rows + users)
        await session.flush()
        return (account.id, [SignedIn("caller", c.id, account.id, "caller", c.username) for c in rows],
                [SignedIn("user", u.id, account.id, "supervisor", u.email) for u in users])


async def serve_ours(port: int, clients: int) -> None:
    from aiohttp import web

    from realtime import app_keys
    from realtime.config import load_settings
    from realtime.server import create_app
    from realtime.sessions import start_session
    from realtime.store import migrate

    data_dir = tempfile.mkdtemp(prefix="fanout-")
    settings = load_settings({"data_dir": data_dir, "port": port, "sim_outcomes": "deterministic"}, environ={})
    await migrate.upgrade(settings.database_url)
    app = create_app(settings)
    people: list[SignedIn] = []

    async def seed(app: web.Application) -> None:
        people.extend((await seed_campaign(app[app_keys.STORE], "Fanout", callers=clients, username_prefix="fan"))[1])

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


# -- the monitor run's servers -------------------------------------------------------------------

CHURN_STATES = ("on_hold", "previewing", "dialing", "on_call", "wrap_up")
TIMED_CONSOLES = 10


async def serve_monitor_ours(port: int, callers: int, supervisors: int) -> None:
    from aiohttp import web

    from realtime import app_keys
    from realtime.callflow.states import State
    from realtime.config import load_settings
    from realtime.server import create_app
    from realtime.sessions import start_session
    from realtime.store import migrate

    data_dir = tempfile.mkdtemp(prefix="monitor-")
    settings = load_settings({"data_dir": data_dir, "port": port, "sim_outcomes": "deterministic"}, environ={})
    await migrate.upgrade(settings.database_url)
    app = create_app(settings)
    seeded: dict = {}

    async def seed(app: web.Application) -> None:
        account_id, rows, people = await seed_campaign(app[app_keys.STORE], "Floor", callers=callers,
                                                       username_prefix="floor", supervisors=supervisors)
        seeded.update(account_id=account_id, callers=[c.id for c in rows], people=people)

    async def cookies(request: web.Request) -> web.Response:
        signer, store = request.app[app_keys.SESSION_SIGNER], request.app[app_keys.STORE]
        return web.json_response([(await start_session(store, signer, person))[1] for person in seeded["people"]])

    async def open_sessions(request: web.Request) -> web.Response:
        client = request.app[app_keys.CALLFLOW_CLIENT]
        for start in range(0, len(seeded["callers"]), 50):
            replies = await asyncio.gather(*(client.request("attach", account_id=seeded["account_id"], caller_id=c)
                                             for c in seeded["callers"][start:start + 50]))
            assert all(reply["ok"] for reply in replies), replies
        return web.json_response({"sessions": len(seeded["callers"])})

    async def churn(request: web.Request) -> web.Response:
        body = await request.json()
        engine = request.app[app_keys.CALLFLOW]
        sessions = [s for s in engine.sessions.values() if not s.ended]

        def change(i: int) -> None:
            session = sessions[i % len(sessions)]
            session.touch()  # no page, no phone: without this the sessions would expire
            state = State(random.choice([s for s in CHURN_STATES if s != session.state.value]))
            session.set_state(state, "bench")

        await pace(body["rate"], body["seconds"], change)
        return web.json_response({"sessions": len(sessions)})

    app.on_startup.append(seed)
    app.router.add_get("/_bench/cookies", cookies)
    app.router.add_post("/_bench/sessions", open_sessions)
    app.router.add_post("/_bench/churn", churn)
    await run(app, port)


async def serve_monitor_bare(port: int, callers: int, supervisors: int) -> None:
    from aiohttp import web

    sio = socketio.AsyncServer(async_mode="aiohttp", transports=["websocket"], cors_allowed_origins=[])
    consoles: list[str] = []
    rows = {i: {"session_id": i, "caller": {"id": i, "name": f"Caller {i}", "username": f"floor{i}"},
                "campaign_id": 1, "state": "ready", "since": "", "lead_phone": None, "monitors": []}
            for i in range(1, callers + 1)}

    async def connect(sid: str, environ: dict, auth=None) -> None:
        consoles.append(sid)

        async def floor() -> None:
            await asyncio.sleep(0.05)  # after the handshake's answer, as ours sends it
            await sio.emit("floor", {"sessions": list(rows.values()), "seq": 0}, to=sid, namespace="/monitor")

        asyncio.get_running_loop().create_task(floor())

    sio.on("connect", connect, namespace="/monitor")
    app = web.Application()
    sio.attach(app)
    seq = itertools.count(1)

    async def cookies(request: web.Request) -> web.Response:
        return web.json_response(["bare"] * supervisors)

    async def open_sessions(request: web.Request) -> web.Response:
        return web.json_response({"sessions": callers})

    async def churn(request: web.Request) -> web.Response:
        body = await request.json()
        tasks: set[asyncio.Task] = set()

        def change(i: int) -> None:
            row = rows[i % callers + 1]
            row["state"] = random.choice([s for s in CHURN_STATES if s != row["state"]])
            row["since"] = iso_now()
            task = asyncio.get_running_loop().create_task(sio.emit(
                "session_updated", {"session": dict(row), "seq": next(seq), "at": row["since"]},
                to=list(consoles), namespace="/monitor"))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        await pace(body["rate"], body["seconds"], change)
        await asyncio.gather(*tasks)
        return web.json_response({"sessions": callers})

    app.router.add_get("/_bench/cookies", cookies)
    app.router.add_post("/_bench/sessions", open_sessions)
    app.router.add_post("/_bench/churn", churn)
    await run(app, port)


def iso_now() -> str:
    import datetime as dt
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def pace(rate: float, seconds: float, change) -> None:
    """``change(i)`` ``rate`` times a second for ``seconds``, evenly."""
    started = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        change(i)


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


class Server:
    """One variant's server process with its clients connected, measured phase by phase."""

    def __init__(self, variant: str, args: argparse.Namespace) -> None:
        self.variant, self.args = variant, args
        self.receipts = Receipts()
        self.clients: list[socketio.AsyncClient] = []

    async def start(self) -> None:
        port = free_port()
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--serve", self.variant, "--port", str(port), "--clients", str(self.args.clients),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, cwd=str(ROOT))
        line = await asyncio.wait_for(self.process.stdout.readline(), 120)
        if b"listening" not in line:
            raise SystemExit(f"the {self.variant} server did not start: {line!r}")
        self.url = f"http://127.0.0.1:{port}"
        self.clients = await connect_clients(self.url, self.args.clients, self.receipts)
        await asyncio.sleep(1.0)  # let the sessions' opening events settle; not measured

    async def phase(self, rate: int) -> dict:
        expected = self.args.clients * self.args.rounds
        self.receipts.reset(expected)
        cpu_before = cpu_seconds(self.process.pid)
        started = time.time()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as http:
            async with http.post(f"{self.url}/_bench/publish", json={"rounds": self.args.rounds, "rate": rate}) as resp:
                assert resp.status == 200, await resp.text()
        await asyncio.wait_for(self.receipts.done.wait(), 300)
        return {
            "deliveries_per_s": expected / (self.receipts.last - started),
            "p50_ms": self.receipts.percentile_ms(0.5), "p99_ms": self.receipts.percentile_ms(0.99),
            "server_cpu_ms_per_delivery": 1000 * (cpu_seconds(self.process.pid) - cpu_before) / expected,
        }

    async def stop(self) -> None:
        for client in self.clients:
            await client.disconnect()
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()


async def measure(args: argparse.Namespace) -> dict[str, dict]:
    """Both servers up at once, their bursts taken in turns (ours, bare, ours, ...) so that
    what else the machine does weighs on both alike; the median burst of each is kept."""
    servers = {variant: Server(variant, args) for variant in ("ours", "bare")}
    try:
        for server in servers.values():
            await server.start()
        bursts: dict[str, list[dict]] = {variant: [] for variant in servers}
        for _ in range(args.repeat):
            for variant, server in servers.items():
                bursts[variant].append(await server.phase(0))
        results = {}
        for variant, server in servers.items():
            ordered = sorted(bursts[variant], key=lambda figures: figures["deliveries_per_s"])
            results[variant] = {"burst": ordered[len(ordered) // 2], "paced": await server.phase(args.rate)}
        return results
    finally:
        for server in servers.values():
            if hasattr(server, "process"):
                await server.stop()


class Console:
    """A supervisor's console as a raw engine.io websocket client on /monitor (the Socket.IO v5
    protocol over EIO 4): counts every byte received, times every ``session_updated``."""

    def __init__(self, url: str, token: str, stats: dict, *, timed: bool = True) -> None:
        self.url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.token = token
        self.stats = stats
        self.timed = timed  # parse and time its updates (a sample of the consoles, to spare this process)
        self.floor = asyncio.Event()
        self.counting = False
        self.task: asyncio.Task | None = None

    async def run(self, http: aiohttp.ClientSession) -> None:
        async with http.ws_connect(self.url, headers={"Cookie": f"realtime_session={self.token}"}) as ws:
            async for message in ws:
                text = message.data
                if self.counting:
                    self.stats["bytes"] += len(text.encode())
                if text == "2":  # the server's ping
                    await ws.send_str("3")
                elif text.startswith("0"):  # engine.io open: join the namespace
                    await ws.send_str("40/monitor,")
                elif text.startswith("44/monitor"):
                    raise SystemExit(f"/monitor refused the console: {text}")
                elif text.startswith('42/monitor,["floor"'):
                    self.floor.set()
                elif self.timed and self.counting and text.startswith('42/monitor,["session_updated"'):
                    name, data = json.loads(text[len("42/monitor,"):])
                    self.stats["latencies"].append(time.time() - parse_iso(data["session"]["since"]))


def parse_iso(text: str) -> float:
    import datetime as dt
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def measure_monitor(variant: str, args: argparse.Namespace) -> dict:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", f"monitor-{variant}", "--port", str(port), "--callers",
        str(args.callers), "--supervisors", str(args.supervisors),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, cwd=str(ROOT))
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 120)
        if b"listening" not in line:
            raise SystemExit(f"the {variant} server did not start: {line!r}")
        url = f"http://127.0.0.1:{port}"
        stats = {"bytes": 0, "latencies": []}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=900)) as http:
            async with http.post(f"{url}/_bench/sessions") as resp:
                assert resp.status == 200, await resp.text()
            async with http.get(f"{url}/_bench/cookies") as resp:
                tokens = await resp.json()
            consoles = [Console(url, token, stats, timed=i < TIMED_CONSOLES) for i, token in enumerate(tokens)]
            for console in consoles:
                console.task = asyncio.get_running_loop().create_task(console.run(http))
            await asyncio.wait_for(asyncio.gather(*(c.floor.wait() for c in consoles)), 120)
            await asyncio.sleep(2.0)  # the opening sessions' first pushes settle; not measured
            for console in consoles:
                console.counting = True
            cpu_before, own_before = cpu_seconds(process.pid), cpu_seconds(os.getpid())
            started = time.time()
            async with http.post(f"{url}/_bench/churn", json={"rate": args.changes, "seconds": args.seconds}) as resp:
                assert resp.status == 200, await resp.text()
            await asyncio.sleep(1.0)  # the last coalesced pushes arrive
            elapsed = time.time() - started
            server_cpu, client_cpu = cpu_seconds(process.pid) - cpu_before, cpu_seconds(os.getpid()) - own_before
            for console in consoles:
                console.counting = False
                console.task.cancel()
            await asyncio.gather(*(c.task for c in consoles), return_exceptions=True)
        ordered = sorted(stats["latencies"])

        def percentile(p: float) -> float:
            return 1000 * ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")

        return {"updates": len(ordered), "p50_ms": percentile(0.5), "p99_ms": percentile(0.99),
                "bytes_per_supervisor_s": stats["bytes"] / len(consoles) / elapsed,
                "server_cpu_s_per_s": server_cpu / elapsed, "consoles_cpu_s_per_s": client_cpu / elapsed}
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def main_monitor(args: argparse.Namespace) -> None:
    results = {"bare": await measure_monitor("bare", args), "ours": await measure_monitor("ours", args)}
    print(f"{args.supervisors} supervisors watching {args.callers} callers, {args.changes} state changes/s "
          f"for {args.seconds} s")
    print(f"latency timed on {min(TIMED_CONSOLES, args.supervisors)} consoles; bytes counted on all; cpu in "
          "seconds per second (the consoles share this process)")
    print(f"{'variant':<8}{'updates':>9}{'p50 ms':>9}{'p99 ms':>9}{'bytes/supervisor/s':>20}{'server cpu':>12}"
          f"{'consoles cpu':>14}")
    for variant in ("ours", "bare"):
        f = results[variant]
        print(f"{variant:<8}{f['updates']:>9}{f['p50_ms']:>9.1f}{f['p99_ms']:>9.1f}"
              f"{f['bytes_per_supervisor_s']:>20.0f}{f['server_cpu_s_per_s']:>12.2f}{f['consoles_cpu_s_per_s']:>14.2f}")
    print(json.dumps(results))
    ours, bare = results["ours"], results["bare"]
    print(f"summary: supervisors={args.supervisors} callers={args.callers} changes_per_s={args.changes} "
          f"floor_p99_ms={ours['p99_ms']:.0f} bytes_per_supervisor_s={ours['bytes_per_supervisor_s']:.0f} "
          f"p99_ratio_to_bare={ours['p99_ms'] / bare['p99_ms']:.2f} "
          f"bytes_ratio_to_bare={ours['bytes_per_supervisor_s'] / bare['bytes_per_supervisor_s']:.2f}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def main(args: argparse.Namespace) -> None:
    results = await measure(args)
    print(f"{args.clients} clients, {args.rounds} events each per phase, bursts taken {args.repeat} times "
          f"in turns (the median shown); paced at {args.rate}/s")
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
    parser.add_argument("--repeat", type=int, default=3, help="bursts per variant, taken in turns")
    parser.add_argument("--monitor", action="store_true", help="the monitor run: supervisors watching a floor")
    parser.add_argument("--supervisors", type=int, default=50, help="monitor run: /monitor consoles")
    parser.add_argument("--callers", type=int, default=2000, help="monitor run: caller sessions on the floor")
    parser.add_argument("--changes", type=float, default=200, help="monitor run: state changes per second, in all")
    parser.add_argument("--seconds", type=float, default=20, help="monitor run: how long the floor changes")
    parser.add_argument("--serve", choices=("ours", "bare", "monitor-ours", "monitor-bare"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.serve in ("monitor-ours", "monitor-bare"):
        serve_monitor = serve_monitor_ours if arguments.serve == "monitor-ours" else serve_monitor_bare
        asyncio.run(serve_monitor(arguments.port, arguments.callers, arguments.supervisors))
    elif arguments.serve:
        serve = serve_ours if arguments.serve == "ours" else serve_bare
        asyncio.run(serve(arguments.port, arguments.clients))
    elif arguments.monitor:
        asyncio.run(main_monitor(arguments))
    else:
        asyncio.run(main(arguments))
