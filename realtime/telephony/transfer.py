"""Transfers: hand a connected lead to a third party.

The transfer party is dialled through the dial template. Once it answers, the lead
moves from the caller's conference into a transfer bridge (``xfer-<transfer>``) with
the party. A *warm* transfer brings the caller along for a three-way call; a *cold* one
leaves the caller alone in their conference (wrap-up). Either side can be dropped, and
the caller can leave a warm transfer; when fewer than two people are left the
transfer ends: whoever remains of lead and party is hung up, the caller goes back to
the conference, the bridge is destroyed.
"""
from __future__ import annotations

import asyncio
import enum
import logging
from typing import TYPE_CHECKING

from .ari import AriError, NoSuchBridge
from .errors import CallEnded, DialFailed, InvalidMode, NotAnswered, TelephonyError
from .leg import Leg
from .roles import Role, transfer_bridge_id, transfer_channel_id

if TYPE_CHECKING:
    from .conference import Conference
    from .lead_leg import LeadLeg
    from .service import Telephony

logger = logging.getLogger(__name__)


class TransferKind(str, enum.Enum):
    WARM = "warm"
    COLD = "cold"


class TransferEnd(str, enum.Enum):
    COMPLETED = "completed"          # the parties talked and hung up / were dropped
    UNANSWERED = "unanswered"        # the transfer party never answered
    CANCELLED = "cancelled"          # cancelled while the party was ringing


