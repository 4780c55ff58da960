"""An intake keeps what the patient typed on a page they saved to finish later

"Save and finish later" must not lose a half-filled page: its answers, as typed and not
yet valid, are kept encrypted per step until the page is saved for real.

A plain ADD COLUMN (nullable), not a batch rebuild.

Revision ID: 0019intakedraft
Revises: 0018bookingpreviouslink
Create Date: 2026-12-06 11:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019intakedraft'
down_revision = '0018bookingpreviouslink'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('intakes', sa.Column('draft_answers', sa.Text(), nullable=True))


def downgrade():
    op.execute('ALTER TABLE intakes DROP COLUMN draft_answers')
