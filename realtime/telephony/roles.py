"""Channel variables that say who a channel is, so state can be rebuilt from Asterisk.

Every channel we create carries its role (caller, lead, transfer, supervisor), the caller
session and campaign it belongs to, and our call id. After a restart of our process the
engine reads them back from the live channels (``GET /channels/{id}/variable``).
"""
from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping

ROLE = "REALTIME_ROLE"
SESSION = "REALTIME_SESSION"
CAMPAIGN = "REALTIME_CAMPAIGN"
CALL = "REALTIME_CALL"
VARIABLES = (ROLE, SESSION, CAMPAIGN, CALL)


class Role(str, enum.Enum):
    CALLER = "caller"
    LEAD = "lead"
    TRANSFER = "transfer"
    SUPERVISOR = "supervisor"


@dataclasses.dataclass(frozen=True)
class ChannelRole:
    """What one of our channels is for; ``session_id`` is empty for a lead not yet
    connected to a caller."""

    role: Role
    session_id: str = ""
    campaign_id: str = ""
    call_id: str = ""

    def variables(self) -> dict[str, str]:
        return {ROLE: self.role.value, SESSION: self.session_id,
                CAMPAIGN: self.campaign_id, CALL: self.call_id}

    @classmethod
    def from_variables(cls, values: Mapping[str, str | None]) -> ChannelRole | None:
        """The role read back from a channel; ``None`` for a channel that is not ours."""
        try:
            role = Role(values.get(ROLE) or "")
        except ValueError:
            return None
        return cls(role, values.get(SESSION) or "", values.get(CAMPAIGN) or "", values.get(CALL) or "")
