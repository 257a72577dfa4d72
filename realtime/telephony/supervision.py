"""Supervisors on a caller's conference: listen, coach, barge, and switching between them.

The supervisor's own phone (the endpoint stored on the user) is called once and kept
while they supervise this caller; modes change around that leg:

* listen - a snoop on the caller's leg with ``spy=both`` (the supervisor hears the
  caller and everyone the caller hears), in a bridge ``sup-<supervisor leg>`` with the
  supervisor; nobody hears the supervisor;
* coach - the same with ``whisper=out``: only the caller hears the supervisor;
* barge - the supervisor joins the conference itself and everyone hears them.

A supervisor who moves to another caller keeps their phone: :meth:`Supervision.detach`
leaves this conference with the leg still up, and :meth:`Supervision.attach` starts on
the next one with it (as it does with a leg that dialled in).
"""
from __future__ import annotations

import asyncio
import enum
import logging
from typing import TYPE_CHECKING

from .ari import AriError, NoSuchBridge, NoSuchChannel
from .endpoints import user_endpoint
from .errors import CallEnded, ConferenceClosed, InvalidMode, TelephonyError
from .leg import Leg
from .roles import Role, snoop_channel_id, supervision_bridge_id, supervisor_channel_id

if TYPE_CHECKING:
    from .conference import Conference
    from .service import Telephony

logger = logging.getLogger(__name__)


class Mode(str, enum.Enum):
    LISTEN = "listen"
    COACH = "coach"
    BARGE = "barge"


# (spy, whisper) of the snoop channel on the caller's leg.
_SNOOP = {Mode.LISTEN: ("both", "none"), Mode.COACH: ("both", "out")}


def _mode(mode: Mode | str) -> Mode:
    try:
        return Mode(mode)
    except ValueError:
        raise InvalidMode(f"supervision mode must be listen, coach or barge, not {mode!r}") from None


