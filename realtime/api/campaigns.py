"""/v1/campaigns: who is called, how (dialer mode, lines, AMD, voicemail) and when."""
from __future__ import annotations

import functools
import logging
import zoneinfo
from typing import Any

from sqlalchemy import select

from realtime.api.errors import Conflict
from realtime.api.routing import Context, Resource, name_contains
from realtime.api.validation import CREATED_AT, ID, Field, Schema
from realtime.dialer.lists import UNDER_WAY
from realtime.store.models import Campaign, DialerMode, LeadList, Recording, Script

logger = logging.getLogger(__name__)


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_time_zone(value: str) -> str | None:
    return None if value in _zones() else "must be an IANA time zone such as America/New_York"


SCHEMA = Schema("campaign", (
    ID,
    Field("name", "string", "Shown to callers and supervisors", required=True, min_length=1, max_length=200),
    Field("dialer_mode", "string", "preview: callers see the lead first; power: one line per free caller; "
          "predictive: paced above one line per caller", required=True, enum=DialerMode),
    Field("caller_id", "string", "The number shown to leads", max_length=32),
    Field("script_id", "id", "The script callers read", nullable=True),
    Field("active", "boolean"),
    Field("calling_hours_start", "time", "Earliest local time to call, HH:MM"),
    Field("calling_hours_end", "time", "Latest local time to call, HH:MM; before the start means overnight"),
    Field("time_zone", "string", "IANA zone of the calling hours", max_length=64, check=check_time_zone),
    Field("recycle_interval_seconds", "integer", "Seconds before an unanswered household is dialled again",
          minimum=0, maximum=30 * 86400),
    Field("acceptable_abandon_rate", "number", "Predictive mode keeps abandoned calls under this share",
          minimum=0, maximum=1),
    Field("max_lines", "integer", "At most this many lines at once; null: as many as the floor and the "
          "trunk allow", nullable=True, minimum=1, maximum=10000),
    Field("ring_timeout_seconds", "integer", minimum=5, maximum=300),
    Field("use_amd", "boolean", "Answering-machine detection"),
    Field("voicemail_recording_id", "id", "Recording left on answering machines", nullable=True),
    Field("leave_voicemail", "boolean"),
    Field("call_back_after_voicemail", "boolean"),
    Field("caller_can_drop_voicemail", "boolean"),
    Field("safe_harbor_recording_id", "id", "Recording played when no caller is free", nullable=True),
    CREATED_AT,
))

FILTERS = (
    Field("name", "string", "Names containing this text, in any case", max_length=200),
    Field("dialer_mode", "string", enum=DialerMode),
    Field("active", "boolean"),
)

resource = Resource("campaigns", SCHEMA, "Campaigns: dialer mode, calling hours, lines, voicemail")


def present(ctx: Context, campaign: Campaign) -> dict[str, Any]:
    return ctx.item(campaign.id, SCHEMA.dump(campaign))


async def check_references(ctx: Context, values: dict[str, Any]) -> None:
    await ctx.check_owned({
        "script_id": (Script, values.get("script_id")),
        "voicemail_recording_id": (Recording, values.get("voicemail_recording_id")),
        "safe_harbor_recording_id": (Recording, values.get("safe_harbor_recording_id")),
    })


@resource.list(filters=FILTERS)
async def list_campaigns(ctx: Context) -> dict[str, Any]:
    query = select(Campaign).where(Campaign.account_id == ctx.account_id).order_by(Campaign.id)
    if "name" in ctx.params:
        query = query.where(name_contains(Campaign.name, ctx.params["name"]))
    if "dialer_mode" in ctx.params:
        query = query.where(Campaign.dialer_mode == ctx.params["dialer_mode"])
    if "active" in ctx.params:
        query = query.where(Campaign.active == ctx.params["active"])
    return await ctx.page(query, lambda c: present(ctx, c))


@resource.create()
async def create_campaign(ctx: Context) -> dict[str, Any]:
    values = ctx.body
    await check_references(ctx, values)
    campaign = Campaign(account_id=ctx.account_id, **values)
    ctx.session.add(campaign)
    await ctx.session.flush()
    return present(ctx, campaign)


@resource.read()
async def read_campaign(ctx: Context) -> dict[str, Any]:
    return present(ctx, await ctx.find(Campaign))


@resource.update()
async def update_campaign(ctx: Context) -> dict[str, Any]:
    campaign = await ctx.find(Campaign)
    await check_references(ctx, ctx.body)
    for name, value in ctx.body.items():
        setattr(campaign, name, value)
    await ctx.session.flush()
    ctx.announce_campaign_change(campaign_id=campaign.id)
    return present(ctx, campaign)


@resource.delete(summary="Delete a campaign with its lists, households and call history; refused (409) "
                         "while one of its lists imports")
async def delete_campaign(ctx: Context) -> None:
    campaign = await ctx.find(Campaign)
    # Locked first (PostgreSQL): a list being created for the campaign holds a key-share lock
    # on it until it commits, so a list queued at this very moment is seen below, and one
    # queued after waits for this delete and then finds no campaign.
    await ctx.session.execute(select(Campaign.id).where(Campaign.id == campaign.id).with_for_update())
    importing = await ctx.session.scalar(select(LeadList.id).where(
        LeadList.campaign_id == campaign.id, LeadList.status.in_(UNDER_WAY)).order_by(LeadList.id).limit(1))
    if importing is not None:
        # Deleting it would pull the list from under its import: refused like deleting the list.
        raise Conflict(f"campaign {campaign.id} has list {importing} still importing; delete it once the "
                       "import is done", error_id="list-importing", details={"list_id": importing})
    await ctx.session.delete(campaign)
