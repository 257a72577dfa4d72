"""Call-API jobs end to end: ``realtime serve`` on the ARI simulator, the integrator's server
(a real aiohttp server) receiving the call-state notifications and serving numbers, and
the integrator driving their callers over REST; and the same across processes (two web
processes and an engine on PostgreSQL and Redis)."""
from __future__ import annotations

import asyncio
import csv
import io
import secrets
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import select

from realtime import app_keys
from realtime.store import migrate
from realtime.store.database import Store
from realtime.store.models import Account, CallAttempt, CallStatus, Household, HouseholdStatus
from tests.channels.conftest import SIM_PASSWORD, SIM_USER, Product, start_product
from tests.channels.floor import BUSY, MACHINE, NO_ANSWER, PERSON, SHORT_TALK, add_recording, phone, seed_account

from tests.processes import Serving

from .integrator import CallApi, Integrator
from .test_recording import RecordingsSeen, fetch

# What every call's notifications look like, by how it went.
TALKED = ["dialing", "ringing", "answered", "connected", "hung_up", "caller_ready"]


@pytest.fixture
async def product(tmp_path, simulator) -> AsyncIterator[Product]:
    # The integrator's server is on 127.0.0.1: private addresses are allowed on this bench.
    running = await start_product(tmp_path, simulator, allow_private_urls=True)
    dispatcher = running.app[app_keys.WEBHOOKS]
    dispatcher.backoff_base, dispatcher.poll_interval = 0.05, 0.2
    jobs = running.app[app_keys.CALLFLOW].jobs
    jobs.fetch_timeout, jobs.backoff_base, jobs.tick_seconds = 1.0, 0.2, 0.2
    yield running
    await running.close()


@pytest.fixture
async def integrator(aiohttp_server, floor) -> AsyncIterator[Integrator]:
    integrator = await Integrator(floor.api_auth).start(aiohttp_server)
    yield integrator
    integrator.release.set()  # a numbers request left hanging ends with the test


@pytest.fixture
def api(product, floor) -> CallApi:
    return CallApi(product.url, floor.api_key, floor.api_auth)


def job_params(integrator: Integrator, dialer_type: str, **params) -> dict:
    return {"dialer_type": dialer_type, "from": "+12025550100", "call_state_url": integrator.call_state_url,
            "calling_hours_start": "00:00", "calling_hours_end": "23:59", "time_zone": "UTC", "ring_timeout": 5,
            **params}


async def attempts(product: Product, job_id: int) -> list[CallAttempt]:
    async with product.store.sessions() as session:
        return list(await session.scalars(select(CallAttempt).where(CallAttempt.campaign_id == job_id)
                                          .order_by(CallAttempt.id)))


async def test_a_power_job_from_phone_numbers_notifies_every_change_of_each_call_in_order(api, integrator, product):
    talker, busy = phone(SHORT_TALK), phone(BUSY)
    job = await api.start_job(**job_params(integrator, "Power", phone_number=[talker, int(busy.lstrip("+"))]))
    assert job["state"] == "running" and job["dialer_type"] == "power" and job["counts"]["numbers"] == 2
    caller = await api.add_caller(job["id"], "alice", phone=phone(PERSON), name="Alice")
    assert caller["state"] == "connecting" and caller["dial_in"] is None

    connected = await integrator.next("connected", caller_id="alice")
    call_id = connected["call_id"]
    hung_up = await integrator.next("hung_up", call_id=call_id)
    assert (hung_up["status"], hung_up["by"]) == ("completed", "lead") and hung_up["duration_s"] > 0
    await api.command(job["id"], "alice", "ready", {"outcome": "supporter", "notes": "wants a sign"})
    second = await integrator.next("hung_up", status="busy")
    assert integrator.of_call(call_id) == TALKED
    assert integrator.of_call(second["call_id"]) == ["dialing", "hung_up"]
    ready = await integrator.next("caller_ready", call_id=call_id)
    assert ready["outcome"] == "supporter"
    assert [n["sequence"] for n in integrator.received if n["call_id"] == call_id] == [1, 2, 3, 4, 5, 6]
    dialing = next(n for n in integrator.received if n["event"] == "dialing" and n["call_id"] == call_id)
    assert dialing["phone"] == talker and dialing["job_id"] == job["id"] and dialing["caller_id"] == "alice"
    assert integrator.of_caller("alice")[0] == "caller_connected"
    assert integrator.bad_signatures == 0

    talked = next(a for a in await attempts(product, job["id"]) if a.channel_id == f"lead-{call_id}")
    assert (talked.status, talked.outcome, talked.notes) == (CallStatus.COMPLETED, "supporter", "wants a sign")
    # Its path names the call and the caller.
    delivery = next(n["_envelope"]["id"] for n in integrator.received if n["event"] == "hung_up"
                    and n["call_id"] == call_id)
    assert integrator.paths[delivery] == f"/calls/{call_id}/callers/alice/state_change"


