"""The telephony facade: starting on the built-in simulator or a configured ARI server,
health, and rebuilding call state after a websocket drop, a simulator restart, or a
restart of our own process (roles read back from channel variables)."""
from __future__ import annotations

import asyncio

import pytest

from realtime.config import Settings
from realtime.health import Status
from realtime.telephony import (
    Conference,
    EndedBy,
    LeadLeg,
    Resync,
    Role,
    Telephony,
    Verdict,
    dial_lead,
    start_telephony,
)
from realtime.telephony.ari import AriClient, TelephonyUnavailable

WAIT = 5.0


def settings(**values) -> Settings:
    values.setdefault("sim_outcomes", "deterministic")
    values.setdefault("sim_speed", 50.0)
    return Settings(secret_key="s" * 32, **values)


async def test_start_telephony_runs_the_built_in_simulator_when_no_ari_url():
    telephony = await start_telephony(settings(), sim_control=True)
    try:
        assert telephony.health().status is Status.UP
        assert telephony.simulator is not None and telephony.app == "impactdialing"
        lead = await dial_lead(telephony, call_id="c1", campaign_id="1", number="+15555550163", amd=True)
        assert await asyncio.wait_for(lead.answered, WAIT) is Verdict.MACHINE  # AMD context wired
        await lead.hangup()
    finally:
        await telephony.close()
    assert telephony.health().status is Status.DOWN


async def test_start_telephony_connects_to_a_configured_ari_server(pbx):
    telephony = await start_telephony(settings(ari_url=pbx.url, ari_password="secret", ari_app="other"))
    try:
        assert telephony.simulator is None
        await telephony.wait_ready(WAIT)  # connects in the background: Asterisk may start later
        conference = await Conference.open(telephony, "s1", "1", "PJSIP/agent101")
        await conference.close()
    finally:
        await telephony.close()


async def test_websocket_drop_keeps_live_calls_and_ends_the_lost_ones(telephony, pbx, far_end):
    conference = await Conference.open(telephony, "s1", "camp-7", "PJSIP/agent101")
    lead = await dial_lead(telephony, call_id="c1", campaign_id="camp-7", number="+15555550101")
    await asyncio.wait_for(lead.answered, WAIT)
    await lead.connect_to(conference)
    resynced: asyncio.Future[Resync] = asyncio.get_running_loop().create_future()
    telephony.on_resync(lambda report: resynced.done() or resynced.set_result(report))

    def hang_up_lead_while_disconnected(health) -> None:
        # Runs inline when the client sees the socket close, before it reconnects.
        if health.status is Status.DOWN and lead.id in pbx.pbx.channels:
            pbx.pbx.far_hangup(pbx.pbx.channels[lead.id], 16)

    telephony.client.on_health_change(hang_up_lead_while_disconnected)
    await far_end.drop_websockets()
    report = await asyncio.wait_for(resynced, WAIT)
    assert [leg.id for leg in report.kept] == [conference.caller.id]
    assert [leg.id for leg in report.lost] == [lead.id]
    end = await lead.wait_ended(WAIT)
    assert (end.by, end.answered) == (EndedBy.LOST, True)
    assert not conference.caller.ended.done() and not conference.closed.done()
    # Events flow again: the conference still works.
    await conference.wait_alone(WAIT)
    await far_end.hang_up(conference.caller.id)
    assert (await conference.wait_caller_gone(WAIT)).by is EndedBy.FAR_END
    await conference.close()


