"""The caller's conference: one mixing bridge per caller session, for the whole session.

The bridge id is ours (``conf-<session>``), so it can be found again after a restart.
The caller's phone leg is originated to the caller's endpoint (or, for a caller who
dialled in and gave a PIN, the inbound channel is adopted) and stays in the bridge;
leads, transfer parties and supervisors join and leave. While the caller is alone the
bridge plays music on hold.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .ari import AriConflict, AriError, Bridge, Channel, NoSuchBridge, NoSuchChannel
from .ari.events import BridgeDestroyed, BridgeGone, ChannelEnteredBridge, ChannelLeftBridge, Event
from .endpoints import user_endpoint
from .errors import CallerUnreachable, CallEnded, ConferenceClosed, DialFailed
from .leg import Leg, LegEnd
from .roles import SESSION, ChannelRole, Role, caller_channel_id, conference_bridge_id

if TYPE_CHECKING:
    from .service import LiveChannel, Telephony

logger = logging.getLogger(__name__)


def _is_party(channel: Channel) -> bool:
    # Asterisk plays bridge music on hold (and records) through channels of its own that
    # enter the bridge like anyone else; they are nobody the caller talks to.
    return not channel.name.startswith(("Announcer/", "Recorder/"))


class Conference:
    """Create with :meth:`open` (we call the caller) or :meth:`dial_in` (the caller
    called us). ``caller.ended`` resolves when the caller's phone leg drops;
    ``closed`` when the bridge is gone (closed by us, or lost with Asterisk)."""

    def __init__(self, telephony: Telephony, session_id: str, campaign_id: str, *,
                 moh_class: str | None = None) -> None:
        self.telephony = telephony
        self.session_id = session_id
        self.campaign_id = campaign_id
        self.bridge_id = conference_bridge_id(session_id)
        self.moh_class = moh_class
        self.caller: Leg | None = None
        self.members: set[str] = set()
        self.moh_playing = False
        self.closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._moh_lock = asyncio.Lock()
        self._changed = asyncio.Condition()
        self._registration = telephony.client.on_bridge(self.bridge_id, self._on_event)
        telephony.track_conference(self)

    def __repr__(self) -> str:
        return f"<Conference {self.bridge_id} members={sorted(self.members)}>"

    def role(self, role: Role, call_id: str = "") -> ChannelRole:
        return ChannelRole(role, self.session_id, self.campaign_id, call_id)

    @classmethod
    async def open(
        cls,
        telephony: Telephony,
        session_id: str,
        campaign_id: str,
        caller_endpoint: str,
        *,
        caller_id: str | None = None,
        ring_timeout: int = 30,
        moh_class: str | None = None,
    ) -> Conference:
        """Create the bridge, call the caller's phone and put the answered leg in it.

        Raises :class:`CallerUnreachable` (nothing left behind) when the caller's phone
        does not answer, :class:`~.errors.InvalidEndpoint` for a malformed endpoint.
        """
        endpoint = user_endpoint(caller_endpoint)
        conference = cls(telephony, session_id, campaign_id, moh_class=moh_class)
        await conference._create_bridge()
        try:
            leg = await Leg.originate(telephony, caller_channel_id(session_id), endpoint, conference.role(Role.CALLER),
                                      caller_id=caller_id, timeout=ring_timeout)
            try:
                await leg.answered
            except DialFailed as failed:
                raise CallerUnreachable(f"the caller's phone {endpoint} did not answer ({failed.reason})",
                                        cause=failed.cause) from None
            await conference._attach_caller(leg)
        except BaseException:
            await conference._discard()
            raise
        return conference

    @classmethod
    async def dial_in(cls, telephony: Telephony, session_id: str, campaign_id: str, channel_id: str,
                      *, moh_class: str | None = None) -> Conference:
        """The caller dialled in (identified by PIN): their inbound channel, already in our
        application, becomes the session's caller leg."""
        conference = cls(telephony, session_id, campaign_id, moh_class=moh_class)
        await conference._create_bridge()
        try:
            leg = await Leg.adopt(telephony, channel_id, conference.role(Role.CALLER))
            await conference._attach_caller(leg)
        except BaseException:
            await conference._discard()
            raise
        return conference

    async def rejoin(self, channel_id: str) -> Leg:
        """The caller's phone dropped and they dialled in again: their new inbound
        channel becomes the caller leg of this (still open) conference."""
        if self.closed.done():
            raise ConferenceClosed(f"conference {self.bridge_id} is closed")
        if self.caller is not None and not self.caller.ended.done():
            await self.caller.hangup()  # one phone per caller: the newest wins
        leg = await Leg.adopt(self.telephony, channel_id, self.role(Role.CALLER))
        await self._attach_caller(leg)
        return leg

    @classmethod
    async def recover(cls, telephony: Telephony, caller: LiveChannel, *,
                      moh_class: str | None = None) -> Conference:
        """After our own restart: take back the conference of a caller leg found by
        :meth:`Telephony.survey`, with whoever is still in its bridge.

        Raises :class:`ConferenceClosed` when the bridge is gone (the caller's leg is
        then left alone: hang it up or open a new conference)."""
        role = caller.role
        conference = cls(telephony, role.session_id, role.campaign_id, moh_class=moh_class)
        try:
            bridge = await telephony.client.get_bridge(conference.bridge_id)
            await telephony.client.subscribe(f"bridge:{conference.bridge_id}")
        except NoSuchBridge:
            conference._closed("lost")
            raise ConferenceClosed(f"conference {conference.bridge_id} is gone") from None
        conference.caller = await Leg.adopt(telephony, caller.channel.id, role,
                                            bridge_id=caller.bridge_id, label=False)
        conference.resync(bridge, {channel.id: channel for channel in await telephony.client.list_channels()})
        return conference

    async def _create_bridge(self) -> None:
        try:
            await self.telephony.client.create_bridge(self.bridge_id, type="mixing", name=self.bridge_id)
        except AriConflict:
            # Left over from before a restart: start clean rather than inherit strangers.
            await self.telephony.client.destroy_bridge(self.bridge_id)
            await self.telephony.client.create_bridge(self.bridge_id, type="mixing", name=self.bridge_id)
        # Without a subscription a bridge none of our channels entered sends no BridgeDestroyed.
        await self.telephony.client.subscribe(f"bridge:{self.bridge_id}")

    async def _attach_caller(self, leg: Leg) -> None:
        if leg.ended.done():
            raise CallerUnreachable("the caller hung up before joining the conference")
        self.caller = leg
        await self._add_channel(leg.id)
        self.members.add(leg.id)
        await self._update_moh()

    # -- members -------------------------------------------------------------------
    async def add(self, leg: Leg) -> None:
        """Bridge an answered leg (lead, transfer party, barging supervisor) into the
        conference; the music stops first so the caller and the lead meet in silence."""
        if self.closed.done():
            raise ConferenceClosed(f"conference {self.bridge_id} is closed")
        leg.require_up()

        async def silence() -> None:
            async with self._moh_lock:
                await self._set_moh(False)

        async def label() -> None:
            # Whose the leg is now, for a restarted engine to find it.
            if leg.role.session_id != self.session_id:
                await self.telephony.client.set_variable(leg.id, SESSION, self.session_id)
                leg.role = dataclasses.replace(leg.role, session_id=self.session_id)

        try:
            # Both before the leg joins, side by side: a lead who just said hello is waiting.
            await asyncio.gather(silence(), label())
            if leg.bridge_id and leg.bridge_id != self.bridge_id:
                await self._leave(leg.bridge_id, leg.id)
            await self._add_channel(leg.id)
            self.members.add(leg.id)
        finally:
            await self._update_moh()

    async def remove(self, leg: Leg) -> None:
        """Take a leg out of the conference (it stays up, in our application)."""
        await self._leave(self.bridge_id, leg.id)
        self.members.discard(leg.id)
        await self._update_moh()

    async def _add_channel(self, channel_id: str) -> None:
        try:
            await self.telephony.client.add_channel(self.bridge_id, channel_id)
        except NoSuchBridge:
            raise ConferenceClosed(f"conference {self.bridge_id} is gone") from None
        except NoSuchChannel:
            raise CallEnded(f"channel {channel_id} has hung up") from None

    async def _leave(self, bridge_id: str, channel_id: str) -> None:
        try:
            await self.telephony.client.remove_channel(bridge_id, channel_id)
        except (NoSuchBridge, NoSuchChannel):
            pass
        except AriError as exc:
            if exc.status != 422:  # not in that bridge any more: nothing to do
                raise

    # -- music on hold -------------------------------------------------------------
    @property
    def caller_alone(self) -> bool:
        return self.caller is not None and self.members == {self.caller.id}

    async def wait_alone(self, timeout: float | None = None) -> None:
        """Until the caller is alone in the conference again (music playing)."""
        async def alone() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: self.caller_alone and self.moh_playing)

        await asyncio.wait_for(alone(), timeout)

    async def _update_moh(self) -> None:
        async with self._moh_lock:
            await self._set_moh(self.caller_alone)
        async with self._changed:
            self._changed.notify_all()

    async def _set_moh(self, on: bool) -> None:
        """Start or stop the bridge's music. Never raises an ARI error: music is a comfort,
        and a call must not fail (nor a background task die) because of it."""
        if on == self.moh_playing or self.closed.done():
            return
        client = self.telephony.client
        try:
            if on:
                await client.bridge_start_moh(self.bridge_id, self.moh_class)
            else:
                await client.bridge_stop_moh(self.bridge_id)
        except NoSuchBridge:
            return  # gone: BridgeDestroyed (or BridgeGone) closes the conference
        except AriConflict:
            if on:
                logger.warning("conference %s: music on hold not started (409)", self.bridge_id)
                return
            # Asterisk 22 answers 409 "Bridge isn't playing music" when none plays (as after
            # a reconnect, where we cannot know): not playing is what we asked for.
        except AriError as exc:
            logger.warning("conference %s: music on hold not %s: %s", self.bridge_id,
                           "started" if on else "stopped", exc)
            return
        self.moh_playing = on

    # -- events --------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        if isinstance(event, (ChannelEnteredBridge, ChannelLeftBridge)):
            if event.channel is None or not _is_party(event.channel):
                return
        if isinstance(event, ChannelEnteredBridge):
            self.members.add(event.channel.id)
        elif isinstance(event, ChannelLeftBridge):
            if event.channel.id in self.members:
                self.members.discard(event.channel.id)
                self.telephony.spawn(self._update_moh(), f"music on hold of {self.bridge_id}")
        elif isinstance(event, (BridgeDestroyed, BridgeGone)):
            self._closed("lost" if isinstance(event, BridgeGone) else "destroyed")

    def resync(self, bridge: Bridge, channels: Mapping[str, Channel]) -> None:
        """After a reconnect: members as Asterisk has them now (leave events were lost)."""
        self.members = {cid for cid in bridge.channels if cid in channels and _is_party(channels[cid])}
        self.moh_playing = not self.caller_alone  # unknown after the gap: force a re-apply
        self.telephony.spawn(self._update_moh(), f"music on hold of {self.bridge_id} after a reconnect")

    def _closed(self, why: str) -> None:
        self._registration.remove()
        self.telephony.untrack_conference(self)
        if not self.closed.done():
            self.closed.set_result(why)

    async def close(self) -> None:
        """Hang up the caller and everyone still in the bridge, then destroy it."""
        if self.closed.done():
            return
        client = self.telephony.client
        member_ids = set(self.members)
        if self.caller is not None:
            member_ids.add(self.caller.id)
        for channel_id in member_ids:
            leg = self.telephony.leg(channel_id)
            if leg is not None:
                await leg.hangup()
            else:
                try:
                    await client.hangup(channel_id)
                except NoSuchChannel:
                    pass
        try:
            await client.destroy_bridge(self.bridge_id)
        except NoSuchBridge:
            pass
        self._closed("closed")

    async def _discard(self) -> None:
        """Undo a half-opened conference without hiding why it failed."""
        try:
            await self.close()
        except AriError as exc:
            logger.warning("conference %s not cleaned up: %s", self.bridge_id, exc)
            self._closed("lost")

    async def wait_caller_gone(self, timeout: float | None = None) -> LegEnd:
        if self.caller is None:
            raise ConferenceClosed("the conference has no caller")
        return await self.caller.wait_ended(timeout)
