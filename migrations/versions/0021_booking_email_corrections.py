"""How many times a booking's email address was corrected from its confirmation page

"Wrong address?" lets the patient correct a mistyped address shortly after booking; it
may be used a few times, not without end, so each booking counts its corrections.

A plain ADD COLUMN (with a default, so existing rows read 0), not a batch rebuild: on
SQLite a rebuild of `bookings` would drop the table, and with foreign keys on, cascade to
its intakes (see 0018).

Revision ID: 0021bookingemailcorrections
Revises: 0020bookingvideoroom
Create Date: 2026-12-07 11:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0021bookingemailcorrections'
down_revision = '0020bookingvideoroom'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('bookings', sa.Column('email_corrections', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    op.execute('ALTER TABLE bookings DROP COLUMN email_corrections')
