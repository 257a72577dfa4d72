"""Lists: the heartbeat of the process importing them, so an import whose process died is failed.

Plain ``ADD COLUMN``/``DROP COLUMN`` rather than batch mode: SQLite (3.35 and later) does both
in place, while batch mode would copy the table and drop the old one, and with foreign keys on
dropping ``lead_lists`` deletes every lead and rejection through their ``ON DELETE CASCADE``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('lead_lists', sa.Column('import_heartbeat_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('lead_lists', 'import_heartbeat_at')