async def test_a_recorded_call_says_where_its_recording_is_when_it_hangs_up(api, integrator, product, floor,
                                                                            simulator):
    async with product.store.transaction() as db:
        (await db.get(Account, floor.account_id)).record_calls = True
    async with aiohttp.ClientSession() as http:
        seen = await RecordingsSeen.open(http, simulator)
        job = await api.start_job(**job_params(integrator, "Power", phone_number=[phone(PERSON)]))
        await api.add_caller(job["id"], "alice", phone=phone(PERSON), name="Alice")
        call_id = (await integrator.next("connected", caller_id="alice"))["call_id"]
        await seen.next_started()
    await api.command(job["id"], "alice", "hangup")
    hung_up = await integrator.next("hung_up", call_id=call_id)
    [talked] = [a for a in await attempts(product, job["id"]) if a.channel_id == f"lead-{call_id}"]
    assert hung_up["recording_url"] == talked.recording_url == f"/v1/call_recordings/{talked.id}"
    assert (hung_up["status"], hung_up["by"]) == ("completed", "caller")
    status, content_type, audio = await fetch(product.url + hung_up["recording_url"], floor.api_key, floor.api_auth)
    assert (status, content_type, audio[:4]) == (200, "audio/wav", b"RIFF")
    await api.command(job["id"], "alice", "ready")
    await integrator.next("caller_ready", call_id=call_id)
    assert integrator.of_call(call_id) == TALKED  # hung_up waited for the recording, nothing overtook it
    assert [n["sequence"] for n in integrator.received if n["call_id"] == call_id] == [1, 2, 3, 4, 5, 6]


async def talk_and_hang_up(api: CallApi, integrator: Integrator, job_id: int, reference: str, seen: set[str],
                           **ready) -> str:
    """The caller's next connected call: hang it up, wait for its end, say the caller is ready."""
    connected = await integrator.until(lambda: next(
        (n for n in integrator.received if n["event"] == "connected" and n["caller_id"] == reference
         and n["call_id"] not in seen), None), f"a call connected to {reference}")
    call_id = connected["call_id"]
    seen.add(call_id)
    await api.command(job_id, reference, "hangup")
    ended = await integrator.next("hung_up", call_id=call_id)
    assert (ended["status"], ended["by"]) == ("completed", "caller")
    await api.command(job_id, reference, "ready", ready or None)
    return call_id


