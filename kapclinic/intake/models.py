"""An intake: one per booking, answered step by step, encrypted at rest."""

import enum

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kapclinic.core.crypto import EncryptedJSON
from kapclinic.core.db import UTCDateTime, string_enum
from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db


class IntakeStatus(enum.StrEnum):
    DRAFT = "draft"
    AWAITING_GUARDIAN = "awaiting_guardian"
    SUBMITTED = "submitted"


class ResponseStatus(enum.StrEnum):
    """FHIR QuestionnaireResponse.status."""

    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    AMENDED = "amended"


ENCRYPTED_FIELDS = ("answers", "results", "guardian_consent")


class Intake(db.Model):
    __tablename__ = "intakes"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(db.String(36), unique=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"), unique=True)
    token_hash: Mapped[str] = mapped_column(db.String(64), unique=True)
    guardian_token_hash: Mapped[str | None] = mapped_column(db.String(64), unique=True, nullable=True)

    status: Mapped[IntakeStatus] = mapped_column(string_enum(IntakeStatus, length=24), default=IntakeStatus.DRAFT)
    response_status: Mapped[ResponseStatus] = mapped_column(string_enum(ResponseStatus, length=24), default=ResponseStatus.IN_PROGRESS)
    questionnaire_version: Mapped[str] = mapped_column(db.String(32))
    consent_version: Mapped[str | None] = mapped_column(db.String(32), nullable=True)

    # {step key: {linkId: value}}, and what was computed from it; both encrypted.
    answers = mapped_column(EncryptedJSON, nullable=False, default=dict)
    results = mapped_column(EncryptedJSON, nullable=False, default=dict)
    guardian_consent = mapped_column(EncryptedJSON, nullable=True)
    # Kept in clear so the front desk queue can sort on it without decrypting.
    is_urgent: Mapped[bool] = mapped_column(default=False, index=True)

    created_dt = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    updated_dt = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    signed_dt = mapped_column(UTCDateTime, nullable=True)
    guardian_signed_dt = mapped_column(UTCDateTime, nullable=True)
    submitted_dt = mapped_column(UTCDateTime, nullable=True)
    urgent_alert_dt = mapped_column(UTCDateTime, nullable=True)

    booking = relationship("Booking", backref=db.backref("intake", uselist=False))

    @property
    def is_editable(self):
        return self.status is IntakeStatus.DRAFT
