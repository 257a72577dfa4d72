"""What happened in the simulator, with its own timestamps, for tests and benchmarks.

Kept across restarts (it is the simulator's log, not PBX state); ``clear()`` empties it.
"""
from __future__ import annotations

import time
from collections import deque

KEEP = 100_000  # records of each kind; older ones are dropped

class Journal:
    def __init__(self) -> None:
        self.channels: deque[dict] = deque(maxlen=KEEP)
        self.playbacks: deque[dict] = deque(maxlen=KEEP)
        self.recordings: deque[dict] = deque(maxlen=KEEP)
        self._live_channels: dict[str, dict] = {}
        self._live_playbacks: dict[str, dict] = {}
        self._live_recordings: dict[str, dict] = {}

    def clear(self) -> None:
        self.channels.clear()
        self.playbacks.clear()
        self.recordings.clear()
        self._live_channels.clear()
        self._live_playbacks.clear()
        self._live_recordings.clear()

    def channel_created(self, channel_id: str, name: str, endpoint: str, outcome: str | None) -> None:
        record = {"id": channel_id, "name": name, "endpoint": endpoint, "outcome": outcome,
                  "created_at": time.time(), "answered_at": None, "stasis_at": None, "bridged_at": None,
                  "destroyed_at": None, "cause": None}
        self.channels.append(record)
        self._live_channels[channel_id] = record

    def channel_mark(self, channel_id: str, what: str) -> None:
        """Stamp the first time `what` (answered, stasis, bridged) happened to a live channel."""
        record = self._live_channels.get(channel_id)
        if record is not None and record[f"{what}_at"] is None:
            record[f"{what}_at"] = time.time()

    def channel_destroyed(self, channel_id: str, cause: int) -> None:
        record = self._live_channels.pop(channel_id, None)
        if record is not None:
            record.update(destroyed_at=time.time(), cause=cause)

    def playback_started(self, playback_id: str, target_uri: str, media: list[str]) -> None:
        record = {"id": playback_id, "target_uri": target_uri, "media": list(media),
                  "started_at": time.time(), "finished_at": None, "state": "playing"}
        self.playbacks.append(record)
        self._live_playbacks[playback_id] = record

    def playback_finished(self, playback_id: str, state: str) -> None:
        record = self._live_playbacks.pop(playback_id, None)
        if record is not None:
            record.update(finished_at=time.time(), state=state)

    def recording_started(self, name: str, target_uri: str) -> None:
        record = {"name": name, "target_uri": target_uri, "started_at": time.time(), "finished_at": None,
                  "state": "recording", "duration": None}
        self.recordings.append(record)
        self._live_recordings[name] = record

    def recording_finished(self, name: str, state: str, duration: int | None) -> None:
        record = self._live_recordings.pop(name, None)
        if record is not None:
            record.update(finished_at=time.time(), state=state, duration=duration)

    def json(self, speed: float) -> dict:
        """Times are wall-clock epoch seconds; multiply differences by `speed` for simulated time."""
        return {"speed": speed, "channels": list(self.channels), "playbacks": list(self.playbacks),
                "recordings": list(self.recordings)}
