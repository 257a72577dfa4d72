"""/v1/call/{id}/callers: the integrator's people on a call job, and what the integrator
tells each of them to do.

A caller of a job is a caller row of the job's campaign, known to the integrator by their
own reference (``caller_id``, in the path too): no password, no sign-in. Adding one opens
their caller session on the engine that runs the job (``attach``) and starts it: the
engine rings their ``phone``, or waits for them to dial in with the session's PIN. The
commands (``dial``, ``skip``, ``hangup``, ``transfer``, ``ready``) are the session's own,
sent through :class:`~realtime.callflow.client.CallFlowClient`; the engine's refusal (a
command in the wrong state) comes back as a 409 with the engine's error id.
"""
from __future__ import annotations

import logging
import re
import secrets
from typing import Any

from sqlalchemy import select

from realtime.api import bodies
from realtime.api.calls import find_job, is_json, resource
from realtime.api.errors import ApiError, Conflict, EngineUnavailable, Invalid, NotFound, UnsupportedMediaType
from realtime.api.pagination import PAGE_PARAMS, paginate, public_url
from realtime.api.routing import COLLECTION, NO_CONTENT, Context
from realtime.api.validation import Field, Schema, check_phone, parse_json
from realtime.app_keys import CALLFLOW_CLIENT, SETTINGS, STORE
from realtime.callflow.client import CallFlowClient
from realtime.callflow.states import State
from realtime.dialer.phones import to_e164
from realtime.store.models import (
    Caller,
    CallerSession,
    CallerSessionStatus,
    CallJob,
    CallJobCaller,
    CallJobState,
)
from realtime.store.passwords import unique_pin
from realtime.store.types import utcnow

logger = logging.getLogger(__name__)

# A reference goes in paths as it is: letters, digits and the few signs a path segment keeps.
REFERENCE = re.compile(r"^[A-Za-z0-9._~@+:-]{1,100}$")
# A caller's own SIP phone; anything else given as ``phone`` must be a phone number.
SIP_ENDPOINT = re.compile(r"^(PJSIP|SIP)/[A-Za-z0-9._+-]{1,80}(@[A-Za-z0-9.-]{1,100})?$")
STATES = ("connecting", "on_hold", "previewing", "dialing", "on_call", "transfer", "wrap_up", "ready",
          "disconnected", "removed")


# Engine refusals that are the request's fault; every other refusal is a state conflict (409).
UNPROCESSABLE = ("invalid-payload", "invalid-phone-number", "number-blocked", "invalid-notes", "no-such-transfer")


def check_reference(value: str) -> str | None:
    return None if REFERENCE.match(value) else "must be 1 to 100 letters, digits or . _ ~ @ + : -"


def check_caller_phone(value: str) -> str | None:
    if SIP_ENDPOINT.match(value):
        return None
    reason = check_phone(value)
    return f"must be a phone number or a SIP endpoint like PJSIP/alice ({reason})" if reason else None


NEW_CALLER = Schema("new caller", (
    Field("caller_id", "string", "Your reference for the caller (text, or a number)", required=True,
          min_length=1, max_length=100, check=check_reference),
    Field("name", "string", "Shown in reports", max_length=200),
    Field("phone", "string", "Where we ring them into their conference: E.164 or a SIP endpoint "
          "(PJSIP/alice); without it they dial in with the PIN in the answer", max_length=200,
          check=check_caller_phone),
))
TRANSFER = Schema("transfer", (
    Field("phone", "string", "The number to transfer the call to", required=True, max_length=64, check=check_phone),
    Field("kind", "string", "cold (default): the caller leaves; warm: the caller stays, three-way",
          choices=("cold", "warm")),
))
NO_SURROGATES = re.compile(r"[\ud800-\udfff]")


def _storable(value: str) -> str | None:
    return "must be text (no lone surrogates)" if NO_SURROGATES.search(value) else None


READY = Schema("ready", (
    Field("outcome", "string", "What came of the call, in your words; kept with the call for reports",
          min_length=1, max_length=100, check=_storable),
    Field("notes", "string", "Notes kept with the call", max_length=10_000, check=_storable),
))
NOTHING = Schema("no fields", ())


def _new_caller_schema() -> dict[str, Any]:
    schema = NEW_CALLER.json_schema("create")
    reference = schema["properties"]["caller_id"]
    schema["properties"]["caller_id"] = {"anyOf": [{k: v for k, v in reference.items() if k != "description"},
                                                   {"type": "integer", "minimum": 0, "maximum": 10**18}],
                                         "description": reference["description"]}
    return schema

