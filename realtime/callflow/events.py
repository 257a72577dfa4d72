"""The caller session's events, defined once: name, payload fields, and who sees them.

Every event reaches the caller's own sockets with ``seq`` (per session, gapless), ``at``
(ISO-8601 UTC) and ``session_id`` added (see :mod:`.event_log`); those marked for
supervisors also feed the live floor. ``docs/events.md`` describes each one, and a test
keeps it in step with this table.
"""
from __future__ import annotations

import dataclasses
import enum
from typing import Any


class Audience(enum.Flag):
    CALLER = enum.auto()        # the caller's own page (and call-API notifications)
    SUPERVISOR = enum.auto()    # the account's supervisors watching the floor


@dataclasses.dataclass(frozen=True)
class EventType:
    name: str
    fields: tuple[str, ...]
    audience: Audience = Audience.CALLER

    def payload(self, **values: Any) -> dict[str, Any]:
        """The payload, refusing fields the catalogue does not name (or misses)."""
        if set(values) != set(self.fields):
            raise TypeError(f"{self.name} takes {sorted(self.fields)}, not {sorted(values)}")
        return values


_BOTH = Audience.CALLER | Audience.SUPERVISOR

SESSION_STARTED = EventType("session_started", ("caller", "campaign", "script", "dial_in"), _BOTH)
STATE_CHANGED = EventType("state_changed", ("state", "previous", "reason"), _BOTH)
LEAD_PRESENTED = EventType("lead_presented", ("household",))
CALL_DIALING = EventType("call_dialing", ("call_id", "household"), _BOTH)
CALL_RINGING = EventType("call_ringing", ("call_id",))
CALL_CONNECTED = EventType("call_connected", ("call_id", "household"), _BOTH)
CALL_ENDED = EventType("call_ended", ("call_id", "status", "by"), _BOTH)
RESULTS_SAVED = EventType("results_saved", ("call_id", "lead_id", "retry"), _BOTH)
TRANSFER_DIALING = EventType("transfer_dialing", ("transfer_id", "kind", "label"), _BOTH)
TRANSFER_CONNECTED = EventType("transfer_connected", ("transfer_id", "kind"), _BOTH)
TRANSFER_ENDED = EventType("transfer_ended", ("transfer_id", "kind", "status"), _BOTH)
SCRIPT_CHANGED = EventType("script_changed", ("script",))
CAMPAIGN_CHANGED = EventType("campaign_changed", ("campaign", "script"), _BOTH)
CALLING_HOURS = EventType("calling_hours", ("open", "closes_at", "opens_at"))
SESSION_ENDED = EventType("session_ended", ("reason",), _BOTH)
SNAPSHOT = EventType("snapshot", ("state", "household", "call", "transfer", "campaign", "script", "last_seq"))

CATALOGUE: dict[str, EventType] = {event.name: event for event in (
    SESSION_STARTED, STATE_CHANGED, LEAD_PRESENTED, CALL_DIALING, CALL_RINGING, CALL_CONNECTED, CALL_ENDED,
    RESULTS_SAVED, TRANSFER_DIALING, TRANSFER_CONNECTED, TRANSFER_ENDED, SCRIPT_CHANGED, CAMPAIGN_CHANGED,
    CALLING_HOURS, SESSION_ENDED, SNAPSHOT,
)}

# Added to every event's payload on its way out.
ENVELOPE = ("seq", "at", "session_id")

# Call outcomes as ``call_ended {status}`` says them.
CALL_STATUSES = ("completed", "busy", "no_answer", "failed", "machine", "voicemail_left", "abandoned", "cancelled")
