"""Callers who phone in: answer, ask for the PIN, join them to their conference.

The dialplan sends an inbound call into our application with ``Stasis(<app>,dial-in)``.
We answer it, play the PIN prompt and collect digits (``#`` ends the PIN, and so do six
digits or five seconds without a key). The resolver we are given says which caller
session the PIN belongs to; that session's conference then adopts the channel as the
caller's leg (:meth:`Conference.dial_in`, or :meth:`Conference.rejoin` when a caller
whose phone dropped calls back). A wrong PIN gets the error prompt and another try,
three in all; then the caller hears goodbye and is hung up.

The channel is ours only between ``StasisStart`` and ``StasisEnd`` (Asterisk sends no
``ChannelDestroyed`` for an inbound channel the app did not subscribe to), so ``StasisEnd``
is how we learn that a caller hung up while typing.
"""
from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from .ari import AriConflict, AriError, NoSuchChannel, NoSuchPlayback
from .ari.dispatch import Registration
from .ari.events import (
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelGone,
    Event,
    PlaybackFinished,
    StasisEnd,
    StasisStart,
)
from .conference import Conference
from .errors import CallEnded, CallerUnreachable, TelephonyError

if TYPE_CHECKING:
    from .service import Telephony

logger = logging.getLogger(__name__)

DIAL_IN = "dial-in"  # the Stasis() argument that marks a caller phoning in


@dataclasses.dataclass(frozen=True)
class DialInTarget:
    """Where a PIN leads: the caller session (and its campaign) whose conference the
    caller joins. ``conference`` is the session's conference when it is still open (the
    caller's phone dropped and they called back): the call rejoins it instead of
    opening a new one."""

    session_id: str
    campaign_id: str
    moh_class: str | None = None
    conference: Conference | None = None
    # Someone who is not a caller (a supervisor): ``take(channel_id)`` takes the answered
    # channel over instead of a conference; the result then carries no conference.
    take: Callable[[str], Awaitable[None]] | None = None


class PinResolver(Protocol):
    async def __call__(self, pin: str) -> DialInTarget | None:
        """The target of ``pin``, or ``None`` for a PIN that leads nowhere."""


@dataclasses.dataclass(frozen=True)
class DialInPrompts:
    """Asterisk's stock sounds by default (``sounds/en/conf-getpin.gsm`` ...)."""

    pin: str = "sound:conf-getpin"            # "Please enter the conference PIN number."
    invalid: str = "sound:conf-invalidpin"    # "That PIN is invalid for this conference."
    goodbye: str = "sound:vm-goodbye"         # "Goodbye."


class DialInEnd(str, enum.Enum):
    JOINED = "joined"        # in the conference: ``DialInResult.conference``
    REFUSED = "refused"      # no valid PIN in the attempts allowed; we hung up
    HUNG_UP = "hung-up"      # the caller hung up before joining
    FAILED = "failed"        # Asterisk refused a step, or the conference closed meanwhile; we hung up


@dataclasses.dataclass(frozen=True)
class DialInResult:
    outcome: DialInEnd
    channel_id: str
    caller_number: str
    attempts: int
    target: DialInTarget | None = None
    conference: Conference | None = None


ResultCallback = Callable[[DialInResult], Awaitable[None] | None]


class _CallerLeft(Exception):
    pass


class DialIn:
    """Serve every call that enters the application with ``dial-in`` as its argument.

    ``on_result`` gets each call's :class:`DialInResult`; a ``joined`` one carries the
    conference, which is the receiver's from then on.
    """

    def __init__(
        self,
        telephony: Telephony,
        resolve: PinResolver,
        on_result: ResultCallback,
        *,
        prompts: DialInPrompts = DialInPrompts(),
        digit_timeout: float = 5.0,
        attempts: int = 3,
        max_digits: int = 6,
    ) -> None:
        self.telephony = telephony
        self.resolve = resolve
        self.on_result = on_result
        self.prompts = prompts
        self.digit_timeout = digit_timeout
        self.attempts = attempts
        self.max_digits = max_digits
        self._registration: Registration | None = None

    def start(self) -> None:
        if self._registration is None:
            self._registration = self.telephony.client.on_event(self._on_event)

    def stop(self) -> None:
        """Take no more calls (the ones being served go on)."""
        if self._registration is not None:
            self._registration.remove()
            self._registration = None

    def _on_event(self, event: Event) -> None:
        if not (isinstance(event, StasisStart) and event.args[:1] == (DIAL_IN,)):
            return
        # Listen before returning to the dispatcher, so no digit or hangup slips past.
        call = _PinCall(self, event.channel.id, event.channel.caller.number)
        self.telephony.spawn(self._serve(call), f"dial-in {call.channel_id}")

    async def _serve(self, call: _PinCall) -> None:
        result = await call.run()
        logger.info("dial-in %s from %r: %s after %d attempt(s)", call.channel_id, call.caller_number,
                    result.outcome.value, result.attempts)
        try:
            outcome = self.on_result(result)
            if outcome is not None:
                await outcome
        except Exception:
            logger.exception("dial-in %s: the result handler failed on %s", call.channel_id, result.outcome.value)


