"""quiz: attempts (one per person), answers (one per attempt and question), the organisers' switch, group polls

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 17:12:35.843913
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('quiz_attempts',
    sa.Column('user_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('lang', sa.String(length=8), nullable=False),
    sa.Column('group_chat', sa.BigInteger(), nullable=True),
    sa.Column('index', sa.Integer(), nullable=False),
    sa.Column('asked_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('message_id', sa.BigInteger(), nullable=True),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('time_ms', sa.Integer(), nullable=False),
    sa.Column('right', sa.Integer(), nullable=False),
    sa.Column('started_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_quiz_attempts'))
    )
    with op.batch_alter_table('quiz_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_quiz_attempts_rank', ['score', 'time_ms', 'finished_at'], unique=False)

    op.create_table('quiz_polls',
    sa.Column('poll_id', sa.String(length=64), nullable=False),
    sa.Column('chat_id', sa.BigInteger(), nullable=False),
    sa.Column('question_id', sa.String(length=32), nullable=False),
    sa.Column('index', sa.Integer(), nullable=False),
    sa.Column('asked_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('seconds', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('poll_id', name=op.f('pk_quiz_polls'))
    )
    op.create_table('quiz_state',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('switch_open', sa.Boolean(), nullable=True),
    sa.Column('switch_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('switch_by', sa.BigInteger(), nullable=True),
    sa.Column('announced_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finalised_for', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quiz_state'))
    )
    op.create_table('quiz_answers',
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('index', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('question_id', sa.String(length=32), nullable=False),
    sa.Column('choice', sa.Integer(), nullable=True),
    sa.Column('right', sa.Boolean(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('time_ms', sa.Integer(), nullable=False),
    sa.Column('answered_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['quiz_attempts.user_id'], name=op.f('fk_quiz_answers_user_id_quiz_attempts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'index', name=op.f('pk_quiz_answers'))
    )


def downgrade() -> None:
    op.drop_table('quiz_answers')
    op.drop_table('quiz_state')
    op.drop_table('quiz_polls')
    with op.batch_alter_table('quiz_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_quiz_attempts_rank')

    op.drop_table('quiz_attempts')
