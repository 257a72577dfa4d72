"""Awkward states: the simulator answers the 49 requests of ``state-matrix.json`` (what a
real Asterisk 22.10.1 answered, status and error message) exactly as Asterisk did.

The matrix was recorded as one run, in the file's order, on a few objects: bridges
``b-<id>`` and ``b2-<id>``; channels ``a-<id>`` and ``c-<id>`` originated to
``Local/15555550101@numbers`` (answers after 2 s) into the Stasis application
``statematrix``; ``r-<id>`` to ``Local/15555550185@numbers`` (rings, never answers).
Here the same objects are set up at the same points of the run (before the first case
that uses them), over real HTTP, and every case is compared.
"""
from __future__ import annotations

import json
from urllib.parse import parse_qsl

from tests.conftest import ARI_OBSERVED

MATRIX = json.loads((ARI_OBSERVED / "state-matrix.json").read_text())
APP = "statematrix"
ANSWERS = "Local/15555550101@numbers"
RINGS = "Local/15555550185@numbers"


async def _set_up_before(name: str, ari, events, run_id: str) -> None:
    """Bring the PBX into the state the recording was in when ``name`` was played."""
    if name == "bridge_moh_stop_not_playing":  # the first case: a fresh, empty bridge
        assert (await ari.request("POST", f"/bridges/b-{run_id}", type="mixing"))[0] == 200
    elif name == "bridge_add":  # two answered channels in Stasis, and a second bridge
        for channel_id in (f"a-{run_id}", f"c-{run_id}"):
            status, _ = await ari.request("POST", "/channels", endpoint=ANSWERS, app=APP, channelId=channel_id)
            assert status == 200
        for channel_id in (f"a-{run_id}", f"c-{run_id}"):
            await events.wait_for("StasisStart", channel_id)
        assert (await ari.request("POST", f"/bridges/b2-{run_id}", type="mixing"))[0] == 200
    elif name == "ringing_answer":  # a channel still ringing, so not in Stasis
        channel_id = f"r-{run_id}"
        status, _ = await ari.request("POST", "/channels", endpoint=RINGS, app=APP, channelId=channel_id)
        assert status == 200
        await events.wait_for("Dial", channel_id, dialstatus="RINGING")
    elif name == "gone_hangup_again":  # the ringing channel has been hung up
        await events.wait_for("ChannelDestroyed", f"r-{run_id}")


async def _play(request: str, ari, run_id: str) -> dict:
    method, target = request.replace("<id>", run_id).split(" ", 1)
    path, _, query = target.partition("?")
    status, body = await ari.request(method, path, **dict(parse_qsl(query)))
    answer = {"status": status}
    if isinstance(body, dict) and "message" in body:
        answer["message"] = body["message"]
    return answer


async def test_simulator_answers_every_awkward_state_like_asterisk(ari):
    assert len(MATRIX) == 49
    events = await ari.events(app=APP)
    run_id = "4711"
    differences = {}
    try:
        for name, case in MATRIX.items():
            await _set_up_before(name, ari, events, run_id)
            expected = {key: value.replace("<id>", run_id) if isinstance(value, str) else value
                        for key, value in case.items() if key != "request"}
            answer = await _play(case["request"], ari, run_id)
            if answer != expected:
                differences[name] = {"request": case["request"], "asterisk": expected, "simulator": answer}
    finally:
        await events.close()
    assert differences == {}
