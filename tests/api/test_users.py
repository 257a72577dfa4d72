"""/v1/users: admins and supervisors; emails unique, passwords hashed, one admin always left."""
from __future__ import annotations

import uuid

from sqlalchemy import select

from realtime.store.models import User
from realtime.store.passwords import verify_password
from tests.api import samples


def email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.org"


async def test_create_read_update_delete(any_api):
    address = email()
    user = await any_api.post("/v1/users", {"email": address.upper(), "name": "Sue", "password": "s3cret-enough",
                                            "role": "supervisor"})
    assert (user["email"], user["role"], user["active"]) == (address, "supervisor", True)
    assert "password" not in user and "password_hash" not in user
    async with any_api.store.transaction() as session:
        stored = await session.scalar(select(User.password_hash).where(User.id == user["id"]))
    assert verify_password(stored, "s3cret-enough")

    changed = await any_api.patch(f"/v1/users/{user['id']}", {"role": "admin", "phone_endpoint": "+12125550001"})
    assert (changed["role"], changed["phone_endpoint"]) == ("admin", "+12125550001")
    assert await any_api.get(f"/v1/users/{user['id']}") == changed
    listed = await any_api.get("/v1/users", params={"role": "admin"})
    assert [u["id"] for u in listed["resources"]] == [user["id"]]

    await samples.user(any_api, role="admin")  # so this one is not the last admin
    await any_api.delete(f"/v1/users/{user['id']}")
    status, _, _ = await any_api.call("GET", f"/v1/users/{user['id']}")
    assert status == 404


async def test_an_email_has_one_log_in_across_accounts(any_api):
    address = email()
    await samples.user(any_api, email=address)
    for account in (any_api.alice, any_api.bob):
        status, body, _ = await any_api.call("POST", "/v1/users", as_=account, json={
            "email": address, "password": "s3cret-enough", "role": "admin"})
        assert (status, body["error"]["id"]) == (409, "email-taken")


async def test_the_last_active_admin_stays(api):
    admin = await samples.user(api, role="admin")
    for method, change in (("DELETE", None), ("PATCH", {"role": "supervisor"}), ("PATCH", {"active": False})):
        status, body, _ = await api.call(method, f"/v1/users/{admin['id']}", json=change)
        assert (status, body["error"]["id"]) == (409, "last-admin"), change
    second = await samples.user(api, role="admin")
    assert (await api.patch(f"/v1/users/{admin['id']}", {"active": False}))["active"] is False
    status, body, _ = await api.call("DELETE", f"/v1/users/{second['id']}")
    assert (status, body["error"]["id"]) == (409, "last-admin")


async def test_validation_names_every_bad_field(api):
    status, body, _ = await api.call("POST", "/v1/users", json={"email": "not-an-address", "password": "short",
                                                                "role": "owner", "is_root": True})
    assert status == 422
    assert body["error"]["details"]["fields"] == {
        "email": "must be an email address", "password": "must be at least 8 characters",
        "role": "must be one of admin, supervisor", "is_root": "unknown field",
    }
