"""/v1/lead_fields: the account's custom lead fields (values live on each lead).

Renaming a field renames it on every lead of the account; deleting it removes its
values from them, in the same transaction.
"""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select, update

from realtime.api.errors import Conflict
from realtime.api.routing import Context, Resource
from realtime.api.validation import CREATED_AT, ID, Field, Schema
from realtime.store.models import CustomLeadField, Lead
from realtime.store.scoping import scoped

logger = logging.getLogger(__name__)

SCHEMA = Schema("custom lead field", (
    ID,
    Field("name", "string", "Unique in the account; the key in each lead's custom_fields", required=True,
          min_length=1, max_length=100),
    CREATED_AT,
))

resource = Resource("lead_fields", SCHEMA, "Custom lead fields: extra columns every lead may carry")


def present(ctx: Context, field: CustomLeadField) -> dict[str, Any]:
    return ctx.item(field.id, SCHEMA.dump(field))


async def refuse_taken(ctx: Context, name: str) -> None:
    taken = await ctx.session.scalar(
        select(CustomLeadField.id).where(CustomLeadField.account_id == ctx.account_id, CustomLeadField.name == name))
    if taken is not None:
        raise Conflict(f"the account already has a custom field {name!r}", error_id="field-name-taken",
                       details={"fields": {"name": "taken"}})


async def rename_values(ctx: Context, old: str, new: str | None) -> None:
    """Move (or, with ``new`` None, drop) the field's value on every lead of the account."""
    rows = await ctx.session.stream(
        select(Lead.id, Lead.custom_fields).where(Lead.account_id == ctx.account_id).execution_options(yield_per=1000))
    changed = []
    async for lead_id, values in rows:
        if values and old in values:
            values = dict(values)
            value = values.pop(old)
            if new is not None:
                values[new] = value
            changed.append({"id": lead_id, "custom_fields": values})
    if changed:
        await ctx.session.execute(update(Lead), changed)


@resource.list(filters=(Field("name", "string", max_length=100),))
async def list_fields(ctx: Context) -> dict[str, Any]:
    query = scoped(CustomLeadField, ctx.account_id).order_by(CustomLeadField.id)
    if "name" in ctx.params:
        query = query.where(CustomLeadField.name == ctx.params["name"])
    return await ctx.page(query, lambda f: present(ctx, f))


@resource.create()
async def create_field(ctx: Context) -> dict[str, Any]:
    await refuse_taken(ctx, ctx.body["name"])
    field = CustomLeadField(account_id=ctx.account_id, name=ctx.body["name"])
    ctx.session.add(field)
    await ctx.session.flush()
    return present(ctx, field)


@resource.read()
async def read_field(ctx: Context) -> dict[str, Any]:
    return present(ctx, await ctx.find(CustomLeadField))


@resource.update(summary="Rename a custom field, on every lead too")
async def update_field(ctx: Context) -> dict[str, Any]:
    field = await ctx.find(CustomLeadField)
    new = ctx.body.get("name", field.name)
    if new != field.name:
        await refuse_taken(ctx, new)
        await rename_values(ctx, field.name, new)
        field.name = new
        await ctx.session.flush()
    return present(ctx, field)


@resource.delete(summary="Delete a custom field and its values on every lead")
async def delete_field(ctx: Context) -> None:
    field = await ctx.find(CustomLeadField)
    await rename_values(ctx, field.name, None)
    await ctx.session.delete(field)
