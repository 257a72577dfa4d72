"""Signed-in browsers: one row per session cookie, so a session can end before it expires."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from realtime.store.models.base import AccountScoped, Base
from realtime.store.types import Id, utcnow


class SignIn(AccountScoped, Base):
    """A live session, keyed by its cookie's nonce: signing out, a password change, deactivation
    or a kick deletes the row, and the signed cookie stops working at once on every process.

    Exactly one of ``user_id`` and ``caller_id`` is set; deleting the person deletes the row.
    """

    __tablename__ = "sign_ins"
    __table_args__ = (
        CheckConstraint("(user_id IS NULL) <> (caller_id IS NULL)", name="one_person"),
    )

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    caller_id: Mapped[int | None] = mapped_column(Id, ForeignKey("callers.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # The cookie's own expiry: rows past it are deleted at the next sign-in.
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
