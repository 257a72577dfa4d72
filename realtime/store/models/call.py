"""Call attempts (one per dialled line), transfers, and what callers recorded on them."""
from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from realtime.store.models.base import enum_column, AccountScoped, Base, IdMixin
from realtime.store.types import Id


class CallStatus(str, enum.Enum):
    DIALING = "dialing"
    RINGING = "ringing"
    ANSWERED = "answered"  # answered, not yet with a caller (AMD, routing)
    CONNECTED = "connected"  # talking to a caller
    COMPLETED = "completed"  # a caller talked to a person
    ABANDONED = "abandoned"  # a person answered and no caller was free
    MACHINE = "machine"  # answering machine, nothing left
    VOICEMAIL_LEFT = "voicemail-left"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"  # congestion, unreachable, refused
    SKIPPED = "skipped"  # preview: the caller skipped the lead


class CallAttempt(IdMixin, AccountScoped, Base):
    __tablename__ = "call_attempts"

    campaign_id: Mapped[int] = mapped_column(Id, ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    household_id: Mapped[int] = mapped_column(Id, ForeignKey("households.id", ondelete="CASCADE"), index=True)
    lead_id: Mapped[int | None] = mapped_column(Id, ForeignKey("leads.id", ondelete="SET NULL"))
    caller_id: Mapped[int | None] = mapped_column(Id, ForeignKey("callers.id", ondelete="SET NULL"), index=True)
    caller_session_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("caller_sessions.id", ondelete="SET NULL"), index=True
    )
    dialer_mode: Mapped[str] = mapped_column(String(20))
    channel_id: Mapped[str | None] = mapped_column(String(100), unique=True)  # ours, given to ARI
    status: Mapped[CallStatus] = mapped_column(
        enum_column(CallStatus, 20), default=CallStatus.DIALING
    )
    amd_result: Mapped[str | None] = mapped_column(String(20))  # HUMAN | MACHINE | NOTSURE
    hangup_cause: Mapped[int | None] = mapped_column()
    dialed_at: Mapped[dt.datetime] = mapped_column(index=True)
    answered_at: Mapped[dt.datetime | None] = mapped_column()
    connected_at: Mapped[dt.datetime | None] = mapped_column()  # joined a caller's conference
    safe_harbor_at: Mapped[dt.datetime | None] = mapped_column()  # abandonment message started
    ended_at: Mapped[dt.datetime | None] = mapped_column()
    wrapped_up_at: Mapped[dt.datetime | None] = mapped_column()  # caller finished the results
    # The caller's idempotency key of the submit that stored the results: a repeat is answered, not stored.
    results_key: Mapped[str | None] = mapped_column(String(100))
    # Call-API jobs: what the integrator said of the call when its caller was ready again.
    outcome: Mapped[str | None] = mapped_column(String(100))
    notes: Mapped[str | None] = mapped_column(Text)
    recording_url: Mapped[str | None] = mapped_column(String(1000))
    voicemail_recording_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("recordings.id", ondelete="SET NULL")
    )


class TransferAttempt(IdMixin, AccountScoped, Base):
    __tablename__ = "transfer_attempts"

    call_attempt_id: Mapped[int] = mapped_column(
        Id, ForeignKey("call_attempts.id", ondelete="CASCADE"), index=True
    )
    transfer_id: Mapped[int | None] = mapped_column(Id, ForeignKey("transfers.id", ondelete="SET NULL"))
    caller_session_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("caller_sessions.id", ondelete="SET NULL")
    )
    transfer_type: Mapped[str] = mapped_column(String(10))
    phone: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    bridge_id: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="dialing")
    started_at: Mapped[dt.datetime] = mapped_column()
    answered_at: Mapped[dt.datetime | None] = mapped_column()
    ended_at: Mapped[dt.datetime | None] = mapped_column()


class Answer(IdMixin, AccountScoped, Base):
    """A survey answer: one response to one question on one call."""

    __tablename__ = "answers"
    __table_args__ = (UniqueConstraint("call_attempt_id", "question_id"),)

    call_attempt_id: Mapped[int] = mapped_column(Id, ForeignKey("call_attempts.id", ondelete="CASCADE"))
    lead_id: Mapped[int | None] = mapped_column(Id, ForeignKey("leads.id", ondelete="SET NULL"), index=True)
    campaign_id: Mapped[int] = mapped_column(Id, ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    caller_id: Mapped[int | None] = mapped_column(Id, ForeignKey("callers.id", ondelete="SET NULL"))
    question_id: Mapped[int] = mapped_column(Id, ForeignKey("questions.id", ondelete="CASCADE"))
    possible_response_id: Mapped[int] = mapped_column(
        Id, ForeignKey("possible_responses.id", ondelete="CASCADE")
    )
    created_at: Mapped[dt.datetime] = mapped_column()


class NoteResponse(IdMixin, AccountScoped, Base):
    __tablename__ = "note_responses"
    __table_args__ = (UniqueConstraint("call_attempt_id", "note_id"),)

    call_attempt_id: Mapped[int] = mapped_column(Id, ForeignKey("call_attempts.id", ondelete="CASCADE"))
    lead_id: Mapped[int | None] = mapped_column(Id, ForeignKey("leads.id", ondelete="SET NULL"), index=True)
    note_id: Mapped[int] = mapped_column(Id, ForeignKey("notes.id", ondelete="CASCADE"))
    value: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column()
