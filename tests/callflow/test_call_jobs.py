"""Call-API jobs end to end: ``realtime serve`` on the ARI simulator, the integrator's server
(a real aiohttp server) receiving the call-state notifications and serving numbers, and
the integrator driving their callers over REST."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from realtime import app_keys
from realtime.store.models import CallAttempt, CallStatus, Household, HouseholdStatus
from tests.channels.conftest import Product, start_product
from tests.channels.floor import BUSY, MACHINE, NO_ANSWER, PERSON, SHORT_TALK, phone

from .integrator import CallApi, Integrator

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
    await running.server.close()


@pytest.fixture
async def integrator(aiohttp_server, floor) -> Integrator:
    return await Integrator(floor.api_auth).start(aiohttp_server)


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
    for call_id in talked:  # a call's last notification may still be on its way (subjects go side by side)
        await integrator.next("caller_ready", call_id=call_id)
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
