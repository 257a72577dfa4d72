"""Passwords (argon2id hashes, generated passwords) and callers' PINs."""
from __future__ import annotations

import logging
import secrets
from collections.abc import Collection

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from realtime.store.models import Caller

logger = logging.getLogger(__name__)

# OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane): a login costs tens of
# milliseconds, not the library default's quarter second on a small server.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)

# No look-alikes (0/o, 1/l/i), so a password read off a screen is typed right.
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
PIN_DIGITS = 6


def hash_password(password: str) -> str:
    """An argon2id hash with its own salt and parameters, in PHC string form."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True only if ``password`` matches; a wrong password or a broken hash is False."""
    if not password_hash or not isinstance(password, str):
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """The hash was made with other parameters: re-hash on the next successful log-in."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def generate_password(groups: int = 3, size: int = 4) -> str:
    """A random password easy to read aloud, e.g. ``k7qm-3xdp-wt9h`` (about 60 bits)."""
    return "-".join(
        "".join(secrets.choice(_ALPHABET) for _ in range(size)) for _ in range(groups)
    )


def generate_pin(taken: Collection[str] = ()) -> str:
    """A random 6-digit PIN not in ``taken``."""
    while True:
        pin = f"{secrets.randbelow(10 ** PIN_DIGITS):0{PIN_DIGITS}d}"
        if pin not in taken:
            return pin


async def unique_pin(session: AsyncSession, account_id: int) -> str:
    """A PIN no caller of the account has yet (the unique constraint settles races)."""
    taken = set(await session.scalars(select(Caller.pin).where(Caller.account_id == account_id)))
    return generate_pin(taken)
