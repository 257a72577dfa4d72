"""Blocked numbers: never dialled, for the whole account or for one campaign.

The dial queue looks only at two flags on each household, ``blocked_account`` and
``blocked_campaign``; blocking and unblocking set and clear them in the same transaction
as the blocked-number rows, for every household with that phone, including households
already queued or reserved (the queue checks the flags again when it dials). Unblocking
clears the flag and the household is dialable again where it was in the queue.
List imports flag the households they create (see ``realtime.dialer.lists``).

On PostgreSQL an import batch and a change to the blocked list could each miss the
other's uncommitted rows; they serialise on a per-account advisory lock (imports share
it, blocking takes it alone). SQLite has one writer at a time, which does the same.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence

from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from realtime.store.models import BlockedNumber, Campaign, Household

logger = logging.getLogger(__name__)

# Advisory-lock namespace: "blk".
_LOCK_NAMESPACE = 0x626C6B
# Phones per IN (...) list: far under both databases' bind-parameter limits.
CHUNK = 1000


async def lock_block_list(session: AsyncSession, account_id: int, *, exclusive: bool) -> None:
    """Hold the account's blocked-list lock until the transaction ends (PostgreSQL only)."""
    if session.bind.dialect.name != "postgresql":
        return
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    await session.execute(
        text(f"SELECT {function}(:namespace, :key)"),
        {"namespace": _LOCK_NAMESPACE, "key": account_id % 2**31},
    )


@dataclasses.dataclass(frozen=True)
class BlockResult:
    added: list[BlockedNumber]  # new entries
    already_blocked: list[BlockedNumber]  # phones already on that list


async def block_numbers(
    session: AsyncSession, *, account_id: int, phones: Iterable[str], campaign_id: int | None = None
) -> BlockResult:
    """Block E.164 ``phones`` account-wide (``campaign_id`` None) or for one campaign.

    The caller checks that the campaign belongs to the account.
    """
    await lock_block_list(session, account_id, exclusive=True)
    wanted = list(dict.fromkeys(phones))
    added: list[BlockedNumber] = []
    already: list[BlockedNumber] = []
    for chunk in phone_chunks(wanted):
        existing = {
            entry.phone: entry
            for entry in await session.scalars(_scope(select(BlockedNumber), account_id, campaign_id)
                                               .where(BlockedNumber.phone.in_(chunk)))
        }
        already.extend(existing.values())
        fresh = [
            BlockedNumber(account_id=account_id, campaign_id=campaign_id, phone=phone)
            for phone in chunk if phone not in existing
        ]
        session.add_all(fresh)
        added.extend(fresh)
        await _flag(session, account_id, campaign_id, chunk, blocked=True)
    await session.flush()
    logger.info("account %s: blocked %d numbers (%s)", account_id, len(added),
                f"campaign {campaign_id}" if campaign_id else "account-wide")
    return BlockResult(added, already)


async def unblock_numbers(
    session: AsyncSession, *, account_id: int, phones: Iterable[str], campaign_id: int | None = None
) -> int:
    """Take E.164 ``phones`` off the account's (or a campaign's) list; how many came off."""
    await lock_block_list(session, account_id, exclusive=True)
    removed = 0
    for chunk in phone_chunks(list(dict.fromkeys(phones))):
        result = await session.execute(
            _scope(delete(BlockedNumber), account_id, campaign_id).where(BlockedNumber.phone.in_(chunk))
        )
        removed += result.rowcount
        await _flag(session, account_id, campaign_id, chunk, blocked=False)
    return removed


async def unblock(session: AsyncSession, entry: BlockedNumber) -> None:
    """Remove one entry of the blocked list."""
    await unblock_numbers(session, account_id=entry.account_id, phones=[entry.phone],
                          campaign_id=entry.campaign_id)


def _scope(statement, account_id: int, campaign_id: int | None):
    campaign = BlockedNumber.campaign_id.is_(None) if campaign_id is None else BlockedNumber.campaign_id == campaign_id
    return statement.where(BlockedNumber.account_id == account_id, campaign)


async def _flag(
    session: AsyncSession, account_id: int, campaign_id: int | None, phones: Sequence[str], *, blocked: bool
) -> None:
    # By (campaign_id, phone), the households' unique index, whatever the scope.
    if campaign_id is None:
        statement = update(Household).where(
            Household.campaign_id.in_(select(Campaign.id).where(Campaign.account_id == account_id)),
            Household.phone.in_(phones),
            Household.blocked_account.is_(not blocked),
        ).values(blocked_account=blocked)
    else:
        statement = update(Household).where(
            Household.campaign_id == campaign_id,
            Household.phone.in_(phones),
            Household.blocked_campaign.is_(not blocked),
        ).values(blocked_campaign=blocked)
    await session.execute(statement.execution_options(synchronize_session=False))


def phone_chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    """``items`` in slices of at most CHUNK, one IN (...) list each."""
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]
