"""/v1/reports/{campaign_id}: how a campaign's calling went, and every call attempt as CSV.

The report has four parts:

- ``dials``: call attempts by final status (every status listed, zeros included);
- ``answers``: per survey question, each response's count and its percentage of the
  question's answers;
- ``callers``: per caller, calls handled, conversations (a person on the line:
  connected or completed), talk and wrap-up time, answers recorded;
- ``abandonment``: abandoned ÷ human-answered calls (connected + completed + abandoned),
  by answer time, over the last 24 hours and the last 30 days: the measure the
  predictive dialer keeps under the campaign's limit (``realtime.dialer.abandonment``).

``/call_attempts.csv`` streams every attempt, oldest first, with the lead's fields, one
column per survey question and per note, the recording link, and the outcome and notes a
call-API integrator gave the call (``ready``); it is written in
chunks of a thousand attempts, in constant memory, however long the campaign.
"""
from __future__ import annotations

import csv
import io
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from sqlalchemy import ColumnElement, case, func, select

from realtime.api.routing import Context, Resource
from realtime.app_keys import STORE
from realtime.dialer.abandonment import abandonment
from realtime.store.database import Store
from realtime.store.models import (
    Answer,
    CallAttempt,
    Caller,
    CallStatus,
    Campaign,
    CustomLeadField,
    Household,
    Lead,
    Note,
    NoteResponse,
    PossibleResponse,
    Question,
)

logger = logging.getLogger(__name__)

CHUNK = 1000
CONVERSATION = (CallStatus.CONNECTED, CallStatus.COMPLETED)
LEAD_COLUMNS = ("external_id", "first_name", "last_name", "email", "address", "city", "state", "zip_code")

_RATE = {
    "type": "object", "required": ["abandoned", "human_answered", "rate"],
    "properties": {"abandoned": {"type": "integer"}, "human_answered": {"type": "integer"},
                   "rate": {"type": "number", "description": "abandoned ÷ human_answered, 0 to 1"}},
}
_DOWNLOADS = {"type": "object", "required": ["call_attempts"],
              "properties": {"call_attempts": {"type": "string", "format": "uri"}}}
REPORT = {
    "type": "object",
    "required": ["campaign_id", "uri", "dials", "answers", "callers", "abandonment", "downloads"],
    "properties": {
        "campaign_id": {"type": "integer"},
        "uri": {"type": "string", "format": "uri"},
        "dials": {"type": "object", "required": ["total", "by_status"], "properties": {
            "total": {"type": "integer"},
            "by_status": {"type": "object", "additionalProperties": {"type": "integer"}},
        }},
        "answers": {"type": "array", "items": {
            "type": "object", "required": ["question_id", "question", "total", "responses"],
            "properties": {
                "question_id": {"type": "integer"}, "question": {"type": "string"}, "total": {"type": "integer"},
                "responses": {"type": "array", "items": {
                    "type": "object", "required": ["response_id", "value", "count", "percent"],
                    "properties": {"response_id": {"type": "integer"}, "value": {"type": "string"},
                                   "count": {"type": "integer"},
                                   "percent": {"type": "number", "description": "0 to 100, one decimal"}},
                }},
            },
        }},
        "callers": {"type": "array", "items": {
            "type": "object",
            "required": ["caller_id", "name", "calls", "conversations", "talk_seconds", "wrap_up_seconds", "answers"],
            "properties": {"caller_id": {"type": "integer"}, "name": {"type": "string"},
                           "calls": {"type": "integer"}, "conversations": {"type": "integer"},
                           "talk_seconds": {"type": "number"}, "wrap_up_seconds": {"type": "number"},
                           "answers": {"type": "integer"}},
        }},
        "abandonment": {"type": "object", "required": ["limit", "last_24_hours", "last_30_days", "over_limit"],
                        "properties": {"limit": {"type": "number"}, "last_24_hours": _RATE, "last_30_days": _RATE,
                                       "over_limit": {"type": "boolean"}}},
        "downloads": _DOWNLOADS,
    },
}

REPORT_LINKS = {
    "type": "object",
    "required": ["campaign_id", "campaign_name", "uri", "downloads"],
    "properties": {"campaign_id": {"type": "integer"}, "campaign_name": {"type": "string"},
                   "uri": {"type": "string", "format": "uri"}, "downloads": _DOWNLOADS},
}

resource = Resource("reports", None, "Reports per campaign: dials, survey answers, callers, abandonment; "
                    "call attempts as CSV")


@resource.list(summary="One entry per campaign: where its report and its call attempts' CSV are",
               items=REPORT_LINKS)
