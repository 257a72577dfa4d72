"""Callers, their groups, and their sessions (one per log-in, with its conference)."""
from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from realtime.store.models.base import enum_column, AccountScoped, Base, CreatedMixin, IdMixin
from realtime.store.types import Id


class CallerGroup(IdMixin, CreatedMixin, AccountScoped, Base):
    __tablename__ = "caller_groups"

    name: Mapped[str] = mapped_column(String(200))
    campaign_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("campaigns.id", ondelete="SET NULL")
    )


class Caller(IdMixin, CreatedMixin, AccountScoped, Base):
    __tablename__ = "callers"
    __table_args__ = (
        # From the first schema; the unique index on username alone (0003) is the rule now.
        UniqueConstraint("account_id", "username"),
        UniqueConstraint("account_id", "pin"),
    )

    name: Mapped[str] = mapped_column(String(200), default="")
    # Unique across accounts: /login takes the username alone, so it must name one caller.
    username: Mapped[str] = mapped_column(String(200), unique=True, index=True)
    # Phones-only callers have no browser log-in: they dial in and identify with the PIN.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    phones_only: Mapped[bool] = mapped_column(default=False)
    pin: Mapped[str] = mapped_column(String(12))
    phone_endpoint: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    campaign_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("campaigns.id", ondelete="SET NULL"), index=True
    )
    caller_group_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("caller_groups.id", ondelete="SET NULL")
    )


class CallerSessionStatus(str, enum.Enum):
    """Where a caller session is (the live flow's states, see ``realtime.callflow.states``)."""

    READY = "ready"  # signed in, not yet started
    CONNECTING = "connecting"  # caller's phone leg ringing, or waiting for them to dial in
    ON_HOLD = "on-hold"  # in the conference, waiting for a lead
    PREVIEWING = "previewing"  # looking at a household before dialling it
    DIALING = "dialing"  # their lead's line is ringing
    ON_CALL = "on-call"
    TRANSFER = "transfer"
    WRAP_UP = "wrap-up"
    PAUSED = "paused"
    ENDED = "ended"


class CallerSession(IdMixin, AccountScoped, Base):
    __tablename__ = "caller_sessions"

    caller_id: Mapped[int] = mapped_column(Id, ForeignKey("callers.id", ondelete="CASCADE"), index=True)
    campaign_id: Mapped[int] = mapped_column(Id, ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    status: Mapped[CallerSessionStatus] = mapped_column(
        enum_column(CallerSessionStatus, 20), default=CallerSessionStatus.CONNECTING
    )
    # Ours, chosen before Asterisk sees them, so the session can be found again after a crash.
    conference_bridge_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    caller_channel_id: Mapped[str | None] = mapped_column(String(100))
    endpoint: Mapped[str | None] = mapped_column(String(200))
    # Call-API sessions authenticate their socket with this token instead of a cookie.
    token_hash: Mapped[str | None] = mapped_column(String(128), unique=True)
    started_at: Mapped[dt.datetime] = mapped_column()
    ended_at: Mapped[dt.datetime | None] = mapped_column()
    end_reason: Mapped[str | None] = mapped_column(String(100))
    # Dial-in: the caller phones the dial-in number and types this (unique among live sessions).
    pin: Mapped[str | None] = mapped_column(String(12), index=True)
    state_since: Mapped[dt.datetime | None] = mapped_column()
