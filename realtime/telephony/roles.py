"""Who a channel or bridge is, so state can be rebuilt from Asterisk.

Every channel we originate carries its role (caller, lead, transfer, supervisor), the
caller session and campaign it belongs to, and our call id in channel variables; after a
restart of our process the engine reads them back from the live channels (``GET
/channels/{id}/variable``, which Asterisk answers for any channel, ringing or not).

The ids are ours too, and say the same without a request: ``caller-<session>-<hex>``,
``lead-<call>``, ``transfer-<transfer>``, ``supervisor-<supervisor>-<hex>``, snoop channels
``snoop-<supervisor channel>-<hex>`` (they carry no variables); bridges ``conf-<session>``,
``xfer-<transfer>``, ``sup-<supervisor channel>``. A Local channel's second half is
``<id>;2``. The builders below are the only place these formats are written.
"""
from __future__ import annotations

import dataclasses
import enum
import secrets
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
    SNOOP = "snoop"            # a supervisor's ear on a caller's leg (never a variable: from its id)


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


# -- our ids ---------------------------------------------------------------------------
CALLER_PREFIX = "caller-"
LEAD_PREFIX = "lead-"
TRANSFER_PREFIX = "transfer-"
SUPERVISOR_PREFIX = "supervisor-"
SNOOP_PREFIX = "snoop-"
CONFERENCE_PREFIX = "conf-"
TRANSFER_BRIDGE_PREFIX = "xfer-"
SUPERVISION_BRIDGE_PREFIX = "sup-"
BRIDGE_PREFIXES = (CONFERENCE_PREFIX, TRANSFER_BRIDGE_PREFIX, SUPERVISION_BRIDGE_PREFIX)


def caller_channel_id(session_id: str) -> str:
    return f"{CALLER_PREFIX}{session_id}-{secrets.token_hex(4)}"


def lead_channel_id(call_id: str) -> str:
    return f"{LEAD_PREFIX}{call_id}"


def transfer_channel_id(transfer_id: str) -> str:
    return f"{TRANSFER_PREFIX}{transfer_id}"


def supervisor_channel_id(supervisor_id: str) -> str:
    return f"{SUPERVISOR_PREFIX}{supervisor_id}-{secrets.token_hex(4)}"


def snoop_channel_id(supervisor_channel: str) -> str:
    return f"{SNOOP_PREFIX}{supervisor_channel}-{secrets.token_hex(2)}"


def conference_bridge_id(session_id: str) -> str:
    return f"{CONFERENCE_PREFIX}{session_id}"


def transfer_bridge_id(transfer_id: str) -> str:
    return f"{TRANSFER_BRIDGE_PREFIX}{transfer_id}"


def supervision_bridge_id(supervisor_channel: str) -> str:
    return f"{SUPERVISION_BRIDGE_PREFIX}{supervisor_channel}"


def is_our_bridge(bridge_id: str) -> bool:
    return bridge_id.startswith(BRIDGE_PREFIXES)


def role_from_channel_id(channel_id: str) -> ChannelRole | None:
    """What our id says about a channel (a Local channel's ``;2`` half included), when
    its variables cannot tell: the session of a caller, the call of a lead, the transfer,
    the supervisor; campaign and the rest are unknown. ``None`` for an id not ours."""
    base = channel_id.split(";", 1)[0]
    if base.startswith(CALLER_PREFIX):
        session, _, suffix = base[len(CALLER_PREFIX):].rpartition("-")
        return ChannelRole(Role.CALLER, session_id=session) if session and suffix else None
    if base.startswith(LEAD_PREFIX) and len(base) > len(LEAD_PREFIX):
        return ChannelRole(Role.LEAD, call_id=base[len(LEAD_PREFIX):])
    if base.startswith(TRANSFER_PREFIX) and len(base) > len(TRANSFER_PREFIX):
        return ChannelRole(Role.TRANSFER, call_id=base[len(TRANSFER_PREFIX):])
    if base.startswith(SUPERVISOR_PREFIX):
        supervisor, _, suffix = base[len(SUPERVISOR_PREFIX):].rpartition("-")
        return ChannelRole(Role.SUPERVISOR, call_id=supervisor) if supervisor and suffix else None
    if base.startswith(SNOOP_PREFIX):
        supervisor_channel, _, suffix = base[len(SNOOP_PREFIX):].rpartition("-")
        supervisor = role_from_channel_id(supervisor_channel)
        if supervisor is None or supervisor.role is not Role.SUPERVISOR or not suffix:
            return None
        return ChannelRole(Role.SNOOP, call_id=supervisor.call_id)
    return None
