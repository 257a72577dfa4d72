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

A recording failure never touches the call: it is logged with what was being done and
the call goes on unrecorded.
"""
from __future__ import annotations

import asyncio
import logging
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

    def record(self, account_id: int, bridge_id: str, call: LiveCall) -> None:
        """The lead of ``call`` was just bridged into ``bridge_id``: record the call if the
        account wants it. Returns at once; :meth:`outcome` tells how it went."""
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[str | None] = loop.create_future()
        self._outcomes[call.call_id] = outcome
        task = loop.create_task(self._record(account_id, bridge_id, call, outcome), name=f"record-{call.call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def outcome(self, call_id: str) -> asyncio.Future[str | None] | None:
        """The call's recording URL once stored (None: not recorded), or None when the call
        was never bridged to a caller here."""
        return self._outcomes.get(call_id)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _record(self, account_id: int, bridge_id: str, call: LiveCall,
                      outcome: asyncio.Future[str | None]) -> None:
        url = None
        try:
            url = await self._run(account_id, bridge_id, call)
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

    async def _run(self, account_id: int, bridge_id: str, call: LiveCall) -> str | None:
        async with self.store.sessions() as db:
            wanted = await db.scalar(select(Account.record_calls).where(Account.id == account_id))
        if not wanted or call.leg is None or call.leg.ended.done():
            return None
        left = self._lead_left(call, bridge_id)
        name = call_recording_name(call.call_id)
        try:
            recording = await BridgeRecording.start(self.telephony, bridge_id, name)
        except AriError as exc:
            logger.warning("call %s (attempt %s): recording %s of %s not started: %s", call.call_id,
                           call.attempt_id, name, bridge_id, exc)
            return None
        await left
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

        def done(*_: Any) -> None:
            registration.remove()
            if not left.done():
                left.set_result(None)

        def on_event(event: Event) -> None:
            if isinstance(event, ChannelLeftBridge) and event.bridge is not None and event.bridge.id == bridge_id:
                done()

        registration = self.telephony.client.on_channel(leg.id, on_event)
        leg.ended.add_done_callback(done)
        return left