class _PinCall:
    """One inbound call from ``StasisStart`` until it joins, is refused, or hangs up."""

    def __init__(self, dial_in: DialIn, channel_id: str, caller_number: str) -> None:
        self.dial_in = dial_in
        self.client = dial_in.telephony.client
        self.channel_id = channel_id
        self.caller_number = caller_number
        self.attempts = 0
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._registration = self.client.on_channel(channel_id, self._events.put_nowait)
        # Ours while we ask for the PIN (then the caller's leg tracks it): not an orphan.
        dial_in.telephony.track_channel(channel_id)

    def _result(self, outcome: DialInEnd, target: DialInTarget | None = None,
                conference: Conference | None = None) -> DialInResult:
        return DialInResult(outcome, self.channel_id, self.caller_number, self.attempts, target, conference)

    async def run(self) -> DialInResult:
        dial_in = self.dial_in
        prompts = dial_in.prompts
        try:
            await self.client.answer(self.channel_id)
            media = [prompts.pin]
            while self.attempts < dial_in.attempts:
                self.attempts += 1
                pin = await self._ask(media)
                target = await dial_in.resolve(pin) if pin else None
                if target is not None:
                    self._registration.remove()  # the caller's leg takes over the channel's events
                    if target.take is not None:
                        await target.take(self.channel_id)
                        return self._result(DialInEnd.JOINED, target)
                    return self._result(DialInEnd.JOINED, target, await self._join(target))
                logger.info("dial-in %s: PIN not accepted (attempt %d)", self.channel_id, self.attempts)
                media = [prompts.invalid, prompts.pin]
            await self._play([prompts.invalid, prompts.goodbye])
            await self._hangup()
            return self._result(DialInEnd.REFUSED)
        except (_CallerLeft, NoSuchChannel, AriConflict, CallEnded, CallerUnreachable):
            return self._result(DialInEnd.HUNG_UP)
        except (AriError, TelephonyError) as exc:
            logger.warning("dial-in %s failed after %d attempt(s): %s; hanging up", self.channel_id,
                           self.attempts, exc)
            await self._hangup_or_log()
            return self._result(DialInEnd.FAILED)
        except BaseException:
            # Shut down, or something broke: nobody else will ever serve this caller.
            await self._hangup_or_log()
            raise
        finally:
            self._registration.remove()
            self.dial_in.telephony.untrack_channel(self.channel_id)

    async def _join(self, target: DialInTarget) -> Conference:
        conference = target.conference
        if conference is not None and not conference.closed.done():
            await conference.rejoin(self.channel_id)
            return conference
        return await Conference.dial_in(self.dial_in.telephony, target.session_id, target.campaign_id,
                                        self.channel_id, moh_class=target.moh_class)

    async def _next_event(self, timeout: float | None) -> Event:
        event = await asyncio.wait_for(self._events.get(), timeout)
        if isinstance(event, (StasisEnd, ChannelDestroyed, ChannelGone)):
            raise _CallerLeft()
        return event

    async def _ask(self, media: list[str]) -> str:
        """Play ``media`` and collect a PIN: up to ``#``, ``max_digits`` digits, or
        ``digit_timeout`` without a key (counted from the end of the prompt). A key
        pressed during the prompt cuts it short."""
        prompt: str | None = await self._start_playback(media)
        digits = ""
        while True:
            try:
                event = await self._next_event(None if prompt else self.dial_in.digit_timeout)
            except TimeoutError:
                return digits
            if isinstance(event, PlaybackFinished):
                if event.playback.id == prompt:
                    prompt = None
            elif isinstance(event, ChannelDtmfReceived):
                if not (event.digit.isdigit() or (event.digit == "#" and digits)):
                    continue  # e.g. the habitual '#' after six digits that were already taken
                if prompt is not None:
                    await self._stop_playback(prompt)
                    prompt = None
                if event.digit == "#":
                    return digits
                digits += event.digit
                if len(digits) >= self.dial_in.max_digits:
                    return digits

    async def _play(self, media: list[str]) -> None:
        playback_id = await self._start_playback(media)
        while not (isinstance(event := await self._next_event(None), PlaybackFinished)
                   and event.playback.id == playback_id):
            pass

    async def _start_playback(self, media: list[str]) -> str:
        playback_id = f"dial-in-{secrets.token_hex(6)}"
        await self.client.play(self.channel_id, media, playback_id=playback_id)
        return playback_id

    async def _stop_playback(self, playback_id: str) -> None:
        try:
            await self.client.stop_playback(playback_id)
        except NoSuchPlayback:
            pass  # it had just finished

    async def _hangup(self) -> None:
        try:
            await self.client.hangup(self.channel_id)
        except NoSuchChannel:
            pass

    async def _hangup_or_log(self) -> None:
        try:
            await self._hangup()
        except Exception as exc:
            logger.warning("dial-in %s not hung up: %s", self.channel_id, exc)
