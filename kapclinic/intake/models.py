"""An intake: one per booking, answered step by step, encrypted at rest."""

import enum

from sqlalchemy import ForeignKey, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kapclinic.core.crypto import EncryptedJSON, EncryptedText
from kapclinic.core.db import UTCDateTime, string_enum
from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db


class IntakeStatus(enum.StrEnum):
    DRAFT = "draft"
    AWAITING_GUARDIAN = "awaiting_guardian"
    SUBMITTED = "submitted"

    @property
    def label(self):
        return {"draft": "Not finished", "awaiting_guardian": "Waiting for guardian", "submitted": "Submitted"}[
            self.value
        ]


class ReviewStatus(enum.StrEnum):
    """Where the front desk is with a submitted intake."""

    AWAITING_REVIEW = "awaiting_review"
    IN_REVIEW = "in_review"
    READY = "ready"
    NEEDS_FOLLOW_UP = "needs_follow_up"
    NOT_A_FIT = "not_a_fit"

    @property
    def label(self):
        return {
            "awaiting_review": "Submitted, awaiting review",
            "in_review": "In review",
            "ready": "Ready for consultation",
            "needs_follow_up": "Needs follow-up",
            "not_a_fit": "Not a fit now",
        }[self.value]

    @property
    def is_closed(self):
        """The front desk has finished with it: an urgent flag on it is no longer open."""
        return self in (ReviewStatus.READY, ReviewStatus.NOT_A_FIT)


class ResponseStatus(enum.StrEnum):
    """FHIR QuestionnaireResponse.status."""

    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    AMENDED = "amended"


ENCRYPTED_FIELDS = ("answers", "results", "guardian_consent", "review_reason")


class Intake(db.Model):
    __tablename__ = "intakes"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(db.String(36), unique=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"), unique=True)
    token_hash: Mapped[str] = mapped_column(db.String(64), unique=True)
    # The link before the newest one (a reminder sends a new link): it keeps working, so a
    # patient part-way through the form when the reminder arrives loses nothing.
    previous_token_hash: Mapped[str | None] = mapped_column(db.String(64), unique=True, nullable=True)
    guardian_token_hash: Mapped[str | None] = mapped_column(db.String(64), unique=True, nullable=True)

    status: Mapped[IntakeStatus] = mapped_column(string_enum(IntakeStatus, length=24), default=IntakeStatus.DRAFT)
    response_status: Mapped[ResponseStatus] = mapped_column(
        string_enum(ResponseStatus, length=24), default=ResponseStatus.IN_PROGRESS
    )
    questionnaire_version: Mapped[str] = mapped_column(db.String(32))
    consent_version: Mapped[str | None] = mapped_column(db.String(32), nullable=True)

    # {step key: {linkId: value}}, and what was computed from it; both encrypted.
    answers = mapped_column(EncryptedJSON, nullable=False, default=dict)
    results = mapped_column(EncryptedJSON, nullable=False, default=dict)
    guardian_consent = mapped_column(EncryptedJSON, nullable=True)
    # {step key: {linkId: what was typed}} for pages saved to finish later, not yet valid.
    draft_answers = mapped_column(EncryptedJSON, nullable=True)
    # The flags themselves (codes, reasons, the answers that raised them) live only in the
    # encrypted `results`. In clear are just the markers the front desk queue sorts and
    # filters on in SQL, none of which says which answer or condition: an urgent safety
    # answer (sorts first), a flag for a clinician's review, a flag for information, and
    # an adolescent (under the adult age at the consultation).
    is_urgent: Mapped[bool] = mapped_column(default=False, index=True)
    needs_review: Mapped[bool] = mapped_column(default=False, server_default=false())
    has_info_flags: Mapped[bool] = mapped_column(default=False, server_default=false())
    is_adolescent: Mapped[bool] = mapped_column(default=False, server_default=false())

    review_status: Mapped[ReviewStatus] = mapped_column(
        string_enum(ReviewStatus, length=24), default=ReviewStatus.AWAITING_REVIEW, server_default="awaiting_review"
    )
    review_reason = mapped_column(EncryptedText, nullable=True)
    review_changed_dt = mapped_column(UTCDateTime, nullable=True)
    review_changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), nullable=True)
    # Someone on staff has acted on the urgent answer (a new urgent answer opens it again).
    urgent_acknowledged_dt = mapped_column(UTCDateTime, nullable=True)
    urgent_acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), nullable=True)

    created_dt = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    updated_dt = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    signed_dt = mapped_column(UTCDateTime, nullable=True)
    guardian_signed_dt = mapped_column(UTCDateTime, nullable=True)
    submitted_dt = mapped_column(UTCDateTime, nullable=True)
    urgent_alert_dt = mapped_column(UTCDateTime, nullable=True)

    booking = relationship("Booking", backref=db.backref("intake", uselist=False))
    review_changed_by = relationship("StaffUser", foreign_keys=[review_changed_by_id])
    urgent_acknowledged_by = relationship("StaffUser", foreign_keys=[urgent_acknowledged_by_id])

    @property
    def is_editable(self):
        return self.status is IntakeStatus.DRAFT

    @property
    def is_submitted(self):
        return self.status is IntakeStatus.SUBMITTED

    @property
    def awaits_guardian(self):
        """Waiting for a guardian's signature that can still matter: not once the consultation is cancelled."""
        return self.status is IntakeStatus.AWAITING_GUARDIAN and self.booking.is_active

    @property
    def guardian_may_sign(self):
        """A guardian may sign only while the consultation stands: a cancelled one has nothing to sign."""
        return self.booking.is_active

    @property
    def has_open_urgent_flag(self):
        return self.is_urgent and self.urgent_acknowledged_dt is None

    @property
    def status_label(self):
        """Where the intake stands, in words: the patient's progress until submission, then the review's."""
        return self.review_status.label if self.is_submitted else self.status.label


class GuardianEmailRequest(db.Model):
    """A consent email a patient's action sent to a guardian (not a reminder): counted against the daily limits."""

    __tablename__ = "guardian_email_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    intake_id: Mapped[int] = mapped_column(ForeignKey("intakes.id", ondelete="CASCADE"), index=True)
    # HMAC of the mailbox with SECRET_KEY: counts per address without keeping one readable.
    mailbox_digest: Mapped[str] = mapped_column(db.String(64), index=True)
    is_resend: Mapped[bool] = mapped_column()
    requested_dt = mapped_column(UTCDateTime, nullable=False)

    intake = relationship("Intake")
