"""Who answers a dialed number, and running the simulator from the command line."""
from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import aiohttp
import pytest

from realtime.telephony.sim import OutcomeMix, SimConfig
from realtime.telephony.sim.cli import add_arguments, config_from
from realtime.telephony.sim.farend import Outcomes


@pytest.mark.parametrize("resource, kind, talk", [
    ("15555550100@trunk", "human", None),
    ("+15555550139", "human", None),
    ("15555550140@trunk", "human", 5.0),
    ("15555550159@trunk", "human", 5.0),
    ("15555550165@trunk", "machine", None),
    ("15555550170@trunk", "busy", None),
    ("15555550189@trunk", "no-answer", None),
    ("15555550194@trunk", "congestion", None),
    ("15555550195@trunk", "refused", None),
    ("agent101", "agent", None),
    ("answer@sim", "agent", None),
])
def test_deterministic_outcome_by_last_two_digits(resource, kind, talk):
    far_end = Outcomes(SimConfig()).decide(resource)
    assert (far_end.kind, far_end.talk) == (kind, talk)


def test_mix_is_reproducible_with_a_seed_and_follows_the_shares():
    config = SimConfig(outcomes="mix", seed=7, mix=OutcomeMix(answer=1, machine=1, busy=0, no_answer=0, failed=0))
    first, second = Outcomes(config), Outcomes(config)
    numbers = [f"1555555{n:04d}" for n in range(200)]
    draws = [first.decide(number) for number in numbers]
    assert draws == [second.decide(number) for number in numbers]
    assert {far_end.kind for far_end in draws} == {"human", "machine"}
    assert all(2.0 <= far_end.ring <= 8.0 for far_end in draws)
    assert all(far_end.talk is not None for far_end in draws if far_end.kind == "human")


def test_config_rejects_unknown_modes_and_bad_speeds():
    with pytest.raises(ValueError):
        SimConfig(outcomes="sometimes")
    with pytest.raises(ValueError):
        SimConfig(speed=0)


def test_command_line_flags_and_environment(monkeypatch):
    monkeypatch.setenv("REALTIME_SIM_SPEED", "10")
    monkeypatch.setenv("REALTIME_ARI_PASSWORD", "secret")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--outcomes", "mix", "--control", "--mix", "answer=0.9,busy=0.1"])
    assert (args.host, args.port) == ("127.0.0.1", 8088)
    config = config_from(args)
    assert (config.outcomes, config.speed, config.control, config.password) == ("mix", 10.0, True, "secret")
    assert (config.mix.answer, config.mix.busy, config.mix.machine) == (0.9, 0.1, OutcomeMix().machine)
    with pytest.raises(ValueError):
        config_from(parser.parse_args(["--mix", "sometimes=1"]))


async def test_python_dash_m_serves_ari_until_sigterm(unused_port):
    port = unused_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "realtime.telephony.sim", "--port", str(port),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 20)
        assert line.decode().strip() == f"ARI simulator listening on http://127.0.0.1:{port}/ari"
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/ari/asterisk/ping",
                                   params={"api_key": "ari:ari"}) as response:
                assert (await response.json())["ping"] == "pong"
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 20) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
