"""A clinician's photo for patients' cards

Admins onboard clinicians with a photo (PNG, JPEG or WebP, at most 100 KB) that the booking
page and /api/v1/clinicians show. Plain ADD COLUMNs (nullable or with a server default), not
batch rebuilds.

Revision ID: 0023clinicianphoto
Revises: 0022clinicbrandandfees
Create Date: 2026-12-06 14:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0023clinicianphoto'
down_revision = '0022clinicbrandandfees'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('clinicians', sa.Column('photo', sa.LargeBinary(), nullable=True))
    op.add_column('clinicians', sa.Column('photo_type', sa.String(length=32), nullable=True))
    op.add_column('clinicians', sa.Column('photo_version', sa.Integer(), nullable=False, server_default='0'))


def downgrade():
    for column in ('photo_version', 'photo_type', 'photo'):
        op.execute(f'ALTER TABLE clinicians DROP COLUMN {column}')
