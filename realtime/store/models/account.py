"""Accounts, their people (admins and supervisors) and the supervisors' audit log."""
from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import JSON, ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from realtime.store.models.base import enum_column, AccountScoped, Base, CreatedMixin, IdMixin
from realtime.store.types import Id


class Account(IdMixin, CreatedMixin, Base):
    __tablename__ = "accounts"

    name: Mapped[str] = mapped_column(String(200))
    api_key: Mapped[str] = mapped_column(String(64), unique=True)
    # Kept readable: it signs webhooks (HMAC) and is compared in constant time on auth.
    api_secret: Mapped[str] = mapped_column(String(128))
    record_calls: Mapped[bool] = mapped_column(default=False)
    abandonment_limit: Mapped[Decimal] = mapped_column(Numeric(5, 4), default=Decimal("0.03"))
    time_zone: Mapped[str] = mapped_column(String(64), default="America/New_York")


class UserRole(str, enum.Enum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"


class User(IdMixin, CreatedMixin, AccountScoped, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[UserRole] = mapped_column(enum_column(UserRole, 20))
    phone_endpoint: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)


class SupervisorAction(IdMixin, AccountScoped, Base):
    """Audit log: who listened to, coached, barged into, kicked or reassigned whom."""

    __tablename__ = "supervisor_actions"

    user_id: Mapped[int | None] = mapped_column(Id, ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(40))
    caller_id: Mapped[int | None] = mapped_column(Id, ForeignKey("callers.id", ondelete="SET NULL"))
    caller_session_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("caller_sessions.id", ondelete="SET NULL")
    )
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    at: Mapped[dt.datetime] = mapped_column(index=True)
