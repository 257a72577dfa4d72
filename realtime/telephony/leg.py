"""One phone leg we originate and own: its progress as awaitable outcomes.

A leg is originated into our Stasis application with a channel id we choose and role
variables (see :mod:`.roles`). Everything Asterisk tells us about it arrives as events on
that channel id; a leg turns them into three futures:

* ``ringing`` - the far end is alerting (or answered without alerting); raises
  :class:`DialFailed` if it ended first;
* ``answered`` - the leg is up and in our application; raises :class:`DialFailed` if it
  ended first (busy, no answer, ...);
* ``ended`` - always resolves, with a :class:`LegEnd` saying why and who hung up.

Callers, transfer parties and supervisors use :class:`Leg` as it is; leads add
answering-machine detection and announcements (:mod:`.lead_leg`).
"""
from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .ari import AriError, Channel, EndpointUnreachable, NoSuchChannel
from .ari.events import (
    ChannelDestroyed,
    ChannelEnteredBridge,
    ChannelGone,
    ChannelHangupRequest,
    ChannelLeftBridge,
    ChannelStateChange,
    Dial,
    Event,
    StasisStart,
)
from .errors import CallEnded, DialFailed, NotAnswered
from .roles import ChannelRole

if TYPE_CHECKING:
    from .service import Telephony

logger = logging.getLogger(__name__)


class LegState(str, enum.Enum):
    DIALING = "dialing"
    RINGING = "ringing"
    DETECTING = "detecting"      # a lead in answering-machine detection, out of Stasis
    ANSWERED = "answered"
    ENDED = "ended"


class EndedBy(str, enum.Enum):
    FAR_END = "far-end"          # the person (or network) at the other end
    US = "us"                    # we hung up (hangup(), voicemail drop, abandon, close)
    LOST = "lost"                # gone while we were not connected to Asterisk


# Failure reasons of a leg that was never answered.
BUSY = "busy"
NO_ANSWER = "no-answer"
CONGESTION = "congestion"
UNREACHABLE = "unreachable"
REJECTED = "rejected"
CANCELLED = "cancelled"
LOST = "lost"

_UNREACHABLE_CAUSES = frozenset({1, 2, 3, 27, 28, 38, 58, 66, 88, 127})


def failure_reason(dialstatus: str, cause: int | None) -> str:
    """Why a dial attempt failed, from the last ``Dial.dialstatus`` and the Q.850 cause."""
    if dialstatus == "BUSY" or cause == 17:
        return BUSY
    if dialstatus == "CONGESTION" or cause in (34, 42):
        return CONGESTION
    if dialstatus == "CHANUNAVAIL" or cause in _UNREACHABLE_CAUSES:
        return UNREACHABLE
    if cause == 21:
        return REJECTED
    return NO_ANSWER


@dataclasses.dataclass(frozen=True)
class LegEnd:
    """How a leg ended. ``failure`` is set when it was never answered."""

    by: EndedBy
    cause: int | None = None
    cause_txt: str = ""
    tech_cause: int | None = None
    failure: str | None = None
    at: datetime | None = None

    @property
    def answered(self) -> bool:
        return self.failure is None


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _quiet(future: asyncio.Future) -> None:
    # A failed outcome nobody awaited must not log "exception was never retrieved".
    if not future.cancelled():
        future.exception()