CALLER = {
    "type": "object",
    "required": ["caller_id", "name", "phone", "state", "session_id", "dial_in", "created_at", "removed_at", "uri",
                 "actions"],
    "properties": {
        "caller_id": {"type": "string"},
        "name": {"type": "string"},
        "phone": {"type": ["string", "null"]},
        "state": {"type": "string", "enum": list(STATES), "description": "The caller session's state; "
                  "disconnected: no live session (their phone hung up: add them again); removed"},
        "session_id": {"type": ["integer", "null"]},
        "dial_in": {"type": ["object", "null"], "description": "While they should dial in: {number, pin}",
                    "properties": {"number": {"type": "string"}, "pin": {"type": "string"}}},
        "created_at": {"type": "string", "format": "date-time"},
        "removed_at": {"type": ["string", "null"], "format": "date-time"},
        "uri": {"type": "string", "format": "uri"},
        "actions": {"$ref": "#/components/schemas/Actions"},
    },
    "additionalProperties": False,
}
COMMAND = {
    "type": "object",
    "required": ["caller_id", "uri", "command", "result"],
    "properties": {"caller_id": {"type": "string"}, "uri": {"type": "string", "format": "uri"},
                   "command": {"type": "string"},
                   "result": {"type": "object", "description": "The engine's answer, e.g. {call_id}"}},
}
CALLER_PATH = "/{id}/callers/{caller_id}"
COMMANDS = ("dial", "skip", "hangup", "transfer", "ready")


def _client(ctx: Context) -> CallFlowClient:
    client = ctx.request.app.get(CALLFLOW_CLIENT)
    if client is None:
        raise EngineUnavailable("the calling engine is not reachable from this server")
    return client


def engine_error(error: dict[str, Any], field: str | None = None) -> ApiError:
    """The engine's refusal as an API error with the engine's id."""
    error_id = str(error.get("id") or "engine-error")
    message = str(error.get("message") or error_id)
    if error_id in ("engine-unavailable", "engine-error"):
        return EngineUnavailable(message)
    if error_id == "rate-limited":  # numbers typed for a caller's phone
        return Conflict(message, error_id="too-many-phones")
    if error_id in UNPROCESSABLE:
        return Invalid(message, error_id=error_id, details={"fields": {field or "body": message}})
    return Conflict(message, error_id=error_id)


def caller_uri(ctx: Context, job_id: int, reference: str) -> str:
    return ctx.uri(f"{resource.path}/{job_id}/callers/{reference}")


def present_caller(ctx: Context, job_id: int, member: CallJobCaller, name: str, session: CallerSession | None,
                   *, state: str | None = None) -> dict[str, Any]:
    """A caller of the job; ``state`` when the engine just said it (the store follows it closely)."""
    if state is not None:
        pass
    elif member.removed_at is not None:
        state = "removed"
    elif session is None or session.status is CallerSessionStatus.ENDED:
        state = "disconnected"
    else:
        state = State.from_stored(session.status).value
    dial_in = None
    if state == "connecting" and member.phone is None and session is not None and session.pin:
        dial_in = {"number": ctx.request.app[SETTINGS].dial_in_number, "pin": session.pin}
    uri = caller_uri(ctx, job_id, member.reference)
    actions = [{"name": name_, "method": "POST", "uri": f"{uri}/{name_}"} for name_ in COMMANDS]
    actions.append({"name": "remove", "method": "DELETE", "uri": uri})
    return {"caller_id": member.reference, "name": name, "phone": member.phone, "state": state,
            "session_id": session.id if session is not None else None, "dial_in": dial_in,
            "created_at": member.created_at.isoformat(),
            "removed_at": member.removed_at.isoformat() if member.removed_at else None,
            "uri": uri, "actions": actions}


async def _latest_session(db, caller_id: int) -> CallerSession | None:
    return await db.scalar(select(CallerSession).where(CallerSession.caller_id == caller_id)
                           .order_by(CallerSession.id.desc()).limit(1))


async def _member(ctx: Context, job: CallJob) -> tuple[CallJobCaller, Caller]:
    reference = ctx.request.match_info.get("caller_id", "")
    row = None
    if REFERENCE.match(reference):
        row = (await ctx.session.execute(
            select(CallJobCaller, Caller).join(Caller, Caller.id == CallJobCaller.caller_id).where(
                CallJobCaller.job_id == job.id, CallJobCaller.reference == reference,
                CallJobCaller.account_id == ctx.account_id))).first()
    if row is None:
        raise NotFound(f"no caller {reference[:100]!r} on call job {job.id}", details={"caller_id": reference[:100]})
    return row[0], row[1]


# -- the routes ------------------------------------------------------------------------------------
@resource.operation("GET", "/{id}/callers", name="callers", response=COLLECTION, items=CALLER, errors=(404,),
                    query=PAGE_PARAMS, summary="List the job's callers with their state")
