"""/v1/call_recordings/{id} in a web-only process: the audio read from the PBX through the
process's own ARI client, and every way it can be missing."""
from __future__ import annotations

import pytest

from realtime.store.models import CallAttempt, CallStatus, Campaign, DialerMode, Household
from realtime.store.types import utcnow
from realtime.telephony.sim import SimConfig, start_simulator


@pytest.fixture
async def pbx():
    simulator = await start_simulator(SimConfig(user="ari", password="ari", speed=100.0))
    yield simulator
    await simulator.close()


async def call_attempt(api, *, recorded: bool, call_id: str = "c0ffee") -> int:
    account_id = api.alice.account_id
    async with api.store.transaction() as session:
        campaign = Campaign(account_id=account_id, name="Calls", dialer_mode=DialerMode.POWER)
        session.add(campaign)
        await session.flush()
        household = Household(account_id=account_id, campaign_id=campaign.id, phone="+12125550100", position=0)
        session.add(household)
        await session.flush()
        attempt = CallAttempt(account_id=account_id, campaign_id=campaign.id, household_id=household.id,
                              dialer_mode="power", status=CallStatus.COMPLETED, channel_id=f"lead-{call_id}",
                              dialed_at=utcnow())
        session.add(attempt)
        await session.flush()
        if recorded:
            attempt.recording_url = f"/v1/call_recordings/{attempt.id}"
        return attempt.id


async def stored_on_the_pbx(pbx, name: str, seconds: int) -> None:
    """Record a bridge on the simulator for ``seconds`` (its clock: no wait), as the engine does."""
    from realtime.telephony.ari import AriClient
    from realtime.telephony.ari.events import RecordingFinished

    async with AriClient(pbx.url, "ari", "ari", "impactdialing") as client:
        await client.create_bridge("conf-test")
        finished = client.wait_for(lambda e: isinstance(e, RecordingFinished), 5.0)
        await client.subscribe("bridge:conf-test")
        await client.record_bridge("conf-test", name, max_duration_seconds=seconds)
        await finished


async def test_a_web_process_streams_the_audio_from_the_pbx(make_api, migrated_sqlite_url, pbx):
    api = await make_api(migrated_sqlite_url, role="web", ari_url=pbx.url, ari_user="ari", ari_password="ari")
    attempt_id = await call_attempt(api, recorded=True)
    await stored_on_the_pbx(pbx, "call-c0ffee", 1)

    status, audio, response = await api.call("GET", f"/v1/call_recordings/{attempt_id}")
    assert (status, response.content_type) == (200, "audio/wav")
    assert audio[:4] == b"RIFF" and len(audio) == 44 + 2 * 8000 == int(response.headers["Content-Length"])
    async with api.client.head(f"/v1/call_recordings/{attempt_id}", headers=api.alice.headers) as head:
        assert (head.status, head.headers["Content-Length"], await head.read()) == (200, str(len(audio)), b"")

    status, body, _ = await api.call("GET", f"/v1/call_recordings/{attempt_id}", as_=api.bob)
    assert (status, body["error"]["id"]) == (404, "not-found")


async def test_what_cannot_be_served_says_why(make_api, migrated_sqlite_url, pbx):
    api = await make_api(migrated_sqlite_url, role="web", ari_url=pbx.url, ari_user="ari", ari_password="ari")
    unrecorded = await call_attempt(api, recorded=False, call_id="a1")
    gone = await call_attempt(api, recorded=True, call_id="b2")  # recorded, deleted on the PBX since
    for path, status, error_id in ((f"/v1/call_recordings/{unrecorded}", 404, "not-recorded"),
                                   (f"/v1/call_recordings/{gone}", 404, "recording-missing"),
                                   ("/v1/call_recordings/999999", 404, "not-found"),
                                   ("/v1/call_recordings/0", 404, "not-found")):
        answer, body, _ = await api.call("GET", path)
        assert (answer, body["error"]["id"]) == (status, error_id), path
    status, _, _ = await api.call("GET", "/v1/call_recordings/abc")
    assert status == 404

    # A process that can reach no PBX (the built-in simulator lives in the engine process).
    alone = await make_api(migrated_sqlite_url)
    attempt_id = await call_attempt(alone, recorded=True, call_id="d4")
    status, body, _ = await alone.call("GET", f"/v1/call_recordings/{attempt_id}")
    assert (status, body["error"]["id"]) == (503, "engine-unavailable")
