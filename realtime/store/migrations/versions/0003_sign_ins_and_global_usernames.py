"""Sessions that can end, and caller usernames that name one caller.

- ``sign_ins``: one row per session cookie, keyed by its nonce; deleting the row ends the
  session on every web process (sign-out, password change, deactivation, kick).
- ``ix_callers_username``: usernames become unique across accounts, as ``/login`` takes the
  username alone. Where two accounts share a username, the oldest caller keeps it and each
  other one becomes ``<username>-<account id>`` (with ``-<caller id>`` added if that is taken
  too); each rename is logged. The per-account unique constraint of 0001 stays: dropping it
  would make SQLite copy the table, and it is implied by the new index anyway.

Plain ``CREATE INDEX`` and ``CREATE TABLE``: no batch mode, which on SQLite would copy
``callers`` and, with foreign keys on, delete its dependants through ``ON DELETE CASCADE``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

logger = logging.getLogger("realtime.store.migrations")


def upgrade() -> None:
    _rename_shared_usernames()
    op.create_index(op.f('ix_callers_username'), 'callers', ['username'], unique=True)
    op.create_table('sign_ins',
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('caller_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.CheckConstraint('(user_id IS NULL) <> (caller_id IS NULL)', name=op.f('ck_sign_ins_one_person')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_sign_ins_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['caller_id'], ['callers.id'], name=op.f('fk_sign_ins_caller_id_callers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_sign_ins_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('nonce', name=op.f('pk_sign_ins'))
    )
    op.create_index(op.f('ix_sign_ins_account_id'), 'sign_ins', ['account_id'], unique=False)
    op.create_index(op.f('ix_sign_ins_caller_id'), 'sign_ins', ['caller_id'], unique=False)
    op.create_index(op.f('ix_sign_ins_expires_at'), 'sign_ins', ['expires_at'], unique=False)
    op.create_index(op.f('ix_sign_ins_user_id'), 'sign_ins', ['user_id'], unique=False)


def downgrade() -> None:
    # Renamed usernames keep their new names: nothing depends on the old ones.
    op.drop_index(op.f('ix_sign_ins_user_id'), table_name='sign_ins')
    op.drop_index(op.f('ix_sign_ins_expires_at'), table_name='sign_ins')
    op.drop_index(op.f('ix_sign_ins_caller_id'), table_name='sign_ins')
    op.drop_index(op.f('ix_sign_ins_account_id'), table_name='sign_ins')
    op.drop_table('sign_ins')
    op.drop_index(op.f('ix_callers_username'), table_name='callers')


def _rename_shared_usernames() -> None:
    conn = op.get_bind()
    callers = sa.table('callers', sa.column('id'), sa.column('account_id'), sa.column('username'))
    shared = sa.select(callers.c.username).group_by(callers.c.username).having(sa.func.count() > 1)
    rows = conn.execute(sa.select(callers.c.id, callers.c.account_id, callers.c.username)
                        .where(callers.c.username.in_(shared)).order_by(callers.c.username, callers.c.id)).all()
    if not rows:
        return
    taken = set(conn.execute(sa.select(callers.c.username)).scalars())
    keeper: dict[str, int] = {}
    for caller_id, account_id, username in rows:
        if keeper.setdefault(username, caller_id) == caller_id:
            continue  # the oldest caller of that name keeps it
        new = f"{username}-{account_id}"
        if new in taken:
            new = f"{username}-{account_id}-{caller_id}"
        taken.add(new)
        conn.execute(sa.update(callers).where(callers.c.id == caller_id).values(username=new))
        logger.warning("caller %s of account %s: username %r is used in another account too, renamed %r "
                       "(usernames are unique across accounts from now on)", caller_id, account_id, username, new)
