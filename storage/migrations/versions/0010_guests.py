"""guests (a language, a time zone and reminder settings for people who cannot register any more); follows
without a foreign key to delegates (a guest follows sessions too)

Revision ID: 0010
Revises: 0006
Create Date: 2026-11-29 17:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models


revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('guests',
    sa.Column('user_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('zone_chosen', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('reminder_lead', sa.Integer(), server_default='10', nullable=False),
    sa.Column('reminders_on', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('follow_all', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('blocked_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_guests'))
    )
    with op.batch_alter_table('follows', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_follows_user_id_delegates'), type_='foreignkey')


def downgrade() -> None:
    op.execute("DELETE FROM follows WHERE user_id NOT IN (SELECT user_id FROM delegates)")
    with op.batch_alter_table('follows', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_follows_user_id_delegates'), 'delegates', ['user_id'],
                                    ['user_id'], ondelete='CASCADE')
    op.drop_table('guests')