async def test_a_predictive_job_fed_by_pages_with_a_rung_caller_and_one_dialling_in(api, integrator, product,
                                                                                     far_end):
    first = [phone(PERSON), phone(PERSON)]
    integrator.pages = [first, [phone(PERSON), first[0], "12"], [phone(PERSON)]]
    job = await api.start_job(**job_params(integrator, "predictive", phone_numbers_url=integrator.numbers_url,
                                           phone_numbers_limit=3, acceptable_abandon_rate=0.5))
    assert job["counts"]["numbers"] == 0 and job["numbers"]["next_page"] == 1
    await api.add_caller(job["id"], "bob", phone="PJSIP/bob")
    carol = await api.add_caller(job["id"], 1207)  # the integrator's ids may be numbers
    assert carol["caller_id"] == "1207" and carol["state"] == "connecting"
    assert carol["dial_in"]["number"] == "+12025550123" and len(carol["dial_in"]["pin"]) == 7
    channel = (await far_end.dial_in())["id"]
    await far_end.dtmf(channel, carol["dial_in"]["pin"])
    await integrator.next("caller_connected", caller_id="1207")

    seen: set[str] = set()
    talked = []

    async def work(reference: str) -> None:
        while True:
            try:
                talked.append(await talk_and_hang_up(api, integrator, job["id"], reference, seen))
            except AssertionError:
                return  # no more calls for this caller

    workers = [asyncio.create_task(work(name)) for name in ("bob", "1207")]
    await integrator.next("numbers_exhausted")
    for name in ("bob", "1207"):
        assert (await integrator.next("caller_disconnected", caller_id=name))["reason"] == "out_of_leads"
    for worker in workers:
        worker.cancel()
    await asyncio.gather(*workers, return_exceptions=True)

    # Every call's notifications, in order: talked to a caller, or abandoned (nobody free).
    # A call's last notification may still be on its way (subjects go side by side).
    for call_id in list(integrator.calls()):
        await integrator.next("caller_ready" if call_id in talked else "hung_up", call_id=call_id)
    calls = integrator.calls()
    assert len(calls) == 4 and len(talked) >= 2
    for call_id, events in calls.items():
        assert events in (TALKED, ["dialing", "ringing", "answered", "abandoned", "hung_up"]), f"{call_id}: {events}"
    for call_id in calls:
        assert [n["sequence"] for n in integrator.received if n["call_id"] == call_id] == \
            list(range(1, len(calls[call_id]) + 1))
    # The source was asked page by page, one request at a time, until its empty page.
    assert [r["page"] for r in integrator.numbers_requests] == ["1", "2", "3", "4"]
    assert {r["limit"] for r in integrator.numbers_requests} == {"3"} and integrator.most_in_flight == 1
    rejected = await integrator.next("number_rejected")
    assert rejected["phone"] == "12" and rejected["job_id"] == job["id"]
    # The number the source gave twice was dialled once.
    dialled = [a.household_id for a in await attempts(product, job["id"])]
    assert len(dialled) == len(set(dialled)) == 4
    shown = await api.job(job["id"])
    assert shown["numbers"]["duplicates"] == 1 and shown["numbers"]["rejected"] == 1
    assert shown["numbers"]["rejected_numbers"] == [{"phone": "12", "reason": "not a valid number"}]
    assert shown["numbers"]["source_exhausted"] and shown["numbers"]["exhausted"]
    assert shown["counts"]["dialled"] == 4 and shown["counts"]["numbers"] == 4


