"""/v1/caller_groups: callers moved between campaigns together.

Changing a group's campaign moves every caller of the group to it, in the same
transaction.
"""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, select, update

from realtime.api.routing import Context, Resource
from realtime.api.validation import CREATED_AT, ID, Field, Schema
from realtime.store.models import Caller, CallerGroup, Campaign
from realtime.store.scoping import scoped

logger = logging.getLogger(__name__)

SCHEMA = Schema("caller group", (
    ID,
    Field("name", "string", required=True, min_length=1, max_length=200),
    Field("campaign_id", "id", "The campaign of every caller in the group", nullable=True),
    Field("caller_count", "integer", "Callers in the group", read_only=True, minimum=0),
    CREATED_AT,
))

resource = Resource("caller_groups", SCHEMA, "Caller groups: callers reassigned to a campaign together")


# Selected beside each group, so a page of groups is one query, not one more per group.
CALLER_COUNT = select(func.count()).where(Caller.caller_group_id == CallerGroup.id).scalar_subquery()


def present(ctx: Context, group: CallerGroup, caller_count: int) -> dict[str, Any]:
    return ctx.item(group.id, SCHEMA.dump(group, caller_count=caller_count))


async def present_one(ctx: Context, group: CallerGroup) -> dict[str, Any]:
    count = await ctx.session.scalar(select(func.count()).where(Caller.caller_group_id == group.id))
    return present(ctx, group, count or 0)


@resource.list(filters=(Field("campaign_id", "id"), Field("name", "string", max_length=200)))
async def list_groups(ctx: Context) -> dict[str, Any]:
    query = scoped(select(CallerGroup, CALLER_COUNT), ctx.account_id).order_by(CallerGroup.id)
    for name in ("campaign_id", "name"):
        if name in ctx.params:
            query = query.where(getattr(CallerGroup, name) == ctx.params[name])
    return await ctx.page(query, lambda row: present(ctx, *row))


@resource.create()
async def create_group(ctx: Context) -> dict[str, Any]:
    await ctx.check_owned({"campaign_id": (Campaign, ctx.body.get("campaign_id"))})
    group = CallerGroup(account_id=ctx.account_id, **ctx.body)
    ctx.session.add(group)
    await ctx.session.flush()
    return await present_one(ctx, group)


@resource.read()
async def read_group(ctx: Context) -> dict[str, Any]:
    return await present_one(ctx, await ctx.find(CallerGroup))


@resource.update(summary="Change a caller group; a new campaign_id moves its callers too")
async def update_group(ctx: Context) -> dict[str, Any]:
    group = await ctx.find(CallerGroup)
    await ctx.check_owned({"campaign_id": (Campaign, ctx.body.get("campaign_id"))})
    if "campaign_id" in ctx.body and ctx.body["campaign_id"] != group.campaign_id:
        await ctx.session.execute(
            update(Caller)
            .where(Caller.account_id == ctx.account_id, Caller.caller_group_id == group.id)
            .values(campaign_id=ctx.body["campaign_id"])
        )
    for name, value in ctx.body.items():
        setattr(group, name, value)
    await ctx.session.flush()
    return await present_one(ctx, group)


@resource.delete(summary="Delete a caller group; its callers stay, without a group")
async def delete_group(ctx: Context) -> None:
    await ctx.session.delete(await ctx.find(CallerGroup))
