"""Staff password-reset requests: one row per request, staff address or not, answered by `flask worker`

The reset page used to look the address up and write a link and an email only for staff,
so a known address answered measurably slower. Now every request writes one row holding
an HMAC of the address (never the address) and the worker does the rest.

Revision ID: 0014passwordresetrequests
Revises: 0013encryptedflags
Create Date: 2026-12-06 04:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014passwordresetrequests'
down_revision = '0013encryptedflags'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('password_reset_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('address_digest', sa.String(length=64), nullable=False),
    sa.Column('requested_dt', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_password_reset_requests'))
    )


def downgrade():
    # Requests not yet answered are lost: their people ask again.
    op.drop_table('password_reset_requests')
