"""The call API: call jobs (what a job adds to its campaign), the integrator's callers of each
job, and the outcome and notes an integrator gives a call when its caller is ready again.

Plain ``ADD COLUMN`` as in 0002: batch mode would copy tables whose foreign keys cascade.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.add_column('call_attempts', sa.Column('outcome', sa.String(length=100), nullable=True))
    op.add_column('call_attempts', sa.Column('notes', sa.Text(), nullable=True))
    op.create_table(
        'call_jobs',
        sa.Column('id', _ID, autoincrement=False, nullable=False),
        sa.Column('state', sa.Enum('running', 'stopping', 'ended', name='calljobstate', native_enum=False,
                                   length=20), nullable=False),
        sa.Column('call_state_url', sa.String(length=2000), nullable=False),
        sa.Column('list_id', _ID, nullable=True),
        sa.Column('wrap_up_seconds', sa.Integer(), nullable=True),
        sa.Column('phone_numbers_url', sa.String(length=2000), nullable=True),
        sa.Column('numbers_page_size', sa.Integer(), nullable=False),
        sa.Column('numbers_next_page', sa.Integer(), nullable=False),
        sa.Column('source_exhausted', sa.Boolean(), nullable=False),
        sa.Column('numbers_added', sa.Integer(), nullable=False),
        sa.Column('numbers_duplicate', sa.Integer(), nullable=False),
        sa.Column('numbers_rejected', sa.Integer(), nullable=False),
        sa.Column('rejected_numbers', sa.JSON(), nullable=False),
        sa.Column('intake_failures', sa.Integer(), nullable=False),
        sa.Column('intake_error', sa.Text(), nullable=True),
        sa.Column('intake_retry_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('numbers_exhausted_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('end_reason', sa.String(length=50), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('account_id', _ID, nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_call_jobs_account_id_accounts'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['id'], ['campaigns.id'], name=op.f('fk_call_jobs_id_campaigns'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['list_id'], ['lead_lists.id'], name=op.f('fk_call_jobs_list_id_lead_lists'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_call_jobs')),
    )
    op.create_index(op.f('ix_call_jobs_account_id'), 'call_jobs', ['account_id'], unique=False)
    op.create_table(
        'call_job_callers',
        sa.Column('job_id', _ID, nullable=False),
        sa.Column('caller_id', _ID, nullable=False),
        sa.Column('reference', sa.String(length=100), nullable=False),
        sa.Column('phone', sa.String(length=200), nullable=True),
        sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('account_id', _ID, nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                                name=op.f('fk_call_job_callers_account_id_accounts'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['caller_id'], ['callers.id'], name=op.f('fk_call_job_callers_caller_id_callers'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['job_id'], ['call_jobs.id'], name=op.f('fk_call_job_callers_job_id_call_jobs'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_call_job_callers')),
        sa.UniqueConstraint('caller_id', name=op.f('uq_call_job_callers_caller_id')),
        sa.UniqueConstraint('job_id', 'reference', name=op.f('uq_call_job_callers_job_id_reference')),
    )
    op.create_index(op.f('ix_call_job_callers_account_id'), 'call_job_callers', ['account_id'], unique=False)
    op.create_index(op.f('ix_call_job_callers_job_id'), 'call_job_callers', ['job_id'], unique=False)
    op.create_index(op.f('ix_call_job_callers_reference'), 'call_job_callers', ['reference'], unique=False)


def downgrade() -> None:
    op.drop_table('call_job_callers')
    op.drop_table('call_jobs')
    op.drop_column('call_attempts', 'notes')
    op.drop_column('call_attempts', 'outcome')
