"""Outbox rows keep the invite's event; the sender builds its iCalendar text when it claims the message

A booking request used to run icalendar's serialiser for the patient's invite, most of the
cost of its email. Now it stores the event (encrypted JSON) and the sender builds `ics`
from it. Rows queued before this keep their `ics` and are sent as they are.

Revision ID: 0015outboxinvite
Revises: 0014passwordresetrequests
Create Date: 2026-12-06 07:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015outboxinvite'
down_revision = '0014passwordresetrequests'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_messages') as batch_op:
        batch_op.add_column(sa.Column('invite', sa.Text(), nullable=True))


def downgrade():
    # A message still holding only its event would go without its invite: build them first
    # (`flask outbox send`), or accept that.
    with op.batch_alter_table('outbox_messages') as batch_op:
        batch_op.drop_column('invite')
