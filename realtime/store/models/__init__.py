"""Every table of the domain; later features add behaviour, not tables."""
from realtime.store.models.account import Account, SupervisorAction, User, UserRole
from realtime.store.models.base import Base
from realtime.store.models.call import Answer, CallAttempt, CallStatus, NoteResponse, TransferAttempt
from realtime.store.models.call_job import CallJob, CallJobCaller, CallJobState
from realtime.store.models.caller import Caller, CallerGroup, CallerSession, CallerSessionStatus
from realtime.store.models.campaign import Campaign, CampaignLease, DialerMode, Recording
from realtime.store.models.lead import (
    BlockedNumber,
    CustomLeadField,
    Household,
    HouseholdStatus,
    Lead,
    LeadList,
    LeadStatus,
    ListRejection,
    ListStatus,
)
from realtime.store.models.script import (
    Note,
    PossibleResponse,
    Question,
    Script,
    ScriptText,
    Transfer,
    TransferType,
)
from realtime.store.models.sign_in import SignIn
from realtime.store.models.webhook import DeliveryStatus, WebhookDelivery

__all__ = [
    "Account", "Answer", "Base", "BlockedNumber", "CallAttempt", "CallJob", "CallJobCaller", "CallJobState",
    "CallStatus", "Caller",
    "CallerGroup", "CallerSession", "CallerSessionStatus", "Campaign", "CampaignLease", "CustomLeadField",
    "DeliveryStatus", "DialerMode", "Household", "HouseholdStatus", "Lead", "LeadList",
    "LeadStatus", "ListRejection", "ListStatus", "Note", "NoteResponse", "PossibleResponse",
    "Question", "Recording", "Script", "ScriptText", "SignIn", "SupervisorAction", "Transfer",
    "TransferAttempt", "TransferType", "User", "UserRole", "WebhookDelivery",
]
