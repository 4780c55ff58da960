"""Booking abuse: what the public booking path needs to hold and expire bookings and spot bursts

Adds a pending booking's confirmation deadline, the client network a public booking
came from (for the admin's list of bursts), the fingerprint of the request an
idempotency key made, and encrypts the patient's free-text cancellation reason.

The reason moves to a new TEXT column and the old one is dropped with plain ALTER
TABLE statements, which SQLite (3.35+) and PostgreSQL both run in place: a batch
rebuild of `bookings` on SQLite would drop the table, and with foreign keys on that
deletes the intakes and reminders that cascade from it.

Revision ID: 0011bookingabuse
Revises: 0010outboxexpiry
Create Date: 2026-12-06 03:30:00

"""
from alembic import op
import sqlalchemy as sa

from kapclinic.core.crypto import EncryptedText

# revision identifiers, used by Alembic.
revision = '0011bookingabuse'
down_revision = '0010outboxexpiry'
branch_labels = None
depends_on = None


def _copy_reasons(source, target, source_type, target_type, keep):
    """Copy reasons row by row through the column types (EncryptedText encrypts or decrypts with the app's key)."""
    bookings = sa.table("bookings", sa.column("id", sa.Integer), sa.column(source, source_type), sa.column(target, target_type))
    connection = op.get_bind()
    rows = connection.execute(sa.select(bookings.c.id, bookings.c[source]).where(keep(bookings.c[source]))).all()
    for booking_id, reason in rows:
        connection.execute(bookings.update().where(bookings.c.id == booking_id).values({target: reason}))


def upgrade():
    op.add_column('bookings', sa.Column('confirm_by_dt', sa.DateTime(timezone=True), nullable=True))
    op.add_column('bookings', sa.Column('client_network', sa.String(length=49), nullable=True))
    op.add_column('bookings', sa.Column('idempotency_fingerprint', sa.String(length=64), nullable=True))
    op.create_index(op.f('ix_bookings_client_network'), 'bookings', ['client_network'], unique=False)

    op.add_column('bookings', sa.Column('cancellation_reason_sealed', sa.Text(), nullable=True))
    _copy_reasons(
        'cancellation_reason', 'cancellation_reason_sealed', sa.String(), EncryptedText(),
        keep=lambda column: column != '',
    )
    op.execute('ALTER TABLE bookings DROP COLUMN cancellation_reason')
    op.execute('ALTER TABLE bookings RENAME COLUMN cancellation_reason_sealed TO cancellation_reason')


def downgrade():
    op.add_column('bookings', sa.Column('cancellation_reason_plain', sa.String(length=500), nullable=False, server_default=''))
    _copy_reasons(
        'cancellation_reason', 'cancellation_reason_plain', EncryptedText(), sa.String(),
        keep=lambda column: column.is_not(None),
    )
    op.execute('ALTER TABLE bookings DROP COLUMN cancellation_reason')
    op.execute('ALTER TABLE bookings RENAME COLUMN cancellation_reason_plain TO cancellation_reason')

    op.drop_index(op.f('ix_bookings_client_network'), table_name='bookings')
    op.execute('ALTER TABLE bookings DROP COLUMN idempotency_fingerprint')
    op.execute('ALTER TABLE bookings DROP COLUMN client_network')
    op.execute('ALTER TABLE bookings DROP COLUMN confirm_by_dt')