async def test_a_preview_job_is_driven_by_dial_and_skip(api, integrator, product):
    numbers = [phone(PERSON), phone(NO_ANSWER), phone(PERSON)]
    job = await api.start_job(**job_params(integrator, "preview", phone_number=numbers))
    await api.add_caller(job["id"], "dora", phone="PJSIP/dora")
    presented = await integrator.next("lead_presented", caller_id="dora")
    assert presented["phone"] == numbers[0] and presented["call_id"] is None
    # Only a presented number can be dialled or skipped; only a call hung up; only a wrap-up ended.
    status, body = await api.call("POST", f"/v1/call/{job['id']}/callers/dora/hangup", json={})
    assert (status, body["error"]["id"]) == (409, "not-on-call")
    status, body = await api.call("POST", f"/v1/call/{job['id']}/callers/dora/ready", json={})
    assert (status, body["error"]["id"]) == (409, "not-in-wrap-up")

    await api.command(job["id"], "dora", "skip")
    second = await integrator.until(lambda: [n for n in integrator.received if n["event"] == "lead_presented"][1:],
                                    "the second number presented")
    assert second[0]["phone"] == numbers[1]
    unanswered = (await api.command(job["id"], "dora", "dial"))["result"]["call_id"]
    ended = await integrator.next("hung_up", call_id=unanswered)
    assert (ended["status"], ended["by"]) == ("no_answer", "system")
    assert integrator.of_call(unanswered) == ["dialing", "ringing", "hung_up"]

    third = await integrator.until(lambda: [n for n in integrator.received if n["event"] == "lead_presented"][2:],
                                   "the third number presented")
    assert third[0]["phone"] == numbers[2]
    status, body = await api.call("POST", f"/v1/call/{job['id']}/callers/dora/skip", json={"now": True})
    assert (status, body["error"]["details"]["fields"]) == (422, {"now": "unknown field"})
    talked = (await api.command(job["id"], "dora", "dial"))["result"]["call_id"]
    await integrator.next("connected", call_id=talked)
    status, body = await api.call("POST", f"/v1/call/{job['id']}/callers/dora/dial", json={})
    assert (status, body["error"]["id"]) == (409, "not-previewing")
    await api.command(job["id"], "dora", "hangup")
    await api.command(job["id"], "dora", "ready")
    await integrator.next("caller_ready", call_id=talked)
    assert integrator.of_call(talked) == TALKED
    # The skipped number waits out its recycle interval: nothing is left to dial now.
    assert (await integrator.next("caller_disconnected", caller_id="dora"))["reason"] == "out_of_leads"
    await integrator.next("numbers_exhausted")
    assert integrator.of_caller("dora") == ["caller_connected", "lead_presented", "lead_presented", "lead_presented",
                                           "caller_disconnected"]
    async with product.store.sessions() as session:
        skipped = await session.scalar(select(Household).where(Household.campaign_id == job["id"],
                                                               Household.phone == numbers[0]))
    assert skipped.status is HouseholdStatus.RETRY
    await caller_state(api, job["id"], "dora", "disconnected")


async def caller_state(api: CallApi, job_id: int, reference: str, state: str) -> dict:
    """The caller as GET shows them once in ``state`` (the store follows the engine closely, not at once)."""
    async def shown() -> dict:
        while (caller := await api.ok("GET", f"/v1/call/{job_id}/callers/{reference}"))["state"] != state:
            await asyncio.sleep(0.02)
        return caller

    return await asyncio.wait_for(shown(), 10)


async def upload_list(api: CallApi, rows: list[tuple[str, str]]) -> int:
    """A list uploaded and imported as an admin does it, into a campaign of its own."""
    campaign = await api.ok("POST", "/v1/campaigns", 201, json={"name": "Walk list", "dialer_mode": "preview"})
    form = aiohttp.FormData()
    form.add_field("name", "Spring walk")
    form.add_field("campaign_id", str(campaign["id"]))
    form.add_field("file", "phone,first_name\n" + "".join(f"{p},{n}\n" for p, n in rows), filename="walk.csv",
                   content_type="text/csv")
    lead_list = await api.ok("POST", "/v1/lists", 202, data=form)

    async def imported() -> dict:
        while (shown := await api.ok("GET", f"/v1/lists/{lead_list['id']}"))["status"] in ("queued", "importing"):
            await asyncio.sleep(0.05)
        return shown

    assert (await asyncio.wait_for(imported(), 15))["status"] == "ready"
    return lead_list["id"]


