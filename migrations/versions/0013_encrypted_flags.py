"""Screening flags and cancellation reasons encrypted; the queue keeps only its sort markers

Revision ID: 0013encryptedflags
Revises: 0012keyedauditchain
Create Date: 2026-12-06 03:45:00

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0013encryptedflags'
down_revision = '0012keyedauditchain'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
