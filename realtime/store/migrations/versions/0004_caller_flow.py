"""The live caller flow: dial-in PINs and state times of caller sessions, idempotent survey
results, and the leases by which one engine owns a campaign at a time.

Plain ``ADD COLUMN`` as in 0002: batch mode would copy tables whose foreign keys cascade.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.add_column('caller_sessions', sa.Column('pin', sa.String(length=12), nullable=True))
    op.add_column('caller_sessions', sa.Column('state_since', sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f('ix_caller_sessions_pin'), 'caller_sessions', ['pin'], unique=False)
    op.add_column('call_attempts', sa.Column('results_key', sa.String(length=100), nullable=True))
    op.create_table(
        'campaign_leases',
        sa.Column('campaign_id', _ID, nullable=False),
        sa.Column('holder', sa.String(length=100), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'],
                                name=op.f('fk_campaign_leases_campaign_id_campaigns'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('campaign_id', name=op.f('pk_campaign_leases')),
    )


def downgrade() -> None:
    op.drop_table('campaign_leases')
    op.drop_column('call_attempts', 'results_key')
    op.drop_index(op.f('ix_caller_sessions_pin'), table_name='caller_sessions')
    op.drop_column('caller_sessions', 'state_since')
    op.drop_column('caller_sessions', 'pin')
