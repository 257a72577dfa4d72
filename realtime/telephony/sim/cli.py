"""``realtime pbx-sim`` / ``python -m realtime.telephony.sim``: run the simulator alone."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal

from .config import OUTCOME_MODES, SimConfig, parse_mix
from .server import start_simulator

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8088, help="port to listen on (default 8088)")
    parser.add_argument("--outcomes", choices=OUTCOME_MODES,
                        default=os.environ.get("REALTIME_SIM_OUTCOMES", "deterministic"),
                        help="far-end behaviour: by the number's last two digits, or a random mix")
    parser.add_argument("--speed", type=float, default=float(os.environ.get("REALTIME_SIM_SPEED", "1")),
                        help="time compression: 10 makes a 2 s ring last 0.2 s")
    parser.add_argument("--control", action="store_true", help="enable the /_sim control API")
    parser.add_argument("--seed", type=int, default=None, help="seed of the random outcome mix")
    parser.add_argument("--mix", default=os.environ.get("REALTIME_SIM_MIX", ""),
                        help="outcome shares for --outcomes mix, e.g. answer=0.6,machine=0.2,busy=0.1")


def config_from(args: argparse.Namespace) -> SimConfig:
    return SimConfig(
        user=os.environ.get("REALTIME_ARI_USER", "ari"),
        password=os.environ.get("REALTIME_ARI_PASSWORD", "ari"),
        outcomes=args.outcomes,
        speed=args.speed,
        amd_context=os.environ.get("REALTIME_AMD_CONTEXT", "impactdialing-amd"),
        control=args.control,
        seed=args.seed,
        mix=parse_mix(args.mix),
    )


async def _serve(config: SimConfig, host: str, port: int) -> None:
    simulator = await start_simulator(config, host, port)
    print(f"ARI simulator listening on {simulator.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await simulator.close()


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit status."""
    try:
        config = config_from(args)
    except ValueError as error:
        print(f"error: {error}")
        return 2
    asyncio.run(_serve(config, args.host, args.port))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m realtime.telephony.sim",
                                     description="ARI-compatible PBX simulator")
    add_arguments(parser)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(parser.parse_args(argv))
