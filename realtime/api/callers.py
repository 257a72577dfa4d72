"""/v1/callers: the people who make the calls, from a browser or from a phone only.

Web callers log in with username and password; phones-only callers dial in and identify
with their PIN, generated here and unique in the account. Usernames are unique across all
accounts, as the sign-in takes the username alone. Passwords are write-only and stored as
argon2 hashes; a new password, deactivation or deletion ends the caller's sessions.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import select

from realtime.api.auth import end_sessions
from realtime.api.errors import Conflict, Invalid
from realtime.api.routing import Context, Resource
from realtime.api.validation import CREATED_AT, ID, Field, Schema
from realtime.store.models import Caller, CallerGroup, Campaign
from realtime.store.passwords import hash_password, unique_pin
from realtime.store.scoping import scoped

logger = logging.getLogger(__name__)

PASSWORD = Field("password", "string", "Write-only; at least 8 characters. Web callers need one",
                 write_only=True, min_length=8, max_length=200)

SCHEMA = Schema("caller", (
    ID,
    Field("name", "string", max_length=200),
    Field("username", "string", "The sign-in; unique across all accounts", required=True, min_length=1,
          max_length=200),
    PASSWORD,
    Field("phones_only", "boolean", "Calls from a phone only, identified by PIN; no browser log-in"),
    Field("pin", "string", "Generated, unique in the account: phones-only callers dial in with it",
          read_only=True),
    Field("phone_endpoint", "string", "Where to call the caller, e.g. a phone number", nullable=True,
          max_length=200),
    Field("active", "boolean"),
    Field("campaign_id", "id", "The campaign the caller works on", nullable=True),
    Field("caller_group_id", "id", "Joining a group puts the caller on the group's campaign",
          nullable=True),
    CREATED_AT,
))

FILTERS = (
    Field("campaign_id", "id"),
    Field("caller_group_id", "id"),
    Field("username", "string", max_length=200),
    Field("active", "boolean"),
    Field("phones_only", "boolean"),
)

resource = Resource("callers", SCHEMA, "Callers: web (username and password) and phones-only (PIN)")


def present(ctx: Context, caller: Caller) -> dict[str, Any]:
    return ctx.item(caller.id, SCHEMA.dump(caller))


async def apply(ctx: Context, caller: Caller, values: dict[str, Any]) -> None:
    """Check and set ``values`` on ``caller`` (new or not): references, username, password."""
    await ctx.check_owned({
        "campaign_id": (Campaign, values.get("campaign_id")),
        "caller_group_id": (CallerGroup, values.get("caller_group_id")),
    })
    username = values.get("username")
    if username is not None and username != caller.username:
        # Across accounts, not scoped: /login takes the username alone, so it names one caller.
        taken = await ctx.session.scalar(select(Caller.id).where(Caller.username == username))
        if taken is not None:
            raise Conflict(f"the username {username!r} is taken; usernames are unique across all accounts",
                           error_id="username-taken", details={"fields": {"username": "taken"}})
    phones_only = values.get("phones_only", caller.phones_only)
    # A new password, deactivation or losing the browser log-in ends every session at once.
    ends_sessions = caller.id is not None and (
        "password" in values or values.get("active") is False or (phones_only and not caller.phones_only))
    password = values.pop("password", None)
    if phones_only and password is not None:
        raise Invalid.fields({"password": "phones-only callers log in with their PIN, not a password"})
    if not phones_only and password is None and caller.password_hash is None:
        raise Invalid.fields({"password": "required for web callers (or set phones_only)"})
    if values.get("caller_group_id") is not None and "campaign_id" not in values:
        group = await ctx.find(CallerGroup, values["caller_group_id"])
        values["campaign_id"] = group.campaign_id
    for name, value in values.items():
        setattr(caller, name, value)
    if password is not None:
        caller.password_hash = await asyncio.to_thread(hash_password, password)
    if phones_only:
        caller.password_hash = None  # nothing to log in with from a browser
    if ends_sessions:
        await end_sessions(ctx, "caller", caller.id)


@resource.list(filters=FILTERS)
async def list_callers(ctx: Context) -> dict[str, Any]:
    query = scoped(Caller, ctx.account_id).order_by(Caller.id)
    for name in ("campaign_id", "caller_group_id", "username", "active", "phones_only"):
        if name in ctx.params:
            query = query.where(getattr(Caller, name) == ctx.params[name])
    return await ctx.page(query, lambda c: present(ctx, c))


@resource.create()
async def create_caller(ctx: Context) -> dict[str, Any]:
    caller = Caller(account_id=ctx.account_id, phones_only=False, password_hash=None, username="")
    await apply(ctx, caller, dict(ctx.body))
    caller.pin = await unique_pin(ctx.session, ctx.account_id)
    ctx.session.add(caller)
    await ctx.session.flush()
    return present(ctx, caller)


@resource.read()
async def read_caller(ctx: Context) -> dict[str, Any]:
    return present(ctx, await ctx.find(Caller))


@resource.update()
async def update_caller(ctx: Context) -> dict[str, Any]:
    caller = await ctx.find(Caller)
    await apply(ctx, caller, dict(ctx.body))
    await ctx.session.flush()
    return present(ctx, caller)


@resource.delete(summary="Delete a caller (their call history stays, without them)")
async def delete_caller(ctx: Context) -> None:
    caller = await ctx.find(Caller)
    await end_sessions(ctx, "caller", caller.id)
    await ctx.session.delete(caller)
