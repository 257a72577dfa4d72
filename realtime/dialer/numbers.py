"""Numbers an integrator hands a call-API job, into its campaign's dial queue.

Each number becomes a household of the campaign with one lead (the integrator keeps the
person's data), after the rules every list follows: read as E.164 (US unless it starts
with ``+``), flagged when blocked for the account or the campaign (never dialled while
blocked), and dialled once however often it comes (a household is unique per campaign
and phone). A job may also take an uploaded list's households (:func:`copy_list`).
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, exists, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from realtime.dialer.blocking import lock_block_list, phone_chunks
from realtime.dialer.phones import InvalidPhoneNumber, to_e164
from realtime.store.models import BlockedNumber, Household, HouseholdStatus, Lead, LeadStatus
from realtime.store.types import utcnow

logger = logging.getLogger(__name__)

MAX_RAW = 64  # longer than any spelling of a phone number


@dataclasses.dataclass
class AddedNumbers:
    added: list[str] = dataclasses.field(default_factory=list)  # E.164, new in the campaign
    duplicates: int = 0  # already in the campaign, or twice in this batch
    rejected: list[dict[str, str]] = dataclasses.field(default_factory=list)  # {phone, reason}: never dialled

    @property
    def blocked(self) -> list[str]:
        return [r["phone"] for r in self.rejected if r["reason"] == "blocked"]


def read_number(raw: Any) -> str:
    """A number as an integrator may write it (``"+14445551234"``, ``"(444) 555-1234"``, or
    ``14445551234`` as a JSON number) in E.164; InvalidPhoneNumber says why not."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise InvalidPhoneNumber(repr(raw)[:MAX_RAW], "not a phone number")
    text = str(raw)
    if len(text) > MAX_RAW or "\x00" in text:
        raise InvalidPhoneNumber(text[:MAX_RAW], "not a phone number")
    if isinstance(raw, int) and raw > 0 and len(text) > 10:
        text = "+" + text  # 14445551234: digits with their country code
    return to_e164(text)


def shown(raw: Any) -> str:
    """A rejected number as the integrator sent it, for reports (bounded, printable)."""
    text = raw if isinstance(raw, str) else repr(raw)
    return "".join(c if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF else "?" for c in text[:MAX_RAW])


async def add_numbers(session: AsyncSession, *, account_id: int, campaign_id: int,
                      numbers: Sequence[Any]) -> AddedNumbers:
    """Queue ``numbers`` in the campaign, in their order after what it has; in the caller's
    transaction. Bad numbers are rejected with a reason, blocked ones queued flagged (and
    reported as rejected), numbers the campaign has already counted as duplicates."""
    result = AddedNumbers()
    fresh: list[str] = []
    for raw in numbers:
        try:
            phone = read_number(raw)
        except InvalidPhoneNumber as exc:
            result.rejected.append({"phone": shown(raw), "reason": exc.reason})
            continue
        fresh.append(phone)
    unique = list(dict.fromkeys(fresh))
    result.duplicates = len(fresh) - len(unique)
    if not unique:
        return result
    await lock_block_list(session, account_id, exclusive=False)  # as list imports do
    existing: set[str] = set()
    blocked: dict[str, tuple[bool, bool]] = {}
    for chunk in phone_chunks(unique):
        existing.update(await session.scalars(select(Household.phone).where(
            Household.campaign_id == campaign_id, Household.phone.in_(chunk))))
        for phone, scope in await session.execute(select(BlockedNumber.phone, BlockedNumber.campaign_id).where(
                BlockedNumber.account_id == account_id, BlockedNumber.phone.in_(chunk),
                BlockedNumber.campaign_id.is_(None) | (BlockedNumber.campaign_id == campaign_id))):
            account_wide, for_campaign = blocked.get(phone, (False, False))
            blocked[phone] = (account_wide or scope is None, for_campaign or scope is not None)
    new = [phone for phone in unique if phone not in existing]
    result.duplicates += len(unique) - len(new)
    position = await session.scalar(select(func.coalesce(func.max(Household.position), 0)).where(
        Household.campaign_id == campaign_id)) or 0
    now = utcnow()
    households = []
    for offset, phone in enumerate(new, start=1):
        account_wide, for_campaign = blocked.get(phone, (False, False))
        households.append(Household(account_id=account_id, campaign_id=campaign_id, phone=phone,
                                    position=position + offset, blocked_account=account_wide,
                                    blocked_campaign=for_campaign, created_at=now))
        if account_wide or for_campaign:
            result.rejected.append({"phone": phone, "reason": "blocked"})
    session.add_all(households)
    await session.flush()
    session.add_all(Lead(account_id=account_id, household_id=household.id, campaign_id=campaign_id, created_at=now)
                    for household in households)
    await session.flush()
    result.added = new
    return result


async def copy_list(session: AsyncSession, *, account_id: int, campaign_id: int, list_id: int) -> int:
    """Queue the open leads of an uploaded list (of another campaign of the account) in this
    campaign, households and all; in the caller's transaction. Returns the households queued.

    The campaign must be new (no households yet): the copies keep the list's order. Blocked
    flags are worked out again for this campaign (account-wide blocks still apply)."""
    await lock_block_list(session, account_id, exclusive=False)
    now = utcnow()
    listed = select(Lead.household_id).where(Lead.lead_list_id == list_id, Lead.account_id == account_id,
                                             Lead.status == LeadStatus.OPEN)
    blocked_account = exists().where(BlockedNumber.account_id == account_id, BlockedNumber.phone == Household.phone,
                                     BlockedNumber.campaign_id.is_(None))
    households = (
        select(Household.account_id, literal(campaign_id), Household.phone, Household.position,
               literal(HouseholdStatus.NOT_CALLED, Household.status.type), blocked_account, literal(False),
               literal(0), literal(0), literal(now, Household.created_at.type))
        .where(Household.id.in_(listed))
    )
    columns = ("account_id", "campaign_id", "phone", "position", "status", "blocked_account", "blocked_campaign",
               "voicemail_count", "attempts", "created_at")
    copied = (await session.execute(insert(Household).from_select(columns, households))).rowcount
    original = Household.__table__.alias("original")
    copy = Household.__table__.alias("copy")
    fields = ("external_id", "first_name", "middle_name", "last_name", "suffix", "email", "address", "city",
              "state", "zip_code", "country", "custom_fields")
    leads = (
        select(Lead.account_id, copy.c.id, literal(campaign_id), *(getattr(Lead, name) for name in fields),
               literal(LeadStatus.OPEN, Lead.status.type), literal(False), literal(now, Lead.created_at.type))
        .join(original, original.c.id == Lead.household_id)
        .join(copy, and_(copy.c.campaign_id == campaign_id, copy.c.phone == original.c.phone))
        .where(Lead.lead_list_id == list_id, Lead.account_id == account_id, Lead.status == LeadStatus.OPEN)
        .order_by(Lead.id)
    )
    await session.execute(insert(Lead).from_select(
        ("account_id", "household_id", "campaign_id", *fields, "status", "call_back", "created_at"), leads))
    logger.info("campaign %s: %d households copied from list %s", campaign_id, copied, list_id)
    return copied
