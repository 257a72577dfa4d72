"""Phones-only callers: the caller flow by keypad.

They dial in and give their PIN; from then on their phone's keys are their page:

* preview - the household's number is read out; ``#`` dials it, ``*`` skips it (in power
  mode it is read out as it is dialled);
* after each conversation every question of the script is played (its number) and a
  key picks the response whose keypad digit it is; then ``#`` saves and goes on to the
  next lead, ``**`` saves and ends the session (either may come early: what was answered
  is saved).

Every key becomes the same command a browser caller sends (``dial``, ``skip``,
``submit``), so results, store rows and events are the same and supervisors see
phones-only callers like anyone else.
"""
from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING, Any

from realtime.dialer.queue import ReservedHousehold
from realtime.telephony.ari import AriError, NoSuchChannel, NoSuchPlayback
from realtime.telephony.ari.dispatch import Registration
from realtime.telephony.ari.events import ChannelDtmfReceived, Event

from .errors import CallFlowError
from .states import State

if TYPE_CHECKING:
    from .session import LiveSession, Pending

logger = logging.getLogger(__name__)

INVALID = "sound:option-is-invalid"


class KeypadFlow:
    def __init__(self, session: LiveSession) -> None:
        self.session = session
        self._registration: Registration | None = None
        self._playback: str | None = None
        self._pending: Pending | None = None
        self._question = 0  # index into the script's questions during a survey
        self._answers: dict[str, int] = {}
        self._star = False

    # -- what the session tells us ----------------------------------------------------------------
    def presented(self, household: ReservedHousehold) -> None:
        self._listen()
        self._play([f"digits:{household.phone.lstrip('+')}"])

    def connected(self) -> None:
        self._stop_playback()

    def wrap_up(self, pending: Pending) -> None:
        self._listen()
        self._pending = pending
        self._question = 0
        self._answers = {}
        self._star = False
        self._ask()

    def stop(self) -> None:
        if self._registration is not None:
            self._registration.remove()
            self._registration = None

    # -- keys ------------------------------------------------------------------------------------
    def _listen(self) -> None:
        conference = self.session.conference
        if self._registration is None and conference is not None and conference.caller is not None:
            self._registration = self.session.engine.telephony.client.on_channel(conference.caller.id, self._on_event)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, ChannelDtmfReceived) and event.digit:
            self.session.spawn(self._key(event.digit), f"keypad {event.digit}")

    async def _key(self, digit: str) -> None:
        state = self.session.state
        if state is State.PREVIEWING and digit in "#*":
            await self._command("dial" if digit == "#" else "skip", {})
        elif state in (State.WRAP_UP, State.ENDED) and self._pending is not None:
            await self._survey_key(digit)

    async def _survey_key(self, digit: str) -> None:
        questions = self._pending.campaign.questions
        if self._question < len(questions):
            response = questions[self._question].by_keypad(digit)
            if response is not None:
                self._answers[str(questions[self._question].id)] = response.id
                self._question += 1
                self._star = False
                self._ask()
                return
        if digit == "#":
            await self._save("continue")
        elif digit == "*":
            if self._star:
                await self._save("stop")
            self._star = True
        else:
            self._play([INVALID])

    def _ask(self) -> None:
        questions = self._pending.campaign.questions if self._pending is not None else ()
        if self._question < len(questions):
            self._play([f"number:{self._question + 1}"])

    async def _save(self, then: str) -> None:
        pending = self._pending
        if pending is None:
            return
        payload = {"call_id": pending.call_id, "lead_id": pending.lead_ids[0] if pending.lead_ids else 0,
                   "answers": dict(self._answers), "notes": {}, "then": then, "key": secrets.token_hex(8)}
        self._pending = None
        if not await self._command("submit", payload):
            self._pending = pending  # not saved: the keys still count

    async def _command(self, name: str, payload: dict[str, Any]) -> bool:
        try:
            await self.session.command(name, payload)
            return True
        except CallFlowError as exc:
            logger.info("session %s: keypad %s refused: %s", self.session.id, name, exc)
            self._play([INVALID])
            return False

    # -- prompts ---------------------------------------------------------------------------------
    def _play(self, media: list[str]) -> None:
        conference = self.session.conference
        if conference is None or conference.caller is None:
            return
        self._stop_playback()
        self._playback = f"keypad-{self.session.id}-{secrets.token_hex(4)}"
        self.session.spawn(self._start(conference.caller.id, media, self._playback), "keypad prompt")

    async def _start(self, channel_id: str, media: list[str], playback_id: str) -> None:
        try:
            await self.session.engine.telephony.client.play(channel_id, media, playback_id=playback_id)
        except (NoSuchChannel, AriError) as exc:
            logger.info("session %s: keypad prompt not played: %s", self.session.id, exc)

    def _stop_playback(self) -> None:
        playback, self._playback = self._playback, None
        if playback is not None:
            self.session.spawn(self._stop(playback), "stopping a keypad prompt")

    async def _stop(self, playback_id: str) -> None:
        try:
            await self.session.engine.telephony.client.stop_playback(playback_id)
        except (NoSuchPlayback, AriError):
            pass  # it had finished
