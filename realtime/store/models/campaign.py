"""Campaigns (who is called, how, when) and the recordings they play."""
from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from realtime.store.models.base import enum_column, AccountScoped, Base, CreatedMixin, IdMixin
from realtime.store.types import Id


class DialerMode(str, enum.Enum):
    PREVIEW = "preview"
    POWER = "power"
    PREDICTIVE = "predictive"


class Recording(IdMixin, CreatedMixin, AccountScoped, Base):
    """Audio for voicemail drops and safe-harbor messages."""

    __tablename__ = "recordings"

    name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(default=0)
    # Where the audio lives for the PBX, e.g. "recording:acct1-42" or "sound:custom/acct1-42".
    media_uri: Mapped[str] = mapped_column(String(500))
    storage_path: Mapped[str | None] = mapped_column(String(500))


class Campaign(IdMixin, CreatedMixin, AccountScoped, Base):
    __tablename__ = "campaigns"

    name: Mapped[str] = mapped_column(String(200))
    dialer_mode: Mapped[DialerMode] = mapped_column(enum_column(DialerMode, 20))
    caller_id: Mapped[str] = mapped_column(String(32), default="")  # number shown to leads
    script_id: Mapped[int | None] = mapped_column(Id, ForeignKey("scripts.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(default=True)
    # Calling hours are wall-clock times in the campaign's zone; end < start means overnight.
    calling_hours_start: Mapped[dt.time] = mapped_column(default=dt.time(9, 0))
    calling_hours_end: Mapped[dt.time] = mapped_column(default=dt.time(21, 0))
    time_zone: Mapped[str] = mapped_column(String(64), default="America/New_York")
    recycle_interval_seconds: Mapped[int] = mapped_column(default=3600)
    acceptable_abandon_rate: Mapped[Decimal] = mapped_column(Numeric(5, 4), default=Decimal("0.03"))
    # The campaign's own cap on lines at once; None leaves the floor's and the trunk's caps.
    max_lines: Mapped[int | None] = mapped_column(default=None)
    ring_timeout_seconds: Mapped[int] = mapped_column(default=20)
    use_amd: Mapped[bool] = mapped_column(default=False)  # answering-machine detection
    voicemail_recording_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("recordings.id", ondelete="SET NULL")
    )
    leave_voicemail: Mapped[bool] = mapped_column(default=False)
    call_back_after_voicemail: Mapped[bool] = mapped_column(default=False)
    caller_can_drop_voicemail: Mapped[bool] = mapped_column(default=False)
    safe_harbor_recording_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("recordings.id", ondelete="SET NULL")
    )


class CampaignLease(Base):
    """Which engine owns a campaign's live calls, until when; the owner renews it."""

    __tablename__ = "campaign_leases"

    campaign_id: Mapped[int] = mapped_column(Id, ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[dt.datetime] = mapped_column()