async def test_a_job_from_an_uploaded_list_dials_its_households_and_shows_in_the_reports(api, integrator, product):
    rows = [(phone(SHORT_TALK), "Ann"), (phone(BUSY), "Bo")]
    list_id = await upload_list(api, rows)
    job = await api.start_job(**job_params(integrator, "power", list_id=list_id, name="List job"))
    assert job["list_id"] == list_id and job["counts"]["numbers"] == 2
    await api.add_caller(job["id"], "eli", phone="PJSIP/eli", name="Eli")
    connected = await integrator.next("connected", caller_id="eli")
    await integrator.next("hung_up", call_id=connected["call_id"])
    await api.command(job["id"], "eli", "ready", {"outcome": "undecided", "notes": "call after 6"})
    await integrator.next("hung_up", status="busy")
    await integrator.next("caller_disconnected", caller_id="eli")
    phones = [n["phone"] for n in integrator.received if n["event"] == "dialing"]
    assert phones == [rows[0][0], rows[1][0]]  # the list's order

    report = await api.ok("GET", f"/v1/reports/{job['id']}")
    assert report["dials"]["total"] == 2
    assert report["dials"]["by_status"]["completed"] == 1 and report["dials"]["by_status"]["busy"] == 1
    [caller] = report["callers"]
    assert (caller["name"], caller["calls"], caller["conversations"]) == ("Eli", 2, 1)
    assert report["abandonment"]["last_24_hours"]["human_answered"] == 1
    csv_text = await api.ok("GET", f"/v1/reports/{job['id']}/call_attempts.csv")
    lines = list(csv.DictReader(io.StringIO(csv_text)))
    assert [(r["phone"], r["first_name"], r["status"], r["caller"]) for r in lines] == [
        (rows[0][0], "Ann", "completed", "Eli"), (rows[1][0], "Bo", "busy", "Eli")]
    assert (lines[0]["outcome"], lines[0]["notes"]) == ("undecided", "call after 6")
    assert [r["campaign_id"] for r in (await api.ok("GET", "/v1/reports"))["resources"]][-1] == job["id"]


async def test_a_receiver_that_fails_and_recovers_loses_nothing(api, integrator, product):
    integrator.failing = 4
    job = await api.start_job(**job_params(integrator, "power", phone_number=[phone(SHORT_TALK)],
                                           wrap_up_seconds=0))
    await api.add_caller(job["id"], "finn", phone="PJSIP/finn")
    await integrator.next("caller_disconnected", caller_id="finn")
    call_id = (await integrator.next("caller_ready"))["call_id"]  # by itself: wrap_up_seconds
    assert list(integrator.calls()) == [call_id]
    assert integrator.refused == 4
    assert integrator.of_call(call_id) == TALKED
    assert integrator.of_caller("finn") == ["caller_connected", "caller_disconnected"]
    for subject_events in ([n for n in integrator.received if n["call_id"] == call_id],
                           [n for n in integrator.received if n["caller_id"] == "finn" and n["call_id"] is None]):
        assert [n["sequence"] for n in subject_events] == list(range(1, len(subject_events) + 1))
    assert (await integrator.next("caller_ready", call_id=call_id))["outcome"] is None


async def test_a_failing_numbers_source_pauses_the_intake_and_callers_wait(api, integrator, product):
    integrator.numbers_mode = "slow"
    integrator.pages = [[phone(PERSON)]]
    job = await api.start_job(**job_params(integrator, "preview", phone_numbers_url=integrator.numbers_url))
    await api.add_caller(job["id"], "gus", phone="PJSIP/gus")
    paused = await integrator.next("numbers_paused")
    assert paused["reason"] == "no answer within 1 seconds" and paused["retry_at"]

    async def paused_by(text: str) -> dict:
        while text not in ((shown := await api.job(job["id"]))["numbers"]["paused"] or {}).get("reason", ""):
            await asyncio.sleep(0.05)
        return shown

    integrator.numbers_mode = "garbage"
    await asyncio.wait_for(paused_by("not JSON"), 10)
    integrator.numbers_mode = "redirect"
    shown = await asyncio.wait_for(paused_by("redirect"), 10)
    assert "10.0.0.7" in shown["numbers"]["paused"]["reason"] and shown["numbers"]["paused"]["failures"] >= 3
    # The caller waits on hold, the job runs on: nothing crashed.
    await caller_state(api, job["id"], "gus", "on_hold")
    assert shown["state"] == "running"
    assert integrator.of_job().count("numbers_paused") == 1  # once per pause, not per retry

    integrator.numbers_mode = "ok"
    await integrator.next("numbers_resumed")
    presented = await integrator.next("lead_presented", caller_id="gus")
    assert presented["phone"] == integrator.pages[0][0]
    assert (await api.job(job["id"]))["numbers"]["paused"] is None
    assert integrator.most_in_flight == 1


