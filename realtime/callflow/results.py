"""Survey results: what ``submit`` carries, checked against the script, and stored.

Answers (one response per question), notes, and the call's ``wrapped_up_at`` are written
in the transaction that also settles the household (see ``CampaignDialer.wrap_up``), so a
crash never leaves results without their effect on the queue, or the reverse. The
caller's idempotency ``key`` is stored on the call: a repeated submit is answered from it
and stores nothing twice.
"""
from __future__ import annotations

import dataclasses
import re
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from realtime.store.models import Answer, CallAttempt, NoteResponse
from realtime.store.types import utcnow

from .campaigns import CampaignView
from .errors import CallFlowError

MAX_NOTE = 10_000
MAX_KEY = 100
_DIGITS = re.compile(r"[0-9]{1,18}")
# Text a database cannot store: NUL (PostgreSQL) and lone surrogates (neither).
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


@dataclasses.dataclass(frozen=True)
class Submission:
    call_id: str
    lead_id: int
    answers: dict[int, int]  # question -> response
    notes: dict[int, str]
    then: str  # continue | stop
    key: str


def parse_submission(payload: dict[str, Any]) -> Submission:
    """Check the shape of a ``submit`` payload; the script is checked by :func:`check`."""
    unknown = set(payload) - {"call_id", "lead_id", "answers", "notes", "then", "key"}
    if unknown:
        raise CallFlowError("invalid-payload", f"unknown field(s): {', '.join(sorted(map(str, unknown)))[:200]}")
    call_id, lead_id = payload.get("call_id"), payload.get("lead_id")
    if not isinstance(call_id, str) or not 0 < len(call_id) <= 64 or _UNSTORABLE.search(call_id):
        raise CallFlowError("invalid-payload", "call_id must be the call's id")
    if isinstance(lead_id, bool) or not isinstance(lead_id, int) or lead_id <= 0:
        raise CallFlowError("invalid-payload", "lead_id must be the id of the lead talked to")
    then = payload.get("then", "continue")
    if then not in ("continue", "stop"):
        raise CallFlowError("invalid-payload", 'then must be "continue" or "stop"')
    key = payload.get("key")
    if key is None:
        key = secrets.token_hex(8)
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY or _UNSTORABLE.search(key):
        raise CallFlowError("invalid-payload", f"key must be a string of 1 to {MAX_KEY} characters")
    return Submission(call_id, lead_id, _answers(payload.get("answers", {})), _notes(payload.get("notes", {})),
                      then, key)


def _id(text: Any, what: str, error_id: str) -> int:
    if isinstance(text, str) and _DIGITS.fullmatch(text):
        return int(text)
    if isinstance(text, int) and not isinstance(text, bool) and text > 0:
        return text
    raise CallFlowError(error_id, f"{what} must be ids")


def _answers(raw: Any) -> dict[int, int]:
    if not isinstance(raw, dict) or len(raw) > 500:
        raise CallFlowError("invalid-answers", "answers must be an object {question_id: response_id}")
    return {_id(q, "answers' questions", "invalid-answers"): _id(r, "answers' responses", "invalid-answers")
            for q, r in raw.items()}


def _notes(raw: Any) -> dict[int, str]:
    if not isinstance(raw, dict) or len(raw) > 500:
        raise CallFlowError("invalid-notes", "notes must be an object {note_id: text}")
    notes = {}
    for note_id, text in raw.items():
        if not isinstance(text, str) or len(text) > MAX_NOTE or _UNSTORABLE.search(text):
            raise CallFlowError("invalid-notes", f"a note is text of at most {MAX_NOTE} characters")
        notes[_id(note_id, "notes' keys", "invalid-notes")] = text
    return notes


def check(submission: Submission, campaign: CampaignView, lead_ids: tuple[int, ...]) -> bool:
    """Check the results against the script of the call; True when a chosen response asks
    for the lead to be called again."""
    if submission.lead_id not in lead_ids:
        raise CallFlowError("no-such-lead", f"lead {submission.lead_id} was not on this call")
    retry = False
    for question_id, response_id in submission.answers.items():
        question = campaign.question(question_id)
        if question is None:
            raise CallFlowError("invalid-answers", f"the script has no question {question_id}")
        response = next((r for r in question.responses if r.id == response_id), None)
        if response is None:
            raise CallFlowError("invalid-answers", f"question {question_id} has no response {response_id}")
        retry = retry or response.retry
    bad_notes = set(submission.notes) - campaign.note_ids
    if bad_notes:
        raise CallFlowError("invalid-notes", f"the script has no note {min(bad_notes)}")
    return retry


async def write(session: AsyncSession, *, attempt_id: int, account_id: int, campaign_id: int,
                caller_id: int | None, submission: Submission) -> bool:
    """Store the results of one call; False when this very submission was stored already.

    Raises ``already-submitted`` for other results on a call that has some."""
    attempt = await session.scalar(select(CallAttempt).where(CallAttempt.id == attempt_id).with_for_update())
    if attempt is None:
        raise CallFlowError("no-such-call", "the call is not on record")
    if attempt.wrapped_up_at is not None:
        if attempt.results_key == submission.key:
            return False
        raise CallFlowError("already-submitted", "this call's results were saved already")
    now = utcnow()
    attempt.wrapped_up_at = now
    attempt.results_key = submission.key
    attempt.lead_id = submission.lead_id
    session.add_all(
        Answer(account_id=account_id, call_attempt_id=attempt_id, lead_id=submission.lead_id,
               campaign_id=campaign_id, caller_id=caller_id, question_id=question_id,
               possible_response_id=response_id, created_at=now)
        for question_id, response_id in submission.answers.items())
    session.add_all(
        NoteResponse(account_id=account_id, call_attempt_id=attempt_id, lead_id=submission.lead_id,
                     note_id=note_id, value=text, created_at=now)
        for note_id, text in submission.notes.items())
    return True
