"""One of each resource, made through the API (or the store, for leads), for tests."""
from __future__ import annotations

import io
import uuid
from typing import Any

import aiohttp

from realtime.store.models import Household, Lead
from tests.api.conftest import Api, Credentials

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(28)


async def campaign(api: Api, as_: Credentials | None = None, **fields: Any) -> dict[str, Any]:
    return await api.post("/v1/campaigns", {"name": "Get out the vote", "dialer_mode": "power", **fields}, as_=as_)


async def caller(api: Api, as_: Credentials | None = None, **fields: Any) -> dict[str, Any]:
    body = {"username": f"caller-{uuid.uuid4().hex[:8]}", "password": "correct horse", **fields}
    return await api.post("/v1/callers", body, as_=as_)


async def caller_group(api: Api, as_: Credentials | None = None, **fields: Any) -> dict[str, Any]:
    return await api.post("/v1/caller_groups", {"name": "Evening shift", **fields}, as_=as_)


async def script(api: Api, as_: Credentials | None = None, **fields: Any) -> dict[str, Any]:
    body = {
        "name": "Canvass",
        "texts": [{"content": "Hello, my name is..."}],
        "questions": [{"text": "Will you vote?", "responses": [
            {"value": "Yes", "keypad": "1"}, {"value": "No", "keypad": "2"},
            {"value": "Call back later", "keypad": "3", "retry": True},
        ]}],
        "notes": [{"text": "Issues raised"}],
        "transfers": [{"label": "Field office", "phone": "(212) 555-0123", "transfer_type": "warm"}],
        **fields,
    }
    return await api.post("/v1/scripts", body, as_=as_)


async def lead_field(api: Api, as_: Credentials | None = None, **fields: Any) -> dict[str, Any]:
    return await api.post("/v1/lead_fields", {"name": "ward", **fields}, as_=as_)


async def recording(api: Api, as_: Credentials | None = None, name: str = "Voicemail",
                    content: bytes = WAV, content_type: str = "audio/wav") -> dict[str, Any]:
    return await api.post("/v1/recordings", None, as_=as_, data=form(content, content_type, name))


def form(content: bytes, content_type: str, name: str | None = None, filename: str = "message.wav") -> aiohttp.FormData:
    data = aiohttp.FormData()
    if name is not None:
        data.add_field("name", name)
    data.add_field("file", io.BytesIO(content), filename=filename, content_type=content_type)
    return data


async def user(api: Api, as_: Credentials | None = None, **fields: Any) -> dict[str, Any]:
    body = {"email": f"sup-{uuid.uuid4().hex[:8]}@example.org", "password": "s3cret-enough",
            "role": "supervisor", **fields}
    return await api.post("/v1/users", body, as_=as_)


async def household(api: Api, as_: Credentials | None = None, phone: str = "+12125550001",
                    leads: tuple[dict[str, Any], ...] = ({"first_name": "Ada", "last_name": "Lovelace"},),
                    campaign_id: int | None = None) -> dict[str, Any]:
    """A household with leads, as a list import would leave it (there is no POST for them)."""
    account = as_ or api.alice
    if campaign_id is None:
        campaign_id = (await campaign(api, as_=account))["id"]
    async with api.store.transaction() as session:
        row = Household(account_id=account.account_id, campaign_id=campaign_id, phone=phone, position=1)
        session.add(row)
        await session.flush()
        for values in leads:
            session.add(Lead(account_id=account.account_id, campaign_id=campaign_id, household_id=row.id, **values))
    return await api.get(f"/v1/households/{row.id}", as_=account)


async def lead(api: Api, as_: Credentials | None = None, **fields: Any) -> dict[str, Any]:
    made = await household(api, as_=as_, leads=({"first_name": "Ada", **fields},))
    return await api.get(f"/v1/leads/{made['leads'][0]['id']}", as_=as_)