async def test_stopping_a_job_mid_call_lets_the_call_finish_and_dials_nothing_more(api, integrator, product):
    job = await api.start_job(**job_params(integrator, "power", phone_number=[phone(PERSON), phone(PERSON)]))
    await api.add_caller(job["id"], "hal", phone="PJSIP/hal")
    connected = await integrator.next("connected", caller_id="hal")
    await api.ok("DELETE", f"/v1/call/{job['id']}", 204)
    assert (await api.job(job["id"]))["state"] == "stopping"
    status, body = await api.call("POST", f"/v1/call/{job['id']}/callers", json={"caller_id": "ivy"})
    assert (status, body["error"]["id"]) == (409, "job-not-running")
    assert "hung_up" not in integrator.of_call(connected["call_id"])  # the call goes on
    await api.command(job["id"], "hal", "hangup")
    await api.command(job["id"], "hal", "ready")
    assert (await integrator.next("caller_disconnected", caller_id="hal"))["reason"] == "stopped"
    ended = await integrator.next("job_ended")
    assert ended["reason"] == "stopped" and ended["call_id"] is None
    shown = await api.job(job["id"])
    assert shown["state"] == "ended" and shown["end_reason"] == "stopped" and shown["counts"]["dialled"] == 1
    assert len(integrator.calls()) == 1
    await api.ok("DELETE", f"/v1/call/{job['id']}", 204)  # stopping an ended job changes nothing
    assert integrator.of_job().count("job_ended") == 1


async def test_a_job_without_live_callers_ends_at_once(api, integrator):
    job = await api.start_job(**job_params(integrator, "predictive", phone_number=[phone(PERSON)]))
    await api.ok("DELETE", f"/v1/call/{job['id']}", 204)
    assert (await api.job(job["id"]))["state"] == "ended"
    assert (await integrator.next("job_ended"))["sequence"] == 1


async def test_a_cold_transfer_to_a_number_notifies_transferred(api, integrator, product, far_end):
    job = await api.start_job(**job_params(integrator, "power", phone_number=[phone(PERSON)]))
    await api.add_caller(job["id"], "ida", phone="PJSIP/ida")
    call_id = (await integrator.next("connected", caller_id="ida"))["call_id"]
    party = phone(PERSON)
    result = await api.command(job["id"], "ida", "transfer", {"phone": party, "kind": "cold"})
    assert result["command"] == "transfer" and result["result"]["transfer_id"]
    transferred = await integrator.next("transferred", call_id=call_id)
    assert (transferred["kind"], transferred["to"]) == ("cold", party)
    await api.command(job["id"], "ida", "ready", {"outcome": "handed to the office"})
    await integrator.next("caller_ready", call_id=call_id)
    await far_end.hang_up(f"lead-{call_id}")  # the lead and the party talk on without the caller, then hang up
    ended = await integrator.next("hung_up", call_id=call_id)
    assert (ended["status"], ended["by"]) == ("completed", "lead")
    assert integrator.of_call(call_id) == ["dialing", "ringing", "answered", "connected", "transferred",
                                           "caller_ready", "hung_up"]


async def test_an_answering_machine_gets_the_jobs_voicemail(api, integrator, product, floor):
    recording = await add_recording(product.store, floor)
    job = await api.start_job(**job_params(integrator, "power", phone_number=[phone(MACHINE)], amd=True,
                                           voicemail_recording_id=recording))
    await api.add_caller(job["id"], "kim", phone="PJSIP/kim")
    answered = await integrator.next("answered")
    assert answered["by"] == "machine" and answered["caller_id"] == "kim"
    ended = await integrator.next("hung_up", call_id=answered["call_id"])
    assert (ended["status"], ended["by"]) == ("voicemail_left", "system")
    assert integrator.of_call(answered["call_id"]) == ["dialing", "ringing", "answered", "voicemail_left", "hung_up"]


