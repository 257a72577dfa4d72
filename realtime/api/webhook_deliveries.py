"""/v1/webhook_deliveries: every webhook sent (or still to send), in order per subject, and how it went.

A subject is what the webhooks are about: ``list:<id>`` for list imports, ``call:<id>``
for calls. Deliveries of one subject go out strictly in ``id`` order; a failing receiver
is retried with growing pauses for a day (``next_attempt_at``), then marked failed.
"""
from __future__ import annotations

import logging
from typing import Any

from realtime.api.routing import Context, Resource
from realtime.api.validation import CREATED_AT, ID, Field, Schema
from realtime.store.models import DeliveryStatus, WebhookDelivery
from realtime.store.scoping import scoped

logger = logging.getLogger(__name__)

SCHEMA = Schema("webhook delivery", (
    ID,
    Field("subject", "string", "What it is about: list:<id>, call:<id>", read_only=True),
    Field("event", "string", "e.g. list.imported", read_only=True),
    Field("url", "string", "Where it is sent", read_only=True),
    Field("payload", "object", "The body's data", read_only=True),
    Field("status", "string", "pending, delivered, or failed (given up after a day)", enum=DeliveryStatus,
          read_only=True),
    Field("attempts", "integer", read_only=True, minimum=0),
    Field("next_attempt_at", "datetime", "When it is (or was) next tried", read_only=True),
    Field("last_status_code", "integer", "The receiver's last HTTP status", read_only=True, nullable=True),
    Field("last_error", "string", "What went wrong last time", read_only=True, nullable=True),
    Field("delivered_at", "datetime", read_only=True, nullable=True),
    CREATED_AT,
))
FILTERS = (
    Field("subject", "string", "list:<id> or call:<id>", max_length=100),
    Field("status", "string", enum=DeliveryStatus),
    Field("event", "string", max_length=100),
)

resource = Resource("webhook_deliveries", SCHEMA, "Webhook deliveries: what was sent where, and how it went")


@resource.list(filters=FILTERS, by_key=True, summary="Deliveries, oldest first (the order they go out within a subject)")
async def list_deliveries(ctx: Context) -> dict[str, Any]:
    query = scoped(WebhookDelivery, ctx.account_id).order_by(WebhookDelivery.id)
    for name in ("subject", "status", "event"):
        if name in ctx.params:
            query = query.where(getattr(WebhookDelivery, name) == ctx.params[name])
    return await ctx.page(query, lambda d: ctx.item(d.id, SCHEMA.dump(d)), key=WebhookDelivery.id)


@resource.read()
async def read_delivery(ctx: Context) -> dict[str, Any]:
    delivery = await ctx.find(WebhookDelivery)
    return ctx.item(delivery.id, SCHEMA.dump(delivery))
