"""The states of a caller session and which commands each allows.

    ready -> connecting -> on_hold | previewing | dialing          (start; by mode)
    previewing -> dialing (dial) | previewing (skip)
    on_hold -> on_call                                             (predictive: a lead answered)
    dialing -> on_call (answered) | previewing / dialing (not answered: the next household)
    on_call -> transfer -> on_call | wrap_up
    on_call -> wrap_up (the lead hung up) -> on_hold | previewing | dialing | ended (submit)
    any -> ended
"""
from __future__ import annotations

import enum

from realtime.store.models import CallerSessionStatus


class State(str, enum.Enum):
    READY = "ready"
    CONNECTING = "connecting"
    ON_HOLD = "on_hold"
    PREVIEWING = "previewing"
    DIALING = "dialing"
    ON_CALL = "on_call"
    TRANSFER = "transfer"
    WRAP_UP = "wrap_up"
    ENDED = "ended"

    @property
    def stored(self) -> CallerSessionStatus:
        return CallerSessionStatus(self.value.replace("_", "-"))

    @classmethod
    def from_stored(cls, status: CallerSessionStatus) -> State:
        if status is CallerSessionStatus.PAUSED:
            return cls.ON_HOLD
        return cls(status.value.replace("-", "_"))


ANY = frozenset(State)

# Commands and the states they are allowed in; anything else is an error ack.
ALLOWED: dict[str, frozenset[State]] = {
    "start": frozenset({State.READY}),
    "dial": frozenset({State.PREVIEWING}),
    "skip": frozenset({State.PREVIEWING}),
    "hangup": frozenset({State.DIALING, State.ON_CALL}),
    "transfer": frozenset({State.ON_CALL}),
    "kick": frozenset({State.TRANSFER}),
    "drop_message": frozenset({State.ON_CALL}),
    # An ended session still takes the results of its last call (the phone dropped mid-call).
    "submit": frozenset({State.WRAP_UP, State.ENDED}),
    "stop": ANY - {State.ON_CALL, State.TRANSFER},
}

# Why a session ended, as ``session_ended {reason}`` says.
END_REASONS = ("stopped", "kicked", "phone_hung_up", "calling_hours", "out_of_leads", "signed_out", "expired")
