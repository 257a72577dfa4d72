"""Recording a bridge's mixed audio: a call, as the caller and the lead hear it.

Asterisk records a bridge through a ``Recorder`` channel of its own pushed into it; the
recording's events (``RecordingStarted``, then ``RecordingFinished`` or
``RecordingFailed``) reach the handlers of the bridge. The file is kept by Asterisk
(``/var/spool/asterisk/recording/<name>.wav``) and read back with
``GET /recordings/stored/<name>/file``.

A recording belongs to Asterisk, not to the process that started it: an engine that takes
over a call after a restart picks its recording up with :meth:`BridgeRecording.resume`
(``GET /recordings/live/<name>``) and follows it to its end as if it had started it.
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from .ari import AriError, LiveRecording, NoSuchRecording
from .ari.events import BridgeDestroyed, BridgeGone, Event, RecordingFailed, RecordingFinished

if TYPE_CHECKING:
    from .service import Telephony

logger = logging.getLogger(__name__)

FORMAT = "wav"
CALL_PREFIX = "call-"


def call_recording_name(call_id: str) -> str:
    """What a call's recording is called in Asterisk: the call id is random, so a name is
    never reused (the recording is started with ``ifExists=fail``: no file is overwritten)."""
    return f"{CALL_PREFIX}{call_id}"


class BridgeRecording:
    """Start with :meth:`start`, or take one up with :meth:`resume`; ``finished`` resolves
    with the recording as it ended (state ``done``, ``failed``, or ``lost`` when the bridge
    went before saying)."""

    def __init__(self, telephony: Telephony, bridge_id: str, name: str) -> None:
        self.telephony = telephony
        self.bridge_id = bridge_id
        self.name = name
        self.finished: asyncio.Future[LiveRecording] = asyncio.get_running_loop().create_future()
        # Before the request: the events may come before its reply.
        self._registration = telephony.client.on_bridge(bridge_id, self._on_event)

    @classmethod
    async def start(cls, telephony: Telephony, bridge_id: str, name: str, *,
                    max_duration_seconds: int | None = None) -> BridgeRecording:
        """Raises :class:`~.ari.AriError` when Asterisk refuses (bridge gone, name taken...)."""
        recording = cls(telephony, bridge_id, name)
        try:
            await telephony.client.record_bridge(bridge_id, name, format=FORMAT, if_exists="fail",
                                                 max_duration_seconds=max_duration_seconds)
        except BaseException:
            recording._registration.remove()
            raise
        return recording

    @classmethod
    async def resume(cls, telephony: Telephony, bridge_id: str, name: str) -> BridgeRecording | None:
        """The recording ``name`` of ``bridge_id`` that someone else started (an engine before
        us), if Asterisk still has it live; None when it has not. Raises
        :class:`~.ari.AriError` when Asterisk cannot say."""
        recording = cls(telephony, bridge_id, name)
        try:
            live = await telephony.client.get_live_recording(name)
        except NoSuchRecording:
            if recording.finished.done():
                return recording  # it ended as we asked: its event says how
            recording.detach()
            return None
        except BaseException:
            recording.detach()
            raise
        if live.target != ("bridge", bridge_id) or live.state in ("done", "failed", "canceled"):
            logger.warning("recording %s is not one of bridge %s to follow: %s %s", name, bridge_id,
                           live.target_uri, live.state)
            recording.detach()
            return None
        return recording

    def detach(self) -> None:
        """Stop following it; it goes on in Asterisk (for the next engine to :meth:`resume`)."""
        self._registration.remove()

    def _on_event(self, event: Event) -> None:
        if isinstance(event, (RecordingFinished, RecordingFailed)):
            if event.recording.name == self.name:
                self._end(event.recording)
        elif isinstance(event, (BridgeDestroyed, BridgeGone)):
            # Asterisk says RecordingFinished before the bridge goes; after a lost websocket
            # nothing more will come.
            self._end(LiveRecording(self.name, FORMAT, f"bridge:{self.bridge_id}", "lost",
                                    cause="the bridge is gone"))

    def _end(self, recording: LiveRecording) -> None:
        self._registration.remove()
        if not self.finished.done():
            self.finished.set_result(recording)

    async def stop(self, timeout: float) -> LiveRecording | None:
        """Stop it (unless it ended already) and wait for its end; None when Asterisk
        said nothing within ``timeout`` seconds."""
        if not self.finished.done():
            try:
                await self.telephony.client.stop_recording(self.name)
            except NoSuchRecording:
                pass  # it ended on its own: its event says how
            except AriError as exc:
                logger.warning("recording %s of bridge %s not stopped: %s", self.name, self.bridge_id, exc)
        try:
            return await asyncio.wait_for(asyncio.shield(self.finished), timeout)
        except asyncio.TimeoutError:
            self._registration.remove()
            return None
