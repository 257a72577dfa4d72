"""Lists, households (one phone each), leads, custom fields and blocked numbers."""
from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from realtime.store.models.base import enum_column, AccountScoped, Base, CreatedMixin, IdMixin
from realtime.store.types import Id


class CustomLeadField(IdMixin, CreatedMixin, AccountScoped, Base):
    __tablename__ = "custom_lead_fields"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))


class ListStatus(str, enum.Enum):
    QUEUED = "queued"
    IMPORTING = "importing"
    READY = "ready"
    FAILED = "failed"


class LeadList(IdMixin, CreatedMixin, AccountScoped, Base):
    __tablename__ = "lead_lists"

    campaign_id: Mapped[int] = mapped_column(Id, ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(default=True)
    # CSV header -> lead field name or "custom:<name>".
    column_mapping: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[ListStatus] = mapped_column(
        enum_column(ListStatus, 20), default=ListStatus.QUEUED
    )
    source_url: Mapped[str | None] = mapped_column(String(2000))
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    rows_total: Mapped[int] = mapped_column(default=0)
    rows_imported: Mapped[int] = mapped_column(default=0)
    rows_rejected: Mapped[int] = mapped_column(default=0)
    rows_blocked: Mapped[int] = mapped_column(default=0)
    households_created: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    completed_at: Mapped[dt.datetime | None] = mapped_column()
    # Refreshed by the process importing the list; a queued or importing list whose heartbeat
    # stopped was left by a process that died, and is failed by another process's runner.
    import_heartbeat_at: Mapped[dt.datetime | None] = mapped_column()


class ListRejection(IdMixin, Base):
    """One CSV row that was not imported, with why."""

    __tablename__ = "list_rejections"

    lead_list_id: Mapped[int] = mapped_column(
        Id, ForeignKey("lead_lists.id", ondelete="CASCADE"), index=True
    )
    row_number: Mapped[int] = mapped_column()
    reason: Mapped[str] = mapped_column(String(500))


class HouseholdStatus(str, enum.Enum):
    NOT_CALLED = "not-called"
    RESERVED = "reserved"  # held for a caller (preview) or a line about to be dialled
    DIALING = "dialing"
    RETRY = "retry"  # open lead: back after the recycle interval
    VOICEMAIL_LEFT = "voicemail-left"
    COMPLETED = "completed"
    FAILED = "failed"  # number does not work: never again


class Household(IdMixin, CreatedMixin, AccountScoped, Base):
    __tablename__ = "households"
    __table_args__ = (
        UniqueConstraint("campaign_id", "phone"),
        # The dial queue's scan: dial-able households of a campaign in upload order.
        Index("ix_households_queue", "campaign_id", "status", "dialable_at", "position"),
    )

    campaign_id: Mapped[int] = mapped_column(Id, ForeignKey("campaigns.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(20))  # E.164
    position: Mapped[int] = mapped_column(Id)  # upload order within the campaign
    status: Mapped[HouseholdStatus] = mapped_column(
        enum_column(HouseholdStatus, 20), default=HouseholdStatus.NOT_CALLED
    )
    blocked_account: Mapped[bool] = mapped_column(default=False)
    blocked_campaign: Mapped[bool] = mapped_column(default=False)
    voicemail_count: Mapped[int] = mapped_column(default=0)
    attempts: Mapped[int] = mapped_column(default=0)
    last_dialed_at: Mapped[dt.datetime | None] = mapped_column()
    dialable_at: Mapped[dt.datetime | None] = mapped_column()  # None = now
    reserved_by: Mapped[str | None] = mapped_column(String(100))  # engine/caller holding it
    reserved_at: Mapped[dt.datetime | None] = mapped_column()


class LeadStatus(str, enum.Enum):
    OPEN = "open"
    COMPLETED = "completed"


class Lead(IdMixin, CreatedMixin, AccountScoped, Base):
    __tablename__ = "leads"

    household_id: Mapped[int] = mapped_column(Id, ForeignKey("households.id", ondelete="CASCADE"), index=True)
    lead_list_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("lead_lists.id", ondelete="CASCADE"), index=True
    )
    campaign_id: Mapped[int] = mapped_column(Id, ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str | None] = mapped_column(String(200))
    first_name: Mapped[str] = mapped_column(String(200), default="")
    middle_name: Mapped[str] = mapped_column(String(200), default="")
    last_name: Mapped[str] = mapped_column(String(200), default="")
    suffix: Mapped[str] = mapped_column(String(50), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    address: Mapped[str] = mapped_column(String(500), default="")
    city: Mapped[str] = mapped_column(String(200), default="")
    state: Mapped[str] = mapped_column(String(100), default="")
    zip_code: Mapped[str] = mapped_column(String(20), default="")
    country: Mapped[str] = mapped_column(String(100), default="")
    custom_fields: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[LeadStatus] = mapped_column(
        enum_column(LeadStatus, 20), default=LeadStatus.OPEN
    )
    call_back: Mapped[bool] = mapped_column(default=False)


class BlockedNumber(IdMixin, CreatedMixin, AccountScoped, Base):
    """A number never to dial: account-wide when campaign_id is null."""

    __tablename__ = "blocked_numbers"
    __table_args__ = (Index("ix_blocked_numbers_lookup", "account_id", "phone"),)

    campaign_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    phone: Mapped[str] = mapped_column(String(20))  # E.164
