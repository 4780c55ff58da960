"""Audit chain keyed with a key the database does not hold

Revision ID: 0012keyedauditchain
Revises: 0011bookingabuse
Create Date: 2026-12-06 03:45:00

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0012keyedauditchain'
down_revision = '0011bookingabuse'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
