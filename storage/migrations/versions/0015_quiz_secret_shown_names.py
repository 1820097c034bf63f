"""quiz: the plan's server-side secret, when the current question was shown, how players appear on the
public leaderboard (quiz_names)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 03:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models


revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('quiz_names',
    sa.Column('user_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('shown_as', sa.String(length=8), nullable=False),
    sa.Column('nickname', sa.String(length=32), nullable=True),
    sa.Column('first_name', sa.String(length=64), nullable=False),
    sa.Column('chosen_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_quiz_names'))
    )
    with op.batch_alter_table('quiz_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shown', sa.Boolean(), server_default=sa.true(), nullable=False))
    with op.batch_alter_table('quiz_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('secret', sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('quiz_state', schema=None) as batch_op:
        batch_op.drop_column('secret')
    with op.batch_alter_table('quiz_attempts', schema=None) as batch_op:
        batch_op.drop_column('shown')
    op.drop_table('quiz_names')
