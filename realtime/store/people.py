"""Signing people in to the pages: users (admins, supervisors) by email, web callers by
username, each with a password. Phones-only callers have no password: they dial in.

Emails are unique across accounts, and so are caller usernames: a log-in names one user
and at most one caller (a caller may have chosen a username that is someone's email)."""
from __future__ import annotations

import asyncio
import dataclasses
import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from realtime.store.accounts import normalize_email
from realtime.store.models import Caller, User
from realtime.store.passwords import hash_password, needs_rehash, verify_password

logger = logging.getLogger(__name__)

# Checked when nobody matches, so an unknown name costs as long as a wrong password.
_DUMMY_HASH = hash_password("no such person")


@dataclasses.dataclass(frozen=True)
class SignedIn:
    kind: str  # "user" | "caller"
    id: int
    account_id: int
    role: str  # admin | supervisor | caller
    name: str


async def sign_in(session: AsyncSession, login: str, password: str) -> SignedIn | None:
    """Who ``login`` (an email or a caller's username) and ``password`` belong to, or None.

    Text no database can hold (a NUL, a lone surrogate) matches nobody, without a query."""
    login = login.strip()
    if not login or not password or not (storable(login) and storable(password)):
        return None
    candidates: list[User | Caller] = []
    if "@" in login:
        candidates.extend(await session.scalars(
            select(User).where(User.email == normalize_email(login), User.active.is_(True))))
    candidates.extend(await session.scalars(
        select(Caller).where(Caller.username == login, Caller.active.is_(True), Caller.phones_only.is_(False),
                             Caller.password_hash.is_not(None))))
    if not candidates:
        await asyncio.to_thread(verify_password, _DUMMY_HASH, password)
        return None
    for person in candidates:
        # argon2 is CPU work by design: off the event loop, which serves everyone else.
        if await asyncio.to_thread(verify_password, person.password_hash, password):
            if needs_rehash(person.password_hash):
                person.password_hash = await asyncio.to_thread(hash_password, password)
            return signed_in(person)
    return None


def storable(text: str) -> bool:
    """Whether the databases can hold ``text``: UTF-8 without lone surrogates, and no NUL
    (PostgreSQL refuses both; SQLite's driver the first)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def signed_in(person: User | Caller) -> SignedIn:
    if isinstance(person, User):
        return SignedIn("user", person.id, person.account_id, person.role.value, person.name or person.email)
    return SignedIn("caller", person.id, person.account_id, "caller", person.name or person.username)
