"""Outbox rows keep their template's name and values; the sender renders them when it claims the message

A booking request rendered two templates and read the clinic's details for its email.
Now it stores the template's name and its values (encrypted JSON, with the facts the
invite needs) and the sender renders subject, bodies and invite. Rows queued before this
keep their bodies and are sent as they are.

Revision ID: 0017outboxrenderatsend
Revises: 0016bookingpatientindexes
Create Date: 2026-12-06 09:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017outboxrenderatsend'
down_revision = '0016bookingpatientindexes'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_messages') as batch_op:
        batch_op.add_column(sa.Column('template', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('context', sa.Text(), nullable=True))
        batch_op.alter_column('body_text', existing_type=sa.Text(), nullable=True)
        batch_op.alter_column('body_html', existing_type=sa.Text(), nullable=True)


def downgrade():
    # A message not yet rendered would go out empty: send them first (`flask outbox send`), or accept that.
    op.execute("UPDATE outbox_messages SET body_text = '', body_html = '' WHERE body_text IS NULL")
    with op.batch_alter_table('outbox_messages') as batch_op:
        batch_op.alter_column('body_html', existing_type=sa.Text(), nullable=False)
        batch_op.alter_column('body_text', existing_type=sa.Text(), nullable=False)
        batch_op.drop_column('context')
        batch_op.drop_column('template')
