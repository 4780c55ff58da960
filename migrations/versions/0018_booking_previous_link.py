"""A booking's previous manage link keeps working after a reschedule

A reschedule emails a new link; the one in the first email used to answer "Not Found",
a dead end for a patient who kept the first email. Now the link just before the current
one still opens the booking (and says it moved); older ones stop.

A plain ADD COLUMN and a unique index, not a batch rebuild: on SQLite a rebuild of
`bookings` would drop the table, and with foreign keys on, cascade to its intakes.

Revision ID: 0018bookingpreviouslink
Revises: 0017outboxrenderatsend
Create Date: 2026-12-06 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018bookingpreviouslink'
down_revision = '0017outboxrenderatsend'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('bookings', sa.Column('previous_manage_token_hash', sa.String(length=64), nullable=True))
    op.create_index('uq_bookings_previous_manage_token_hash', 'bookings', ['previous_manage_token_hash'], unique=True)


def downgrade():
    op.drop_index('uq_bookings_previous_manage_token_hash', table_name='bookings')
    op.execute('ALTER TABLE bookings DROP COLUMN previous_manage_token_hash')
