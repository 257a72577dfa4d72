"""The dial queue: which household of a campaign is called next, and what happens to it after.

A household (one phone, one or more leads) moves through :class:`HouseholdStatus`:

    not-called/retry/voicemail-left --reserve--> reserved --start_call--> dialing
    reserved --release--> back where it was        reserved --skip--> retry (after the interval)
    dialing --record_outcome--> completed | retry | voicemail-left | failed
    dialing --settle_lost_call--> as record_outcome (its engine died mid-call)

Atomicity lives in the store, not in this process, so two engines may share a campaign:
every claim is one ``UPDATE ... WHERE <still claimable>`` statement. On PostgreSQL the rows
to claim are picked with ``FOR UPDATE SKIP LOCKED`` (two engines never wait on, nor take,
each other's rows); SQLite has one writer, so the single statement is atomic by itself.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Collection

from sqlalchemy import and_, case, exists, func, literal, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from realtime.dialer.calling_hours import CallingHours
from realtime.store.database import Store
from realtime.store.models import (
    Answer,
    CallAttempt,
    CallerSession,
    CallStatus,
    Campaign,
    Household,
    HouseholdStatus,
    Lead,
    LeadList,
    LeadStatus,
    PossibleResponse,
)
from realtime.store.types import utcnow

logger = logging.getLogger(__name__)

# Outcomes that leave the lead open: the household comes back after the recycle interval.
RECYCLED = frozenset({
    CallStatus.NO_ANSWER, CallStatus.BUSY, CallStatus.MACHINE, CallStatus.ABANDONED, CallStatus.SKIPPED,
})
FINAL = RECYCLED | {CallStatus.COMPLETED, CallStatus.VOICEMAIL_LEFT, CallStatus.FAILED}
# Attempt fields the call-control side may set while a call is live.
CALL_FIELDS = frozenset({
    "status", "answered_at", "connected_at", "safe_harbor_at", "ended_at", "wrapped_up_at",
    "amd_result", "hangup_cause", "caller_id", "caller_session_id", "recording_url",
    "voicemail_recording_id",
})


# Statuses of a call still under way.
LIVE = frozenset({CallStatus.DIALING, CallStatus.RINGING, CallStatus.ANSWERED, CallStatus.CONNECTED})


class DialRefused(Exception):
    """A reserved household may not be dialled now; ``error_id`` says why."""

    def __init__(self, error_id: str, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id


@dataclasses.dataclass(frozen=True)
class ReservedHousehold:
    id: int
    campaign_id: int
    account_id: int
    phone: str
    attempts: int
    voicemail_count: int
    leads: tuple[Lead, ...]

    @property
    def may_leave_voicemail(self) -> bool:
        """At most one voicemail per household."""
        return self.voicemail_count == 0


def _status(value: HouseholdStatus) -> ColumnElement:
    return literal(value, Household.status.type)


def _open_status() -> ColumnElement:
    """Where a household with an open lead goes: once a voicemail was left it stays
    "voicemail-left", so it comes back only while the campaign calls back after voicemail."""
    return case(
        (Household.voicemail_count > 0, _status(HouseholdStatus.VOICEMAIL_LEFT)),
        else_=_status(HouseholdStatus.RETRY),
    )


def _unreserved_status() -> ColumnElement:
    return case(
        (and_(Household.attempts == 0, Household.voicemail_count == 0), _status(HouseholdStatus.NOT_CALLED)),
        else_=_open_status(),
    )


def dialable(campaign: Campaign, now: dt.datetime) -> ColumnElement[bool]:
    """Households of ``campaign`` that may be reserved at ``now``."""
    statuses = [HouseholdStatus.NOT_CALLED, HouseholdStatus.RETRY]
    if campaign.call_back_after_voicemail:
        statuses.append(HouseholdStatus.VOICEMAIL_LEFT)
    enabled_lists = select(LeadList.id).where(
        LeadList.campaign_id == campaign.id, LeadList.enabled.is_(True)
    )
    open_lead = exists().where(
        Lead.household_id == Household.id,
        Lead.status == LeadStatus.OPEN,
        or_(Lead.lead_list_id.is_(None), Lead.lead_list_id.in_(enabled_lists)),
    )
    return and_(
        Household.campaign_id == campaign.id,
        Household.status.in_(statuses),
        Household.blocked_account.is_(False),
        Household.blocked_campaign.is_(False),
        or_(Household.dialable_at.is_(None), Household.dialable_at <= now),
        open_lead,
    )


class DialQueue:
    """Reservations and recycling of one store's households, for any campaign."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def campaign(self, campaign_id: int) -> Campaign:
        async with self.store.sessions() as session:
            campaign = await session.get(Campaign, campaign_id)
        if campaign is None:
            raise LookupError(f"no campaign {campaign_id}")
        return campaign

    async def reserve(
        self, campaign_id: int, *, holder: str, count: int = 1, now: dt.datetime | None = None
    ) -> list[ReservedHousehold]:
        """Claim up to ``count`` households for ``holder`` (a caller session or a line).

        Fresh households first in upload order, then each later pass in the same relative
        order. Nothing is reserved outside calling hours or for an inactive campaign.
        """
        now = now or utcnow()
        campaign = await self.campaign(campaign_id)
        if count <= 0 or not campaign.active or not CallingHours.of(campaign).is_open(now):
            return []
        pick = (
            select(Household.id)
            .where(dialable(campaign, now))
            .order_by(Household.attempts, Household.position)
            .limit(count)
            .with_for_update(skip_locked=True, of=Household)
            # Materialised: run once. Inlined, PostgreSQL may re-run the LIMIT per row.
            .cte("picked").prefix_with("MATERIALIZED")
        )
        claim = (
            update(Household)
            .where(Household.id.in_(select(pick.c.id)), dialable(campaign, now))
            .values(status=HouseholdStatus.RESERVED, reserved_by=holder, reserved_at=now)
            .returning(
                Household.id, Household.account_id, Household.phone, Household.attempts,
                Household.voicemail_count, Household.position,
            )
            .execution_options(synchronize_session=False)
        )
        async with self.store.transaction() as session:
            rows = sorted((await session.execute(claim)).all(), key=lambda r: (r.attempts, r.position))
            leads = await _open_leads(session, [r.id for r in rows])
        return [
            ReservedHousehold(
                id=r.id, campaign_id=campaign_id, account_id=r.account_id, phone=r.phone,
                attempts=r.attempts, voicemail_count=r.voicemail_count, leads=tuple(leads.get(r.id, ())),
            )
            for r in rows
        ]

    async def household(self, household_id: int) -> ReservedHousehold | None:
        """A household with its open leads, as a reservation shows it (for a call adopted
        after a restart)."""
        async with self.store.sessions() as session:
            row = await session.get(Household, household_id)
            if row is None:
                return None
            leads = await _open_leads(session, [household_id])
        return ReservedHousehold(id=row.id, campaign_id=row.campaign_id, account_id=row.account_id, phone=row.phone,
                                 attempts=row.attempts, voicemail_count=row.voicemail_count,
                                 leads=tuple(leads.get(household_id, ())))

    async def release(self, *, holder: str, household_ids: Collection[int] | None = None) -> int:
        """Return households ``holder`` reserved but never dialled (it skipped, vanished or
        was refused); they are dial-able again at once. Returns how many."""
        where = [Household.status == HouseholdStatus.RESERVED, Household.reserved_by == holder]
        if household_ids is not None:
            where.append(Household.id.in_(list(household_ids)))
        return await self._unreserve(and_(*where))

    async def release_stale(
        self, *, older_than: dt.timedelta, now: dt.datetime | None = None, campaign_id: int | None = None
    ) -> int:
        """Return reservations older than ``older_than``: their holder died without releasing."""
        cutoff = (now or utcnow()) - older_than
        where = [Household.status == HouseholdStatus.RESERVED, Household.reserved_at < cutoff]
        if campaign_id is not None:
            where.append(Household.campaign_id == campaign_id)
        return await self._unreserve(and_(*where))

    async def _unreserve(self, where: ColumnElement[bool]) -> int:
        stmt = (
            update(Household).where(where)
            .values(status=_unreserved_status(), reserved_by=None, reserved_at=None)
            .execution_options(synchronize_session=False)
        )
        async with self.store.transaction() as session:
            released = (await session.execute(stmt)).rowcount
        if released:
            logger.info("returned %d reserved household(s) to the queue", released)
        return released

    async def start_call(
        self,
        household_id: int,
        *,
        holder: str,
        dialer_mode: str,
        channel_id: str,
        lead_id: int | None = None,
        caller_id: int | None = None,
        caller_session_id: int | None = None,
        now: dt.datetime | None = None,
    ) -> int:
        """The last gate before a number is dialled: checks calling hours, blocking and that
        the number is not already in a call, then records the attempt. Returns its id.

        Raises :class:`DialRefused` (``outside-calling-hours``, ``number-blocked``,
        ``not-reserved``, ``number-in-call``); the household then stays reserved by
        ``holder``, who should release it.
        """
        now = now or utcnow()
        async with self.store.sessions() as session:
            campaign = await session.scalar(
                select(Campaign).join(Household, Household.campaign_id == Campaign.id)
                .where(Household.id == household_id)
            )
        if campaign is None:
            raise DialRefused("not-reserved", f"no household {household_id}")
        if not CallingHours.of(campaign).is_open(now):
            raise DialRefused("outside-calling-hours", "the campaign's calling hours are over")
        claim = (
            update(Household)
            .where(
                Household.id == household_id,
                Household.status == HouseholdStatus.RESERVED,
                Household.reserved_by == holder,
                Household.blocked_account.is_(False),
                Household.blocked_campaign.is_(False),
            )
            .values(status=HouseholdStatus.DIALING, attempts=Household.attempts + 1, last_dialed_at=now)
            .returning(Household.account_id, Household.phone)
            .execution_options(synchronize_session=False)
        )
        async with self.store.transaction() as session:
            row = (await session.execute(claim)).first()
            if row is None:
                raise await _refusal(session, household_id, holder)
            if session.bind.dialect.name == "postgresql":
                # Serialises the "already in a call?" check per number across engines
                # and campaigns; SQLite's single writer does this by itself.
                await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:phone))"), {"phone": row.phone})
            busy = await session.scalar(
                select(Household.id).where(
                    Household.account_id == row.account_id, Household.phone == row.phone,
                    Household.status == HouseholdStatus.DIALING, Household.id != household_id,
                ).limit(1)
            )
            if busy is not None:
                raise DialRefused("number-in-call", f"{row.phone} is already in a call")
            if caller_id is None and caller_session_id is not None:
                caller_id = await session.scalar(_caller_of(caller_session_id))
            attempt = CallAttempt(
                account_id=row.account_id, campaign_id=campaign.id, household_id=household_id,
                lead_id=lead_id, caller_id=caller_id, caller_session_id=caller_session_id,
                dialer_mode=dialer_mode, channel_id=channel_id, status=CallStatus.DIALING, dialed_at=now,
            )
            session.add(attempt)
            await session.flush()
            return attempt.id

    async def update_call(self, attempt_id: int, **fields: object) -> None:
        """Record what happened on a live call (answer, AMD, connect, safe-harbor start...)."""
        unknown = set(fields) - CALL_FIELDS
        if unknown:
            raise TypeError(f"not call attempt fields: {', '.join(sorted(unknown))}")
        if fields.get("caller_session_id") is not None and "caller_id" not in fields:
            fields["caller_id"] = _caller_of(fields["caller_session_id"]).scalar_subquery()  # for reports
        async with self.store.transaction() as session:
            await session.execute(
                update(CallAttempt).where(CallAttempt.id == attempt_id).values(**fields)
                .execution_options(synchronize_session=False)
            )

    async def record_outcome(
        self,
        attempt_id: int,
        outcome: CallStatus,
        *,
        retry: bool = False,
        completed_lead_ids: Collection[int] | None = None,
        now: dt.datetime | None = None,
    ) -> HouseholdStatus:
        """Close an attempt and apply the recycle rules to its household.

        ``completed``: the leads talked to (``completed_lead_ids``, default all) are done,
        unless ``retry`` (the caller's response asks to call again); the household leaves
        the queue once no lead is open. ``failed``: never again. ``voicemail-left``: back
        only if the campaign calls back after voicemail. Every other outcome: back after
        the campaign's recycle interval.
        """
        async with self.store.transaction() as session:
            return await record_outcome_in(session, attempt_id, outcome, retry=retry,
                                           completed_lead_ids=completed_lead_ids, now=now)

    async def unfinished_calls(self, campaign_id: int, *, dialled_before: dt.datetime) -> list[UnfinishedCall]:
        """The campaign's attempts dialled before ``dialled_before`` and still under way on record."""
        query = (
            select(CallAttempt.id, CallAttempt.channel_id, CallAttempt.answered_at, CallAttempt.connected_at)
            .where(CallAttempt.campaign_id == campaign_id, CallAttempt.status.in_(list(LIVE)),
                   CallAttempt.dialed_at < dialled_before)
            .order_by(CallAttempt.id)
        )
        async with self.store.sessions() as session:
            return [UnfinishedCall(*row) for row in (await session.execute(query)).all()]

    async def settle_lost_call(self, call: UnfinishedCall, *, now: dt.datetime | None = None) -> HouseholdStatus:
        """An attempt whose channel is gone with nobody left to record how it ended (its
        engine died). Nothing is assumed done: the household comes back after the recycle
        interval; a person who answered and never reached a caller counts as abandoned."""
        if call.connected_at is not None:
            # Talked to a caller. Results saved decide the lead's fate as they would have;
            # results never saved leave the lead open.
            async with self.store.transaction() as session:
                saved = await session.get(CallAttempt, call.id)
                retry = saved.wrapped_up_at is None or await results_ask_retry(session, call.id)
                lead_ids = [saved.lead_id] if saved.wrapped_up_at is not None and saved.lead_id else None
                return await record_outcome_in(session, call.id, CallStatus.COMPLETED, retry=retry,
                                               completed_lead_ids=lead_ids, now=now)
        if call.answered_at is not None:
            return await self.record_outcome(call.id, CallStatus.ABANDONED, now=now)
        return await self.record_outcome(call.id, CallStatus.NO_ANSWER, now=now)

    async def skip(
        self,
        household_id: int,
        *,
        holder: str,
        caller_id: int | None = None,
        caller_session_id: int | None = None,
        now: dt.datetime | None = None,
    ) -> int:
        """Preview: the caller skipped a reserved household. It comes back after the recycle
        interval like any open lead, and counts as a pass. Returns the skipped attempt's id."""
        now = now or utcnow()
        async with self.store.transaction() as session:
            household = await session.scalar(
                update(Household)
                .where(Household.id == household_id, Household.status == HouseholdStatus.RESERVED,
                       Household.reserved_by == holder)
                .values(attempts=Household.attempts + 1)
                .returning(Household)
                .execution_options(synchronize_session=False)
            )
            if household is None:
                raise await _refusal(session, household_id, holder)
            if caller_id is None and caller_session_id is not None:
                caller_id = await session.scalar(_caller_of(caller_session_id))
            attempt = CallAttempt(
                account_id=household.account_id, campaign_id=household.campaign_id,
                household_id=household_id, caller_id=caller_id, caller_session_id=caller_session_id,
                dialer_mode="preview", status=CallStatus.SKIPPED, dialed_at=now, ended_at=now,
            )
            session.add(attempt)
            await session.flush()
            await _settle(session, household, CallStatus.SKIPPED, False, None, now)
            return attempt.id