class Leg:
    """An originated channel of ours. Create with :meth:`originate`."""

    def __init__(self, telephony: Telephony, channel_id: str, role: ChannelRole, endpoint: str) -> None:
        self.telephony = telephony
        self.id = channel_id
        self.role = role
        self.endpoint = endpoint
        self.state = LegState.DIALING
        self.answered_at: datetime | None = None
        self.ended_at: datetime | None = None
        self.bridge_id: str | None = None
        loop = asyncio.get_running_loop()
        self.ringing: asyncio.Future[None] = loop.create_future()
        self.ringing.add_done_callback(_quiet)
        self.answered: asyncio.Future[Any] = loop.create_future()
        self.answered.add_done_callback(_quiet)
        self.ended: asyncio.Future[LegEnd] = loop.create_future()
        self._dialstatus = ""
        self._hung_up_by_us = False
        self._hangup_by: EndedBy | None = None
        self._registration = telephony.client.on_channel(channel_id, self._on_event)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} {self.role.role.value} {self.state.value}>"

    @property
    def is_up(self) -> bool:
        return self.state is LegState.ANSWERED

    @classmethod
    async def originate(
        cls,
        telephony: Telephony,
        channel_id: str,
        endpoint: str,
        role: ChannelRole,
        *,
        caller_id: str | None = None,
        timeout: int = 30,
        **kwargs: Any,
    ) -> Leg:
        """Dial ``endpoint`` (``timeout`` seconds of ringing) with our ``channel_id``; the
        role goes in channel variables and in the ``StasisStart`` args.

        Returns at once; the outcome arrives through the futures. An endpoint Asterisk
        cannot even allocate ends the leg at once as ``unreachable``. Raises
        :class:`~.ari.TelephonyUnavailable` when Asterisk cannot be reached.
        """
        leg = cls(telephony, channel_id, role, endpoint, **kwargs)
        telephony.track(leg)
        try:
            await telephony.client.originate(
                endpoint, channel_id=channel_id, app_args=(role.role.value,),
                caller_id=caller_id, timeout=timeout, variables=role.variables(),
            )
        except EndpointUnreachable as exc:
            leg._finish(LegEnd(EndedBy.FAR_END, failure=UNREACHABLE, cause_txt=exc.message, at=utcnow()))
        except BaseException:
            leg._finish(LegEnd(EndedBy.LOST, failure=LOST, at=utcnow()))
            raise
        return leg

    @classmethod
    async def adopt(cls, telephony: Telephony, channel_id: str, role: ChannelRole, *,
                    bridge_id: str | None = None, label: bool = True) -> Leg:
        """Take over a channel that is already up in our application: a caller who
        dialled in (``label`` writes the role variables on it), or a call found alive by
        :meth:`Telephony.survey` after our own restart (already labelled). We subscribe
        to it, so its ``ChannelDestroyed`` reaches us."""
        leg = cls(telephony, channel_id, role, "")
        leg.answered_at = utcnow()
        leg.bridge_id = bridge_id
        leg._resync_answered(())
        telephony.track(leg)
        try:
            await telephony.client.subscribe(f"channel:{channel_id}")
            if label:
                for name, value in role.variables().items():
                    await telephony.client.set_variable(channel_id, name, value)
        except NoSuchChannel:
            leg._finish(LegEnd(EndedBy.FAR_END, at=utcnow()))
        except AriError as exc:
            if exc.status != 422:  # event source gone: the channel hung up meanwhile
                raise
            leg._finish(LegEnd(EndedBy.FAR_END, at=utcnow()))
        return leg

    async def wait_answered(self, timeout: float | None = None) -> Any:
        """The answer (raises :class:`DialFailed` if the leg ended unanswered)."""
        return await asyncio.wait_for(asyncio.shield(self.answered), timeout)

    async def wait_ended(self, timeout: float | None = None) -> LegEnd:
        return await asyncio.wait_for(asyncio.shield(self.ended), timeout)

    async def hangup(self) -> None:
        """Hang up (ringing or answered); a leg that already ended is left alone."""
        if self.ended.done():
            return
        self._hung_up_by_us = True
        try:
            await self.telephony.client.hangup(self.id)
        except NoSuchChannel:
            pass

    async def hangup_or_log(self, doing: str) -> None:
        """:meth:`hangup` for work nobody awaits: an ARI error is logged, with ``doing``
        (what the hangup is part of), instead of raised."""
        try:
            await self.hangup()
        except AriError as exc:
            logger.warning("%s not hung up (%s): %s", self, doing, exc)

    def require_up(self) -> None:
        if self.ended.done():
            raise CallEnded(f"{self.role.role.value} leg {self.id} has hung up")
        if not self.is_up:
            raise NotAnswered(f"{self.role.role.value} leg {self.id} is not answered yet ({self.state.value})")

    # -- events -------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        if isinstance(event, Dial):
            self._dialstatus = event.dialstatus or self._dialstatus
            if event.dialstatus == "RINGING":
                self._ring()
            elif event.dialstatus == "ANSWER" and self.answered_at is None:
                self.answered_at = event.timestamp or utcnow()
        elif isinstance(event, ChannelStateChange):
            if event.channel.state == "Ringing":
                self._ring()
        elif isinstance(event, StasisStart):
            if self.answered_at is None:
                self.answered_at = event.timestamp or utcnow()
            self._ring()
            self._on_stasis_start(event)
        elif isinstance(event, ChannelHangupRequest):
            # Ours (ARI DELETE) come soft; the far end's carry a Q.850 cause. Deciding on
            # the first one avoids racing our own hangup() against theirs.
            if self._hangup_by is None:
                self._hangup_by = EndedBy.US if event.soft else EndedBy.FAR_END
        elif isinstance(event, ChannelEnteredBridge):
            self.bridge_id = event.bridge.id
        elif isinstance(event, ChannelLeftBridge):
            if self.bridge_id == event.bridge.id:
                self.bridge_id = None
        elif isinstance(event, ChannelDestroyed):
            self._on_destroyed(event)
        elif isinstance(event, ChannelGone):
            self._finish(LegEnd(EndedBy.LOST, failure=None if self.answered.done() else LOST, at=utcnow()))
        self._on_other(event)

    def _on_stasis_start(self, event: StasisStart) -> None:
        self._set_answered(None)

    def _on_other(self, event: Event) -> None:
        """Hook for subclasses: every event, after the leg's own bookkeeping. Event hooks
        are plain functions that start requests with ``telephony.spawn``: the delivery task
        must not wait on Asterisk."""

    def _ring(self) -> None:
        if self.state is LegState.DIALING:
            self.state = LegState.RINGING
        if not self.ringing.done():
            self.ringing.set_result(None)

    def _set_answered(self, value: Any) -> None:
        self.state = LegState.ANSWERED
        if not self.answered.done():
            self.answered.set_result(value)

    def _on_destroyed(self, event: ChannelDestroyed) -> None:
        by = self._hangup_by or (EndedBy.US if self._hung_up_by_us else EndedBy.FAR_END)
        if self.answered.done():
            failure = None
        else:
            failure = CANCELLED if self._hung_up_by_us else failure_reason(self._dialstatus, event.cause)
        self._finish(LegEnd(by, event.cause, event.cause_txt, event.tech_cause, failure,
                            event.timestamp or utcnow()))

    def _finish(self, end: LegEnd) -> None:
        if self.ended.done():
            return
        self.state = LegState.ENDED
        self.ended_at = end.at
        self._registration.remove()
        self.telephony.untrack(self)
        failed = DialFailed(f"{self.endpoint}: {end.failure}", reason=end.failure or LOST, cause=end.cause)
        for future in (self.ringing, self.answered):
            if not future.done():
                future.set_exception(failed)
        self.ended.set_result(end)
        logger.info("%s ended: %s", self, end)

    def resync(self, channel: Channel | None) -> None:
        """After a reconnect: catch up with what Asterisk says now (events were lost).

        A vanished channel is ended by the client's ``ChannelGone``; a live one that was
        answered meanwhile is taken as answered when it sits in our application.
        """
        if channel is None or self.ended.done() or self.answered.done():
            return
        if channel.state == "Up" and channel.dialplan.app_name == "Stasis":
            args = channel.dialplan.app_data.split(",")[1:]
            self.answered_at = self.answered_at or utcnow()
            self._resync_answered(tuple(args))

    def _resync_answered(self, args: tuple[str, ...]) -> None:
        self._set_answered(None)
