"""/v1/call: the call API. An integrator who keeps their own callers and data starts a call
job; the engine dials, paces and bridges, and POSTs every change of state to the job's
``call_state_url`` (see :mod:`realtime.callflow.notifications`).

A job is a campaign (same id: its report is ``/v1/reports/{id}``) plus what the job adds
(``call_jobs``): where notifications go, where numbers come from (``phone_number``
given now, an uploaded list's households, and ``phone_numbers_url`` fetched a page at a
time by the engine), ``wrap_up_seconds``. ``POST /v1/call`` takes JSON or a form, with
the original plan's parameter names. The job's callers are in :mod:`.call_callers`.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any
from urllib.parse import urlsplit

from urllib.parse import parse_qsl

from sqlalchemy import case, exists, func, select

from realtime.api import bodies
from realtime.api.campaigns import check_time_zone
from realtime.api.errors import BadRequest, Conflict, Invalid, UnsupportedMediaType
from realtime.api.pagination import PAGE_PARAMS, paginate, public_url
from realtime.api.routing import COLLECTION, NO_CONTENT, Context, Resource
from realtime.api.validation import CREATED_AT, ID, MAX_ID, Field, Schema, check_phone, parse_json
from realtime.app_keys import SETTINGS, WEBHOOKS
from realtime.callflow import notifications
from realtime.callflow.notifications import Notice
from realtime.destinations import refused_url
from realtime.dialer.number_source import MAX_PAGE, check_url
from realtime.dialer.numbers import add_numbers, copy_list
from realtime.dialer.phones import to_e164
from realtime.store.models import (
    CallAttempt,
    CallerSession,
    CallerSessionStatus,
    CallJob,
    CallJobCaller,
    CallJobState,
    CallStatus,
    Campaign,
    DialerMode,
    Household,
    HouseholdStatus,
    LeadList,
    ListStatus,
    Recording,
)
from realtime.store.scoping import scoped
from realtime.store.types import utcnow

logger = logging.getLogger(__name__)

MAX_NUMBERS = 10_000  # phone_number in one request; more come from a list or phone_numbers_url


def check_http_url(value: str) -> str | None:
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        host = None
    return None if host and parts.scheme in ("https", "http") else "must be an http(s) URL"


# -- what a request may say ----------------------------------------------------------------------
NAME = Field("name", "string", "Shown in reports (a campaign of this name runs the job)", min_length=1,
             max_length=200)
FROM = Field("from", "string", "The caller ID the people called see (E.164)", max_length=32, check=check_phone)
def check_call_state_url(value: str) -> str | None:
    if reason := check_http_url(value):
        return reason
    # Filled in with the longest call id and reference, it must still fit where deliveries are kept.
    longest = notifications.fill_url(value, job_id=MAX_ID, call_id="f" * 16, reference="%" * 100)
    return "too long once :id and :caller_id are filled in" if len(longest) > 2000 else None


CALL_STATE_URL = Field("call_state_url", "string", "Where call-state notifications are POSTed: :id becomes the "
                       "call's id, :caller_id the caller's reference; a public address", max_length=2000,
                       check=check_call_state_url)
SETTINGS_FIELDS = (
    Field("calling_hours_start", "time", "Earliest local time to call, HH:MM (default 09:00)"),
    Field("calling_hours_end", "time", "Latest local time to call, HH:MM (default 21:00)"),
    Field("time_zone", "string", "IANA zone of the calling hours (default America/New_York)", max_length=64,
          check=check_time_zone),
    Field("ring_timeout", "integer", "Seconds a line rings before it counts as unanswered (default 20)",
          minimum=5, maximum=300),
    Field("amd", "boolean", "Answering-machine detection (default false)"),
    Field("voicemail_recording_id", "id", "A recording left on answering machines (with amd)", nullable=True),
    Field("acceptable_abandon_rate", "number", "Predictive pacing keeps abandoned calls under this share "
          "(default 0.03)", minimum=0, maximum=1),
    Field("wrap_up_seconds", "integer", "Callers are ready again by themselves this long after a call "
          "(default: when you POST .../ready)", nullable=True, minimum=0, maximum=3600),
)
CREATE = Schema("new call job", (
    Field("dialer_type", "string", "preview, power or predictive, in any case", required=True, enum=DialerMode),
    dataclasses.replace(FROM, required=True),
    dataclasses.replace(CALL_STATE_URL, required=True),
    Field("phone_numbers_url", "string", "An https URL we GET (with page and limit) when more numbers are "
          "wanted; it answers {\"phone_numbers\": [...]} or an array; an empty page means no more",
          max_length=2000),
    Field("phone_numbers_limit", "integer", "Numbers per page of phone_numbers_url (default 50)", minimum=1,
          maximum=MAX_PAGE),
    Field("list_id", "id", "Dial an uploaded list's households (a list of any campaign of the account)"),
    NAME,
    *SETTINGS_FIELDS,
))
UPDATE = Schema("call job change", (NAME, FROM, CALL_STATE_URL, *SETTINGS_FIELDS))
_NUMBER = {"anyOf": [{"type": "string", "maxLength": 64}, {"type": "integer", "minimum": 0}]}
PHONE_NUMBER = {"anyOf": [_NUMBER, {"type": "array", "items": _NUMBER, "maxItems": MAX_NUMBERS}],
                "description": "One number or an array, dialled first", "examples": [[12025550142, "+12025550143"]]}


def _create_schema() -> dict[str, Any]:
    schema = CREATE.json_schema("create")
    schema["properties"]["phone_number"] = PHONE_NUMBER
    # In any case, as the original plan writes "Preview".
    any_case = "|".join("".join(f"[{c.upper()}{c}]" for c in mode.value) for mode in DialerMode)
    schema["properties"]["dialer_type"] = {"type": "string", "pattern": f"^({any_case})$",
                                           "description": CREATE_FIELDS["dialer_type"].description}
    return schema


# -- what a job answers ---------------------------------------------------------------------------
_COUNTS = {"type": "object", "description": "numbers queued in all, remaining to call, lines dialled, answered, "
           "connected to a caller, abandoned; callers on the job",
           "required": ["numbers", "remaining", "dialled", "answered", "connected", "abandoned", "callers"],
           "properties": {name: {"type": "integer", "minimum": 0} for name in (
               "numbers", "remaining", "dialled", "answered", "connected", "abandoned", "callers")}}
SCHEMA = Schema("call job", (
    ID,
    Field("name", "string", read_only=True),
    Field("state", "string", "running; stopping (live calls finish, nothing more is dialled); ended",
          enum=CallJobState, read_only=True),
    Field("dialer_type", "string", enum=DialerMode, read_only=True),
    Field("from", "string", read_only=True),
    Field("call_state_url", "string", read_only=True),
    Field("phone_numbers_url", "string", nullable=True, read_only=True),
    Field("phone_numbers_limit", "integer", read_only=True),
    Field("list_id", "id", nullable=True, read_only=True),
    *(Field(f.name, f.kind, f.description, nullable=f.nullable, read_only=True) for f in SETTINGS_FIELDS),
    Field("counts", "object", _COUNTS["description"], read_only=True),
    Field("numbers", "object", "The numbers source: next_page, source_exhausted, exhausted (nothing left to "
          "dial), added, duplicates, rejected and the first rejected_numbers, paused {reason, failures, retry_at} "
          "while a failing source is waited for", read_only=True),
    Field("callers_uri", "string", read_only=True),
    Field("report_uri", "string", "The job's campaign report", read_only=True),
    CREATED_AT,
    Field("ended_at", "datetime", nullable=True, read_only=True),
    Field("end_reason", "string", nullable=True, read_only=True),
))

resource = Resource("call", SCHEMA, "The call API: jobs dialled for your own callers, with call-state "
                    "notifications to your server")


def job_actions(ctx: Context, job_id: int) -> list[dict[str, str]]:
    """The job's own actions (the callers' routes are listed on each caller)."""
    per_caller = {op.name for op in resource.operations if "{caller_id}" in op.path}
    return [action for action in resource.actions(ctx.base, job_id) if action["name"] not in per_caller]


async def present(ctx: Context, job: CallJob, campaign: Campaign) -> dict[str, Any]:
    counts = await _counts(ctx, job.id)
    paused = None
    if job.intake_failures:
        paused = {"reason": job.intake_error or "", "failures": job.intake_failures,
                  "retry_at": job.intake_retry_at.isoformat() if job.intake_retry_at else None}
    path = f"{resource.path}/{job.id}"
    values = {
        "id": job.id, "name": campaign.name, "state": job.state.value, "dialer_type": campaign.dialer_mode.value,
        "from": campaign.caller_id, "call_state_url": job.call_state_url, "phone_numbers_url": job.phone_numbers_url,
        "phone_numbers_limit": job.numbers_page_size, "list_id": job.list_id,
        "calling_hours_start": campaign.calling_hours_start.strftime("%H:%M"),
        "calling_hours_end": campaign.calling_hours_end.strftime("%H:%M"), "time_zone": campaign.time_zone,
        "ring_timeout": campaign.ring_timeout_seconds, "amd": campaign.use_amd,
        "voicemail_recording_id": campaign.voicemail_recording_id,
        "acceptable_abandon_rate": float(campaign.acceptable_abandon_rate), "wrap_up_seconds": job.wrap_up_seconds,
        "counts": counts,
        "numbers": {"next_page": job.numbers_next_page, "source_exhausted": job.source_exhausted,
                    "exhausted": job.numbers_exhausted_at is not None, "added": job.numbers_added,
                    "duplicates": job.numbers_duplicate, "rejected": job.numbers_rejected,
                    "rejected_numbers": list(job.rejected_numbers or []), "paused": paused},
        "callers_uri": ctx.uri(path + "/callers"), "report_uri": ctx.uri(f"/v1/reports/{job.id}"),
        "created_at": job.created_at.isoformat(),
        "ended_at": job.ended_at.isoformat() if job.ended_at else None, "end_reason": job.end_reason,
    }
    return {**values, "uri": ctx.uri(path), "actions": job_actions(ctx, job.id)}


async def _counts(ctx: Context, job_id: int) -> dict[str, int]:
    session = ctx.session
    remaining_statuses = (HouseholdStatus.NOT_CALLED, HouseholdStatus.RETRY, HouseholdStatus.RESERVED,
                          HouseholdStatus.DIALING)
    numbers, remaining = (await session.execute(select(
        func.count(), func.coalesce(func.sum(case((Household.status.in_(remaining_statuses)
                                                   & Household.blocked_account.is_(False)
                                                   & Household.blocked_campaign.is_(False), 1), else_=0)), 0))
        .where(Household.campaign_id == job_id))).one()
    dialled, answered, connected, abandoned = (await session.execute(select(
        func.count(), func.count(CallAttempt.answered_at), func.count(CallAttempt.connected_at),
        func.coalesce(func.sum(case((CallAttempt.status == CallStatus.ABANDONED, 1), else_=0)), 0))
        .where(CallAttempt.campaign_id == job_id, CallAttempt.status != CallStatus.SKIPPED))).one()
    callers = await session.scalar(select(func.count()).select_from(CallJobCaller).where(
        CallJobCaller.job_id == job_id, CallJobCaller.removed_at.is_(None)))
    return {"numbers": numbers, "remaining": int(remaining), "dialled": dialled, "answered": answered,
            "connected": connected, "abandoned": int(abandoned), "callers": callers or 0}


async def find_job(ctx: Context) -> tuple[CallJob, Campaign]:
    """The account's job of the path (404 for another account's, as for a missing one)."""
    job = await ctx.find(CallJob)
    return job, await ctx.session.get(Campaign, job.id)


# -- reading a request body: JSON or a form --------------------------------------------------------
CREATE_FIELDS = {field.name: field for field in CREATE.fields}
_KINDS = {field.name: field.kind for field in CREATE.fields}


def is_json(content_type: str) -> bool:
    """application/json, or a JSON-based type (as the API's JSON routes take)."""
    return content_type == "application/json" or (content_type.startswith("application/")
                                                   and content_type.endswith("+json"))


async def read_body(ctx: Context) -> dict[str, Any]:
    """The body as JSON values: a JSON object, or a form (``application/x-www-form-urlencoded``)
    read as the same names, text made numbers and booleans where the field wants them."""
    request = ctx.request
    raw = await bodies.read_body(request)  # read before the transaction: these are the same bytes
    if request.content_type == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw.strip()),
                              max_num_fields=MAX_NUMBERS + 100)
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadRequest(f"malformed form: {exc}", error_id="malformed-body") from None
        return _form_values(pairs)
    if raw.strip() and not is_json(request.content_type):
        raise UnsupportedMediaType("send JSON (application/json) or a form (application/x-www-form-urlencoded)")
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise Invalid.fields({"body": "must be an object"})
    return body


