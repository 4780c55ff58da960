"""Patient records: one person across bookings, contact details encrypted, found by blind indexes

Until now each booking kept its own copy of the patient's name, email, phone and date of
birth, in clear. They move to `patients` as Fernet tokens (KAPCLINIC_DATA_KEY) with keyed
digests (INDEX_KEY) to find them; bookings made with one email and date of birth become one
patient, with the name and phone of the latest booking. The four columns are dropped.

On PostgreSQL `ex_bookings_patient_no_overlap` then keeps one patient from holding two
active sessions at once. Should the data already hold such a pair the upgrade stops and
names the bookings: cancel one (or mark what happened) and run it again.

SQLite cannot add a NOT NULL reference to a table without rebuilding it (which intakes and
audit rows refer to), so there `patient_id` stays nullable; the application always sets it.

Revision ID: 0024patients
Revises: 0023clinicianphoto
Create Date: 2026-12-06 17:40:00

"""
import uuid

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0024patients'
down_revision = '0023clinicianphoto'
branch_labels = None
depends_on = None

CONTACT_COLUMNS = ('patient_name', 'patient_email', 'patient_phone', 'patient_date_of_birth')


def _on_postgresql():
    return op.get_bind().dialect.name == 'postgresql'


def upgrade():
    op.create_table('patients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('email', sa.Text(), nullable=False),
    sa.Column('phone', sa.Text(), nullable=False),
    sa.Column('date_of_birth', sa.Text(), nullable=False),
    sa.Column('email_index', sa.String(length=32), nullable=False),
    sa.Column('phone_index', sa.String(length=32), nullable=False),
    sa.Column('identity_index', sa.String(length=32), nullable=False),
    sa.Column('merged_into_id', sa.Integer(), nullable=True),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_dt', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merged_into_id'], ['patients.id'], name=op.f('fk_patients_merged_into_id_patients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patients')),
    sa.UniqueConstraint('public_id', name=op.f('uq_patients_public_id'))
    )
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patients_email_index'), ['email_index'], unique=False)
        batch_op.create_index(batch_op.f('ix_patients_identity_index'), ['identity_index'], unique=False)
        batch_op.create_index(batch_op.f('ix_patients_phone_index'), ['phone_index'], unique=False)

    op.create_table('patient_name_terms',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_patient_name_terms_patient_id_patients'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('patient_id', 'digest', name=op.f('pk_patient_name_terms'))
    )
    with op.batch_alter_table('patient_name_terms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patient_name_terms_digest'), ['digest'], unique=False)

    if _on_postgresql():
        op.add_column('bookings', sa.Column('patient_id', sa.Integer(), nullable=True))
        op.create_foreign_key(op.f('fk_bookings_patient_id_patients'), 'bookings', 'patients', ['patient_id'], ['id'])
    else:
        # Alembic has no ADD COLUMN ... REFERENCES for SQLite; SQLite itself has.
        op.execute('ALTER TABLE bookings ADD COLUMN patient_id INTEGER REFERENCES patients (id)')
    _fill_patients()
    op.create_index('ix_bookings_patient_start', 'bookings', ['patient_id', 'start_dt'])
    if _on_postgresql():
        op.alter_column('bookings', 'patient_id', nullable=False)
        _stop_on_overlaps()
        op.execute(
            "ALTER TABLE bookings ADD CONSTRAINT ex_bookings_patient_no_overlap EXCLUDE USING gist "
            "(patient_id WITH =, tstzrange(start_dt, end_dt, '[)') WITH &&) "
            "WHERE (status <> 'cancelled')"
        )
        op.drop_index('ix_bookings_patient_email_start', table_name='bookings')
    op.drop_index('ix_bookings_patient_phone_start', table_name='bookings')
    for name in CONTACT_COLUMNS:
        op.drop_column('bookings', name)


