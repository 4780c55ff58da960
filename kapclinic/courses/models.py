"""Treatment courses: versioned templates, the courses opened from them, and the gates before dosing.

A course's sessions are bookings (scheduling.models.Booking with `course_id` and
`course_step`), so the clinician's and the patient's no-overlap guarantees, invites,
feeds and reminders hold for them as for a consultation.
"""

import enum

from sqlalchemy import CheckConstraint, ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kapclinic.core.crypto import EncryptedText
from kapclinic.core.db import UTCDateTime, string_enum
from kapclinic.core.timezones import now_utc
from kapclinic.courses.plan import DOSING, INTEGRATION, PREPARATION, CourseShape, expand
from kapclinic.extensions import db
from kapclinic.scheduling.models import Booking, BookingStatus, Clinician, ConsultationType

KINDS = (PREPARATION, DOSING, INTEGRATION)


class CourseTemplate(db.Model):
    """What an admin names and edits; each save is a new version, so an opened course never changes."""

    __tablename__ = "course_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(db.String(64), unique=True)
    name: Mapped[str] = mapped_column(db.String(120))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_dt = mapped_column(UTCDateTime, nullable=False, default=now_utc)

    versions: Mapped[list["CourseTemplateVersion"]] = relationship(
        back_populates="template", order_by="CourseTemplateVersion.number", cascade="all, delete-orphan"
    )

    @property
    def current(self):
        return self.versions[-1] if self.versions else None


class CourseTemplateVersion(db.Model):
    """One saved shape of a template: counts, spacing and each kind's session type."""

    __tablename__ = "course_template_versions"
    __table_args__ = (
        UniqueConstraint("template_id", "number", name="uq_course_template_versions_number"),
        CheckConstraint(
            "preparation_count >= 0 AND cycles >= 0 AND preparation_count + cycles > 0", name="has_sessions"
        ),
        CheckConstraint(
            "integration_min_days >= 0 AND integration_max_days >= integration_min_days", name="integration_window"
        ),
        CheckConstraint(
            "min_days_between_dosing >= 0 AND min_days_after_preparation >= 0", name="spacing_not_negative"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("course_templates.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]
    preparation_count: Mapped[int]
    cycles: Mapped[int]
    integration_min_days: Mapped[int]
    integration_max_days: Mapped[int]
    min_days_between_dosing: Mapped[int]
    min_days_after_preparation: Mapped[int]
    preparation_type_id: Mapped[int | None] = mapped_column(ForeignKey("consultation_types.id"), nullable=True)
    dosing_type_id: Mapped[int | None] = mapped_column(ForeignKey("consultation_types.id"), nullable=True)
    integration_type_id: Mapped[int | None] = mapped_column(ForeignKey("consultation_types.id"), nullable=True)
    created_dt = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), nullable=True)

    template: Mapped[CourseTemplate] = relationship(back_populates="versions")
    preparation_type: Mapped[ConsultationType | None] = relationship(foreign_keys=[preparation_type_id])
    dosing_type: Mapped[ConsultationType | None] = relationship(foreign_keys=[dosing_type_id])
    integration_type: Mapped[ConsultationType | None] = relationship(foreign_keys=[integration_type_id])

    @property
    def shape(self):
        return CourseShape(
            preparation_count=self.preparation_count,
            cycles=self.cycles,
            integration_min_days=self.integration_min_days,
            integration_max_days=self.integration_max_days,
            min_days_between_dosing=self.min_days_between_dosing,
            min_days_after_preparation=self.min_days_after_preparation,
        )

    @property
    def types_by_kind(self):
        kinds = {PREPARATION: self.preparation_type, DOSING: self.dosing_type, INTEGRATION: self.integration_type}
        return {kind: kind_type for kind, kind_type in kinds.items() if kind_type is not None}

    def steps(self, rules_for):
        """The planner's steps, with `rules_for(session type)` for each (duration, buffers, grid, reach)."""
        return expand(self.shape, {kind: rules_for(kind_type) for kind, kind_type in self.types_by_kind.items()})

    def session_types(self):
        """The session type of each step, in order (the order expand() gives)."""
        types = self.types_by_kind
        kinds = [PREPARATION] * self.preparation_count + [DOSING, INTEGRATION] * self.cycles
        return [types[kind] for kind in kinds]

    @property
    def session_count(self):
        return self.preparation_count + 2 * self.cycles


class CourseStatus(enum.StrEnum):
    OPEN = "open"
    CANCELLED = "cancelled"

    @property
    def label(self):
        return {"open": "Open", "cancelled": "Cancelled"}[self.value]


class Course(db.Model):
    """A patient's course with one clinician, from one template version; its sessions are bookings."""

    __tablename__ = "courses"
    __table_args__ = (UniqueConstraint("idempotency_key", name="uq_courses_idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(db.String(36), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    clinician_id: Mapped[int] = mapped_column(ForeignKey("clinicians.id"), index=True)
    template_version_id: Mapped[int] = mapped_column(ForeignKey("course_template_versions.id"))
    status: Mapped[CourseStatus] = mapped_column(string_enum(CourseStatus), default=CourseStatus.OPEN)
    opened_by_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    opened_dt = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    cancelled_dt = mapped_column(UTCDateTime, nullable=True)
    # A repeated commit (double click, retry) with this key returns this course, never a second.
    idempotency_key: Mapped[str | None] = mapped_column(db.String(64), nullable=True)
    # The patient's zone when the course was opened: invites and pages show its times there.
    patient_timezone: Mapped[str] = mapped_column(db.String(64))

    clinician: Mapped[Clinician] = relationship()
    template_version: Mapped[CourseTemplateVersion] = relationship()
    sessions: Mapped[list[Booking]] = relationship(
        primaryjoin="Course.id == foreign(Booking.course_id)", order_by="Booking.course_step", viewonly=True
    )

    @property
    def is_open(self):
        return self.status is CourseStatus.OPEN

    def upcoming_sessions(self, now):
        return [
            session for session in self.sessions if session.status is BookingStatus.CONFIRMED and session.start_dt > now
        ]


class GateKind(enum.StrEnum):
    MEDICAL_CLEARANCE = "medical_clearance"
    TREATMENT_CONSENT = "treatment_consent"
    GUARDIAN_CONSENT = "guardian_consent"

    @property
    def label(self):
        return {
            "medical_clearance": "Medical clearance from the prescriber",
            "treatment_consent": "Treatment consent signed by the patient",
            "guardian_consent": "Treatment consent signed by a parent or guardian",
        }[self.value]


class GateOutcome(enum.StrEnum):
    RECEIVED = "received"
    WAIVED = "waived"
    SIGNED = "signed"

    @property
    def label(self):
        return {"received": "Received", "waived": "Waived", "signed": "Signed"}[self.value]


class TreatmentGate(db.Model):
    """One gate before dosing, as recorded by a member of staff: what, which outcome, who and when.

    Consent gates name the consent version signed; only the clinic's current version opens the gate.
    """

    __tablename__ = "treatment_gates"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    kind: Mapped[GateKind] = mapped_column(string_enum(GateKind, length=24))
    outcome: Mapped[GateOutcome] = mapped_column(string_enum(GateOutcome))
    consent_version: Mapped[str | None] = mapped_column(db.String(32), nullable=True)
    # Free text that may be clinical (why clearance was waived): encrypted.
    note: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    recorded_dt = mapped_column(UTCDateTime, nullable=False, default=now_utc)

    recorded_by = relationship("StaffUser")
