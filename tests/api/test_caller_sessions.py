"""/v1/caller_sessions: live and recent sessions, filters, another account's never seen, and a
kick refused cleanly where no engine answers (the live kick is in tests/channels/test_monitor.py)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from realtime.store.models import CallerSession, CallerSessionStatus, SupervisorAction
from realtime.store.types import utcnow
from tests.api import samples


async def session_row(api, caller_id: int, campaign_id: int, status: CallerSessionStatus, *,
                      started: dt.timedelta = dt.timedelta(minutes=5), as_=None) -> int:
    account_id = (as_ or api.alice).account_id
    started_at = utcnow() - started
    async with api.store.transaction() as db:
        row = CallerSession(account_id=account_id, caller_id=caller_id, campaign_id=campaign_id, status=status,
                            started_at=started_at, state_since=started_at,
                            ended_at=started_at + dt.timedelta(minutes=1) if status is CallerSessionStatus.ENDED
                            else None, end_reason="stopped" if status is CallerSessionStatus.ENDED else None)
        db.add(row)
        await db.flush()
        return row.id


async def test_live_and_recent_sessions_newest_first_with_their_state_as_callers_say_it(api):
    campaign = await samples.campaign(api)
    caller = await samples.caller(api, campaign_id=campaign["id"])
    on_call = await session_row(api, caller["id"], campaign["id"], CallerSessionStatus.ON_CALL)
    ended = await session_row(api, caller["id"], campaign["id"], CallerSessionStatus.ENDED)
    old = await session_row(api, caller["id"], campaign["id"], CallerSessionStatus.ENDED, started=dt.timedelta(days=2))
    listed = await api.get("/v1/caller_sessions")
    assert [r["id"] for r in listed["resources"]] == [ended, on_call]  # the two-day-old one is not recent
    live = listed["resources"][1]
    assert (live["state"], live["live"], live["caller_id"], live["end_reason"]) == ("on_call", True, caller["id"], None)
    assert listed["resources"][0]["state"] == "ended" and listed["resources"][0]["end_reason"] == "stopped"
    assert {a["name"] for a in live["actions"]} == {"delete"}
    assert (await api.get(f"/v1/caller_sessions/{old}"))["live"] is False  # read by id, however old

    assert [r["id"] for r in (await api.get("/v1/caller_sessions?state=on_call"))["resources"]] == [on_call]
    assert [r["id"] for r in (await api.get("/v1/caller_sessions?live=false"))["resources"]] == [ended]
    assert (await api.get(f"/v1/caller_sessions?campaign_id={campaign['id'] + 1000}"))["total"] == 0
    status, body, _ = await api.call("GET", "/v1/caller_sessions?state=chatting")
    assert (status, body["error"]["id"]) == (400, "invalid-parameters")


async def test_another_accounts_sessions_are_not_found_and_a_kick_of_one_changes_nothing(api):
    campaign = await samples.campaign(api, as_=api.bob)
    caller = await samples.caller(api, as_=api.bob, campaign_id=campaign["id"])
    theirs = await session_row(api, caller["id"], campaign["id"], CallerSessionStatus.ON_HOLD, as_=api.bob)
    assert (await api.get("/v1/caller_sessions"))["total"] == 0
    for method in ("GET", "DELETE"):
        status, body, _ = await api.call(method, f"/v1/caller_sessions/{theirs}")
        assert (status, body["error"]["id"]) == (404, "not-found")
    async with api.store.sessions() as db:
        assert (await db.get(CallerSession, theirs)).status is CallerSessionStatus.ON_HOLD
        assert list(await db.scalars(select(SupervisorAction))) == []


async def test_a_kick_with_no_engine_to_ask_is_refused_and_changes_nothing(api):
    campaign = await samples.campaign(api)
    caller = await samples.caller(api, campaign_id=campaign["id"])
    mine = await session_row(api, caller["id"], campaign["id"], CallerSessionStatus.ON_HOLD)
    status, body, _ = await api.call("DELETE", f"/v1/caller_sessions/{mine}")
    # This test app runs the REST API alone: no engine to ask.
    assert (status, body["error"]["id"]) == (503, "engine-unavailable")
    assert (await api.get(f"/v1/caller_sessions/{mine}"))["state"] == "on_hold"
