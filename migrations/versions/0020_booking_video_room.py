"""Every video consultation gets its own room

A consultation type's video link was one room shared by all its patients. Now each
booking keeps the unguessable name of its own room under the type's video address, and
staff may set a link for one booking. Both encrypted (text), since either is all it takes
to join. Bookings made before have neither and show the type's link, as they did.

Plain ADD COLUMNs (nullable), not a batch rebuild: on SQLite a rebuild of `bookings`
would drop the table, and with foreign keys on, cascade to its intakes (see 0018).

Revision ID: 0020bookingvideoroom
Revises: 0019intakedraft
Create Date: 2026-12-07 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0020bookingvideoroom'
down_revision = '0019intakedraft'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('bookings', sa.Column('video_room_token', sa.Text(), nullable=True))
    op.add_column('bookings', sa.Column('staff_video_link', sa.Text(), nullable=True))


def downgrade():
    op.execute('ALTER TABLE bookings DROP COLUMN staff_video_link')
    op.execute('ALTER TABLE bookings DROP COLUMN video_room_token')
