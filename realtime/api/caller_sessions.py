"""/v1/caller_sessions: callers' sessions, live and recent, and kicking a caller out.

A session is one caller's stretch of work, from opening the caller app (or phoning in)
to its end. The list shows the live ones and those that ended in the last 24 hours,
newest first; any session of the account is read by its id. The state is the one the
engine last stored (it follows the live state within moments).

``DELETE`` kicks the caller out, as a supervisor's console does (the same audit entry,
with the API key as the actor): a conversation is ended cleanly and on record, the
caller's phone is hung up, their page is told (``session_ended {reason: "kicked"}``) and
their sign-ins end.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import or_

from realtime.api.errors import Conflict, EngineUnavailable, NotFound
from realtime.api.routing import Context, Resource
from realtime.api.validation import ID, Field, Schema
from realtime.app_keys import SUPERVISOR_ACTIONS
from realtime.callflow.actions import Actor
from realtime.callflow.states import State
from realtime.store.models import CallerSession, CallerSessionStatus
from realtime.store.scoping import scoped
from realtime.store.types import utcnow

logger = logging.getLogger(__name__)

RECENT = dt.timedelta(hours=24)
STATES = tuple(state.value for state in State)

SCHEMA = Schema("caller session", (
    ID,
    Field("caller_id", "id", read_only=True),
    Field("campaign_id", "id", "The campaign the caller works on now", read_only=True),
    Field("state", "string", "As the caller app says it: ready, connecting, on_hold, previewing, dialing, "
          "on_call, transfer, wrap_up, ended", choices=STATES, read_only=True),
    Field("state_since", "datetime", "When it entered that state (UTC)", read_only=True, nullable=True),
    Field("live", "boolean", "Not ended", read_only=True),
    Field("started_at", "datetime", read_only=True),
    Field("ended_at", "datetime", read_only=True, nullable=True),
    Field("end_reason", "string", "stopped, kicked, phone_hung_up, calling_hours, out_of_leads, signed_out, "
          "expired", read_only=True, nullable=True),
))
FILTERS = (
    Field("campaign_id", "id"),
    Field("caller_id", "id"),
    Field("state", "string", choices=STATES),
    Field("live", "boolean", "Only live sessions (true), or only ended ones (false)"),
)

resource = Resource("caller_sessions", SCHEMA, "Caller sessions, live and recent; DELETE kicks the caller out")


def present(ctx: Context, row: CallerSession) -> dict[str, Any]:
    state = State.from_stored(row.status)
    return ctx.item(row.id, SCHEMA.dump(row, state=state.value, live=state is not State.ENDED))


@resource.list(filters=FILTERS, summary="Live sessions and those that ended in the last 24 hours, newest first")
async def list_sessions(ctx: Context) -> dict[str, Any]:
    ended = CallerSession.status == CallerSessionStatus.ENDED
    query = scoped(CallerSession, ctx.account_id).where(
        or_(~ended, CallerSession.started_at >= utcnow() - RECENT)).order_by(CallerSession.id.desc())
    for name in ("campaign_id", "caller_id"):
        if name in ctx.params:
            query = query.where(getattr(CallerSession, name) == ctx.params[name])
    if "state" in ctx.params:
        stored = State(ctx.params["state"]).stored
        statuses = [stored, CallerSessionStatus.PAUSED] if stored is CallerSessionStatus.ON_HOLD else [stored]
        query = query.where(CallerSession.status.in_(statuses))
    if "live" in ctx.params:
        query = query.where(~ended if ctx.params["live"] else ended)
    return await ctx.page(query, lambda row: present(ctx, row))


@resource.read()
async def read_session(ctx: Context) -> dict[str, Any]:
    return present(ctx, await ctx.find(CallerSession))


@resource.delete(summary="Kick the caller out: the call under way ends, the session ends, the caller's page "
                         "closes", errors=(404, 409, 503))
async def kick(ctx: Context) -> None:
    row = await ctx.find(CallerSession)
    actions = ctx.request.app.get(SUPERVISOR_ACTIONS)
    if actions is None:
        raise EngineUnavailable("no calling engine is reachable from this server")
    reply = await actions.kick(Actor(ctx.account_id, None, "api"), {"session_id": row.id}, db=ctx.session,
                               committed=ctx.after_commit)
    if reply["ok"]:
        return None
    error = reply["error"]
    if error["id"] == "session-ended":
        raise Conflict("the session has ended already", error_id="session-ended")
    if error["id"] == "no-such-session":
        raise NotFound(f"no caller session {row.id} in this account", details={"id": row.id})
    raise EngineUnavailable(f"the calling engine did not carry it out: {error['message']}",
                      details={"engine_error": error["id"]})