async def list_callers(ctx: Context) -> dict[str, Any]:
    job, _ = await find_job(ctx)
    latest = (select(CallerSession.id).where(CallerSession.caller_id == CallJobCaller.caller_id)
              .order_by(CallerSession.id.desc()).limit(1).correlate(CallJobCaller).scalar_subquery())
    query = (select(CallJobCaller, Caller.name, CallerSession)
             .join(Caller, Caller.id == CallJobCaller.caller_id)
             .outerjoin(CallerSession, CallerSession.id == latest)
             .where(CallJobCaller.job_id == job.id, CallJobCaller.account_id == ctx.account_id)
             .order_by(CallJobCaller.id))
    body = await paginate(ctx.session, query, ctx.params, ctx.request.url,
                          lambda row: present_caller(ctx, job.id, row[0], row[1], row[2]))
    uri = ctx.uri(f"{resource.path}/{job.id}/callers")
    return {"uri": str(public_url(ctx.request.url.with_query(
        [(k, v) for k, v in ctx.request.url.query.items() if k not in ("page", "limit")]))),
        "name": "callers", "actions": [{"name": "add_caller", "method": "POST", "uri": uri}], **body}


@resource.operation("POST", "/{id}/callers", name="add_caller", status=201, response=CALLER,
                    request={"application/json": _new_caller_schema()}, errors=(404, 409, 422, 503),
                    summary="Add one of your people to the job: rung at their phone, or given a PIN to dial in")
async def add_caller(ctx: Context) -> dict[str, Any]:
    body = await bodies.read_body(ctx.request)  # read before the transaction: the same bytes
    if body.strip() and not is_json(ctx.request.content_type):
        raise UnsupportedMediaType(f"send the body as application/json, not {ctx.request.content_type}")
    raw = parse_json(body)
    if isinstance(raw, dict) and isinstance(raw.get("caller_id"), int) and not isinstance(raw["caller_id"], bool):
        raw["caller_id"] = str(raw["caller_id"])  # the integrator's ids may be numbers
    values = NEW_CALLER.validate(raw)
    reference, phone = values["caller_id"], values.get("phone")
    job, _ = await find_job(ctx)
    if job.state is not CallJobState.RUNNING:
        raise Conflict(f"the job is {job.state.value}: it takes no more callers", error_id="job-not-running",
                       details={"state": job.state.value})
    elsewhere = await ctx.session.scalar(
        select(CallJobCaller.job_id).join(CallJob, CallJob.id == CallJobCaller.job_id).where(
            CallJobCaller.account_id == ctx.account_id, CallJobCaller.reference == reference,
            CallJobCaller.job_id != job.id, CallJobCaller.removed_at.is_(None),
            CallJob.state != CallJobState.ENDED).limit(1))
    if elsewhere is not None:
        message = f"caller {reference!r} is active in call job {elsewhere}: remove them there first"
        raise Conflict(message, error_id="caller-in-another-job",
                       details={"fields": {"caller_id": message}, "job_id": elsewhere})
    client = _client(ctx)
    store = ctx.request.app[STORE]
    endpoint = phone if phone and SIP_ENDPOINT.match(phone) else None
    number = to_e164(phone) if phone and endpoint is None else None
    async with store.transaction() as db:
        member = await db.scalar(select(CallJobCaller).where(CallJobCaller.job_id == job.id,
                                                             CallJobCaller.reference == reference))
        if member is None:
            caller = Caller(account_id=ctx.account_id, username=f"call-{job.id}-{secrets.token_hex(6)}",
                            name=values.get("name") or reference, password_hash=None, phones_only=False,
                            pin=await unique_pin(db, ctx.account_id), campaign_id=job.id, active=True)
            db.add(caller)
            await db.flush()
            member = CallJobCaller(account_id=ctx.account_id, job_id=job.id, caller_id=caller.id,
                                   reference=reference)
            db.add(member)
        else:
            caller = await db.get(Caller, member.caller_id)
            session = await _latest_session(db, caller.id)
            if member.removed_at is None and session is not None and session.status is not CallerSessionStatus.ENDED:
                state = State.from_stored(session.status).value
                raise Conflict(f"caller {reference!r} is on the job already ({state})", error_id="caller-active",
                               details={"fields": {"caller_id": "already on the job"}})
            caller.active, caller.campaign_id = True, job.id
            if values.get("name"):
                caller.name = values["name"]
        member.removed_at = None
        member.phone = number or endpoint
        caller.phone_endpoint = endpoint
        await db.flush()
        member_id, caller_id = member.id, caller.id
    # Committed: now the engine can open the caller's session and start it.
    reply = await client.request("attach", account_id=ctx.account_id, caller_id=caller_id)
    if reply.get("ok"):
        session_id = reply["session_id"]
        payload: dict[str, Any] = {"phone": number} if number else {} if endpoint else {"dial_in": True}
        reply = await client.request("start", account_id=ctx.account_id, session_id=session_id, caller_id=caller_id,
                                     payload=payload)
        if not reply.get("ok"):
            await client.request("remove", account_id=ctx.account_id, session_id=session_id, caller_id=caller_id)
    if not reply.get("ok"):
        await _take_off(store, member_id)
        raise engine_error(reply["error"], "phone")
    async with store.sessions() as db:
        member = await db.get(CallJobCaller, member_id)
        caller = await db.get(Caller, caller_id)
        session = await _latest_session(db, caller_id)
    logger.info("call job %s: caller %r added (session %s)", job.id, reference, session_id)
    return present_caller(ctx, job.id, member, caller.name, session, state=State.CONNECTING.value)


