"""The clinic's brand (logo and accent colour) and a consultation type's optional fee

Patients choose a clinic they trust: the admin sets the clinic's logo and accent colour,
and a consultation type may show its fee on the booking page. Plain ADD COLUMNs (nullable
or with a server default), not batch rebuilds.

Revision ID: 0022clinicbrandandfees
Revises: 0021bookingemailcorrections
Create Date: 2026-12-06 12:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0022clinicbrandandfees'
down_revision = '0021bookingemailcorrections'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('clinic_settings', sa.Column('accent_colour', sa.String(length=7), nullable=False, server_default=''))
    op.add_column('clinic_settings', sa.Column('logo', sa.LargeBinary(), nullable=True))
    op.add_column('clinic_settings', sa.Column('logo_type', sa.String(length=32), nullable=True))
    op.add_column('consultation_types', sa.Column('fee_cents', sa.Integer(), nullable=True))


def downgrade():
    for table, column in (
        ('consultation_types', 'fee_cents'),
        ('clinic_settings', 'logo_type'),
        ('clinic_settings', 'logo'),
        ('clinic_settings', 'accent_colour'),
    ):
        op.execute(f'ALTER TABLE {table} DROP COLUMN {column}')
