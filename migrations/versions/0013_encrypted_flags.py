"""Screening flags only encrypted (the queue keeps clear markers); consent emails to guardians counted

The flags already live in each intake's encrypted `results`; `flag_codes` was a clear copy
of their codes for the queue's filters. It gives way to four markers that name no answer or
condition, filled from it, and is dropped.

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

MARKERS = ('needs_review', 'has_info_flags', 'is_adolescent')


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

    for marker in MARKERS:
        op.add_column('intakes', sa.Column(marker, sa.Boolean(), server_default=sa.false(), nullable=False))
    _fill_markers()
    _drop_intake_columns('flag_codes')


def _drop_intake_columns(*names):
    """ALTER TABLE ... DROP COLUMN, on SQLite (3.35+) too; columns are added with plain ALTER TABLE as well.

    No batch copy of the table: on SQLite that drops and recreates `intakes`, which the
    audit trail's rows refer to, and foreign keys cannot be switched off inside the
    migration's transaction.
    """
    for name in names:
        op.drop_column('intakes', name)


def _fill_markers():
    """Set the markers from the clear codes (" code level:x ... "), which were kept equal to the encrypted flags.

    One statement, and no data key needed: an intake whose results an old key encrypted
    cannot hold the upgrade up.
    """
    intakes = sa.table('intakes', sa.column('flag_codes', sa.Text), *(sa.column(marker, sa.Boolean) for marker in MARKERS))
    codes = intakes.c.flag_codes
    op.execute(intakes.update().values(
        needs_review=codes.like('% level:clinician-review %'),
        has_info_flags=codes.like('% level:info %'),
        is_adolescent=codes.like('% under_18 %'),
    ))


def downgrade():
    op.add_column('intakes', sa.Column('flag_codes', sa.Text(), server_default='', nullable=False))
    _fill_flag_codes()
    _drop_intake_columns(*MARKERS)

    with op.batch_alter_table('guardian_email_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guardian_email_requests_mailbox_digest'))
        batch_op.drop_index(batch_op.f('ix_guardian_email_requests_intake_id'))

    op.drop_table('guardian_email_requests')


def _fill_flag_codes():
    """Copy the codes back out of the encrypted results, as 0007 did (needs KAPCLINIC_DATA_KEY, which `flask db` has)."""
    from kapclinic.core.crypto import EncryptedJSON

    intakes = sa.table('intakes', sa.column('id', sa.Integer), sa.column('results', EncryptedJSON), sa.column('flag_codes', sa.Text))
    connection = op.get_bind()
    for row in connection.execute(sa.select(intakes.c.id, intakes.c.results)).all():
        flags = (row.results or {}).get('flags', [])
        tokens = {flag['code'] for flag in flags} | {f"level:{flag['level']}" for flag in flags}
        connection.execute(intakes.update().where(intakes.c.id == row.id).values(flag_codes=f" {' '.join(sorted(tokens))} "))
