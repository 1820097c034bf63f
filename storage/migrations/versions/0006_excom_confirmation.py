"""delegates: EXCOM membership confirmed by an organiser (excom_status, excom_decided_by, excom_decided_at)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 15:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('delegates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('excom_status', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('excom_decided_by', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('excom_decided_at', storage.models.UTCDateTime(timezone=True), nullable=True))
    # Claims made before confirmation existed were self-declared: an organiser confirms them now.
    op.execute("UPDATE delegates SET excom_status = 'pending' WHERE participant_type = 'excom'")


def downgrade() -> None:
    with op.batch_alter_table('delegates', schema=None) as batch_op:
        batch_op.drop_column('excom_decided_at')
        batch_op.drop_column('excom_decided_by')
        batch_op.drop_column('excom_status')
