"""/v1/users: the account's admins and supervisors (they log in to the consoles by email).

Emails are unique across all accounts (a log-in names one person); passwords are
write-only and stored as argon2 hashes. The last active admin cannot be removed. A new
password, a new role, deactivation or deletion ends the user's sessions.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import func, select

from realtime.api.auth import end_sessions
from realtime.api.errors import Conflict
from realtime.api.routing import Context, Resource
from realtime.api.validation import CREATED_AT, ID, Field, Schema
from realtime.store.accounts import normalize_email
from realtime.store.models import User, UserRole
from realtime.store.passwords import hash_password
from realtime.store.scoping import scoped

logger = logging.getLogger(__name__)


def check_email(value: str) -> str | None:
    local, at, domain = value.strip().rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in value.strip()):
        return "must be an email address"
    return None


SCHEMA = Schema("user", (
    ID,
    Field("email", "string", "The log-in; unique", required=True, max_length=254, check=check_email),
    Field("name", "string", max_length=200),
    Field("password", "string", "Write-only; at least 8 characters", required=True, write_only=True,
          min_length=8, max_length=200),
    Field("role", "string", "admin: everything; supervisor: the live console", required=True, enum=UserRole),
    Field("phone_endpoint", "string", "Where to call a supervisor who listens in", nullable=True,
          max_length=200),
    Field("active", "boolean", "Inactive users cannot log in"),
    CREATED_AT,
))

FILTERS = (Field("role", "string", enum=UserRole), Field("active", "boolean"),
           Field("email", "string", max_length=254))

resource = Resource("users", SCHEMA, "Users: admins and supervisors")


def present(ctx: Context, user: User) -> dict[str, Any]:
    return ctx.item(user.id, SCHEMA.dump(user))


async def apply(ctx: Context, user: User, values: dict[str, Any]) -> None:
    if "email" in values:
        values["email"] = normalize_email(values["email"])
        if values["email"] != user.email:
            taken = await ctx.session.scalar(select(User.id).where(User.email == values["email"]))
            if taken is not None:
                raise Conflict(f"{values['email']} already has a log-in", error_id="email-taken",
                               details={"fields": {"email": "taken"}})
    password = values.pop("password", None)
    if user.id is not None and (values.get("role", user.role) != UserRole.ADMIN or values.get("active") is False):
        await refuse_last_admin(ctx, user)
    # What the sessions were granted on has changed: every one ends at once.
    ends_sessions = user.id is not None and (
        password is not None or values.get("active") is False or values.get("role", user.role) != user.role)
    for name, value in values.items():
        setattr(user, name, value)
    if password is not None:
        user.password_hash = await asyncio.to_thread(hash_password, password)
    if ends_sessions:
        await end_sessions(ctx, "user", user.id)


async def refuse_last_admin(ctx: Context, user: User) -> None:
    if user.role != UserRole.ADMIN or not user.active:
        return
    admins = await ctx.session.scalar(select(func.count()).where(
        User.account_id == ctx.account_id, User.role == UserRole.ADMIN, User.active.is_(True)))
    if admins <= 1:
        raise Conflict("the account's last active admin cannot be removed or demoted", error_id="last-admin")


@resource.list(filters=FILTERS)
async def list_users(ctx: Context) -> dict[str, Any]:
    query = scoped(User, ctx.account_id).order_by(User.id)
    for name in ("role", "active"):
        if name in ctx.params:
            query = query.where(getattr(User, name) == ctx.params[name])
    if "email" in ctx.params:
        query = query.where(User.email == normalize_email(ctx.params["email"]))
    return await ctx.page(query, lambda u: present(ctx, u))


@resource.create()
async def create_user(ctx: Context) -> dict[str, Any]:
    user = User(account_id=ctx.account_id, active=True)
    await apply(ctx, user, dict(ctx.body))
    ctx.session.add(user)
    await ctx.session.flush()
    return present(ctx, user)


@resource.read()
async def read_user(ctx: Context) -> dict[str, Any]:
    return present(ctx, await ctx.find(User))


@resource.update()
async def update_user(ctx: Context) -> dict[str, Any]:
    user = await ctx.find(User)
    await apply(ctx, user, dict(ctx.body))
    await ctx.session.flush()
    return present(ctx, user)


@resource.delete(summary="Delete a user; refused (409) for the last active admin")
async def delete_user(ctx: Context) -> None:
    user = await ctx.find(User)
    await refuse_last_admin(ctx, user)
    await end_sessions(ctx, "user", user.id)
    await ctx.session.delete(user)
