"""A patient: one person across bookings, intakes and courses, contact details encrypted at rest.

Name, email, phone and date of birth are Fernet tokens, like the answers. Staff still find
a patient by exact email, phone or a whole word of the name through blind indexes: keyed
digests (core.crypto.blind_index, under INDEX_KEY) that a copy of the database cannot test
guesses against. Bookings match a patient on email and date of birth (`identity_index`).
"""

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kapclinic.core.crypto import EncryptedDate, EncryptedText, blind_index
from kapclinic.core.db import UTCDateTime
from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db

NAME_TERM_CHARACTERS = 2  # shorter words ("J.", "de") are not indexed: they would find half the clinic


def name_terms(name):
    """The words of a name a search can find, as they are compared (see core.crypto.folded)."""
    words = "".join(char if char.isalnum() else " " for char in name).split()
    return sorted({word for word in words if len(word) >= NAME_TERM_CHARACTERS})


def identity_digest(email, date_of_birth):
    """The digest bookings match a patient on: the email address (without case) and the date of birth."""
    return blind_index("identity", f"{email.lower()}|{date_of_birth.isoformat()}")


class Patient(db.Model):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    # In staff URLs and audit details: says nothing about the person.
    public_id: Mapped[str] = mapped_column(db.String(36), unique=True)
    name: Mapped[str] = mapped_column(EncryptedText)
    email: Mapped[str] = mapped_column(EncryptedText)
    phone: Mapped[str] = mapped_column(EncryptedText)
    date_of_birth = mapped_column(EncryptedDate, nullable=False)
    email_index: Mapped[str] = mapped_column(db.String(32), index=True)
    phone_index: Mapped[str] = mapped_column(db.String(32), index=True)
    identity_index: Mapped[str] = mapped_column(db.String(32), index=True)
    # A record merged into another stays, pointing at it, so old audit rows still name something.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), nullable=True)
    created_dt = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    updated_dt = mapped_column(UTCDateTime, nullable=False, default=now_utc)

    name_terms: Mapped[list["PatientNameTerm"]] = relationship(back_populates="patient", cascade="all, delete-orphan")

    @property
    def is_merged(self):
        return self.merged_into_id is not None

    def set_contact(self, name, email, phone, date_of_birth):
        """Store the details and the digests that find them, together, so they never disagree."""
        self.name, self.email, self.phone, self.date_of_birth = name, email, phone, date_of_birth
        self.email_index = blind_index("email", email.lower())
        self.phone_index = blind_index("phone", phone)
        self.identity_index = identity_digest(email, date_of_birth)
        wanted = {blind_index("name", term) for term in name_terms(name)}
        self.name_terms = [term for term in self.name_terms if term.digest in wanted] + [
            PatientNameTerm(digest=digest) for digest in sorted(wanted - {term.digest for term in self.name_terms})
        ]


class PatientNameTerm(db.Model):
    """One word of a patient's name, as a blind index: "Ana María López" is found by "lopez"."""

    __tablename__ = "patient_name_terms"

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True)
    digest: Mapped[str] = mapped_column(db.String(32), primary_key=True, index=True)

    patient: Mapped[Patient] = relationship(back_populates="name_terms")
