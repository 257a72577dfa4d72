"""Domain errors of the caller flow, each with a stable kebab-case id that reaches the
caller's browser (or the integrator) unchanged in ``{ok: false, error: {id, message}}``."""
from __future__ import annotations


class CallFlowError(Exception):
    """A command that cannot be carried out; nothing was changed."""

    def __init__(self, error_id: str, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id
        self.message = message

    def as_json(self) -> dict[str, str]:
        return {"id": self.error_id, "message": self.message}

    def __str__(self) -> str:
        return f"{self.error_id}: {self.message}"


def wrong_state(command: str, state: str) -> CallFlowError:
    ids = {"hangup": "not-on-call", "transfer": "not-on-call", "drop_message": "not-on-call",
           "kick": "no-transfer", "submit": "not-in-wrap-up", "dial": "not-previewing", "skip": "not-previewing"}
    return CallFlowError(ids.get(command, "wrong-state"), f"{command} is not possible while {state.replace('_', ' ')}")