async def record_outcome_in(
    session: AsyncSession,
    attempt_id: int,
    outcome: CallStatus,
    *,
    retry: bool = False,
    completed_lead_ids: Collection[int] | None = None,
    now: dt.datetime | None = None,
) -> HouseholdStatus:
    """:meth:`DialQueue.record_outcome` inside the caller's transaction (survey results and
    the household's fate are committed together)."""
    if outcome not in FINAL:
        raise ValueError(f"{outcome.value!r} is not a final call outcome")
    now = now or utcnow()
    household_id = await session.scalar(
        update(CallAttempt).where(CallAttempt.id == attempt_id)
        .values(status=outcome, ended_at=func.coalesce(CallAttempt.ended_at, now))
        .returning(CallAttempt.household_id)
        .execution_options(synchronize_session=False)
    )
    if household_id is None:
        raise LookupError(f"no call attempt {attempt_id}")
    household = await session.get(Household, household_id, with_for_update=True)
    if household.status is not HouseholdStatus.DIALING:
        return household.status  # already settled: a repeated outcome changes nothing
    return await _settle(session, household, outcome, retry, completed_lead_ids, now)


async def results_ask_retry(session: AsyncSession, attempt_id: int) -> bool:
    """Whether a response chosen on this call asks for the lead to be called again."""
    return bool(await session.scalar(select(exists().where(
        Answer.call_attempt_id == attempt_id, Answer.possible_response_id == PossibleResponse.id,
        PossibleResponse.retry.is_(True)))))


