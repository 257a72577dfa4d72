"""/v1/blocked_numbers: numbers never to dial, for the whole account or for one campaign.

Numbers are accepted in any common spelling (default region US) and kept in E.164.
Blocking takes effect at once, for households already queued too; deleting the entry
(unblocking) returns the number to its place in the queue. ``/bulk`` and ``/unblock``
take up to 10,000 numbers at a time, all valid or none applied.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any

from realtime.api.errors import Conflict, Invalid
from realtime.api.routing import Context, Resource
from realtime.api.validation import CREATED_AT, ID, Field, Schema, check_phone
from realtime.dialer.blocking import block_numbers, unblock, unblock_numbers
from realtime.dialer.phones import InvalidPhoneNumber, to_e164
from realtime.store.models import BlockedNumber, Campaign
from realtime.store.scoping import scoped

logger = logging.getLogger(__name__)

MAX_BULK = 10_000


@dataclasses.dataclass(frozen=True)
class PhoneList(Field):
    """A JSON array of phone numbers as text."""

    def json_schema(self, mode: str = "read") -> dict[str, Any]:
        return {"type": "array", "items": {"type": "string", "maxLength": 40}, "minItems": 1,
                "maxItems": MAX_BULK, "description": self.description}

    def convert(self, value: Any) -> Any:
        if not isinstance(value, list) or not all(isinstance(v, str) and len(v) <= 40 for v in value):
            raise ValueError("must be an array of phone numbers (text)")
        if not 1 <= len(value) <= MAX_BULK:
            raise ValueError(f"must hold 1 to {MAX_BULK} numbers")
        return value


PHONE = Field("phone", "string", "Any common spelling; answered in E.164", required=True, min_length=1,
              max_length=40)
CAMPAIGN = Field("campaign_id", "id", "Blocked for this campaign only; null: for the whole account",
                 nullable=True)
SCHEMA = Schema("blocked number", (ID, PHONE, CAMPAIGN, CREATED_AT))
BULK = Schema("blocked numbers", (
    PhoneList("phones", "array", "Numbers, any common spelling", required=True),
    CAMPAIGN,
))
BULK_RESULT = {
    "type": "object",
    "required": ["blocked", "already_blocked"],
    "properties": {
        "blocked": {"type": "integer", "description": "Numbers newly blocked"},
        "already_blocked": {"type": "integer", "description": "Numbers that were blocked already"},
    },
}
UNBLOCK_RESULT = {
    "type": "object",
    "required": ["unblocked"],
    "properties": {"unblocked": {"type": "integer", "description": "Entries removed"}},
}
FILTERS = (
    Field("phone", "string", "A number in any common spelling", max_length=40, check=check_phone),
    Field("campaign_id", "id", "Entries for this campaign"),
    Field("account_wide", "boolean", "true: account-wide entries only; false: campaign entries only"),
)

resource = Resource("blocked_numbers", SCHEMA, "Blocked numbers: never dialled, account-wide or per campaign")


def present(ctx: Context, entry: BlockedNumber) -> dict[str, Any]:
    return ctx.item(entry.id, SCHEMA.dump(entry))


def e164(raw: str, field: str) -> str:
    try:
        return to_e164(raw)
    except InvalidPhoneNumber as exc:
        raise Invalid.fields({field: str(exc)}) from None


def all_e164(raws: list[str]) -> list[str]:
    phones, errors = [], {}
    for n, raw in enumerate(raws):
        try:
            phones.append(to_e164(raw))
        except InvalidPhoneNumber as exc:
            errors[f"phones[{n}]"] = str(exc)
    if errors:
        raise Invalid.fields(errors, "some numbers are not valid; nothing was changed")
    return phones


@resource.list(filters=FILTERS)
async def list_blocked_numbers(ctx: Context) -> dict[str, Any]:
    query = scoped(BlockedNumber, ctx.account_id).order_by(BlockedNumber.id)
    if "phone" in ctx.params:
        query = query.where(BlockedNumber.phone == to_e164(ctx.params["phone"]))
    if "campaign_id" in ctx.params:
        query = query.where(BlockedNumber.campaign_id == ctx.params["campaign_id"])
    if "account_wide" in ctx.params:
        query = query.where(BlockedNumber.campaign_id.is_(None) if ctx.params["account_wide"]
                            else BlockedNumber.campaign_id.is_not(None))
    return await ctx.page(query, lambda entry: present(ctx, entry))


@resource.create(summary="Block a number (409 if it is blocked already in that scope)")
async def create_blocked_number(ctx: Context) -> dict[str, Any]:
    phone = e164(ctx.body["phone"], "phone")
    campaign_id = ctx.body.get("campaign_id")
    await ctx.check_owned({"campaign_id": (Campaign, campaign_id)})
    result = await block_numbers(ctx.session, account_id=ctx.account_id, phones=[phone], campaign_id=campaign_id)
    if result.already_blocked:
        entry = result.already_blocked[0]
        raise Conflict(f"{phone} is blocked already", error_id="already-blocked",
                       details={"id": entry.id, "uri": ctx.uri(f"{resource.path}/{entry.id}")})
    return present(ctx, result.added[0])


@resource.operation("POST", "/bulk", name="bulk", summary="Block many numbers at once", body=BULK,
                    response=BULK_RESULT, errors=(422,))
async def bulk_block(ctx: Context) -> dict[str, Any]:
    phones = all_e164(ctx.body["phones"])
    campaign_id = ctx.body.get("campaign_id")
    await ctx.check_owned({"campaign_id": (Campaign, campaign_id)})
    result = await block_numbers(ctx.session, account_id=ctx.account_id, phones=phones, campaign_id=campaign_id)
    return {"blocked": len(result.added), "already_blocked": len(result.already_blocked)}


@resource.operation("POST", "/unblock", name="unblock", summary="Unblock many numbers at once", body=BULK,
                    response=UNBLOCK_RESULT, errors=(422,))
async def bulk_unblock(ctx: Context) -> dict[str, Any]:
    phones = all_e164(ctx.body["phones"])
    campaign_id = ctx.body.get("campaign_id")
    await ctx.check_owned({"campaign_id": (Campaign, campaign_id)})
    removed = await unblock_numbers(ctx.session, account_id=ctx.account_id, phones=phones, campaign_id=campaign_id)
    return {"unblocked": removed}


@resource.read()
async def read_blocked_number(ctx: Context) -> dict[str, Any]:
    return present(ctx, await ctx.find(BlockedNumber))


@resource.delete(summary="Unblock: the number is dialled again")
async def delete_blocked_number(ctx: Context) -> None:
    await unblock(ctx.session, await ctx.find(BlockedNumber))
