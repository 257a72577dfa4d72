"""/v1/callers: web and phones-only callers, PINs, passwords, usernames."""
from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import select

from realtime.store.models import Caller
from realtime.store.passwords import verify_password
from tests.api import samples


def unique(name: str) -> str:
    """A username no other test takes: usernames are unique across every account in the database."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


async def password_hash(api, caller_id: int) -> str | None:
    async with api.store.transaction() as session:
        return await session.scalar(select(Caller.password_hash).where(Caller.id == caller_id))


async def test_a_web_caller_has_a_hashed_write_only_password_and_a_pin(any_api):
    campaign = await samples.campaign(any_api)
    caller = await any_api.post("/v1/callers", {"name": "Ann", "username": unique("ann"), "password": "correct horse",
                                                "campaign_id": campaign["id"]})
    assert "password" not in caller and "password_hash" not in caller
    assert caller["pin"].isdigit() and len(caller["pin"]) == 6
    assert caller["phones_only"] is False and caller["campaign_id"] == campaign["id"]
    stored = await password_hash(any_api, caller["id"])
    assert stored != "correct horse" and verify_password(stored, "correct horse")

    changed = await any_api.patch(f"/v1/callers/{caller['id']}", {"password": "battery staple", "name": "Ann B."})
    assert changed["name"] == "Ann B." and changed["pin"] == caller["pin"]
    assert verify_password(await password_hash(any_api, caller["id"]), "battery staple")

    await any_api.delete(f"/v1/callers/{caller['id']}")
    status, _, _ = await any_api.call("GET", f"/v1/callers/{caller['id']}")
    assert status == 404


async def test_phones_only_callers_have_no_password(api):
    caller = await api.post("/v1/callers", {"username": unique("phoney"), "phones_only": True})
    assert caller["phones_only"] is True and caller["pin"]
    assert await password_hash(api, caller["id"]) is None

    status, body, _ = await api.call("PATCH", f"/v1/callers/{caller['id']}", json={"phones_only": False})
    assert status == 422
    assert body["error"]["details"]["fields"] == {"password": "required for web callers (or set phones_only)"}
    status, body, _ = await api.call("POST", "/v1/callers", json={"username": unique("x"), "phones_only": True,
                                                                  "password": "long enough"})
    assert status == 422 and "password" in body["error"]["details"]["fields"]

    web = await api.patch(f"/v1/callers/{caller['id']}", {"phones_only": False, "password": "now on the web"})
    assert web["phones_only"] is False
    assert verify_password(await password_hash(api, caller["id"]), "now on the web")


async def test_pins_are_unique_in_the_account(api):
    pins = [(await samples.caller(api))["pin"] for _ in range(12)]
    assert len(set(pins)) == len(pins)


async def test_usernames_are_unique_across_accounts_as_the_sign_in_names_the_caller(any_api):
    sam, max_ = unique("sam"), unique("max")
    first = await any_api.post("/v1/callers", {"username": sam, "password": "long enough"})
    for account in (any_api.alice, any_api.bob):  # /login takes the username alone
        status, body, _ = await any_api.call("POST", "/v1/callers", as_=account,
                                             json={"username": sam, "password": "long enough"})
        assert status == 409 and body["error"]["id"] == "username-taken"
        assert body["error"]["details"] == {"fields": {"username": "taken"}}
    second = await any_api.post("/v1/callers", {"username": max_, "password": "long enough"}, as_=any_api.bob)
    status, body, _ = await any_api.call("PATCH", f"/v1/callers/{second['id']}", json={"username": sam},
                                         as_=any_api.bob)
    assert status == 409 and body["error"]["id"] == "username-taken"
    assert (await any_api.patch(f"/v1/callers/{first['id']}", {"username": sam}))["username"] == sam


async def test_validation_names_every_bad_field(api):
    status, body, _ = await api.call("POST", "/v1/callers", json={"password": "short", "active": 1, "pin": "1234"})
    assert status == 422
    assert body["error"]["details"]["fields"] == {
        "username": "required", "password": "must be at least 8 characters", "active": "must be true or false",
        "pin": "read-only field",
    }


async def test_joining_a_group_takes_its_campaign_and_filters(api):
    campaign = await samples.campaign(api)
    group = await samples.caller_group(api, campaign_id=campaign["id"])
    grouped = await samples.caller(api, caller_group_id=group["id"])
    loner = await samples.caller(api, active=False)
    assert grouped["campaign_id"] == campaign["id"]

    async def ids(**params):
        return [c["id"] for c in (await api.get("/v1/callers", params=params))["resources"]]

    assert await ids(caller_group_id=str(group["id"])) == [grouped["id"]]
    assert await ids(campaign_id=str(campaign["id"])) == [grouped["id"]]
    assert await ids(active="false") == [loner["id"]]
    assert await ids(username=loner["username"]) == [loner["id"]]


async def test_simultaneous_creates_of_one_username_make_one_caller(any_api):
    body = {"username": unique("twin"), "password": "long enough"}
    results = await asyncio.gather(*(any_api.call("POST", "/v1/callers", json=body, as_=account)
                                     for account in (any_api.alice, any_api.bob, any_api.alice, any_api.bob)))
    assert sorted(status for status, _, _ in results) == [201, 409, 409, 409]
    listed = [await any_api.get("/v1/callers", params={"username": body["username"]}, as_=account)
              for account in (any_api.alice, any_api.bob)]
    assert sum(page["total"] for page in listed) == 1


async def test_simultaneous_writes_all_land(any_api):
    results = await asyncio.gather(*(samples.caller(any_api) for _ in range(6)))
    assert len({caller["pin"] for caller in results}) == 6
    assert (await any_api.get("/v1/callers"))["total"] == 6
