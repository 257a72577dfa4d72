"""Telephony: call control above the ARI client (``ari/``) - caller conferences, lead
legs with answering-machine detection, transfers and supervision - and the built-in
ARI simulator (``sim/``)."""
from .conference import Conference
from .endpoints import DialTemplate, user_endpoint
from .errors import (
    CallEnded,
    CallerUnreachable,
    ConferenceClosed,
    DialFailed,
    InvalidEndpoint,
    InvalidMode,
    InvalidNumber,
    NotAnswered,
    TelephonyError,
)
from .lead_leg import LeadLeg, Verdict, dial_lead
from .leg import EndedBy, Leg, LegEnd, LegState
from .orphans import Claimer, LiveChannel, Orphan, Reaped
from .roles import ChannelRole, Role
from .service import Resync, Telephony, start_telephony
from .supervision import Mode, Supervision
from .transfer import Transfer, TransferEnd, TransferKind

__all__ = [
    "CallEnded", "CallerUnreachable", "ChannelRole", "Claimer", "Conference", "ConferenceClosed",
    "DialFailed", "DialTemplate", "EndedBy", "InvalidEndpoint", "InvalidMode", "InvalidNumber", "LeadLeg",
    "Leg", "LegEnd", "LegState", "LiveChannel", "Mode", "NotAnswered", "Orphan", "Reaped", "Resync", "Role",
    "Supervision",
    "Telephony", "TelephonyError", "Transfer", "TransferEnd", "TransferKind", "Verdict", "dial_lead",
    "start_telephony", "user_endpoint",
]
