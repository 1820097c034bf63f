"""broadcasts: URL buttons and "send at"; matchmaking: a booking's note and the profiles of cities open for
meetings

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-07 03:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = '0013'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('broadcasts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('buttons', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('send_at', storage.models.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('mm_booking', schema=None) as batch_op:
        batch_op.add_column(sa.Column('note', sa.String(length=200), nullable=True))
    op.create_table('mm_profiles',
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('topics', sa.JSON(), nullable=False),
    sa.Column('about', sa.String(length=300), nullable=False),
    sa.Column('updated_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['delegates.user_id'], name=op.f('fk_mm_profiles_user_id_delegates'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_mm_profiles'))
    )


def downgrade() -> None:
    op.drop_table('mm_profiles')
    with op.batch_alter_table('mm_booking', schema=None) as batch_op:
        batch_op.drop_column('note')
    with op.batch_alter_table('broadcasts', schema=None) as batch_op:
        batch_op.drop_column('send_at')
        batch_op.drop_column('buttons')
