"""A lead's phone leg: dial, answering-machine detection, and what happens after answer.

The dialer calls :func:`dial_lead`, then awaits the outcome on the returned
:class:`LeadLeg`::

    lead = await dial_lead(telephony, call_id="c-17", campaign_id="42",
                           number="+15555550100", caller_id="Campaign <5551000>",
                           ring_timeout=20, amd=True)
    try:
        verdict = await lead.answered          # Verdict.HUMAN / MACHINE / NOTSURE
    except DialFailed as failed:
        failed.reason                           # busy, no-answer, congestion, unreachable...
    if verdict is Verdict.MACHINE:
        await lead.drop_voicemail("recording:campaign-42")   # plays, then hangs up
    elif caller_conference is not None:
        await lead.connect_to(caller_conference)
    else:
        await lead.abandon("sound:safe-harbor")           # plays at once, then hangs up
    end = await lead.ended                      # LegEnd: cause, by (far-end/us/lost)

On a real Asterisk, AMD runs in the dialplan: the answered lead is sent with
``continue`` to ``REALTIME_AMD_CONTEXT`` (extension = our Stasis app, priority 1), which
runs ``AMD()`` and comes back with ``Stasis(<app>,amd,${AMDSTATUS},${AMDCAUSE})``: we see
``StasisEnd`` and then a second ``StasisStart`` whose args carry the verdict.
"""
from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from .ari import AriError, NoSuchChannel
from .ari.events import ChannelEnteredBridge, Event, PlaybackFinished, PlaybackStarted, StasisStart
from .errors import CallEnded
from .leg import Leg, LegState, utcnow
from .roles import ChannelRole, Role, lead_channel_id

if TYPE_CHECKING:
    from .conference import Conference
    from .service import Telephony

logger = logging.getLogger(__name__)

AMD_ARG = "amd"
VOICEMAIL = "voicemail"
SAFE_HARBOR = "safe-harbor"


class Verdict(str, enum.Enum):
    """Who answered, as AMD says (``HUMAN`` at once when AMD is off)."""

    HUMAN = "HUMAN"
    MACHINE = "MACHINE"
    NOTSURE = "NOTSURE"

    @classmethod
    def from_amd(cls, status: str) -> Verdict:
        # AMDSTATUS may also be HANGUP; the ChannelDestroyed that follows ends the lead.
        try:
            return cls(status.upper())
        except ValueError:
            return cls.NOTSURE


