"""/v1/supervisor_actions: the audit log, oldest first and paged by key, filtered by user, session and time,
and never another account's (the entries themselves are written by the live tests in
tests/channels/test_monitor.py)."""
from __future__ import annotations

import datetime as dt

from realtime.store.models import SupervisorAction, User, UserRole
from realtime.store.types import utcnow


async def entries(api, as_=None) -> tuple[int, list[int]]:
    """A supervisor of the account and three entries of theirs (oldest first)."""
    account_id = (as_ or api.alice).account_id
    now = utcnow()
    async with api.store.transaction() as db:
        user = User(account_id=account_id, email=f"sup{account_id}@example.com", password_hash="x",
                    role=UserRole.SUPERVISOR)
        db.add(user)
        await db.flush()
        rows = [
            SupervisorAction(account_id=account_id, user_id=user.id, action="monitor",
                             details={"session_id": 9, "mode": "listen", "outcome": "ok"}, at=now - dt.timedelta(days=2)),
            SupervisorAction(account_id=account_id, user_id=user.id, action="kick",
                             details={"session_id": 99, "outcome": "refused",
                                      "error": {"id": "no-such-session", "message": "There is no such caller session."}},
                             at=now - dt.timedelta(hours=1)),
            SupervisorAction(account_id=account_id, user_id=None, action="kick",
                             details={"session_id": 9, "outcome": "ok", "actor": "api_key"}, at=now),
        ]
        db.add_all(rows)
        await db.flush()
        return user.id, [row.id for row in rows]


async def test_the_log_reads_oldest_first_with_outcomes_and_actors(api):
    user_id, (monitor, refused, kick) = await entries(api)
    listed = await api.get("/v1/supervisor_actions")
    assert [r["id"] for r in listed["resources"]] == [monitor, refused, kick]
    second = await api.get(f"/v1/supervisor_actions?limit=1&after={monitor}")
    assert [r["id"] for r in second["resources"]] == [refused] and second["next_page"]
    by_id = {r["id"]: r for r in listed["resources"]}
    assert (by_id[kick]["actor"], by_id[kick]["user_id"], by_id[kick]["outcome"]) == ("api_key", None, "ok")
    assert by_id[refused]["error"] == {"id": "no-such-session", "message": "There is no such caller session."}
    assert by_id[refused]["details"] == {"session_id": 99} and by_id[refused]["outcome"] == "refused"
    assert by_id[monitor]["details"] == {"session_id": 9, "mode": "listen"} and by_id[monitor]["actor"] == "user"
    assert (await api.get(f"/v1/supervisor_actions/{monitor}"))["action"] == "monitor"


async def test_filters_by_user_action_and_time(api):
    user_id, (monitor, refused, kick) = await entries(api)
    assert [r["id"] for r in (await api.get(f"/v1/supervisor_actions?user_id={user_id}"))["resources"]] == [
        monitor, refused]
    assert [r["id"] for r in (await api.get("/v1/supervisor_actions?action=kick"))["resources"]] == [refused, kick]
    yesterday = (utcnow() - dt.timedelta(days=1)).date().isoformat()
    since = await api.get(f"/v1/supervisor_actions?since={yesterday}")
    assert monitor not in [r["id"] for r in since["resources"]] and kick in [r["id"] for r in since["resources"]]
    until = (utcnow() - dt.timedelta(minutes=30)).isoformat().replace("+00:00", "Z")
    assert [r["id"] for r in (await api.get("/v1/supervisor_actions", params={"until": until}))["resources"]] == [
        monitor, refused]
    status, body, _ = await api.call("GET", "/v1/supervisor_actions?since=yesterday")
    assert (status, body["error"]["details"]["parameters"]) == (400, {"since": "must be an ISO 8601 date or time"})


async def test_another_accounts_log_is_never_seen(api):
    _, theirs = await entries(api, as_=api.bob)
    assert (await api.get("/v1/supervisor_actions"))["total"] == 0
    status, body, _ = await api.call("GET", f"/v1/supervisor_actions/{theirs[0]}")
    assert (status, body["error"]["id"]) == (404, "not-found")
