"""/v1/households: one phone number of a campaign, its dialling status and its leads."""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from realtime.api.leads import SCHEMA as LEAD_SCHEMA
from realtime.api.leads import resource as leads_resource
from realtime.api.routing import Context, Resource
from realtime.api.validation import CREATED_AT, ID, Field, Schema, check_phone
from realtime.dialer.phones import to_e164
from realtime.store.models import Household, HouseholdStatus, Lead
from realtime.store.scoping import scoped

logger = logging.getLogger(__name__)

LEAD_SUMMARY = Schema("household lead", tuple(
    f for f in LEAD_SCHEMA.fields if f.name in ("id", "first_name", "last_name", "status", "external_id")
) + (Field("uri", "string", read_only=True),))

SCHEMA = Schema("household", (
    ID,
    Field("campaign_id", "id", read_only=True),
    Field("phone", "string", "E.164", read_only=True),
    Field("status", "string", "Where the household is in the dial queue", enum=HouseholdStatus, read_only=True),
    Field("blocked_account", "boolean", "On the account's blocked list", read_only=True),
    Field("blocked_campaign", "boolean", "On the campaign's blocked list", read_only=True),
    Field("attempts", "integer", "Times dialled", read_only=True, minimum=0),
    Field("voicemail_count", "integer", "Voicemails left", read_only=True, minimum=0),
    Field("last_dialed_at", "datetime", read_only=True, nullable=True),
    Field("dialable_at", "datetime", "Not dialled again before this time", read_only=True, nullable=True),
    Field("leads", "array", "The people at this number", read_only=True, items=LEAD_SUMMARY),
    CREATED_AT,
))

FILTERS = (
    Field("phone", "string", "A phone number in any common form; matched in E.164", max_length=40,
          check=check_phone),
    Field("campaign_id", "id"),
    Field("status", "string", enum=HouseholdStatus),
)

resource = Resource("households", SCHEMA, "Households: a phone number, its dial status and its leads")


async def leads_of(ctx: Context, household_ids: list[int]) -> dict[int, list[Lead]]:
    """The leads of these households, in one query."""
    leads: dict[int, list[Lead]] = {household_id: [] for household_id in household_ids}
    for lead in await ctx.session.scalars(select(Lead).where(Lead.household_id.in_(household_ids)).order_by(Lead.id)):
        leads[lead.household_id].append(lead)
    return leads


def present(ctx: Context, household: Household, leads: list[Lead]) -> dict[str, Any]:
    return ctx.item(household.id, SCHEMA.dump(household, leads=[
        LEAD_SUMMARY.dump(lead, uri=ctx.uri(f"{leads_resource.path}/{lead.id}")) for lead in leads
    ]))


@resource.list(filters=FILTERS, by_key=True)
async def list_households(ctx: Context) -> dict[str, Any]:
    query = scoped(Household, ctx.account_id).order_by(Household.id)
    if "campaign_id" in ctx.params:
        query = query.where(Household.campaign_id == ctx.params["campaign_id"])
    if "status" in ctx.params:
        query = query.where(Household.status == ctx.params["status"])
    if "phone" in ctx.params:
        query = query.where(Household.phone == to_e164(ctx.params["phone"]))
    # The page's households first, then all their leads at once (not one query per household).
    page = await ctx.page(query, lambda household: household, key=Household.id)
    leads = await leads_of(ctx, [household.id for household in page["resources"]])
    page["resources"] = [present(ctx, household, leads[household.id]) for household in page["resources"]]
    return page


@resource.read()
async def read_household(ctx: Context) -> dict[str, Any]:
    household = await ctx.find(Household)
    return present(ctx, household, (await leads_of(ctx, [household.id]))[household.id])
