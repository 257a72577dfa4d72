"""Call recording: the calls of accounts whose admins turned recording on.

When a lead is bridged into its caller's conference, the account's switch
(``accounts.record_calls``) is read then (admins flip it live; one primary-key read per
connected call costs less than the bridging itself, so it is not cached). If it is on,
the conference bridge is recorded as ``call-<call id>.wav`` until the lead leaves the
conference: it hangs up, or moves to a transfer party's bridge (the transfer is not in
the recording; the conference lives on for the caller's next lead, so the recording is
stopped explicitly). Once Asterisk reports the file done, the call attempt's
``recording_url`` is set: the server's ``/v1/call_recordings/<attempt id>``, absolute when
``REALTIME_PUBLIC_URL`` is set.

An engine that closes leaves the recordings of the calls it hands over running in
Asterisk; the engine that adopts such a call resumes following its recording
(:meth:`CallRecorder.resume`) and ends it as its own.

A recording failure never touches the call: it is logged with what was being done and
the call goes on unrecorded.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select

from realtime.dialer.campaign_dialer import LiveCall
from realtime.dialer.queue import DialQueue
from realtime.store.database import Store
from realtime.store.models import Account
from realtime.telephony import Telephony
from realtime.telephony.ari import AriError
from realtime.telephony.ari.events import ChannelLeftBridge, Event
from realtime.telephony.recording import BridgeRecording, call_recording_name

logger = logging.getLogger(__name__)

PATH = "/v1/call_recordings"
FINISH_WAIT_SECONDS = 5.0  # after the stop, for Asterisk's word that the file is complete
KEPT_SECONDS = 300.0  # a call's recording outcome is remembered this long for late askers


def recording_url(attempt_id: int, public_url: str | None) -> str:
    """Where the API serves a call attempt's recording."""
    path = f"{PATH}/{attempt_id}"
    return public_url.rstrip("/") + path if public_url else path