class LeadLeg(Leg):
    """A lead's leg. ``answered`` resolves to a :class:`Verdict`; timestamps of answer,
    verdict, connection and announcements are kept (from Asterisk's event timestamps)."""

    def __init__(self, telephony: Telephony, channel_id: str, role: ChannelRole, endpoint: str,
                 *, amd: bool = False) -> None:
        super().__init__(telephony, channel_id, role, endpoint)
        self.amd = amd
        self.verdict: Verdict | None = None
        self.amd_cause = ""
        self.verdict_at: datetime | None = None
        self.connected_at: datetime | None = None
        self.voicemail_started_at: datetime | None = None
        self.safe_harbor_started_at: datetime | None = None
        self.conference: Conference | None = None
        self._pending: tuple[str, Sequence[str] | str] | None = None
        self._playback_id: str | None = None

    @property
    def call_id(self) -> str:
        return self.role.call_id

    # -- what the dialer does with an answered lead ---------------------------------
    async def connect_to(self, conference: Conference) -> None:
        """Bridge the answered lead into the caller's conference."""
        self.require_up()
        self.conference = conference
        await conference.add(self)
        # The reply may come before the ChannelEnteredBridge event: whichever is first.
        self.connected_at = self.connected_at or utcnow()

    async def drop_voicemail(self, media: Sequence[str] | str) -> None:
        """Play the campaign's voicemail message, then hang up when it finishes."""
        await self._announce(VOICEMAIL, media)

    async def abandon(self, media: Sequence[str] | str) -> None:
        """No caller for this lead: play the safe-harbor message at once, then hang up.

        Called during AMD, the message starts as soon as the lead is back from detection.
        """
        await self._announce(SAFE_HARBOR, media)

    async def _announce(self, kind: str, media: Sequence[str] | str) -> None:
        if self.ended.done():
            raise CallEnded(f"lead {self.id} has hung up")
        if self.state is LegState.DETECTING:
            self._pending = (kind, media)
            return
        self.require_up()
        await self._play(kind, media)

    async def _play(self, kind: str, media: Sequence[str] | str) -> None:
        self._playback_id = f"{kind}-{self.id}"
        try:
            await self.telephony.client.play(self.id, media, playback_id=self._playback_id)
        except NoSuchChannel:
            raise CallEnded(f"lead {self.id} has hung up") from None

    # -- events ---------------------------------------------------------------------
    def _on_stasis_start(self, event: StasisStart) -> None:
        if event.args[:1] == (AMD_ARG,):
            self._decide(event.args[1:], event.timestamp)
            if self._pending is not None:
                kind, media = self._pending
                self._pending = None
                self.telephony.spawn(self._play_or_hang_up(kind, media), f"{kind} message to {self.id}")
        elif self.amd and not self.answered.done():
            self.state = LegState.DETECTING
            self.telephony.spawn(self._detect(), f"answering-machine detection of {self.id}")
        else:
            self._decide((Verdict.HUMAN.value,), event.timestamp)

    async def _detect(self) -> None:
        try:
            await self.telephony.client.continue_in_dialplan(
                self.id, context=self.telephony.amd_context, extension=self.telephony.app, priority=1)
        except NoSuchChannel:
            pass  # hung up meanwhile: ChannelDestroyed ends the lead
        except AriError as exc:
            logger.warning("lead %s: AMD not possible (%s); taking it as NOTSURE", self.id, exc)
            self._decide((Verdict.NOTSURE.value,), None)

    def _decide(self, args: Sequence[str], at: datetime | None) -> None:
        self.verdict = Verdict.from_amd(args[0]) if args else Verdict.NOTSURE
        self.amd_cause = args[1] if len(args) > 1 else ""
        self.verdict_at = at or utcnow()
        self._set_answered(self.verdict)

    async def _play_or_hang_up(self, kind: str, media: Sequence[str] | str) -> None:
        try:
            await self._play(kind, media)
        except (AriError, CallEnded) as exc:
            logger.warning("lead %s: %s message not played (%s); hanging up", self.id, kind, exc)
            await self.hangup_or_log(f"{kind} message not played")

    def _on_other(self, event: Event) -> None:
        if isinstance(event, (PlaybackStarted, PlaybackFinished)):
            if event.playback.id != self._playback_id:
                return
            if isinstance(event, PlaybackStarted):
                at = event.timestamp or utcnow()
                if event.playback.id.startswith(SAFE_HARBOR):
                    self.safe_harbor_started_at = at
                else:
                    self.voicemail_started_at = at
            else:
                kind = SAFE_HARBOR if event.playback.id.startswith(SAFE_HARBOR) else VOICEMAIL
                self._playback_id = None
                self.telephony.spawn(self.hangup_or_log(f"{kind} message played"), f"hangup of {self.id}")
        elif isinstance(event, ChannelEnteredBridge):
            if self.conference is not None and event.bridge.id == self.conference.bridge_id:
                self.connected_at = self.connected_at or event.timestamp or utcnow()

    def _resync_answered(self, args: tuple[str, ...]) -> None:
        # Also for a lead adopted after our restart: up and not in AMD means human.
        if args[:1] == (AMD_ARG,):
            self._decide(args[1:], None)
        elif not self.amd:
            self._decide((Verdict.HUMAN.value,), None)
        else:
            # Answered while we were away, AMD never ran: decide now rather than wait.
            self.state = LegState.DETECTING
            self.telephony.spawn(self._detect(), f"answering-machine detection of {self.id}")


async def dial_lead(
    telephony: Telephony,
    *,
    call_id: str,
    campaign_id: str,
    number: str,
    caller_id: str | None = None,
    ring_timeout: int = 30,
    amd: bool = False,
    session_id: str = "",
) -> LeadLeg:
    """Originate a lead through the dial template; returns at once (see :class:`LeadLeg`).

    ``call_id`` is ours and unique (the channel id is ``lead-<call_id>``); ``caller_id``
    is ``"Name" <number>`` or a number; ``ring_timeout`` in seconds; with ``amd`` the
    answer is held until answering-machine detection says HUMAN/MACHINE/NOTSURE.
    Raises :class:`~.errors.InvalidNumber`, :class:`~.ari.TelephonyUnavailable`.
    """
    endpoint = telephony.dial_template.endpoint(number)
    role = ChannelRole(Role.LEAD, session_id=session_id, campaign_id=campaign_id, call_id=call_id)
    leg = await LeadLeg.originate(
        telephony, lead_channel_id(call_id), endpoint, role, caller_id=caller_id, timeout=ring_timeout, amd=amd)
    assert isinstance(leg, LeadLeg)
    return leg
