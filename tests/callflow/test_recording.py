"""Call recording end to end: an admin's switch, a caller's calls on the simulator, the
recording_url on the call attempt and its audio through /v1/call_recordings."""
from __future__ import annotations

import asyncio
import io
import json
import wave

import aiohttp
from sqlalchemy import select

from realtime import app_keys
from realtime.callflow.recording import recording_url
from realtime.store.models import Account, CallAttempt, DialerMode, UserRole
from realtime.telephony.sim.model import WAV_MAX_SECONDS
from realtime.telephony.sim.pbx import AriError as SimAriError
from realtime.telephony.sim.rest import PBX_KEY
from tests.channels.conftest import SIM_PASSWORD, SIM_USER, SPEED, FarEnd, start_product
from tests.channels.floor import PERSON, add_caller, add_campaign, add_user, phone, seed_account
from tests.channels.test_caller_flow import answers_for, talk_and_hang_up

WAIT = 10.0


async def recorded(product, call_id: str) -> str | None:
    """The call's recording URL once the engine has its word on it (None: not recorded)."""
    outcome = product.app[app_keys.CALLFLOW].recorder.outcome(call_id)
    assert outcome is not None, f"call {call_id} was never bridged to a caller"
    return await asyncio.wait_for(asyncio.shield(outcome), WAIT)


async def attempt_of(product, call_id: str) -> CallAttempt:
    async with product.store.sessions() as db:
        return await db.scalar(select(CallAttempt).where(CallAttempt.channel_id == f"lead-{call_id}"))


