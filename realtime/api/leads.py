"""/v1/leads: the people called; read, found by phone, and corrected here (they arrive
through list imports).

``phone`` searches are normalised to E.164 as list imports store numbers (default region
US), so "(212) 555-0123" finds +12125550123.
"""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from realtime.api.errors import Invalid
from realtime.api.routing import Context, Resource
from realtime.api.validation import CREATED_AT, ID, Field, Schema, check_phone
from realtime.dialer.phones import to_e164
from realtime.store.models import CustomLeadField, Household, Lead, LeadStatus
from realtime.store.scoping import scoped

logger = logging.getLogger(__name__)


def check_custom_values(values: dict[str, Any]) -> str | None:
    bad = sorted(
        name for name, value in values.items()
        if not (value is None or isinstance(value, (int, float, bool))
                or (isinstance(value, str) and len(value) <= 2000 and "\x00" not in value))
    )
    return f"{', '.join(bad)}: must be text up to 2000 characters, a number, true/false or null" if bad else None


def text(name: str, max_length: int, description: str = "") -> Field:
    return Field(name, "string", description, max_length=max_length)


SCHEMA = Schema("lead", (
    ID,
    Field("household_id", "id", "The household (one phone number) the lead is in", read_only=True),
    Field("campaign_id", "id", read_only=True),
    Field("lead_list_id", "id", "The list it was imported from", read_only=True, nullable=True),
    Field("phone", "string", "The household's number, E.164", read_only=True),
    Field("external_id", "string", "Your system's id for the lead", nullable=True, max_length=200),
    text("first_name", 200), text("middle_name", 200), text("last_name", 200), text("suffix", 50),
    text("email", 254), text("address", 500), text("city", 200), text("state", 100), text("zip_code", 20),
    text("country", 100),
    Field("custom_fields", "object", "Values of the account's custom lead fields, by field name; "
          "text (at most 2000 characters), numbers, true/false, or null to remove one", check=check_custom_values),
    Field("status", "string", "completed leads are not called again", enum=LeadStatus),
    Field("call_back", "boolean", "Call this lead again even after a completed call"),
    CREATED_AT,
))

FILTERS = (
    Field("phone", "string", "A phone number in any common form; matched in E.164", max_length=40,
          check=check_phone),
    Field("campaign_id", "id"),
    Field("household_id", "id"),
    Field("lead_list_id", "id"),
    Field("external_id", "string", max_length=200),
    Field("email", "string", max_length=254),
    Field("status", "string", enum=LeadStatus),
)

resource = Resource("leads", SCHEMA, "Leads: read, search by phone, correct their fields")


def present(ctx: Context, lead: Lead, phone: str) -> dict[str, Any]:
    return ctx.item(lead.id, SCHEMA.dump(lead, phone=phone, custom_fields=dict(lead.custom_fields or {})))


def leads_with_phones(account_id: int):
    return scoped(select(Lead, Household.phone).join(Household, Household.id == Lead.household_id), account_id)


@resource.list(filters=FILTERS, by_key=True,
               summary="List leads; filter by phone, campaign, household, list, status")
async def list_leads(ctx: Context) -> dict[str, Any]:
    query = leads_with_phones(ctx.account_id).order_by(Lead.id)
    for name in ("campaign_id", "household_id", "lead_list_id", "external_id", "email", "status"):
        if name in ctx.params:
            query = query.where(getattr(Lead, name) == ctx.params[name])
    if "phone" in ctx.params:
        query = query.where(Household.phone == to_e164(ctx.params["phone"]))
    return await ctx.page(query, lambda row: present(ctx, row[0], row[1]), key=Lead.id)


async def present_one(ctx: Context, lead: Lead) -> dict[str, Any]:
    phone = await ctx.session.scalar(select(Household.phone).where(Household.id == lead.household_id))
    return present(ctx, lead, phone)


@resource.read()
async def read_lead(ctx: Context) -> dict[str, Any]:
    return await present_one(ctx, await ctx.find(Lead))


@resource.update(summary="Correct a lead's fields; custom_fields is merged (null removes a value)")
async def update_lead(ctx: Context) -> dict[str, Any]:
    lead = await ctx.find(Lead)
    values = dict(ctx.body)
    if "custom_fields" in values:
        lead.custom_fields = await merge_custom(ctx, dict(lead.custom_fields or {}), values.pop("custom_fields"))
    for name, value in values.items():
        setattr(lead, name, value)
    await ctx.session.flush()
    return await present_one(ctx, lead)


async def merge_custom(ctx: Context, current: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    known = set(await ctx.session.scalars(
        select(CustomLeadField.name).where(CustomLeadField.account_id == ctx.account_id)))
    unknown = {f"custom_fields.{name}": "no such custom lead field in this account" for name in given if name not in known}
    if unknown:
        raise Invalid.fields(unknown)
    for name, value in given.items():
        if value is None:
            current.pop(name, None)
        else:
            current[name] = value
    return current