@dataclasses.dataclass(frozen=True)
class UnfinishedCall:
    id: int
    channel_id: str | None
    answered_at: dt.datetime | None
    connected_at: dt.datetime | None


async def _settle(
    session: AsyncSession,
    household: Household,
    outcome: CallStatus,
    retry: bool,
    completed_lead_ids: Collection[int] | None,
    now: dt.datetime,
) -> HouseholdStatus:
    """Apply the recycle rules to a household whose call (or skip) just ended."""
    campaign = await session.get(Campaign, household.campaign_id)
    if outcome is CallStatus.COMPLETED and not retry:
        done = update(Lead).where(Lead.household_id == household.id, Lead.status == LeadStatus.OPEN)
        if completed_lead_ids is not None:
            done = done.where(Lead.id.in_(list(completed_lead_ids)))
        await session.execute(done.values(status=LeadStatus.COMPLETED).execution_options(synchronize_session=False))
    if outcome is CallStatus.VOICEMAIL_LEFT:
        household.voicemail_count += 1
    if outcome is CallStatus.FAILED:
        status = HouseholdStatus.FAILED
    elif not await session.scalar(
        select(exists().where(Lead.household_id == household.id, Lead.status == LeadStatus.OPEN))
    ):
        status = HouseholdStatus.COMPLETED
    elif household.voicemail_count > 0:
        status = HouseholdStatus.VOICEMAIL_LEFT
    else:
        status = HouseholdStatus.RETRY
    household.status = status
    household.reserved_by = household.reserved_at = None
    household.dialable_at = (
        now + dt.timedelta(seconds=campaign.recycle_interval_seconds)
        if status in (HouseholdStatus.RETRY, HouseholdStatus.VOICEMAIL_LEFT) else None
    )
    return status


async def _open_leads(session: AsyncSession, household_ids: list[int]) -> dict[int, list[Lead]]:
    if not household_ids:
        return {}
    leads: dict[int, list[Lead]] = {}
    for lead in await session.scalars(
        select(Lead).where(Lead.household_id.in_(household_ids), Lead.status == LeadStatus.OPEN)
        .order_by(Lead.id)
    ):
        leads.setdefault(lead.household_id, []).append(lead)
    return leads


def _caller_of(caller_session_id: int):
    """The caller of a session: a call is on record with its caller, so reports can count per caller."""
    return select(CallerSession.caller_id).where(CallerSession.id == caller_session_id)


async def _refusal(session: AsyncSession, household_id: int, holder: str) -> DialRefused:
    household = await session.get(Household, household_id)
    if household is not None and (household.blocked_account or household.blocked_campaign):
        return DialRefused("number-blocked", f"{household.phone} is blocked")
    return DialRefused("not-reserved", f"household {household_id} is not reserved by {holder}")