class Supervision:
    """One supervisor on one conference. Create with :meth:`start`; ``ended`` resolves
    once the supervisor's phone has dropped and the snoop and its bridge are gone."""

    def __init__(self, telephony: Telephony, conference: Conference, leg: Leg) -> None:
        self.telephony = telephony
        self.conference = conference
        self.leg = leg
        self.mode: Mode | None = None
        self.bridge_id = supervision_bridge_id(leg.id)
        self.snoop_id: str | None = None
        self._bridge_created = False
        self._detached = False  # moved on to another conference with the same leg
        self._lock = asyncio.Lock()
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        leg.ended.add_done_callback(lambda _: telephony.spawn(self._cleanup(), f"end of supervision by {leg.id}"))
        if conference.caller is not None:
            # Nothing left to supervise once the caller's phone is gone.
            conference.caller.ended.add_done_callback(lambda _: telephony.spawn(
                self._stop_in_background("the caller hung up"), f"end of supervision by {leg.id}"))

    @classmethod
    async def start(
        cls,
        telephony: Telephony,
        conference: Conference,
        supervisor_endpoint: str,
        mode: Mode | str,
        *,
        supervisor_id: str,
        caller_id: str | None = None,
        ring_timeout: int = 30,
    ) -> Supervision:
        """Call the supervisor's phone and, once answered, start ``mode``.

        Raises :class:`DialFailed` when the supervisor's phone does not answer,
        :class:`InvalidMode`, :class:`~.errors.InvalidEndpoint`, :class:`ConferenceClosed`.
        """
        mode = _mode(mode)
        endpoint = user_endpoint(supervisor_endpoint)
        if conference.closed.done() or conference.caller is None:
            raise ConferenceClosed(f"conference {conference.bridge_id} has no caller")
        channel_id = supervisor_channel_id(supervisor_id)
        leg = await Leg.originate(telephony, channel_id, endpoint, conference.role(Role.SUPERVISOR, supervisor_id),
                                  caller_id=caller_id, timeout=ring_timeout)
        await leg.answered  # DialFailed goes to the caller of start()
        supervision = cls(telephony, conference, leg)
        try:
            await supervision.switch(mode)
        except BaseException:
            await supervision.stop()
            raise
        return supervision

    @classmethod
    async def attach(cls, telephony: Telephony, conference: Conference, leg: Leg, mode: Mode | str) -> Supervision:
        """Start ``mode`` on ``conference`` with a supervisor leg that is already up (it
        dialled in, or it supervised another caller and was detached). On failure the
        leg is left up, as it came.

        Raises :class:`InvalidMode`, :class:`ConferenceClosed`, :class:`CallEnded`."""
        mode = _mode(mode)
        if conference.closed.done() or conference.caller is None:
            raise ConferenceClosed(f"conference {conference.bridge_id} has no caller")
        leg.require_up()
        supervision = cls(telephony, conference, leg)
        try:
            await supervision.switch(mode)
        except BaseException:
            await supervision.detach()
            raise
        return supervision

    async def detach(self) -> None:
        """Stop supervising this conference and keep the supervisor's phone up (their
        next caller takes it over); this object does nothing more with the leg."""
        async with self._lock:
            self._detached = True
            try:
                if self.mode is Mode.BARGE:
                    await self.conference.remove(self.leg)
                await self._drop_snoop()
            finally:
                self.mode = None

    async def switch(self, mode: Mode | str) -> None:
        """Change mode live; the supervisor's phone call goes on."""
        mode = _mode(mode)
        async with self._lock:
            if self.leg.ended.done():
                raise CallEnded(f"supervisor leg {self.leg.id} has hung up")
            if mode is self.mode:
                return
            if mode is Mode.BARGE:
                await self._drop_snoop()
                await self.conference.add(self.leg)
            else:
                if self.mode is Mode.BARGE:
                    await self.conference.remove(self.leg)
                await self._snoop(mode)
            self.mode = mode
            logger.info("supervisor %s now %s on %s", self.leg.id, mode.value, self.conference.bridge_id)

    async def _snoop(self, mode: Mode) -> None:
        caller = self.conference.caller
        if caller is None or caller.ended.done():
            raise CallEnded("the caller has hung up")
        client = self.telephony.client
        if not self._bridge_created:
            # Ours before it exists: a reaper running meanwhile must not take it for an orphan.
            self.telephony.track_bridge(self.bridge_id)
            try:
                await client.create_bridge(self.bridge_id, type="mixing", name=self.bridge_id)
            except BaseException:
                self.telephony.untrack_bridge(self.bridge_id)
                raise
            self._bridge_created = True
        spy, whisper = _SNOOP[mode]
        old = self.snoop_id
        self.snoop_id = snoop_channel_id(self.leg.id)
        snoop_id = self.snoop_id
        self.telephony.track_channel(snoop_id)
        # The snoop channel can be bridged only once in Stasis; its StasisStart may even
        # arrive before the reply to the snoop request, so listen first.
        started = client.wait_for(lambda e: e.type == "StasisStart" and snoop_id in e.channel_ids, 5.0)
        try:
            await client.snoop(caller.id, spy=spy, whisper=whisper, app_args=("snoop",), snoop_id=snoop_id)
        except NoSuchChannel:
            started.cancel()
            self.telephony.untrack_channel(snoop_id)
            raise CallEnded("the caller has hung up") from None
        await started
        await client.add_channel(self.bridge_id, [self.snoop_id, self.leg.id])
        if old is not None:
            await self._hang_up(old)

    async def _drop_snoop(self) -> None:
        if self.snoop_id is not None:
            await self._hang_up(self.snoop_id)
            self.snoop_id = None
        if self._bridge_created:
            try:
                await self.telephony.client.destroy_bridge(self.bridge_id)
            except NoSuchBridge:
                pass
            self._bridge_created = False
            self.telephony.untrack_bridge(self.bridge_id)

    async def _hang_up(self, channel_id: str) -> None:
        try:
            await self.telephony.client.hangup(channel_id)
        except NoSuchChannel:
            pass
        finally:
            # Not ours any more even if the hangup failed: orphan reaping ends it then.
            self.telephony.untrack_channel(channel_id)

    async def stop(self) -> None:
        """End supervision: hang up the supervisor's phone, the snoop and its bridge."""
        await self.leg.hangup()
        await self._cleanup()

    async def _stop_in_background(self, why: str) -> None:
        if self._detached:
            return  # the leg supervises someone else now
        try:
            await self.stop()
        except (AriError, TelephonyError) as exc:
            logger.warning("supervisor %s not stopped after %s: %s", self.leg.id, why, exc)

    async def _cleanup(self) -> None:
        async with self._lock:
            try:
                await self._drop_snoop()
            except AriError as exc:
                logger.info("supervisor %s cleanup: %s", self.leg.id, exc)
            self.mode = None
            if self.leg.ended.done():
                # Over: a bridge that could not be destroyed is left to orphan reaping.
                self.telephony.untrack_bridge(self.bridge_id)
                if not self.ended.done():
                    self.ended.set_result(None)
