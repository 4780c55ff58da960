"""Screening flags only encrypted (the queue keeps clear markers); consent emails to guardians counted

Revision ID: 0013encryptedflags
Revises: 0012keyedauditchain
Create Date: 2026-12-06 03:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013encryptedflags'
down_revision = '0012keyedauditchain'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('guardian_email_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('intake_id', sa.Integer(), nullable=False),
    sa.Column('mailbox_digest', sa.String(length=64), nullable=False),
    sa.Column('is_resend', sa.Boolean(), nullable=False),
    sa.Column('requested_dt', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['intake_id'], ['intakes.id'], name=op.f('fk_guardian_email_requests_intake_id_intakes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guardian_email_requests'))
    )
    with op.batch_alter_table('guardian_email_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guardian_email_requests_intake_id'), ['intake_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_guardian_email_requests_mailbox_digest'), ['mailbox_digest'], unique=False)


def downgrade():
    with op.batch_alter_table('guardian_email_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guardian_email_requests_mailbox_digest'))
        batch_op.drop_index(batch_op.f('ix_guardian_email_requests_intake_id'))

    op.drop_table('guardian_email_requests')