class CallRecorder:
    """Records connected calls of the accounts that want it; one per engine."""

    def __init__(self, store: Store, telephony: Telephony, queue: DialQueue, *,
                 public_url: str | None = None) -> None:
        self.store = store
        self.telephony = telephony
        self.queue = queue
        self.public_url = public_url
        self._outcomes: dict[str, asyncio.Future[str | None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._left: dict[asyncio.Task[Any], asyncio.Future[None]] = {}  # a call's task -> its lead left

    def record(self, account_id: int, bridge_id: str, call: LiveCall) -> None:
        """The lead of ``call`` was just bridged into ``bridge_id``: record the call if the
        account wants it. Returns at once; :meth:`outcome` tells how it went."""
        self._spawn(bridge_id, call, lambda: self._start(account_id, bridge_id, call))

    def resume(self, bridge_id: str, call: LiveCall) -> None:
        """``call`` was taken over from an engine before us: if its recording is still live
        in Asterisk, follow it to its end as :meth:`record` does (the account's switch was
        read when it started). Returns at once; :meth:`outcome` tells how it went."""
        self._spawn(bridge_id, call, lambda: self._follow(call, bridge_id, BridgeRecording.resume, "resumed"))

    def outcome(self, call_id: str) -> asyncio.Future[str | None] | None:
        """The call's recording URL once stored (None: not recorded), or None when the call
        was never bridged to a caller here."""
        return self._outcomes.get(call_id)

    async def close(self) -> None:
        """Stop following the calls: their recordings go on in Asterisk for the next engine
        to resume. Only those whose lead has left already are stopped and stored first."""
        for task in list(self._tasks):
            left = self._left.get(task)
            if left is None or not left.done():
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, bridge_id: str, call: LiveCall, work: Callable[[], Awaitable[str | None]]) -> None:
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[str | None] = loop.create_future()
        self._outcomes[call.call_id] = outcome
        task = loop.create_task(self._record(bridge_id, call, work, outcome), name=f"record-{call.call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _record(self, bridge_id: str, call: LiveCall, work: Callable[[], Awaitable[str | None]],
                      outcome: asyncio.Future[str | None]) -> None:
        url = None
        try:
            url = await work()  # made here: a task cancelled before it runs leaves no coroutine unawaited
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("call %s (attempt %s): recording it in %s failed; the call goes on unrecorded",
                             call.call_id, call.attempt_id, bridge_id)
        finally:
            if not outcome.done():
                outcome.set_result(url)
            asyncio.get_running_loop().call_later(KEPT_SECONDS, self._forget, call.call_id, outcome)

    def _forget(self, call_id: str, outcome: asyncio.Future[str | None]) -> None:
        if self._outcomes.get(call_id) is outcome:
            del self._outcomes[call_id]

    async def _start(self, account_id: int, bridge_id: str, call: LiveCall) -> str | None:
        async with self.store.sessions() as db:
            wanted = await db.scalar(select(Account.record_calls).where(Account.id == account_id))
        if not wanted:
            return None
        return await self._follow(call, bridge_id, BridgeRecording.start, "started")

    async def _follow(self, call: LiveCall, bridge_id: str,
                      begin: Callable[[Telephony, str, str], Awaitable[BridgeRecording | None]],
                      begun: str) -> str | None:
        """The recording of a fresh call or of one taken over: until the lead leaves the
        conference, then stopped and, once complete, its URL on the call attempt."""
        if call.leg is None or call.leg.ended.done():
            return None
        name = call_recording_name(call.call_id)
        left = self._lead_left(call, bridge_id)  # before the request: the lead may leave meanwhile
        task = asyncio.current_task()
        assert task is not None
        try:
            try:
                recording = await begin(self.telephony, bridge_id, name)
            except AriError as exc:
                logger.warning("call %s (attempt %s): recording %s of %s not %s: %s", call.call_id,
                               call.attempt_id, name, bridge_id, begun, exc)
                return None
            if recording is None:
                logger.info("call %s (attempt %s): no recording %s live in %s", call.call_id, call.attempt_id,
                            name, bridge_id)
                return None
            self._left[task] = left  # from now on, close() leaves this call's recording to its end
            try:
                await left
            except asyncio.CancelledError:
                recording.detach()  # closing: the recording goes on for the next engine
                raise
        finally:
            self._left.pop(task, None)
            left.cancel()  # done already, or no longer wanted: drops the watch on the lead
        ended = await recording.stop(FINISH_WAIT_SECONDS)
        if ended is None or ended.state != "done":
            logger.warning("call %s (attempt %s): recording %s did not complete: %s", call.call_id, call.attempt_id,
                           name, "no word from Asterisk" if ended is None else f"{ended.state} ({ended.cause})")
            return None
        url = recording_url(call.attempt_id, self.public_url)
        await self.queue.update_call(call.attempt_id, recording_url=url)
        logger.info("call %s (attempt %s): recorded, %s s", call.call_id, call.attempt_id, ended.duration)
        return url

    def _lead_left(self, call: LiveCall, bridge_id: str) -> asyncio.Future[None]:
        """Resolves when the lead leaves the conference (a transfer) or hangs up."""
        leg = call.leg
        assert leg is not None
        left: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def done() -> None:
            if not left.done():
                left.set_result(None)

        def on_event(event: Event) -> None:
            if isinstance(event, ChannelLeftBridge) and event.bridge is not None and event.bridge.id == bridge_id:
                done()

        def on_ended(ended: asyncio.Future[Any]) -> None:
            # Cancelled is not ended: a task awaiting it was cancelled, the lead is still there.
            if not ended.cancelled():
                done()

        def forget(_: asyncio.Future[None]) -> None:
            registration.remove()
            leg.ended.remove_done_callback(on_ended)

        registration = self.telephony.client.on_channel(leg.id, on_event)
        leg.ended.add_done_callback(on_ended)
        left.add_done_callback(forget)
        return left