async def list_reports(ctx: Context) -> dict[str, Any]:
    query = select(Campaign).where(Campaign.account_id == ctx.account_id).order_by(Campaign.id)
    return await ctx.page(query, lambda campaign: _report_links(ctx, campaign))


def _report_links(ctx: Context, campaign: Campaign) -> dict[str, Any]:
    path = f"{resource.path}/{campaign.id}"
    return {"campaign_id": campaign.id, "campaign_name": campaign.name, "uri": ctx.uri(path),
            "downloads": {"call_attempts": ctx.uri(path + "/call_attempts.csv")}}


@resource.operation("GET", "/{id}", name="read", response=REPORT, errors=(404,),
                    summary="The campaign's report ({id} is the campaign's id)")
async def campaign_report(ctx: Context) -> dict[str, Any]:
    campaign = await ctx.find(Campaign)
    session = ctx.session
    dials = dict((await session.execute(
        select(CallAttempt.status, func.count()).where(CallAttempt.campaign_id == campaign.id)
        .group_by(CallAttempt.status)
    )).all())
    rates = await abandonment(ctx.request.app[STORE], campaign.id)
    links = _report_links(ctx, campaign)
    return {
        "campaign_id": campaign.id,
        "uri": links["uri"],
        "dials": {"total": sum(dials.values()), "by_status": {s.value: dials.get(s, 0) for s in CallStatus}},
        "answers": await _answers(ctx, campaign),
        "callers": await _callers(ctx, campaign),
        "abandonment": {k: v for k, v in rates.as_json().items() if k not in ("campaign_id", "at")},
        "downloads": links["downloads"],
    }


async def _answers(ctx: Context, campaign: Campaign) -> list[dict[str, Any]]:
    counts = (await ctx.session.execute(
        select(Answer.question_id, Answer.possible_response_id, func.count())
        .where(Answer.campaign_id == campaign.id)
        .group_by(Answer.question_id, Answer.possible_response_id)
    )).all()
    by_question: dict[int, dict[int, int]] = defaultdict(dict)
    for question_id, response_id, count in counts:
        by_question[question_id][response_id] = count
    questions = await _questions(ctx.session, campaign, set(by_question))
    report = []
    for question in questions:
        answered = by_question.get(question.id, {})
        total = sum(answered.values())
        report.append({
            "question_id": question.id,
            "question": question.text,
            "total": total,
            "responses": [
                {"response_id": response.id, "value": response.value, "count": answered.get(response.id, 0),
                 "percent": round(100 * answered.get(response.id, 0) / total, 1) if total else 0.0}
                for response in question.responses
            ],
        })
    return report


async def _questions(session, campaign: Campaign, answered: set[int]) -> list[Question]:
    """The campaign's script's questions, and any other question answered on its calls, in order."""
    condition = Question.id.in_(answered) if answered else None
    if campaign.script_id is not None:
        on_script = Question.script_id == campaign.script_id
        condition = on_script if condition is None else on_script | condition
    if condition is None:
        return []
    return list(await session.scalars(select(Question).where(condition).order_by(
        Question.script_id, Question.position, Question.id)))


def _seconds(dialect: str, start: Any, end: Any) -> ColumnElement:
    if dialect == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


async def _callers(ctx: Context, campaign: Campaign) -> list[dict[str, Any]]:
    dialect = ctx.session.bind.dialect.name
    talked = CallAttempt.status.in_(CONVERSATION)
    rows = (await ctx.session.execute(
        select(
            CallAttempt.caller_id,
            func.count(),
            func.sum(case((talked, 1), else_=0)),
            func.coalesce(func.sum(case(
                (talked, _seconds(dialect, CallAttempt.connected_at, CallAttempt.ended_at)), else_=0)), 0),
            func.coalesce(func.sum(_seconds(dialect, CallAttempt.ended_at, CallAttempt.wrapped_up_at)), 0),
        )
        .where(CallAttempt.campaign_id == campaign.id, CallAttempt.caller_id.is_not(None))
        .group_by(CallAttempt.caller_id)
    )).all()
    answers = dict((await ctx.session.execute(
        select(Answer.caller_id, func.count()).where(Answer.campaign_id == campaign.id)
        .group_by(Answer.caller_id)
    )).all())
    names = dict((await ctx.session.execute(
        select(Caller.id, func.coalesce(func.nullif(Caller.name, ""), Caller.username))
        .where(Caller.id.in_([r[0] for r in rows]))
    )).all()) if rows else {}
    return [
        {"caller_id": caller_id, "name": names.get(caller_id, ""), "calls": calls, "conversations": int(talks or 0),
         "talk_seconds": round(float(talk or 0), 1), "wrap_up_seconds": round(float(wrap or 0), 1),
         "answers": answers.get(caller_id, 0)}
        for caller_id, calls, talks, talk, wrap in sorted(rows, key=lambda r: r[0])
    ]


