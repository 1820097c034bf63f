"""outbox: chat_id (private chats and groups) and priority

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 13:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chat_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('priority', sa.Integer(), server_default='2', nullable=False))
    # Every row so far went to the person's private chat.
    op.execute('UPDATE outbox SET chat_id = user_id')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('chat_id', existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column('user_id', existing_type=sa.BigInteger(), nullable=True)
        batch_op.create_index(batch_op.f('ix_outbox_chat_id'), ['chat_id'], unique=False)
        batch_op.create_index('ix_outbox_status_priority_next_at', ['status', 'priority', 'next_at'], unique=False)


def downgrade() -> None:
    op.execute('DELETE FROM outbox WHERE user_id IS NULL')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_status_priority_next_at')
        batch_op.drop_index(batch_op.f('ix_outbox_chat_id'))
        batch_op.alter_column('user_id', existing_type=sa.BigInteger(), nullable=False)
        batch_op.drop_column('priority')
        batch_op.drop_column('chat_id')
