from __future__ import annotations

import re

from argon2 import PasswordHasher

from realtime.store import passwords
from realtime.store.database import Store
from realtime.store.models import Account, Caller
from realtime.store.passwords import (
    generate_password,
    generate_pin,
    hash_password,
    needs_rehash,
    unique_pin,
    verify_password,
)


def test_hash_is_argon2id_and_verifies_only_the_right_password() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2id$")
    assert "correct horse" not in hashed
    assert hash_password("correct horse") != hashed  # salted
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "correct hors")
    assert not verify_password(hashed, "")


def test_broken_or_missing_hashes_never_verify_and_never_raise() -> None:
    for broken in ("", None, "plaintext", "$argon2id$v=19$garbage", "$2b$12$bcryptlooking"):
        assert not verify_password(broken, "anything")


def test_hashes_with_other_parameters_need_rehash() -> None:
    assert not needs_rehash(hash_password("pw"))
    assert needs_rehash(PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("pw"))
    assert needs_rehash("not a hash")


def test_generated_passwords_are_readable_and_different() -> None:
    generated = {generate_password() for _ in range(50)}
    assert len(generated) == 50
    for password in generated:
        assert re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", password)
        assert not set(password) & set("01ilo")


def test_pin_is_six_digits_and_skips_taken_ones(monkeypatch) -> None:
    draws = iter([42, 42, 7])
    monkeypatch.setattr(passwords.secrets, "randbelow", lambda _n: next(draws))
    assert generate_pin({"000042"}) == "000007"


async def test_unique_pin_avoids_the_accounts_pins_only(store: Store, monkeypatch) -> None:
    async with store.transaction() as session:
        acme = Account(name="acme", api_key="ak_acme", api_secret="s")
        other = Account(name="other", api_key="ak_other", api_secret="s")
        session.add_all([acme, other])
        await session.flush()
        session.add_all([Caller(account_id=acme.id, username="ann", pin="000001"),
                         Caller(account_id=other.id, username="bob", pin="000002")])
    draws = iter([1, 2])
    monkeypatch.setattr(passwords.secrets, "randbelow", lambda _n: next(draws))
    async with store.sessions() as session:
        # 000001 is acme's; 000002 belongs to another account, so acme may have it.
        assert await unique_pin(session, acme.id) == "000002"