async def test_removing_the_only_caller_leaves_an_answered_line_abandoned(api, integrator, product, far_end):
    slow = phone(PERSON)  # rings for 2 s: time to take the caller off
    await far_end.request("POST", "_sim/outcomes", outcome="human", number=slow.lstrip("+"), ring_seconds=40)
    job = await api.start_job(**job_params(integrator, "predictive", phone_number=[slow], ring_timeout=60))
    await api.add_caller(job["id"], "jo", phone="PJSIP/jo")
    ringing = await integrator.next("ringing")
    await api.ok("DELETE", f"/v1/call/{job['id']}/callers/jo", 204)  # nobody is left for the answer
    assert (await api.ok("GET", f"/v1/call/{job['id']}/callers/jo"))["state"] == "removed"
    ended = await integrator.next("hung_up", call_id=ringing["call_id"])
    assert (ended["status"], ended["by"]) == ("abandoned", "system")
    assert integrator.of_call(ringing["call_id"]) == ["dialing", "ringing", "answered", "abandoned", "hung_up"]
    assert (await integrator.next("caller_disconnected", caller_id="jo"))["reason"] == "kicked"
    report = await api.ok("GET", f"/v1/reports/{job['id']}")
    assert report["abandonment"]["last_24_hours"] == {"abandoned": 1, "human_answered": 1, "rate": 1.0}


async def test_removing_a_caller_mid_call_ends_the_call_cleanly(api, integrator, product):
    number = phone(PERSON)
    job = await api.start_job(**job_params(integrator, "power", phone_number=[number]))
    await api.add_caller(job["id"], "lou", phone="PJSIP/lou")
    call_id = (await integrator.next("connected", caller_id="lou"))["call_id"]
    await api.ok("DELETE", f"/v1/call/{job['id']}/callers/lou", 204)
    ended = await integrator.next("hung_up", call_id=call_id)
    assert (ended["status"], ended["by"]) == ("completed", "caller")
    assert (await integrator.next("caller_disconnected", caller_id="lou"))["reason"] == "kicked"

    async def settled() -> Household:
        while True:
            async with product.store.sessions() as session:
                household = await session.scalar(select(Household).where(Household.campaign_id == job["id"]))
            if household.status is not HouseholdStatus.DIALING:
                return household
            await asyncio.sleep(0.02)

    # Settled at once, the lead open for another try (nobody finished the call with them).
    assert (await asyncio.wait_for(settled(), 10)).status is HouseholdStatus.RETRY
    callers = await api.ok("GET", f"/v1/call/{job['id']}/callers")
    assert [(c["caller_id"], c["state"]) for c in callers["resources"]] == [("lou", "removed")]


async def test_a_caller_is_on_one_running_job_at_a_time(api, integrator):
    first = await api.start_job(**job_params(integrator, "preview", phone_number=[phone(PERSON)]))
    second = await api.start_job(**job_params(integrator, "preview", phone_number=[phone(PERSON)]))
    await api.add_caller(first["id"], "max", phone="PJSIP/max")
    status, body = await api.call("POST", f"/v1/call/{second['id']}/callers", json={"caller_id": "max"})
    assert status == 409 and body["error"]["id"] == "caller-in-another-job"
    assert "caller_id" in body["error"]["details"]["fields"] and body["error"]["details"]["job_id"] == first["id"]
    status, body = await api.call("POST", f"/v1/call/{first['id']}/callers", json={"caller_id": "max"})
    assert (status, body["error"]["id"]) == (409, "caller-active")
    await api.ok("DELETE", f"/v1/call/{first['id']}/callers/max", 204)
    added = await api.add_caller(second["id"], "max", phone="PJSIP/max")
    assert added["state"] == "connecting"
    await integrator.next("lead_presented", job_id=second["id"], caller_id="max")


