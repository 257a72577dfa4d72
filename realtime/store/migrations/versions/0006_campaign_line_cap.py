"""A campaign's ``max_lines`` may be empty: no cap of its own, the floor's and the trunk's apply.

The old default of 100 silently throttled large predictive floors. Rows keep their value: a
cap an operator chose cannot be told apart from the old default.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('campaigns') as batch:
        batch.alter_column('max_lines', existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("UPDATE campaigns SET max_lines = 100 WHERE max_lines IS NULL")
    with op.batch_alter_table('campaigns') as batch:
        batch.alter_column('max_lines', existing_type=sa.Integer(), nullable=False)
