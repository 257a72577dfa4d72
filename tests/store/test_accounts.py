from __future__ import annotations

import pytest
from sqlalchemy import func, select

from realtime.store.accounts import (
    AccountError,
    authenticate,
    create_account,
    find_account_by_api_key,
    secret_matches,
)
from realtime.store.database import Store
from realtime.store.models import Account, User, UserRole
from realtime.store.passwords import verify_password


async def test_new_account_gets_api_credentials_and_an_admin_with_a_generated_password(store: Store) -> None:
    async with store.transaction() as session:
        created = await create_account(session, "Acme Campaigns", admin_email=" Ada@Acme.Example ")
    assert created.api_key.startswith("ak_") and len(created.api_key) > 30
    assert len(created.api_auth) >= 43
    assert created.admin_password

    async with store.sessions() as session:
        admin = await session.scalar(select(User))
        assert admin.email == "ada@acme.example"
        assert admin.role is UserRole.ADMIN
        assert admin.account_id == created.account.id
        assert created.admin_password not in admin.password_hash
        assert verify_password(admin.password_hash, created.admin_password)

        found = await find_account_by_api_key(session, created.api_key)
        assert found.name == "Acme Campaigns"
        assert secret_matches(found, created.api_auth)
        assert not secret_matches(found, created.api_auth[:-1])
        assert not secret_matches(found, None)
        assert (await authenticate(session, created.api_key, created.api_auth)).id == found.id
        assert await authenticate(session, created.api_key, "wrong") is None
        assert await authenticate(session, "ak_unknown", created.api_auth) is None


async def test_a_chosen_admin_password_is_used_and_not_echoed(store: Store) -> None:
    async with store.transaction() as session:
        created = await create_account(session, "Acme", admin_email="ada@acme.example",
                                       admin_password="chosen-password")
    assert created.admin_password is None
    assert verify_password(created.admin.password_hash, "chosen-password")


async def test_account_without_admin(store: Store) -> None:
    async with store.transaction() as session:
        created = await create_account(session, "Integrator only")
    assert created.admin is None and created.admin_password is None
    async with store.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 0


async def test_an_email_already_in_use_is_refused_and_nothing_is_created(store: Store) -> None:
    async with store.transaction() as session:
        await create_account(session, "First", admin_email="ada@acme.example")
    with pytest.raises(AccountError) as refused:
        async with store.transaction() as session:
            await create_account(session, "Second", admin_email="ADA@acme.example")
    assert refused.value.error_id == "email-taken"
    async with store.sessions() as session:
        assert (await session.scalars(select(Account.name))).all() == ["First"]


async def test_bad_input_gets_stable_error_ids(store: Store) -> None:
    async with store.transaction() as session:
        for kwargs, error_id in (
            ({"name": " "}, "invalid-name"),
            ({"name": "A", "admin_email": "not-an-email"}, "invalid-email"),
            ({"name": "A", "admin_password": "pw"}, "email-required"),
        ):
            with pytest.raises(AccountError) as refused:
                await create_account(session, **kwargs)
            assert refused.value.error_id == error_id
        assert await session.scalar(select(func.count()).select_from(Account)) == 0
