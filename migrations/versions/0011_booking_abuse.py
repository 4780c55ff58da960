"""Booking abuse: what the public booking path needs to hold and expire bookings and spot bursts

Revision ID: 0011bookingabuse
Revises: 0010outboxexpiry
Create Date: 2026-12-06 03:30:00

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0011bookingabuse'
down_revision = '0010outboxexpiry'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