class Transfer:
    """Create with :meth:`start`. ``connected`` resolves when lead and party are bridged
    (raises :class:`DialFailed` if the party does not answer); ``ended`` resolves with a
    :class:`TransferEnd`."""

    def __init__(self, telephony: Telephony, conference: Conference, lead: LeadLeg,
                 kind: TransferKind, transfer_id: str) -> None:
        self.telephony = telephony
        self.conference = conference
        self.lead = lead
        self.kind = kind
        self.id = transfer_id
        self.bridge_id = transfer_bridge_id(transfer_id)
        self.party: Leg | None = None
        self.caller_joined = False
        loop = asyncio.get_running_loop()
        self.connected: asyncio.Future[None] = loop.create_future()
        self.connected.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.ended: asyncio.Future[TransferEnd] = loop.create_future()
        self._lock = asyncio.Lock()

    @classmethod
    async def start(
        cls,
        telephony: Telephony,
        conference: Conference,
        lead: LeadLeg,
        number: str,
        kind: TransferKind | str,
        *,
        transfer_id: str,
        caller_id: str | None = None,
        ring_timeout: int = 30,
    ) -> Transfer:
        """Dial the transfer party for a lead on a call; returns while it rings.

        Raises :class:`InvalidMode` (kind), :class:`~.errors.InvalidNumber`,
        :class:`NotAnswered`/:class:`CallEnded` when the lead is not on the call.
        """
        try:
            kind = TransferKind(kind)
        except ValueError:
            raise InvalidMode(f"transfer kind must be warm or cold, not {kind!r}") from None
        lead.require_up()
        endpoint = telephony.dial_template.endpoint(number)
        transfer = cls(telephony, conference, lead, kind, transfer_id)
        transfer.party = await Leg.originate(
            telephony, transfer_channel_id(transfer_id), endpoint, conference.role(Role.TRANSFER, transfer_id),
            caller_id=caller_id, timeout=ring_timeout)
        telephony.spawn(transfer._connect(), f"transfer {transfer_id} waiting for its party")
        # A lead who hangs up while the party still rings leaves nothing to transfer.
        lead.ended.add_done_callback(lambda _: transfer.connected.done() or telephony.spawn(
            transfer._cancel_in_background("the lead hung up"), f"transfer {transfer_id} cancel"))
        return transfer

    async def _connect(self) -> None:
        assert self.party is not None
        try:
            await self.party.answered
        except DialFailed as failed:
            cancelled = failed.reason == "cancelled"
            self._finish(TransferEnd.CANCELLED if cancelled else TransferEnd.UNANSWERED)
            self.connected.set_exception(failed)
            return
        client = self.telephony.client
        # Ours before it exists: a reaper running meanwhile must not take it for an orphan.
        self.telephony.track_bridge(self.bridge_id)
        try:
            await client.create_bridge(self.bridge_id, type="mixing", name=self.bridge_id)
            await client.subscribe(f"bridge:{self.bridge_id}")
            members = [self.lead, self.party]
            if self.kind is TransferKind.WARM and self._caller_up():
                members.append(self.conference.caller)
                self.caller_joined = True
            for leg in members:
                if leg is not self.party:
                    await self.conference.remove(leg)
            await client.add_channel(self.bridge_id, [leg.id for leg in members])
        except (AriError, TelephonyError) as exc:
            logger.warning("transfer %s could not bridge: %s", self.id, exc)
            self.connected.set_exception(CallEnded(f"transfer {self.id}: {exc}"))
            await self._end(TransferEnd.COMPLETED)
            return
        self.connected.set_result(None)
        for leg in members:
            leg.ended.add_done_callback(lambda _: self.telephony.spawn(self._check(), f"transfer {self.id}"))
        await self._check()

    def _caller_up(self) -> bool:
        caller = self.conference.caller
        return caller is not None and caller.is_up

    async def _check(self) -> None:
        """End the transfer when fewer than two people are left in it."""
        assert self.party is not None
        if self.ended.done():
            return
        left = [leg for leg in (self.lead, self.party) if not leg.ended.done()]
        if self.caller_joined and self._caller_up():
            left.append(self.conference.caller)
        if len(left) < 2:
            await self._end(TransferEnd.COMPLETED)

    # -- what the caller can do ------------------------------------------------------
    async def drop_lead(self) -> None:
        await self.lead.hangup()

    async def drop_party(self) -> None:
        if self.party is not None:
            await self.party.hangup()

    async def release_party(self) -> None:
        """Drop the transfer party and give the call back to the caller: the lead (and
        the caller, from a warm transfer) return to the conference; before the party
        answered this cancels the transfer."""
        if not self.connected.done():
            await self.cancel()
            return
        await self._end(TransferEnd.COMPLETED, keep_lead=True)

    async def leave(self) -> None:
        """The caller leaves a warm transfer: back to the conference (wrap-up); lead and
        party go on talking."""
        if not self.caller_joined:
            raise NotAnswered(f"the caller is not in transfer {self.id}")
        self.caller_joined = False
        await self._return_caller()
        await self._check()

    async def cancel(self) -> None:
        """Stop the transfer: hang up the party; before it answered, the lead stays with
        the caller."""
        if self.party is not None:
            await self.party.hangup()
        if self.connected.done():
            await self._end(TransferEnd.COMPLETED)

    async def _cancel_in_background(self, why: str) -> None:
        try:
            await self.cancel()
        except (AriError, TelephonyError) as exc:
            logger.warning("transfer %s not cancelled after %s: %s", self.id, why, exc)

    # -- ending ----------------------------------------------------------------------
    async def _return_caller(self) -> None:
        caller = self.conference.caller
        if caller is not None and caller.is_up and not self.conference.closed.done():
            try:
                await self.conference.add(caller)
            except (AriError, TelephonyError) as exc:
                logger.info("transfer %s: caller not returned to the conference (%s)", self.id, exc)

    async def _end(self, how: TransferEnd, *, keep_lead: bool = False) -> None:
        """Hang up who is left (or, ``keep_lead``, the party only and the lead back into
        the conference), bring the caller back, destroy the bridge. Runs in the background
        (a leg ending): an ARI error is logged and the transfer ends anyway."""
        async with self._lock:
            if self.ended.done():
                return
            for leg in (self.party,) if keep_lead else (self.lead, self.party):
                if leg is not None:
                    await leg.hangup_or_log(f"end of transfer {self.id}")
            if keep_lead and not self.lead.ended.done() and not self.conference.closed.done():
                try:
                    await self.conference.add(self.lead)
                except (AriError, TelephonyError) as exc:
                    logger.info("transfer %s: lead not returned to the conference (%s)", self.id, exc)
            if self.caller_joined:
                self.caller_joined = False
                await self._return_caller()
            try:
                await self.telephony.client.destroy_bridge(self.bridge_id)
            except NoSuchBridge:
                pass
            except AriError as exc:
                logger.warning("transfer %s: bridge %s not destroyed: %s", self.id, self.bridge_id, exc)
            # No longer ours even if it lingers: the next orphan reaping destroys it.
            self.telephony.untrack_bridge(self.bridge_id)
            self._finish(how)

    def _finish(self, how: TransferEnd) -> None:
        if not self.ended.done():
            logger.info("transfer %s (%s) ended: %s", self.id, self.kind.value, how.value)
            self.ended.set_result(how)
