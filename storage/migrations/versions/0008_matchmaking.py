"""matchmaking: availability, bookings and their seats, outside-event requests, the published state

The constraints decide the booking races (domain/matchmaking.py's docstring designs them).

Revision ID: 0008
Revises: 0006
Create Date: 2026-11-29 17:11:44.158277
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('mm_state',
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('published_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('published_by', sa.BigInteger(), nullable=True),
    sa.Column('writes', sa.Integer(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_mm_state'))
    )
    op.create_table('mm_availability',
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('slot_id', sa.String(length=8), nullable=False),
    sa.Column('created_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['delegates.user_id'], name=op.f('fk_mm_availability_user_id_delegates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'slot_id', name=op.f('pk_mm_availability'))
    )
    op.create_table('mm_outside_request',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('host_id', sa.BigInteger(), nullable=False),
    sa.Column('requester_id', sa.BigInteger(), nullable=False),
    sa.Column('created_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['host_id'], ['delegates.user_id'], name=op.f('fk_mm_outside_request_host_id_delegates'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['requester_id'], ['delegates.user_id'], name=op.f('fk_mm_outside_request_requester_id_delegates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mm_outside_request')),
    sa.UniqueConstraint('host_id', 'requester_id', name='uq_mm_outside_request_pair')
    )
    with op.batch_alter_table('mm_outside_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mm_outside_request_host_id'), ['host_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mm_outside_request_requester_id'), ['requester_id'], unique=False)

    op.create_table('mm_booking',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('host_id', sa.BigInteger(), nullable=False),
    sa.Column('requester_id', sa.BigInteger(), nullable=False),
    sa.Column('slot_id', sa.String(length=8), nullable=False),
    sa.Column('pair_lo', sa.BigInteger(), nullable=False),
    sa.Column('pair_hi', sa.BigInteger(), nullable=False),
    sa.Column('created_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('host_id <> requester_id', name=op.f('ck_mm_booking_not_self')),
    sa.ForeignKeyConstraint(['host_id', 'slot_id'], ['mm_availability.user_id', 'mm_availability.slot_id'], name='fk_mm_booking_host_slot_mm_availability'),
    sa.ForeignKeyConstraint(['host_id'], ['delegates.user_id'], name=op.f('fk_mm_booking_host_id_delegates'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['requester_id'], ['delegates.user_id'], name=op.f('fk_mm_booking_requester_id_delegates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mm_booking')),
    sa.UniqueConstraint('host_id', 'slot_id', name='uq_mm_booking_host_slot'),
    sa.UniqueConstraint('requester_id', 'slot_id', name='uq_mm_booking_requester_slot'),
    sa.UniqueConstraint('pair_lo', 'pair_hi', name='uq_mm_booking_pair')
    )
    op.create_table('mm_seat',
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('slot_id', sa.String(length=8), nullable=False),
    sa.Column('booking_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['booking_id'], ['mm_booking.id'], name=op.f('fk_mm_seat_booking_id_mm_booking'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['delegates.user_id'], name=op.f('fk_mm_seat_user_id_delegates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'slot_id', name=op.f('pk_mm_seat'))
    )
    with op.batch_alter_table('mm_seat', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mm_seat_booking_id'), ['booking_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('mm_seat', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mm_seat_booking_id'))

    op.drop_table('mm_seat')
    op.drop_table('mm_booking')
    with op.batch_alter_table('mm_outside_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mm_outside_request_requester_id'))
        batch_op.drop_index(batch_op.f('ix_mm_outside_request_host_id'))

    op.drop_table('mm_outside_request')
    op.drop_table('mm_availability')
    op.drop_table('mm_state')