async def test_simulator_restart_ends_every_call_as_lost(telephony, far_end):
    conference = await Conference.open(telephony, "s1", "camp-7", "PJSIP/agent101")
    lead = await dial_lead(telephony, call_id="c1", campaign_id="camp-7", number="+15555550101")
    await asyncio.wait_for(lead.answered, WAIT)
    await lead.connect_to(conference)
    ringing = await dial_lead(telephony, call_id="c2", campaign_id="camp-7", number="+15555550181")
    await asyncio.wait_for(ringing.ringing, WAIT)
    resynced: asyncio.Future[Resync] = asyncio.get_running_loop().create_future()
    telephony.on_resync(lambda report: resynced.done() or resynced.set_result(report))

    await far_end.restart()
    report = await asyncio.wait_for(resynced, WAIT)
    assert report.kept == ()
    assert {leg.id for leg in report.lost} == {conference.caller.id, lead.id, ringing.id}
    assert (await lead.wait_ended(WAIT)).by is EndedBy.LOST
    assert (await conference.wait_caller_gone(WAIT)).by is EndedBy.LOST
    assert (await ringing.wait_ended(WAIT)).failure == "lost"
    assert await asyncio.wait_for(conference.closed, WAIT) == "lost"
    assert telephony.health().status is Status.UP
    # And new calls work on the restarted PBX.
    again = await Conference.open(telephony, "s1", "camp-7", "PJSIP/agent101")
    await again.close()


async def test_survey_reads_roles_back_from_live_channels(telephony):
    conference = await Conference.open(telephony, "s1", "camp-7", "PJSIP/agent101")
    lead = await dial_lead(telephony, call_id="c1", campaign_id="camp-7", number="+15555550101")
    await asyncio.wait_for(lead.answered, WAIT)
    await lead.connect_to(conference)
    await telephony.client.originate("PJSIP/agent300", channel_id="not-ours")

    found = {live.channel.id: live for live in await telephony.survey()}
    assert set(found) == {conference.caller.id, lead.id}
    assert found[lead.id].role.role is Role.LEAD
    assert (found[lead.id].role.session_id, found[lead.id].role.call_id) == ("s1", "c1")
    assert found[conference.caller.id].role.role is Role.CALLER
    assert found[lead.id].bridge_id == found[conference.caller.id].bridge_id == "conf-s1"
    await conference.close()


async def test_a_restarted_engine_takes_its_calls_back_from_asterisk(telephony, pbx, far_end, pbx_state):
    conference = await Conference.open(telephony, "s1", "camp-7", "PJSIP/agent101")
    lead = await dial_lead(telephony, call_id="c1", campaign_id="camp-7", number="+15555550101")
    await asyncio.wait_for(lead.answered, WAIT)
    await lead.connect_to(conference)
    await telephony.close()  # our process goes; the calls stay up in Asterisk

    client = AriClient(pbx.url, "ari", "secret", "impactdialing", reconnect_backoff=(0.01, 0.1))
    await client.connect()
    engine = Telephony(client, amd_context="impactdialing-amd")
    try:
        found = {live.role.role: live for live in await engine.survey()}
        recovered = await Conference.recover(engine, found[Role.CALLER])
        assert recovered.members == {found[Role.CALLER].channel.id, found[Role.LEAD].channel.id}
        again = await LeadLeg.adopt(engine, found[Role.LEAD].channel.id, found[Role.LEAD].role,
                                    bridge_id="conf-s1", label=False)
        assert await asyncio.wait_for(again.answered, WAIT) is Verdict.HUMAN
        await far_end.hang_up(again.id)
        assert (await again.wait_ended(WAIT)).by is EndedBy.FAR_END
        await recovered.wait_alone(WAIT)
        assert pbx_state.moh_playing("conf-s1")
        await recovered.close()
        assert await engine.client.list_channels() == []
    finally:
        await engine.close()


async def test_unreachable_asterisk_is_reported_not_hidden(unused_port):
    telephony = await start_telephony(settings(ari_url=f"http://127.0.0.1:{unused_port()}/ari"))
    try:
        assert telephony.health().status is not Status.UP
        with pytest.raises(TelephonyUnavailable):
            await dial_lead(telephony, call_id="c1", campaign_id="1", number="+15555550101")
        with pytest.raises(TelephonyUnavailable):
            await Conference.open(telephony, "s1", "1", "PJSIP/agent101")
    finally:
        await telephony.close()
