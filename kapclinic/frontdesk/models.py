"""Staff notes and contact attempts on an intake: an append-only thread, encrypted at rest."""

import enum

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kapclinic.core.crypto import EncryptedText
from kapclinic.core.db import UTCDateTime, string_enum
from kapclinic.extensions import db


class NoteKind(enum.StrEnum):
    NOTE = "note"
    CALLED = "called"
    LEFT_MESSAGE = "left_message"
    EMAILED = "emailed"

    @property
    def label(self):
        return {"note": "Note", "called": "Called", "left_message": "Left a message", "emailed": "Emailed"}[self.value]

    @property
    def is_contact(self):
        return self is not NoteKind.NOTE


class IntakeNote(db.Model):
    __tablename__ = "intake_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    intake_id: Mapped[int] = mapped_column(ForeignKey("intakes.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    kind: Mapped[NoteKind] = mapped_column(string_enum(NoteKind, length=16))
    body = mapped_column(EncryptedText, nullable=False)
    created_dt = mapped_column(UTCDateTime, nullable=False)

    author = relationship("StaffUser")
    intake = relationship("Intake", backref=db.backref("notes", order_by="IntakeNote.id", lazy="dynamic"))