def _form_values(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key in dict.fromkeys(k for k, _ in pairs):
        name = key.removesuffix("[]")
        given = [v for k, v in pairs if k == key]
        if name == "phone_number":
            values.setdefault(name, []).extend(given)
            continue
        if len(given) > 1 or name in values:
            errors[name] = "given more than once"
            continue
        values[name] = _typed(_KINDS.get(name, "string"), given[0])
    if errors:
        raise Invalid.fields(errors)
    if isinstance(values.get("phone_number"), list) and len(values["phone_number"]) == 1:
        values["phone_number"] = values["phone_number"][0]
    return values


def _typed(kind: str, text: str) -> Any:
    """A form's text as the JSON value a field of ``kind`` takes (left as text when it is none)."""
    stripped = text.strip()
    if kind in ("integer", "id"):
        return int(stripped) if stripped.lstrip("-").isdigit() and len(stripped) < 30 else text
    if kind == "number":
        try:
            return float(stripped)
        except ValueError:
            return text
    if kind == "boolean":
        return {"true": True, "1": True, "on": True, "false": False, "0": False, "off": False}.get(
            stripped.lower(), text)
    if text == "" and kind in ("time",):
        return None
    return text


def _phone_numbers(raw: Any, errors: dict[str, str]) -> list[str]:
    items = raw if isinstance(raw, list) else [raw]
    if len(items) > MAX_NUMBERS:
        errors["phone_number"] = f"at most {MAX_NUMBERS} numbers; give more through a list or phone_numbers_url"
        return []
    numbers = []
    for index, item in enumerate(items):
        where = f"phone_number[{index}]" if isinstance(raw, list) else "phone_number"
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            errors[where] = "must be a phone number (text or digits)"
            continue
        text = str(item) if isinstance(item, str) or item <= 0 or len(str(item)) <= 10 else "+" + str(item)
        reason = check_phone(text) if len(text) <= 64 and "\x00" not in text else "not a phone number"
        if reason:
            errors[where] = reason
            continue
        numbers.append(to_e164(text))
    return numbers


async def _check_references(ctx: Context, values: dict[str, Any], errors: dict[str, str]) -> None:
    recording = values.get("voicemail_recording_id")
    if recording is not None and (await ctx.session.scalar(scoped(Recording, ctx.account_id).where(
            Recording.id == recording))) is None:
        errors["voicemail_recording_id"] = f"no recording {recording} in this account"
    if "list_id" in values:
        lead_list = await ctx.session.scalar(scoped(LeadList, ctx.account_id).where(LeadList.id == values["list_id"]))
        if lead_list is None:
            errors["list_id"] = f"no list {values['list_id']} in this account"
        elif lead_list.status is not ListStatus.READY:
            errors["list_id"] = f"the list is {lead_list.status.value}; it must be imported first"


def check_destination(ctx: Context, url: str | None, errors: dict[str, str]) -> None:
    """Notifications go to public addresses only (unless the server allows private ones)."""
    if url and not ctx.request.app[SETTINGS].allow_private_urls and (reason := refused_url(url)):
        errors["call_state_url"] = f"{reason}: notifications go to public addresses only"


# -- the routes --------------------------------------------------------------------------------------
@resource.operation("GET", "", name="list", summary="List call jobs", response=COLLECTION,
                    query=(Field("state", "string", enum=CallJobState), *PAGE_PARAMS))
async def list_jobs(ctx: Context) -> dict[str, Any]:
    query = (select(CallJob, Campaign).join(Campaign, Campaign.id == CallJob.id)
             .where(CallJob.account_id == ctx.account_id).order_by(CallJob.id))
    if "state" in ctx.params:
        query = query.where(CallJob.state == ctx.params["state"])
    body = await paginate(ctx.session, query, ctx.params, ctx.request.url, lambda row: row)
    body["resources"] = [await present(ctx, job, campaign) for job, campaign in body["resources"]]
    return {"uri": str(public_url(ctx.request.url.with_query(
        [(k, v) for k, v in ctx.request.url.query.items() if k not in ("page", "limit")]))),
        "name": resource.name, "actions": resource.actions(ctx.base, None), **body}


@resource.operation("POST", "", name="create", status=201, request={
    "application/json": _create_schema(), "application/x-www-form-urlencoded": _create_schema()},
    errors=(409, 413, 415, 422), summary="Start a call job (JSON or a form): numbers from phone_number, "
    "list_id and/or phone_numbers_url; notifications to call_state_url")
async def create_job(ctx: Context) -> dict[str, Any]:
    raw = await read_body(ctx)
    errors: dict[str, str] = {}
    numbers_raw = raw.pop("phone_number", None)
    if isinstance(raw.get("dialer_type"), str):
        raw["dialer_type"] = raw["dialer_type"].lower()
    try:
        values = CREATE.validate(raw)
    except Invalid as exc:
        errors.update(exc.details["fields"])
        values = {k: v for k, v in raw.items() if k not in errors and k in _KINDS}
        values = {k: CREATE_FIELDS[k].convert(v) for k, v in values.items()}
    given = numbers_raw not in (None, [], "")
    numbers = _phone_numbers(numbers_raw, errors) if given else []
    check_destination(ctx, values.get("call_state_url"), errors)
    allow_private = ctx.request.app[SETTINGS].allow_private_urls
    if values.get("phone_numbers_url") and (reason := check_url(values["phone_numbers_url"],
                                                                allow_private=allow_private)):
        errors["phone_numbers_url"] = reason
    if not given and not values.get("phone_numbers_url") and "list_id" not in values \
            and not {"phone_numbers_url", "list_id"} & set(errors):
        message = "a job needs numbers: give phone_numbers_url, phone_number or list_id"
        errors.update({"phone_numbers_url": message, "phone_number": message, "list_id": message})
    await _check_references(ctx, values, errors)
    if errors:
        raise Invalid.fields(errors)

    campaign = Campaign(
        account_id=ctx.account_id, name=values.get("name") or "Call job", dialer_mode=values["dialer_type"],
        caller_id=to_e164(values["from"]), active=True, script_id=None,
        ring_timeout_seconds=values.get("ring_timeout", 20), use_amd=values.get("amd", False),
        voicemail_recording_id=values.get("voicemail_recording_id"),
        leave_voicemail=values.get("voicemail_recording_id") is not None,
        **{k: values[k] for k in ("calling_hours_start", "calling_hours_end", "time_zone", "acceptable_abandon_rate")
           if values.get(k) is not None},
    )
    ctx.session.add(campaign)
    await ctx.session.flush()
    job = CallJob(id=campaign.id, account_id=ctx.account_id, state=CallJobState.RUNNING,
                  call_state_url=values["call_state_url"], phone_numbers_url=values.get("phone_numbers_url"),
                  numbers_page_size=values.get("phone_numbers_limit", 50), list_id=values.get("list_id"),
                  wrap_up_seconds=values.get("wrap_up_seconds"), numbers_next_page=1, source_exhausted=False,
                  numbers_added=0, numbers_duplicate=0, numbers_rejected=0, rejected_numbers=[], intake_failures=0)
    ctx.session.add(job)
    await ctx.session.flush()
    added = await add_numbers(ctx.session, account_id=ctx.account_id, campaign_id=campaign.id, numbers=numbers)
    job.numbers_added = len(added.added)
    job.numbers_duplicate = added.duplicates
    job.numbers_rejected = len(added.rejected)
    job.rejected_numbers = added.rejected[:100]
    if "list_id" in values:
        job.numbers_added += await copy_list(ctx.session, account_id=ctx.account_id, campaign_id=campaign.id,
                                             list_id=values["list_id"])
    if added.rejected:
        await notifications.write(ctx.session, [Notice(job.id, "number_rejected", fields=dict(r))
                                                for r in added.rejected],
                                  account_id=ctx.account_id, url=job.call_state_url, references={})
        ctx.after_commit(_wake_deliveries(ctx))
    await ctx.session.flush()
    logger.info("call job %s started (%s, %d numbers)", job.id, campaign.dialer_mode.value, job.numbers_added)
    return await present(ctx, job, campaign)


@resource.operation("GET", "/{id}", name="read", summary="Read a call job: its state, counts and numbers source",
                    errors=(404,))
async def read_job(ctx: Context) -> dict[str, Any]:
    return await present(ctx, *await find_job(ctx))


@resource.operation("PATCH", "/{id}", name="update", body=UPDATE, partial=True, errors=(404, 409, 422),
                    summary="Change what a campaign could change live: name, from, call_state_url, calling "
                    "hours, ring timeout, amd, voicemail, abandon rate, wrap_up_seconds")
async def update_job(ctx: Context) -> dict[str, Any]:
    job, campaign = await find_job(ctx)
    if job.state is CallJobState.ENDED:
        raise Conflict("the job has ended", error_id="job-ended", details={"state": job.state.value})
    values = ctx.body
    errors: dict[str, str] = {}
    check_destination(ctx, values.get("call_state_url"), errors)
    await _check_references(ctx, values, errors)
    if errors:
        raise Invalid.fields(errors)
    columns = {"name": "name", "calling_hours_start": "calling_hours_start", "calling_hours_end": "calling_hours_end",
               "time_zone": "time_zone", "ring_timeout": "ring_timeout_seconds", "amd": "use_amd",
               "voicemail_recording_id": "voicemail_recording_id",
               "acceptable_abandon_rate": "acceptable_abandon_rate"}
    for name, value in values.items():
        if name == "from":
            campaign.caller_id = to_e164(value)
        elif name == "call_state_url":
            job.call_state_url = value
        elif name == "wrap_up_seconds":
            job.wrap_up_seconds = value
        else:
            setattr(campaign, columns[name], value)
    if "voicemail_recording_id" in values:
        campaign.leave_voicemail = values["voicemail_recording_id"] is not None
    await ctx.session.flush()
    ctx.announce_campaign_change(campaign_id=job.id)
    return await present(ctx, job, campaign)


@resource.operation("DELETE", "/{id}", name="stop", response=NO_CONTENT, status=204, errors=(404,),
                    summary="Stop a call job: nothing more is dialled, live calls finish, then job_ended")
async def stop_job(ctx: Context) -> None:
    job, campaign = await find_job(ctx)
    if job.state is CallJobState.ENDED:
        return None
    campaign.active = False
    live = await ctx.session.scalar(select(exists().where(
        CallerSession.campaign_id == job.id, CallerSession.status != CallerSessionStatus.ENDED)))
    if live:
        job.state = CallJobState.STOPPING  # the engine running it ends it when its calls are over
    else:
        job.state, job.ended_at, job.end_reason = CallJobState.ENDED, utcnow(), "stopped"
        await notifications.write(ctx.session, [Notice(job.id, "job_ended", fields={"reason": "stopped"})],
                                  account_id=ctx.account_id, url=job.call_state_url, references={})
        ctx.after_commit(_wake_deliveries(ctx))
    await ctx.session.flush()
    ctx.announce_campaign_change(campaign_id=job.id)
    logger.info("call job %s stopping (%s)", job.id, job.state.value)
    return None


def _wake_deliveries(ctx: Context) -> Any:
    """After the commit: the outbox has news, delivered now rather than at its next look."""
    dispatcher = ctx.request.app.get(WEBHOOKS)

    async def wake() -> None:
        if dispatcher is not None:
            dispatcher.notify()

    return wake