@resource.operation("GET", "/{id}/call_attempts.csv", name="call_attempts", response="text/csv", errors=(404,),
                    summary="Every call attempt of the campaign as CSV: lead fields, answers, notes, recording")
async def call_attempts_csv(ctx: Context) -> web.Response:
    campaign = await ctx.find(Campaign)
    store = ctx.request.app[STORE]
    async with store.sessions() as session:
        custom = list(await session.scalars(select(CustomLeadField.name).where(
            CustomLeadField.account_id == ctx.account_id).order_by(CustomLeadField.name)))
        answered = set(await session.scalars(select(Answer.question_id).where(
            Answer.campaign_id == campaign.id).distinct()))
        questions = await _questions(session, campaign, answered)
        notes = list(await session.scalars(
            select(Note).where(Note.id.in_(
                select(NoteResponse.note_id).join(CallAttempt, CallAttempt.id == NoteResponse.call_attempt_id)
                .where(CallAttempt.campaign_id == campaign.id)
            ) | (Note.script_id == campaign.script_id)).order_by(Note.script_id, Note.position, Note.id)
        ))
    return web.Response(
        body=_csv_rows(store, campaign.id, custom, questions, notes),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="campaign-{campaign.id}-call-attempts.csv"'},
    )


async def _csv_rows(store: Store, campaign_id: int, custom: list[str], questions: list[Question],
                    notes: list[Note]) -> AsyncIterator[bytes]:
    """The CSV, a chunk of attempts at a time, each chunk read in a short transaction of its own."""
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow([
        "call_attempt_id", "dialed_at", "answered_at", "ended_at", "status", "caller_id", "caller", "phone",
        "lead_id", *LEAD_COLUMNS, *custom, *(q.text for q in questions), *(f"note: {n.text}" for n in notes),
        "recording_url", "outcome", "notes",
    ])
    yield buffer.getvalue().encode()
    after = 0
    while True:
        async with store.sessions() as session:
            rows = (await session.execute(
                select(CallAttempt, Household.phone, Lead, func.coalesce(func.nullif(Caller.name, ""), Caller.username))
                .join(Household, Household.id == CallAttempt.household_id)
                .outerjoin(Lead, Lead.id == CallAttempt.lead_id)
                .outerjoin(Caller, Caller.id == CallAttempt.caller_id)
                .where(CallAttempt.campaign_id == campaign_id, CallAttempt.id > after)
                .order_by(CallAttempt.id).limit(CHUNK)
            )).all()
            if not rows:
                return
            ids = [attempt.id for attempt, *_ in rows]
            answers: dict[int, dict[int, str]] = defaultdict(dict)
            for attempt_id, question_id, value in await session.execute(
                select(Answer.call_attempt_id, Answer.question_id, PossibleResponse.value)
                .join(PossibleResponse, PossibleResponse.id == Answer.possible_response_id)
                .where(Answer.call_attempt_id.in_(ids))
            ):
                answers[attempt_id][question_id] = value
            written: dict[int, dict[int, str]] = defaultdict(dict)
            for attempt_id, note_id, value in await session.execute(
                select(NoteResponse.call_attempt_id, NoteResponse.note_id, NoteResponse.value)
                .where(NoteResponse.call_attempt_id.in_(ids))
            ):
                written[attempt_id][note_id] = value
        buffer.seek(0)
        buffer.truncate()
        for attempt, phone, lead, caller in rows:
            fields = lead.custom_fields if lead is not None else {}
            out.writerow([
                attempt.id, _iso(attempt.dialed_at), _iso(attempt.answered_at), _iso(attempt.ended_at),
                attempt.status.value, attempt.caller_id or "", caller or "", phone, lead.id if lead else "",
                *((getattr(lead, c) or "") if lead else "" for c in LEAD_COLUMNS),
                *(fields.get(name, "") for name in custom),
                *(answers[attempt.id].get(q.id, "") for q in questions),
                *(written[attempt.id].get(n.id, "") for n in notes),
                attempt.recording_url or "", attempt.outcome or "", attempt.notes or "",
            ])
        yield buffer.getvalue().encode()
        after = ids[-1]


def _iso(value: Any) -> str:
    return value.isoformat() if value is not None else ""