async def _take_off(store, member_id: int) -> None:
    """A caller whose session could not start is not on the job (nothing else changed)."""
    async with store.transaction() as db:
        member = await db.get(CallJobCaller, member_id)
        member.removed_at = utcnow()
        (await db.get(Caller, member.caller_id)).active = False


@resource.operation("GET", CALLER_PATH, name="read_caller", response=CALLER, errors=(404,), text_params=("caller_id",),
                    summary="One of the job's callers and their state")
async def read_caller(ctx: Context) -> dict[str, Any]:
    job, _ = await find_job(ctx)
    member, caller = await _member(ctx, job)
    return present_caller(ctx, job.id, member, caller.name, await _latest_session(ctx.session, caller.id))


@resource.operation("DELETE", CALLER_PATH, name="remove_caller", response=NO_CONTENT, status=204,
                    errors=(404, 503), text_params=("caller_id",),
                    summary="Take a caller off the job: their live call ends cleanly, their session ends")
async def remove_caller(ctx: Context) -> None:
    job, _ = await find_job(ctx)
    member, caller = await _member(ctx, job)
    if member.removed_at is not None:
        return None
    session = await _latest_session(ctx.session, caller.id)
    if session is not None and session.status is not CallerSessionStatus.ENDED:
        reply = await _client(ctx).request("remove", account_id=ctx.account_id, session_id=session.id,
                                           caller_id=caller.id)
        if not reply.get("ok") and reply["error"].get("id") not in ("no-such-session", "session-ended"):
            raise engine_error(reply["error"])
    await _take_off(ctx.request.app[STORE], member.id)
    logger.info("call job %s: caller %r removed", job.id, member.reference)
    return None


async def _command(ctx: Context, command: str, payload: dict[str, Any], field: str | None = None) -> dict[str, Any]:
    job, _ = await find_job(ctx)
    member, caller = await _member(ctx, job)
    session = await _latest_session(ctx.session, caller.id)
    if member.removed_at is not None or session is None:
        raise Conflict(f"caller {member.reference!r} has no session: add them to the job again",
                       error_id="caller-not-connected")
    reply = await _client(ctx).request(command, account_id=ctx.account_id, session_id=session.id,
                                       caller_id=caller.id, payload=payload)
    if not reply.get("ok"):
        raise engine_error(reply["error"], field)
    name = {"transfer_to": "transfer"}.get(command, command)
    return {"caller_id": member.reference, "uri": caller_uri(ctx, job.id, member.reference), "command": name,
            "result": {k: v for k, v in reply.items() if k != "ok"}}


def _command_route(name: str, summary: str, body: Schema = NOTHING):
    return resource.operation("POST", f"{CALLER_PATH}/{name}", name=name, body=body, response=COMMAND,
                              errors=(404, 409, 422, 503), text_params=("caller_id",), summary=summary)


@_command_route("dial", "Preview: dial the number the caller was presented (lead_presented)")
async def dial(ctx: Context) -> dict[str, Any]:
    return await _command(ctx, "dial", {})


@_command_route("skip", "Preview: skip the presented number (it comes back after the recycle interval)")
async def skip(ctx: Context) -> dict[str, Any]:
    return await _command(ctx, "skip", {})


@_command_route("hangup", "Hang up the caller's call (ringing or connected)")
async def hangup(ctx: Context) -> dict[str, Any]:
    return await _command(ctx, "hangup", {})


@_command_route("transfer", "Transfer the connected call to a number, cold or warm", TRANSFER)
async def transfer(ctx: Context) -> dict[str, Any]:
    return await _command(ctx, "transfer_to", {"phone": to_e164(ctx.body["phone"]),
                                               "kind": ctx.body.get("kind", "cold")}, "phone")


@_command_route("ready", "The caller's wrap-up is done: optionally {outcome, notes} kept with the call; "
                "they get the next call", READY)
async def ready(ctx: Context) -> dict[str, Any]:
    return await _command(ctx, "ready", dict(ctx.body))
