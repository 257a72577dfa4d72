"""Recording a conference against the simulator: started by one engine, taken up by name
(``GET /recordings/live/{name}``) by the engine after it, and ended there."""
from __future__ import annotations

from realtime.telephony.ari.events import RecordingStarted
from realtime.telephony.recording import BridgeRecording

WAIT = 5.0


async def test_a_recording_started_before_a_restart_is_resumed_and_stopped(telephony, call):
    conference, _ = call
    started = telephony.client.wait_for(lambda e: isinstance(e, RecordingStarted), WAIT)
    before = await BridgeRecording.start(telephony, conference.bridge_id, "call-c1")
    await started
    before.detach()  # the engine that started it closes: the recording goes on

    resumed = await BridgeRecording.resume(telephony, conference.bridge_id, "call-c1")
    assert resumed is not None
    ended = await resumed.stop(WAIT)
    assert ended is not None and (ended.name, ended.state) == ("call-c1", "done")
    assert not before.finished.done()  # detached: it heard nothing more

    # Stored now, no longer live: nothing to resume; nor under a name never recorded, nor elsewhere.
    assert await BridgeRecording.resume(telephony, conference.bridge_id, "call-c1") is None
    assert await BridgeRecording.resume(telephony, conference.bridge_id, "call-never") is None
    await BridgeRecording.start(telephony, conference.bridge_id, "call-c2")
    assert await BridgeRecording.resume(telephony, "conf-other", "call-c2") is None
