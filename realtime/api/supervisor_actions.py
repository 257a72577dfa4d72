"""/v1/supervisor_actions: the audit log of what supervisors and admins did to the live floor.

One entry per action, refusals included: listening in (``monitor``, with its mode, and each
switch), ``stop_monitoring``, ``kick`` (from a console or ``DELETE /v1/caller_sessions/{id}``,
where the API key is the actor: no ``user_id``), ``reassign``, ``set_recording`` and
``dial_in``. ``outcome`` is ``ok``, ``refused`` (``error`` says why; nothing was changed) or
``unknown`` (no calling engine answered in time). Read-only, oldest first, paged by key (it
grows without end).
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from realtime.api.routing import Context, Resource
from realtime.api.validation import ID, Field, Schema
from realtime.store.models import SupervisorAction
from realtime.store.scoping import scoped

logger = logging.getLogger(__name__)

ACTIONS = ("monitor", "stop_monitoring", "kick", "reassign", "set_recording", "dial_in")
OUTCOMES = ("ok", "refused", "unknown")
# What each entry's details may hold besides the outcome and the error.
_OWN = ("outcome", "error", "actor")


def _moment(text: str) -> dt.datetime:
    """An ISO 8601 date or time as an aware UTC time (UTC when it names no zone); ValueError."""
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)


def _check_moment(text: str) -> str | None:
    try:
        _moment(text)
    except (ValueError, OverflowError):
        return "must be an ISO 8601 date or time"
    return None


SCHEMA = Schema("supervisor action", (
    ID,
    Field("action", "string", choices=ACTIONS, read_only=True),
    Field("user_id", "id", "The admin or supervisor; null when the account's API key acted", read_only=True,
          nullable=True),
    Field("actor", "string", "user or api_key", choices=("user", "api_key"), read_only=True),
    Field("caller_session_id", "id", "The caller session acted on (null when it is not one of the account's)",
          read_only=True, nullable=True),
    Field("caller_id", "id", read_only=True, nullable=True),
    Field("outcome", "string", choices=OUTCOMES, read_only=True),
    Field("error", "object", "Why it was refused: {id, message}", read_only=True, nullable=True),
    Field("details", "object", "What was asked: mode, session_id, campaign_id, enabled...", read_only=True),
    Field("at", "datetime", "When (UTC)", read_only=True),
))
FILTERS = (
    Field("user_id", "id"),
    Field("caller_session_id", "id"),
    Field("caller_id", "id"),
    Field("action", "string", choices=ACTIONS),
    Field("since", "string", "From this time on (ISO 8601, e.g. 2026-12-01 or 2026-12-01T09:00:00Z)",
          max_length=40, check=_check_moment),
    Field("until", "string", "Before this time (ISO 8601)", max_length=40, check=_check_moment),
)

resource = Resource("supervisor_actions", SCHEMA, "The supervisors' audit log: monitoring, kicks, reassignments, "
                    "recording switches, refusals included")


def present(ctx: Context, row: SupervisorAction) -> dict[str, Any]:
    details = dict(row.details or {})
    return ctx.item(row.id, SCHEMA.dump(
        row, actor="api_key" if details.get("actor") == "api_key" else "user",
        outcome=details.get("outcome", "ok"), error=details.get("error"),
        details={k: v for k, v in details.items() if k not in _OWN}))


@resource.list(filters=FILTERS, by_key=True, summary="The audit log, oldest first (its last page is the newest)")
async def list_actions(ctx: Context) -> dict[str, Any]:
    query = scoped(SupervisorAction, ctx.account_id).order_by(SupervisorAction.id)
    for name in ("user_id", "caller_session_id", "caller_id", "action"):
        if name in ctx.params:
            query = query.where(getattr(SupervisorAction, name) == ctx.params[name])
    if "since" in ctx.params:
        query = query.where(SupervisorAction.at >= _moment(ctx.params["since"]))
    if "until" in ctx.params:
        query = query.where(SupervisorAction.at < _moment(ctx.params["until"]))
    return await ctx.page(query, lambda row: present(ctx, row), key=SupervisorAction.id)


@resource.read()
async def read_action(ctx: Context) -> dict[str, Any]:
    return present(ctx, await ctx.find(SupervisorAction))