def _tables():
    from kapclinic.core.crypto import EncryptedDate, EncryptedText

    patients = sa.table('patients',
        sa.column('id', sa.Integer), sa.column('public_id', sa.String),
        sa.column('name', EncryptedText), sa.column('email', EncryptedText), sa.column('phone', EncryptedText),
        sa.column('date_of_birth', EncryptedDate), sa.column('email_index', sa.String),
        sa.column('phone_index', sa.String), sa.column('identity_index', sa.String),
        sa.column('created_dt', sa.DateTime(timezone=True)), sa.column('updated_dt', sa.DateTime(timezone=True)))
    terms = sa.table('patient_name_terms', sa.column('patient_id', sa.Integer), sa.column('digest', sa.String))
    bookings = sa.table('bookings',
        sa.column('id', sa.Integer), sa.column('patient_id', sa.Integer), sa.column('created_dt', sa.DateTime(timezone=True)),
        sa.column('patient_name', sa.String), sa.column('patient_email', sa.String),
        sa.column('patient_phone', sa.String), sa.column('patient_date_of_birth', sa.Date))
    return patients, terms, bookings


def _fill_patients():
    """One patient per email (without case) and date of birth, with the latest booking's details (needs both keys)."""
    from kapclinic.core.crypto import blind_index
    from kapclinic.patients.models import identity_digest, name_terms

    patients, terms, bookings = _tables()
    connection = op.get_bind()
    rows = connection.execute(sa.select(bookings).order_by(bookings.c.id)).all()
    people = {}
    for row in rows:
        people.setdefault((row.patient_email.lower(), row.patient_date_of_birth), []).append(row)
    for (email, born), booked in people.items():
        latest = booked[-1]
        patient_id = connection.execute(patients.insert().values(
            public_id=str(uuid.uuid4()), name=latest.patient_name, email=latest.patient_email,
            phone=latest.patient_phone, date_of_birth=born,
            email_index=blind_index('email', email), phone_index=blind_index('phone', latest.patient_phone),
            identity_index=identity_digest(email, born),
            created_dt=booked[0].created_dt, updated_dt=latest.created_dt,
        ).returning(patients.c.id)).scalar_one()
        digests = sorted({blind_index('name', term) for term in name_terms(latest.patient_name)})
        if digests:
            connection.execute(terms.insert(), [{'patient_id': patient_id, 'digest': digest} for digest in digests])
        connection.execute(bookings.update().where(bookings.c.id.in_([row.id for row in booked])).values(patient_id=patient_id))


def _stop_on_overlaps():
    clashes = op.get_bind().execute(sa.text(
        "SELECT a.public_id, b.public_id FROM bookings a JOIN bookings b ON a.patient_id = b.patient_id AND a.id < b.id "
        "WHERE a.status <> 'cancelled' AND b.status <> 'cancelled' AND a.start_dt < b.end_dt AND b.start_dt < a.end_dt"
    )).all()
    if clashes:
        pairs = '; '.join(f'{first} and {second}' for first, second in clashes)
        raise RuntimeError(
            f'One patient holds overlapping active bookings ({pairs}). Cancel one of each pair, then upgrade again.'
        )


def downgrade():
    op.add_column('bookings', sa.Column('patient_name', sa.String(length=120), nullable=True))
    op.add_column('bookings', sa.Column('patient_email', sa.String(length=254), nullable=True))
    op.add_column('bookings', sa.Column('patient_phone', sa.String(length=32), nullable=True))
    op.add_column('bookings', sa.Column('patient_date_of_birth', sa.Date(), nullable=True))
    patients, _terms, bookings = _tables()
    connection = op.get_bind()
    for patient in connection.execute(sa.select(patients)).all():
        connection.execute(bookings.update().where(bookings.c.patient_id == patient.id).values(
            patient_name=patient.name, patient_email=patient.email,
            patient_phone=patient.phone, patient_date_of_birth=patient.date_of_birth,
        ))
    if _on_postgresql():
        for name in CONTACT_COLUMNS:
            op.alter_column('bookings', name, nullable=False)
        op.execute('ALTER TABLE bookings DROP CONSTRAINT ex_bookings_patient_no_overlap')
        op.create_index('ix_bookings_patient_email_start', 'bookings', [sa.text('lower(patient_email)'), 'start_dt'])
    op.create_index('ix_bookings_patient_phone_start', 'bookings', ['patient_phone', 'start_dt'])
    op.drop_index('ix_bookings_patient_start', table_name='bookings')
    if _on_postgresql():
        op.drop_constraint('fk_bookings_patient_id_patients', 'bookings', type_='foreignkey')
    op.drop_column('bookings', 'patient_id')
    op.drop_table('patient_name_terms')
    op.drop_table('patients')
