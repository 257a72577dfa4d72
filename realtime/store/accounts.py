"""Creating accounts and authenticating integrators by API key and secret."""
from __future__ import annotations

import asyncio
import dataclasses
import hmac
import logging
import secrets

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from realtime.store.models import Account, User, UserRole
from realtime.store.passwords import generate_password, hash_password

logger = logging.getLogger(__name__)

API_KEY_PREFIX = "ak_"


class AccountError(Exception):
    """A request about accounts that cannot be honoured; ``error_id`` says why."""

    def __init__(self, error_id: str, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id
        self.message = message


@dataclasses.dataclass(frozen=True)
class CreatedAccount:
    account: Account
    admin: User | None
    admin_password: str | None  # only when generated here: shown once, never stored
    api_key: str
    api_auth: str  # the secret half of the credentials


def normalize_email(email: str) -> str:
    return email.strip().lower()


def new_api_credentials() -> tuple[str, str]:
    return API_KEY_PREFIX + secrets.token_urlsafe(24), secrets.token_urlsafe(32)


async def email_taken(session: AsyncSession, email: str) -> bool:
    return bool(await session.scalar(select(exists().where(User.email == normalize_email(email)))))


async def create_account(
    session: AsyncSession,
    name: str,
    *,
    admin_email: str | None = None,
    admin_password: str | None = None,
    admin_name: str = "",
) -> CreatedAccount:
    """Add an account with fresh API credentials and, given an email, its first admin.

    Without ``admin_password`` one is generated and returned once in the result.
    Runs inside the caller's transaction; raises AccountError("email-taken") when
    the email already belongs to someone.
    """
    if not name.strip():
        raise AccountError("invalid-name", "an account needs a name")
    if admin_password is not None and admin_email is None:
        raise AccountError("email-required", "an admin password was given without an email")
    email = password_hash = generated = None
    if admin_email is not None:
        email = normalize_email(admin_email)
        if "@" not in email:
            raise AccountError("invalid-email", f"{admin_email!r} is not an email address")
        if await email_taken(session, email):
            raise AccountError("email-taken", f"{email} already has a log-in")
        if admin_password is None:
            admin_password = generated = generate_password()
        # argon2 takes tens of milliseconds of CPU: keep it off the event loop.
        password_hash = await asyncio.to_thread(hash_password, admin_password)

    api_key, api_auth = new_api_credentials()
    account = Account(name=name.strip(), api_key=api_key, api_secret=api_auth)
    session.add(account)
    await session.flush()
    admin = None
    if email is not None:
        admin = User(account_id=account.id, email=email, name=admin_name, role=UserRole.ADMIN,
                     password_hash=password_hash)
        session.add(admin)
    try:
        await session.flush()
    except IntegrityError as exc:
        # Another transaction took the email between the check and the insert.
        raise AccountError("email-taken", f"{email} already has a log-in") from exc
    logger.info("created account %s (%s)", account.id, account.name)
    return CreatedAccount(account, admin, generated, api_key, api_auth)


async def find_account_by_api_key(session: AsyncSession, api_key: str) -> Account | None:
    if not api_key or not api_key.startswith(API_KEY_PREFIX):
        return None
    return await session.scalar(select(Account).where(Account.api_key == api_key))


def secret_matches(account: Account, api_auth: str | None) -> bool:
    """Constant-time comparison, so response timing tells nothing about the secret."""
    if not isinstance(api_auth, str):
        return False
    return hmac.compare_digest(account.api_secret.encode(), api_auth.encode())


# Compared against when the key is unknown, so an unknown key costs as long as a wrong secret.
_NOBODY = Account(api_secret="x" * 43)
MAX_API_KEY_LENGTH = 64


async def authenticate(session: AsyncSession, api_key: str, api_auth: str | None) -> Account | None:
    """The account these API credentials belong to, or None."""
    account = None
    if "\x00" not in api_key and len(api_key) <= MAX_API_KEY_LENGTH:
        account = await find_account_by_api_key(session, api_key)
    matches = secret_matches(account or _NOBODY, api_auth)
    return account if account is not None and matches else None