async def test_callers_get_ready_by_themselves_after_wrap_up_seconds(api, integrator):
    job = await api.start_job(**job_params(integrator, "power", phone_number=[phone(SHORT_TALK), phone(BUSY)],
                                           wrap_up_seconds=1))
    await api.add_caller(job["id"], "ned", phone="PJSIP/ned")
    call_id = (await integrator.next("connected", caller_id="ned"))["call_id"]
    ready = await integrator.next("caller_ready", call_id=call_id)
    assert ready["outcome"] is None
    await integrator.next("hung_up", status="busy")  # the next number came after


async def test_another_accounts_job_is_not_found(api, integrator, product):
    other = await seed_account(product.store, "Other floor")
    theirs = CallApi(product.url, other.api_key, other.api_auth)
    job = await api.start_job(**job_params(integrator, "preview", phone_number=[phone(PERSON)]))
    await api.add_caller(job["id"], "oz", phone="PJSIP/oz")
    for method, path, body in (("GET", "", None), ("PATCH", "", {"name": "x"}), ("DELETE", "", None),
                               ("GET", "/callers", None), ("POST", "/callers", {"caller_id": "oz"}),
                               ("GET", "/callers/oz", None), ("POST", "/callers/oz/dial", {}),
                               ("DELETE", "/callers/oz", None)):
        status, answer = await theirs.call(method, f"/v1/call/{job['id']}{path}", json=body)
        assert (status, answer["error"]["id"]) == (404, "not-found"), (method, path)
    assert (await theirs.ok("GET", "/v1/call"))["total"] == 0
    assert (await api.job(job["id"]))["state"] == "running"
    assert (await api.ok("GET", f"/v1/call/{job['id']}/callers/oz"))["state"] != "removed"


@pytest.mark.postgres
@pytest.mark.redis
async def test_with_two_web_processes_and_an_engine_each_notification_is_written_once(
        tmp_path, postgres_url, redis_server, simulator, aiohttp_server, unused_port):
    await migrate.upgrade(postgres_url)
    store = Store(postgres_url)
    try:
        floor = await seed_account(store)
    finally:
        await store.close()
    integrator = await Integrator(floor.api_auth).start(aiohttp_server)
    env = {"REALTIME_DATABASE_URL": postgres_url, "REALTIME_REDIS_URL": redis_server.url,
           "REALTIME_ARI_URL": simulator.url, "REALTIME_ARI_USER": SIM_USER, "REALTIME_ARI_PASSWORD": SIM_PASSWORD,
           "REALTIME_SECRET_KEY": secrets.token_urlsafe(32), "REALTIME_DATA_DIR": str(tmp_path),
           "REALTIME_ALLOW_PRIVATE_URLS": "true"}
    processes = []
    try:
        for role in ("engine", "web", "web"):
            processes.append(await Serving.start(unused_port(), "--role", role, "--no-demo", env=env))
        first, second = (CallApi(f"http://127.0.0.1:{p.port}", floor.api_key, floor.api_auth) for p in processes[1:])
        job = await first.start_job(**job_params(integrator, "power", phone_number=[phone(SHORT_TALK), phone(BUSY)]))
        await second.add_caller(job["id"], "pat", phone="PJSIP/pat")
        call_id = (await integrator.next("connected", caller_id="pat"))["call_id"]
        await integrator.next("hung_up", call_id=call_id)
        await first.command(job["id"], "pat", "ready", {"outcome": "done"})
        await integrator.next("caller_disconnected", caller_id="pat")
        busy = (await integrator.next("hung_up", status="busy"))["call_id"]
        await integrator.next("caller_ready", call_id=call_id)
        # Written by the engine alone: once each, whichever web process took the commands.
        assert integrator.of_call(call_id) == TALKED and integrator.of_call(busy) == ["dialing", "hung_up"]
        assert integrator.of_caller("pat") == ["caller_connected", "caller_disconnected"]
        await second.ok("DELETE", f"/v1/call/{job['id']}", 204)
        await integrator.next("job_ended")
        assert integrator.of_job() == ["numbers_exhausted", "job_ended"]
        assert [n["sequence"] for n in integrator.received if n["call_id"] is None and n["caller_id"] is None] == [1, 2]
    finally:
        for process in processes:
            if process.proc.returncode is None:
                await process.stop()
