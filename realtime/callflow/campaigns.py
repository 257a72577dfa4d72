"""What a caller session needs of its campaign, read once: settings, the script as the
caller sees it, and the lookups that validate survey results and transfers."""
from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from realtime.dialer.calling_hours import CallingHours
from realtime.store.database import Store
from realtime.store.models import Campaign, DialerMode, Recording, Script

from .errors import CallFlowError


@dataclasses.dataclass(frozen=True)
class TransferOption:
    id: int | None  # the script's transfer; None for a number a call-API caller named
    label: str
    phone: str
    kind: str  # warm | cold


@dataclasses.dataclass(frozen=True)
class Response:
    id: int
    value: str
    keypad: str | None
    retry: bool


@dataclasses.dataclass(frozen=True)
class Question:
    id: int
    text: str
    responses: tuple[Response, ...]

    def by_keypad(self, digit: str) -> Response | None:
        return next((r for r in self.responses if r.keypad == digit), None)


@dataclasses.dataclass(frozen=True)
class CampaignView:
    id: int
    account_id: int
    name: str
    mode: DialerMode
    active: bool
    caller_id: str
    ring_timeout: int
    can_drop_voicemail: bool
    voicemail_media: str | None
    script: dict[str, Any]  # as the caller sees it
    questions: tuple[Question, ...]
    note_ids: frozenset[int]
    transfers: dict[int, TransferOption]
    hours: CallingHours

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "dialer_mode": self.mode.value,
                "can_drop_voicemail": self.can_drop_voicemail}

    def question(self, question_id: int) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)


async def load_campaign(store: Store, campaign_id: int, account_id: int | None = None) -> CampaignView:
    """Raises :class:`CallFlowError` ``no-such-campaign`` (also for another account's)."""
    async with store.sessions() as session:
        campaign = await session.get(Campaign, campaign_id)
        if campaign is None or (account_id is not None and campaign.account_id != account_id):
            raise CallFlowError("no-such-campaign", f"no campaign {campaign_id}")
        script = await session.get(Script, campaign.script_id) if campaign.script_id is not None else None
        voicemail = await _media(session, campaign.voicemail_recording_id)
    return view(campaign, script, voicemail)


def view(campaign: Campaign, script: Script | None, voicemail_media: str | None) -> CampaignView:
    questions = tuple(
        Question(q.id, q.text, tuple(Response(r.id, r.value, r.keypad, r.retry) for r in q.responses))
        for q in (script.questions if script is not None else ()))
    transfers = {t.id: TransferOption(t.id, t.label, t.phone, t.transfer_type.value)
                 for t in (script.transfers if script is not None else ())}
    script_json: dict[str, Any] = {
        "id": script.id if script is not None else None,
        "name": script.name if script is not None else "",
        "texts": [{"id": t.id, "content": t.content} for t in (script.texts if script is not None else ())],
        "questions": [{"id": q.id, "text": q.text,
                       "responses": [{"id": r.id, "value": r.value, "keypad": r.keypad, "retry": r.retry}
                                     for r in q.responses]} for q in questions],
        "notes": [{"id": n.id, "text": n.text} for n in (script.notes if script is not None else ())],
        # The numbers stay on the server: callers pick a transfer by its label.
        "transfers": [{"id": t.id, "label": t.label, "kind": t.kind} for t in transfers.values()],
    }
    return CampaignView(
        id=campaign.id, account_id=campaign.account_id, name=campaign.name, mode=campaign.dialer_mode,
        active=campaign.active, caller_id=campaign.caller_id, ring_timeout=campaign.ring_timeout_seconds,
        can_drop_voicemail=campaign.caller_can_drop_voicemail and voicemail_media is not None,
        voicemail_media=voicemail_media, script=script_json, questions=questions,
        note_ids=frozenset(n["id"] for n in script_json["notes"]), transfers=transfers,
        hours=CallingHours.of(campaign),
    )


async def _media(session: AsyncSession, recording_id: int | None) -> str | None:
    if recording_id is None:
        return None
    return await session.scalar(select(Recording.media_uri).where(Recording.id == recording_id))