class RecordingsSeen:
    """An app of the test's own on the simulator's events websocket (``subscribeAll``): the
    recordings the PBX starts, as events."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.started: asyncio.Queue[dict] = asyncio.Queue()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, http: aiohttp.ClientSession, simulator) -> RecordingsSeen:
        url = simulator.url.replace("http", "ws", 1) + "/events"
        ws = await http.ws_connect(url, params={"app": "observer", "subscribeAll": "true",
                                                "api_key": f"{SIM_USER}:{SIM_PASSWORD}"})
        return cls(ws)

    async def _read(self) -> None:
        async for message in self.ws:
            event = json.loads(message.data)
            if event["type"] == "RecordingStarted":
                self.started.put_nowait(event["recording"])

    async def next_started(self) -> dict:
        return await asyncio.wait_for(self.started.get(), WAIT)


async def talk_recorded(caller, seen: RecordingsSeen) -> dict:
    """From previewing: dial, get the lead, hang up once the PBX records the call."""
    dial = await caller.ok("dial")
    connected = await caller.next("call_connected", call_id=dial["call_id"])
    recording = await seen.next_started()
    assert recording["name"] == f"call-{dial['call_id']}" and recording["target_uri"].startswith("bridge:conf-")
    await caller.ok("hangup")
    await caller.next("call_ended", call_id=dial["call_id"], status="completed", by="caller")
    return connected


async def fetch(url: str, key: str, auth: str) -> tuple[int, str, bytes]:
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers={"Authorization": aiohttp.encode_basic_auth(key, auth)}) as response:
            return response.status, response.content_type, await response.read()


async def test_switching_recording_on_records_the_next_call_and_serves_its_audio(
        product, floor, callers, supervisors, simulator):
    first, second = phone(PERSON), phone(PERSON)
    campaign = await add_campaign(product.store, floor, DialerMode.PREVIEW, [first, second])
    _, username = await add_caller(product.store, floor, campaign)
    caller = await callers(username).open()
    await caller.ok("start")
    await caller.next("lead_presented")

    # Off (the default): the call is not recorded.
    unrecorded = await talk_and_hang_up(caller)
    assert await recorded(product, unrecorded["call_id"]) is None
    lead_id = unrecorded["household"]["leads"][0]["id"]
    await caller.ok("submit", {"call_id": unrecorded["call_id"], "lead_id": lead_id, "answers": answers_for(floor),
                               "then": "continue", "key": "k-1"})
    await caller.next("lead_presented")

    # An admin turns it on while the caller previews: the next call is recorded.
    _, admin_email = await add_user(product.store, floor, UserRole.ADMIN)
    admin = await supervisors(admin_email).open()
    assert (await admin.ok("set_recording", {"enabled": True}))["enabled"] is True
    async with aiohttp.ClientSession() as http:
        talked = await talk_recorded(caller, await RecordingsSeen.open(http, simulator))
    url = await recorded(product, talked["call_id"])
    attempt = await attempt_of(product, talked["call_id"])
    assert url == attempt.recording_url == f"/v1/call_recordings/{attempt.id}"
    assert (await attempt_of(product, unrecorded["call_id"])).recording_url is None

    # The PBX recorded the caller's conference under the call's name.
    journal = await FarEnd(simulator).request("GET", "_sim/journal")
    [made] = [r for r in journal["recordings"] if r["name"] == f"call-{talked['call_id']}"]
    assert made["target_uri"].startswith("bridge:conf-") and made["state"] == "done"

    status, content_type, audio = await fetch(product.url + url, floor.api_key, floor.api_auth)
    assert (status, content_type) == (200, "audio/wav")
    assert audio[:4] == b"RIFF" and audio[8:12] == b"WAVE"

    # An admin signed in to the console reads it with their session cookie, as other GETs.
    async with aiohttp.ClientSession() as http:
        async with http.get(product.url + url, headers={"Cookie": admin.cookie}) as response:
            assert (response.status, (await response.read())[:4]) == (200, b"RIFF")

    # Not for another account's key, nor for a call that was not recorded.
    other = await seed_account(product.store, "Other floor")
    status, _, body = await fetch(product.url + url, other.api_key, other.api_auth)
    assert status == 404 and b'"not-found"' in body
    status, _, body = await fetch(f"{product.url}/v1/call_recordings/{(await attempt_of(product, unrecorded['call_id'])).id}",
                                  floor.api_key, floor.api_auth)
    assert status == 404 and b'"not-recorded"' in body


async def test_a_cold_transfer_ends_the_recording_as_the_lead_leaves_the_conference(
        product, floor, callers, simulator, far_end):
    async with product.store.transaction() as db:
        (await db.get(Account, floor.account_id)).record_calls = True
    campaign = await add_campaign(product.store, floor, DialerMode.POWER, [phone(PERSON)])
    _, username = await add_caller(product.store, floor, campaign)
    caller = await callers(username).open()
    async with aiohttp.ClientSession() as http:
        seen = await RecordingsSeen.open(http, simulator)
        await caller.ok("start")
        connected = await caller.next("call_connected")
        await seen.next_started()
    ack = await caller.ok("transfer", {"transfer_id": floor.script.cold_transfer})
    await caller.next("transfer_connected", transfer_id=ack["transfer_id"], kind="cold")
    # Recorded up to the hand-over: stored while the lead still talks to the hotline.
    url = await recorded(product, connected["call_id"])
    assert url == (await attempt_of(product, connected["call_id"])).recording_url
    assert await far_end.channel_ids(f"lead-{connected['call_id']}") == [f"lead-{connected['call_id']}"]
    await far_end.hang_up(f"lead-{connected['call_id']}")
    await caller.next("transfer_ended", transfer_id=ack["transfer_id"])


async def test_a_recording_the_pbx_refuses_leaves_the_call_alone(product, floor, callers, simulator, monkeypatch):
    async with product.store.transaction() as db:
        (await db.get(Account, floor.account_id)).record_calls = True
    campaign = await add_campaign(product.store, floor, DialerMode.PREVIEW, [phone(PERSON)])
    _, username = await add_caller(product.store, floor, campaign)
    caller = await callers(username).open()
    await caller.ok("start")
    await caller.next("lead_presented")

    refused = asyncio.Event()

    def refuse(bridge_id: str, params: dict) -> dict:
        refused.set()
        raise SimAriError(409, f"Recording '{params['name']}' already exists and can not be overwritten")

    monkeypatch.setattr(simulator.app[PBX_KEY], "record_bridge", refuse)
    dial = await caller.ok("dial")
    talked = await caller.next("call_connected", call_id=dial["call_id"])
    await asyncio.wait_for(refused.wait(), WAIT)
    # The call goes on as ever: the caller talks, hangs up, wraps up.
    await caller.ok("hangup")
    await caller.next("call_ended", call_id=dial["call_id"], status="completed", by="caller")
    await caller.state("wrap_up")
    assert await recorded(product, talked["call_id"]) is None
    assert (await attempt_of(product, talked["call_id"])).recording_url is None
    await caller.ok("submit", {"call_id": talked["call_id"], "lead_id": talked["household"]["leads"][0]["id"],
                               "answers": answers_for(floor), "then": "continue", "key": "k-1"})


async def test_a_restarted_engine_sees_a_recording_it_did_not_start_to_its_end(
        tmp_path, product, floor, callers, simulator, far_end):
    async with product.store.transaction() as db:
        (await db.get(Account, floor.account_id)).record_calls = True
    campaign = await add_campaign(product.store, floor, DialerMode.POWER, [phone(PERSON)])
    _, username = await add_caller(product.store, floor, campaign)
    caller = await callers(username).open()
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as http:
        seen = await RecordingsSeen.open(http, simulator)
        await caller.ok("start")
        connected = await caller.next("call_connected")
        name = (await seen.next_started())["name"]
    started_at = loop.time()
    assert name == f"call-{connected['call_id']}"
    await caller.sio.disconnect()
    await product.close()  # a graceful stop: the call, and its recording, stay up in Asterisk
    assert (await far_end.request("GET", f"ari/recordings/live/{name}"))["state"] == "recording"

    restarted = await start_product(tmp_path, simulator)
    again = callers(username, url=restarted.url)
    again.cookie = caller.cookie
    try:
        await again.connect(last_seq=caller.last_seq)
        assert (await again.next("snapshot"))["call"]["call_id"] == connected["call_id"]
        hung_up_at = loop.time()
        await again.ok("hangup")
        await again.next("call_ended", call_id=connected["call_id"], status="completed", by="caller")
        url = await recorded(restarted, connected["call_id"])
        attempt = await attempt_of(restarted, connected["call_id"])
        assert url == attempt.recording_url == f"/v1/call_recordings/{attempt.id}"
        # The file holds the whole call: from its start, through the restart, to the hang-up.
        status, content_type, audio = await fetch(restarted.url + url, floor.api_key, floor.api_auth)
        assert (status, content_type) == (200, "audio/wav")
        with wave.open(io.BytesIO(audio)) as wav:
            seconds = wav.getnframes() / wav.getframerate()
        assert seconds >= min(int((hung_up_at - started_at) * SPEED), WAV_MAX_SECONDS) > 0
        journal = await far_end.request("GET", "_sim/journal")
        assert [r["state"] for r in journal["recordings"] if r["name"] == name] == ["done"]
    finally:
        await again.close()
        await restarted.close()


def test_recording_urls_are_absolute_with_the_public_url():
    assert recording_url(7, None) == "/v1/call_recordings/7"
    assert recording_url(7, "https://dialer.example.com/") == "https://dialer.example.com/v1/call_recordings/7"
