"""Treatment courses: session types' rules, versioned course templates, courses and their gates

Consultation types learn three things for course sessions: whether they are offered only
inside a course (not on the public booking page), whether patients may move them
themselves, and their own change window (NULL: the clinic's). Bookings learn which course
and step they are. Plain ADD COLUMNs (nullable or with a server default) and new tables.

Revision ID: 0025courses
Revises: 0024patients
Create Date: 2026-12-06 18:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0025courses'
down_revision = '0024patients'
branch_labels = None
depends_on = None


def _on_postgresql():
    return op.get_bind().dialect.name == 'postgresql'


def upgrade():
    op.add_column('consultation_types', sa.Column('course_only', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('consultation_types', sa.Column('patient_bookable', sa.Boolean(), server_default=sa.true(), nullable=False))
    op.add_column('consultation_types', sa.Column('change_window_hours', sa.Integer(), nullable=True))

    op.create_table('course_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_course_templates')),
    sa.UniqueConstraint('slug', name=op.f('uq_course_templates_slug'))
    )
    op.create_table('course_template_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('preparation_count', sa.Integer(), nullable=False),
    sa.Column('cycles', sa.Integer(), nullable=False),
    sa.Column('integration_min_days', sa.Integer(), nullable=False),
    sa.Column('integration_max_days', sa.Integer(), nullable=False),
    sa.Column('min_days_between_dosing', sa.Integer(), nullable=False),
    sa.Column('min_days_after_preparation', sa.Integer(), nullable=False),
    sa.Column('preparation_type_id', sa.Integer(), nullable=True),
    sa.Column('dosing_type_id', sa.Integer(), nullable=True),
    sa.Column('integration_type_id', sa.Integer(), nullable=True),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('preparation_count >= 0 AND cycles >= 0 AND preparation_count + cycles > 0', name=op.f('ck_course_template_versions_has_sessions')),
    sa.CheckConstraint('integration_min_days >= 0 AND integration_max_days >= integration_min_days', name=op.f('ck_course_template_versions_integration_window')),
    sa.CheckConstraint('min_days_between_dosing >= 0 AND min_days_after_preparation >= 0', name=op.f('ck_course_template_versions_spacing_not_negative')),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff_users.id'], name=op.f('fk_course_template_versions_created_by_id_staff_users')),
    sa.ForeignKeyConstraint(['dosing_type_id'], ['consultation_types.id'], name=op.f('fk_course_template_versions_dosing_type_id_consultation_types')),
    sa.ForeignKeyConstraint(['integration_type_id'], ['consultation_types.id'], name=op.f('fk_course_template_versions_integration_type_id_consultation_types')),
    sa.ForeignKeyConstraint(['preparation_type_id'], ['consultation_types.id'], name=op.f('fk_course_template_versions_preparation_type_id_consultation_types')),
    sa.ForeignKeyConstraint(['template_id'], ['course_templates.id'], name=op.f('fk_course_template_versions_template_id_course_templates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_course_template_versions')),
    sa.UniqueConstraint('template_id', 'number', name='uq_course_template_versions_number')
    )
    op.create_index(op.f('ix_course_template_versions_template_id'), 'course_template_versions', ['template_id'], unique=False)
    op.create_table('courses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=36), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('clinician_id', sa.Integer(), nullable=False),
    sa.Column('template_version_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('open', 'cancelled', name='coursestatus', native_enum=False, length=16), nullable=False),
    sa.Column('opened_by_id', sa.Integer(), nullable=False),
    sa.Column('opened_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cancelled_dt', sa.DateTime(timezone=True), nullable=True),
    sa.Column('idempotency_key', sa.String(length=64), nullable=True),
    sa.Column('patient_timezone', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['clinician_id'], ['clinicians.id'], name=op.f('fk_courses_clinician_id_clinicians')),
    sa.ForeignKeyConstraint(['opened_by_id'], ['staff_users.id'], name=op.f('fk_courses_opened_by_id_staff_users')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_courses_patient_id_patients')),
    sa.ForeignKeyConstraint(['template_version_id'], ['course_template_versions.id'], name=op.f('fk_courses_template_version_id_course_template_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_courses')),
    sa.UniqueConstraint('idempotency_key', name='uq_courses_idempotency_key'),
    sa.UniqueConstraint('public_id', name=op.f('uq_courses_public_id'))
    )
    op.create_index(op.f('ix_courses_clinician_id'), 'courses', ['clinician_id'], unique=False)
    op.create_index(op.f('ix_courses_patient_id'), 'courses', ['patient_id'], unique=False)
    op.create_table('treatment_gates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('medical_clearance', 'treatment_consent', 'guardian_consent', name='gatekind', native_enum=False, length=24), nullable=False),
    sa.Column('outcome', sa.Enum('received', 'waived', 'signed', name='gateoutcome', native_enum=False, length=16), nullable=False),
    sa.Column('consent_version', sa.String(length=32), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=False),
    sa.Column('recorded_dt', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_treatment_gates_patient_id_patients')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['staff_users.id'], name=op.f('fk_treatment_gates_recorded_by_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_treatment_gates'))
    )
    op.create_index(op.f('ix_treatment_gates_patient_id'), 'treatment_gates', ['patient_id'], unique=False)

    if _on_postgresql():
        op.add_column('bookings', sa.Column('course_id', sa.Integer(), nullable=True))
        op.create_foreign_key(op.f('fk_bookings_course_id_courses'), 'bookings', 'courses', ['course_id'], ['id'])
    else:
        # Alembic has no ADD COLUMN ... REFERENCES for SQLite; SQLite itself has.
        op.execute('ALTER TABLE bookings ADD COLUMN course_id INTEGER REFERENCES courses (id)')
    op.add_column('bookings', sa.Column('course_step', sa.Integer(), nullable=True))
    op.create_index(op.f('ix_bookings_course_id'), 'bookings', ['course_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_bookings_course_id'), table_name='bookings')
    op.drop_column('bookings', 'course_step')
    if _on_postgresql():
        op.drop_constraint(op.f('fk_bookings_course_id_courses'), 'bookings', type_='foreignkey')
    op.drop_column('bookings', 'course_id')
    op.drop_table('treatment_gates')
    op.drop_table('courses')
    op.drop_table('course_template_versions')
    op.drop_table('course_templates')
    for name in ('change_window_hours', 'patient_bookable', 'course_only'):
        op.drop_column('consultation_types', name)
