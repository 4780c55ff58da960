"""One row per thing a staff member did with patient data, or an admin did to the clinic's set-up.

Rows are never updated or deleted. The migration adds database triggers that refuse
UPDATE and DELETE on this table, and every row carries the hash of the row before it,
keyed with AUDIT_KEY (which the database does not hold), so a change made around the triggers (by someone with the
database owner's rights) breaks the chain that `flask audit verify` checks, and
cannot be re-signed without the key.
"""

import enum

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kapclinic.core.db import UTCDateTime, string_enum
from kapclinic.extensions import db

GENESIS_HASH = "0" * 64


class AuditAction(enum.StrEnum):
    QUEUE_VIEWED = "queue.viewed"
    QUEUE_EXPORTED = "queue.exported"
    DAY_SHEET_VIEWED = "day_sheet.viewed"
    INTAKE_VIEWED = "intake.viewed"
    INTAKE_PRINTED = "intake.printed"
    INTAKE_EXPORTED = "intake.exported"
    STATUS_CHANGED = "intake.status_changed"
    NOTE_ADDED = "intake.note_added"
    CONTACT_LOGGED = "intake.contact_logged"
    URGENT_ACKNOWLEDGED = "intake.urgent_acknowledged"
    CLINICIAN_CHANGED = "booking.clinician_changed"
    RESCHEDULED = "booking.rescheduled"
    CANCELLED = "booking.cancelled"
    BOOKED_FOR_CALLER = "booking.booked_for_caller"
    VIDEO_LINK_SET = "booking.video_link_set"
    TRAIL_READ = "audit.trail_read"
    SCHEDULE_VIEWED = "schedule.viewed"
    SCHEDULE_EXPORTED = "schedule.exported"
    INVITE_EXPORTED = "booking.invite_exported"
    OUTCOME_MARKED = "booking.outcome_marked"
    OUTBOX_VIEWED = "outbox.viewed"
    BURSTS_VIEWED = "bookings.bursts_viewed"
    # An admin's changes to the clinic's set-up, and to staff accounts and clinician profiles
    # (subject_user names the account).
    TYPE_SAVED = "admin.type_saved"
    COURSE_TEMPLATE_SAVED = "admin.course_template_saved"
    SETTINGS_SAVED = "admin.settings_saved"
    OUTBOX_RETRIED = "outbox.retried"
    STAFF_INVITED = "staff.invited"
    STAFF_UPDATED = "staff.updated"
    STAFF_DEACTIVATED = "staff.deactivated"
    STAFF_ACTIVATED = "staff.activated"
    UPCOMING_VIEWED = "staff.upcoming_viewed"
    # Patient records (the detail names them by public id only).
    PATIENTS_SEARCHED = "patients.searched"
    PATIENT_VIEWED = "patient.viewed"
    PATIENT_UPDATED = "patient.updated"
    PATIENT_MERGED = "patient.merged"
    PATIENT_SPLIT = "patient.split"
    # Treatment courses.
    GATE_RECORDED = "course.gate_recorded"
    COURSE_OPENED = "course.opened"
    COURSE_CANCELLED = "course.cancelled"
    COURSE_RULE_OVERRIDDEN = "course.rule_overridden"

    @property
    def label(self):
        return self.value.replace(".", " ").replace("_", " ").capitalize()


class AuditEvent(db.Model):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_dt = mapped_column(UTCDateTime, nullable=False, index=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    action: Mapped[AuditAction] = mapped_column(string_enum(AuditAction, length=40))
    # What was touched. Plain references with no cascade: a trail outlives nothing it names.
    intake_id: Mapped[int | None] = mapped_column(ForeignKey("intakes.id"), index=True, nullable=True)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"), index=True, nullable=True)
    subject_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), nullable=True)
    # A short description with no patient data: "status: in review -> ready".
    detail: Mapped[str] = mapped_column(db.String(255), default="")
    remote_addr: Mapped[str] = mapped_column(db.String(45), default="")
    prev_hash: Mapped[str] = mapped_column(db.String(64))
    row_hash: Mapped[str] = mapped_column(db.String(64), unique=True)

    actor = relationship("StaffUser", foreign_keys=[actor_id])
