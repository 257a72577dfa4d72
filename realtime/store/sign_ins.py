"""Signed-in sessions in the store: started at sign-in, live while their row exists, ended by
deleting it (one by its nonce, or all of a person's at once).

The cookie proves who signed in; the row says the session has not been ended since. Every
web process reads the same rows, so an ended session stops working everywhere at once.
These functions run inside the caller's transaction; telling the web processes (the bus)
is for the caller to do once that transaction has committed.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from realtime.store.models import Caller, SignIn, User
from realtime.store.people import SignedIn, signed_in
from realtime.store.types import utcnow

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Revocation:
    """Sessions that ended: one (``nonce``) or every one of the person's (``nonce`` None)."""

    kind: str  # "user" | "caller"
    person_id: int
    account_id: int
    nonce: str | None = None

    def message(self) -> dict[str, Any]:
        return {"kind": self.kind, "person_id": self.person_id, "account_id": self.account_id,
                "nonce": self.nonce}


def _person_column(kind: str) -> Any:
    return SignIn.user_id if kind == "user" else SignIn.caller_id


async def start(session: AsyncSession, kind: str, person_id: int, account_id: int, nonce: str,
                expires_at: dt.datetime) -> None:
    """Record a new session; expired rows of anyone go at the same time, so the table stays small."""
    await session.execute(delete(SignIn).where(SignIn.expires_at < utcnow()))
    session.add(SignIn(nonce=nonce, account_id=account_id, expires_at=expires_at,
                       user_id=person_id if kind == "user" else None,
                       caller_id=person_id if kind == "caller" else None))
    await session.flush()


async def live(session: AsyncSession, kind: str, person_id: int, account_id: int, nonce: str) -> SignedIn | None:
    """The person behind a session if it is recorded, unexpired and theirs, and they are active."""
    if kind not in ("user", "caller") or not nonce:
        return None
    model: type[User] | type[Caller] = User if kind == "user" else Caller
    person = await session.scalar(
        select(model)
        .join(SignIn, _person_column(kind) == model.id)
        .where(SignIn.nonce == nonce, SignIn.account_id == account_id, SignIn.expires_at >= utcnow(),
               model.id == person_id, model.account_id == account_id, model.active.is_(True)))
    return None if person is None else signed_in(person)


async def end(session: AsyncSession, kind: str, person_id: int, account_id: int,
              nonce: str | None = None) -> Revocation:
    """End one session of the person (by ``nonce``) or, without one, every session they have."""
    statement = delete(SignIn).where(_person_column(kind) == person_id, SignIn.account_id == account_id)
    if nonce is not None:
        statement = statement.where(SignIn.nonce == nonce)
    await session.execute(statement)
    return Revocation(kind, person_id, account_id, nonce)
