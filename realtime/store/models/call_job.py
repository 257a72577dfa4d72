"""Call-API jobs: a campaign whose numbers come from an integrator and whose callers are the
integrator's people (``POST /v1/call``), and those callers with the integrator's reference."""
from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from realtime.store.models.base import AccountScoped, Base, CreatedMixin, IdMixin, enum_column
from realtime.store.types import Id


class CallJobState(str, enum.Enum):
    RUNNING = "running"
    STOPPING = "stopping"  # stopped by the integrator: nothing more is dialled, live calls finish
    ENDED = "ended"


class CallJob(CreatedMixin, AccountScoped, Base):
    """What a call job adds to its campaign. Its id is the campaign's: the job's calls are the
    campaign's calls, in its reports."""

    __tablename__ = "call_jobs"

    id: Mapped[int] = mapped_column(Id, ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True,
                                    autoincrement=False)
    state: Mapped[CallJobState] = mapped_column(enum_column(CallJobState, 20), default=CallJobState.RUNNING)
    # Where notifications go; ":id" and ":caller_id" are filled in per notification.
    call_state_url: Mapped[str] = mapped_column(String(2000))
    list_id: Mapped[int | None] = mapped_column(Id, ForeignKey("lead_lists.id", ondelete="SET NULL"))
    wrap_up_seconds: Mapped[int | None] = mapped_column()  # callers are ready again by themselves after this
    # The integrator's numbers source, fetched a page at a time as the dialling needs them.
    phone_numbers_url: Mapped[str | None] = mapped_column(String(2000))
    numbers_page_size: Mapped[int] = mapped_column(default=50)  # the same for every page of a job
    numbers_next_page: Mapped[int] = mapped_column(default=1)
    source_exhausted: Mapped[bool] = mapped_column(default=False)  # the source answered an empty page
    numbers_added: Mapped[int] = mapped_column(default=0)
    numbers_duplicate: Mapped[int] = mapped_column(default=0)
    numbers_rejected: Mapped[int] = mapped_column(default=0)
    rejected_numbers: Mapped[list] = mapped_column(JSON, default=list)  # the first ones: {phone, reason}
    intake_failures: Mapped[int] = mapped_column(default=0)  # in a row; reset by a good page
    intake_error: Mapped[str | None] = mapped_column(Text)
    intake_retry_at: Mapped[dt.datetime | None] = mapped_column()
    numbers_exhausted_at: Mapped[dt.datetime | None] = mapped_column()  # nothing was left to dial
    ended_at: Mapped[dt.datetime | None] = mapped_column()
    end_reason: Mapped[str | None] = mapped_column(String(50))


class CallJobCaller(IdMixin, CreatedMixin, AccountScoped, Base):
    """One of the integrator's people on a job: a caller row of the job's campaign (no password,
    no sign-in), known to the integrator by ``reference``."""

    __tablename__ = "call_job_callers"
    __table_args__ = (UniqueConstraint("job_id", "reference"),)

    job_id: Mapped[int] = mapped_column(Id, ForeignKey("call_jobs.id", ondelete="CASCADE"), index=True)
    caller_id: Mapped[int] = mapped_column(Id, ForeignKey("callers.id", ondelete="CASCADE"), unique=True)
    reference: Mapped[str] = mapped_column(String(100), index=True)
    phone: Mapped[str | None] = mapped_column(String(200))  # E.164 or an endpoint; None: dials in
    removed_at: Mapped[dt.datetime | None] = mapped_column()
