"""Benchmark: the ARI client against a bare aiohttp loop, same simulator, same run.

    python bench/telephony.py [--count 3000] [--live 1000] [--hold 2] [--speed 20] [--rounds 3]

Starts the PBX simulator in a subprocess (loopback), then drives the same workload
twice per round, once through ``AriClient`` and once through plain aiohttp requests
and a plain websocket reader: ``--count`` calls to numbers that answer and stay
(last two digits 00-39), at most ``--live`` calls in progress at a time, each hung up
after ``--hold`` seconds. Measured: originate -> StasisStart latency (p50/p99), the
sustained originate rate over the fixed count, the peak number of channels up, and
this process's CPU per call (the client side only). Each figure is the median of
``--rounds`` runs, run in alternating order. The last line is the summary:
``summary: originates_per_s=N p99_ms=N ratio_to_bare=x.xx`` (ratio of originate rates).
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Awaitable, Callable

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from realtime.telephony.ari import AriClient  # noqa: E402
from realtime.telephony.ari.events import ChannelDestroyed, Event, StasisStart  # noqa: E402

USER = os.environ.get("REALTIME_ARI_USER", "ari")
PASSWORD = os.environ.get("REALTIME_ARI_PASSWORD", "ari")
CALL_TIMEOUT = 30.0  # seconds any one call may take before the run is declared broken


@dataclasses.dataclass
class Result:
    name: str
    count: int
    seconds: float
    latencies: list[float]
    peak_up: int  # channels that existed at once (originate answered .. ChannelDestroyed seen)
    cpu_seconds: float  # of this process only: the client side, not the simulator

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def percentile_ms(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(p * len(ordered)))]


class Load:
    """The shared workload: bounded number of calls, bounded number live at once."""

    def __init__(self, count: int, live: int, hold: float, prefix: str) -> None:
        self.count, self.hold, self.prefix = count, hold, prefix
        self.slots = asyncio.Semaphore(live)
        self.latencies: list[float] = []
        self.up = 0
        self.peak_up = 0

    def endpoint(self, i: int) -> str:
        return f"PJSIP/1555{i:05d}{i % 40:02d}@trunk"  # 00-39: answers after a ring, stays

    async def run(self, name: str, call: Callable[[int, str], Awaitable[float]]) -> Result:
        loop = asyncio.get_running_loop()
        start, cpu = loop.time(), time.process_time()
        replies = await asyncio.gather(*(self._one(i, call) for i in range(self.count)))
        return Result(name, self.count, max(replies) - start, self.latencies, self.peak_up,
                      time.process_time() - cpu)

    async def _one(self, i: int, call: Callable[[int, str], Awaitable[float]]) -> float:
        async with self.slots:
            return await call(i, f"{self.prefix}-{i}")

    def channel_up(self) -> None:
        self.up += 1
        self.peak_up = max(self.peak_up, self.up)

    def channel_down(self) -> None:
        self.up -= 1


async def run_client(url: str, load: Load, concurrency: int) -> Result:
    client = AriClient(url, USER, PASSWORD, f"bench-{load.prefix}", max_concurrency=concurrency)
    await client.connect()
    loop = asyncio.get_running_loop()

    async def call(i: int, channel_id: str) -> float:
        answered, ended = loop.create_future(), loop.create_future()

        def on_event(event: Event) -> None:
            if isinstance(event, StasisStart) and not answered.done():
                answered.set_result(loop.time())
            elif isinstance(event, ChannelDestroyed) and not ended.done():
                ended.set_result(None)

        registration = client.on_channel(channel_id, on_event)
        started = loop.time()
        await client.originate(load.endpoint(i), channel_id=channel_id)
        replied = loop.time()
        load.channel_up()
        load.latencies.append(await asyncio.wait_for(answered, CALL_TIMEOUT) - started)
        await asyncio.sleep(load.hold)
        await client.hangup(channel_id)
        await asyncio.wait_for(ended, CALL_TIMEOUT)
        load.channel_down()
        registration.remove()
        return replied

    try:
        return await load.run("ari-client", call)
    finally:
        await client.close()


async def run_bare(url: str, load: Load, concurrency: int) -> Result:
    """The baseline: what a hand-written loop with no client machinery does."""
    app = f"bench-{load.prefix}"
    auth = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
    session = aiohttp.ClientSession(headers=auth, connector=aiohttp.TCPConnector(limit=concurrency + 1))
    ws = await session.ws_connect(url.replace("http://", "ws://") + f"/events?app={app}")
    loop = asyncio.get_running_loop()
    answered: dict[str, asyncio.Future] = {}
    ended: dict[str, asyncio.Future] = {}

    async def read() -> None:
        async for message in ws:
            event = json.loads(message.data)
            kind = event["type"]
            if kind == "StasisStart":
                future = answered.get(event["channel"]["id"])
                if future is not None and not future.done():
                    future.set_result(loop.time())
            elif kind == "ChannelDestroyed":
                future = ended.get(event["channel"]["id"])
                if future is not None and not future.done():
                    future.set_result(None)

    reader = loop.create_task(read())

    async def call(i: int, channel_id: str) -> float:
        answer = answered[channel_id] = loop.create_future()
        end = ended[channel_id] = loop.create_future()
        started = loop.time()
        params = {"endpoint": load.endpoint(i), "app": app, "channelId": channel_id}
        async with session.post(f"{url}/channels", params=params) as resp:
            await resp.read()
            resp.raise_for_status()
        replied = loop.time()
        load.channel_up()
        load.latencies.append(await asyncio.wait_for(answer, CALL_TIMEOUT) - started)
        del answered[channel_id]
        await asyncio.sleep(load.hold)
        async with session.delete(f"{url}/channels/{channel_id}") as resp:
            await resp.read()
            resp.raise_for_status()
        await asyncio.wait_for(end, CALL_TIMEOUT)
        load.channel_down()
        del ended[channel_id]
        return replied

    try:
        return await load.run("bare-aiohttp", call)
    finally:
        reader.cancel()
        await ws.close()
        await session.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def start_simulator(port: int, speed: float) -> asyncio.subprocess.Process:
    env = {**os.environ, "REALTIME_ARI_USER": USER, "REALTIME_ARI_PASSWORD": PASSWORD}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "realtime.telephony.sim", "--host", "127.0.0.1", "--port", str(port),
        "--outcomes", "deterministic", "--speed", str(speed),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
        cwd=str(Path(__file__).resolve().parents[1]),
    )
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 30)  # type: ignore[union-attr]
    except asyncio.TimeoutError:
        process.kill()
        raise SystemExit("the simulator did not start within 30 s") from None
    if b"listening" not in line:
        process.kill()
        raise SystemExit(f"the simulator did not start: {line!r}")
    return process


async def main(args: argparse.Namespace) -> None:
    port = free_port()
    simulator = await start_simulator(port, args.speed)
    url = f"http://127.0.0.1:{port}/ari"
    results: dict[str, list[Result]] = {"ari-client": [], "bare-aiohttp": []}
    try:
        # Warm-up (imports, connection pools, simulator caches), not counted.
        await run_bare(url, Load(min(args.count, 200), args.live, 0.05, "warm-b"), args.concurrency)
        await run_client(url, Load(min(args.count, 200), args.live, 0.05, "warm-c"), args.concurrency)
        for r in range(args.rounds):
            # Alternate the order so neither side always runs on a warmer simulator.
            runners = [("bare-aiohttp", run_bare), ("ari-client", run_client)]
            for name, runner in runners if r % 2 == 0 else reversed(runners):
                load = Load(args.count, args.live, args.hold, f"{name}-{r}")
                results[name].append(await runner(url, load, args.concurrency))
    finally:
        simulator.terminate()
        await asyncio.wait_for(simulator.wait(), 10)

    # The median run of each variant: on a shared machine single runs vary by a third.
    typical = {name: sorted(runs, key=lambda res: res.rate)[len(runs) // 2] for name, runs in results.items()}
    print(f"{args.count} calls per run, {args.live} live at most, hold {args.hold:g}s, "
          f"simulator speed {args.speed:g}, {args.concurrency} requests in flight, "
          f"median of {args.rounds} runs")
    print(f"{'variant':<14}{'originates/s':>14}{'p50 ms':>10}{'p99 ms':>10}{'peak up':>11}"
          f"{'cpu ms/call':>13}")
    for name in ("ari-client", "bare-aiohttp"):
        res = typical[name]
        print(f"{name:<14}{res.rate:>14.0f}{res.percentile_ms(0.50):>10.1f}"
              f"{res.percentile_ms(0.99):>10.1f}{res.peak_up:>11}{1000 * res.cpu_seconds / res.count:>13.2f}")
    ours, bare = typical["ari-client"], typical["bare-aiohttp"]
    spread = [round(r.rate) for r in results["ari-client"]], [round(r.rate) for r in results["bare-aiohttp"]]
    print(f"all runs originates/s: ari-client {spread[0]}, bare-aiohttp {spread[1]}")
    # Client CPU is the steadier comparison: it does not depend on how busy the machine is.
    print(f"client cpu per call: ari-client / bare-aiohttp = {ours.cpu_seconds / bare.cpu_seconds:.2f}")
    print(f"summary: originates_per_s={ours.rate:.0f} p99_ms={ours.percentile_ms(0.99):.0f} "
          f"ratio_to_bare={ours.rate / bare.rate:.2f}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=3000, help="calls per run")
    parser.add_argument("--live", type=int, default=1000, help="calls in progress at the same time, at most")
    parser.add_argument("--hold", type=float, default=2.0, help="seconds each answered call is held")
    parser.add_argument("--speed", type=float, default=20.0, help="simulator time compression")
    parser.add_argument("--concurrency", type=int, default=64, help="HTTP requests in flight, at most")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each variant; the median counts")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
