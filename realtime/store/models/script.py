"""Scripts: what callers read (texts), ask (questions with responses), note, and transfer to."""
from __future__ import annotations

import enum

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from realtime.store.models.base import enum_column, AccountScoped, Base, CreatedMixin, IdMixin
from realtime.store.types import Id


class Script(IdMixin, CreatedMixin, AccountScoped, Base):
    __tablename__ = "scripts"

    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)

    texts: Mapped[list[ScriptText]] = relationship(
        order_by="ScriptText.position", cascade="all, delete-orphan", lazy="selectin"
    )
    questions: Mapped[list[Question]] = relationship(
        order_by="Question.position", cascade="all, delete-orphan", lazy="selectin"
    )
    notes: Mapped[list[Note]] = relationship(
        order_by="Note.position", cascade="all, delete-orphan", lazy="selectin"
    )
    transfers: Mapped[list[Transfer]] = relationship(
        order_by="Transfer.id", cascade="all, delete-orphan", lazy="selectin"
    )


class ScriptPart:
    script_id: Mapped[int] = mapped_column(
        Id, ForeignKey("scripts.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)


class ScriptText(IdMixin, ScriptPart, Base):
    __tablename__ = "script_texts"

    content: Mapped[str] = mapped_column(Text, default="")  # markdown


class Question(IdMixin, ScriptPart, Base):
    __tablename__ = "questions"

    text: Mapped[str] = mapped_column(Text)
    responses: Mapped[list[PossibleResponse]] = relationship(
        order_by="PossibleResponse.position", cascade="all, delete-orphan", lazy="selectin"
    )


class PossibleResponse(IdMixin, Base):
    __tablename__ = "possible_responses"
    __table_args__ = (UniqueConstraint("question_id", "keypad"),)

    question_id: Mapped[int] = mapped_column(
        Id, ForeignKey("questions.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    value: Mapped[str] = mapped_column(String(500))
    keypad: Mapped[str | None] = mapped_column(String(1))  # DTMF digit for phones-only callers
    retry: Mapped[bool] = mapped_column(default=False)  # this answer puts the lead back in the queue


class Note(IdMixin, ScriptPart, Base):
    __tablename__ = "notes"

    text: Mapped[str] = mapped_column(Text)


class TransferType(str, enum.Enum):
    WARM = "warm"
    COLD = "cold"


class Transfer(IdMixin, Base):
    __tablename__ = "transfers"

    script_id: Mapped[int] = mapped_column(
        Id, ForeignKey("scripts.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(32))
    transfer_type: Mapped[TransferType] = mapped_column(
        enum_column(TransferType, 10)
    )
