"""The outbox: every email is a row first, so a failing mail server never costs a booking."""

import enum

from sqlalchemy import Index
from sqlalchemy.orm import Mapped, mapped_column

from kapclinic.core.crypto import EncryptedJSON, EncryptedText
from kapclinic.core.db import UTCDateTime, string_enum
from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class OutboxMessage(db.Model):
    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_due", "status", "next_attempt_dt"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(db.String(254))
    subject: Mapped[str] = mapped_column(db.String(255))
    # Bodies name the patient and carry their private links: encrypted like intake answers.
    # None until the sender renders them (see `context`).
    # Loaded only when read (one query for the three), so a body no current key opens
    # fails its own message, never the query that lists or claims a batch.
    body_text: Mapped[str | None] = mapped_column(EncryptedText, nullable=True, deferred=True, deferred_group="body")
    body_html: Mapped[str | None] = mapped_column(EncryptedText, nullable=True, deferred=True, deferred_group="body")
    # The request stores the template's name and its values (`context`: JSON, with the facts of
    # the invite if any); the sender renders the subject, the bodies and `ics` from them when it
    # claims the message (notifications.services._render), so a request renders nothing.
    template: Mapped[str | None] = mapped_column(db.String(64), nullable=True)
    context: Mapped[dict | None] = mapped_column(EncryptedJSON, nullable=True, deferred=True, deferred_group="body")
    # An iCalendar invite travels as a text/calendar alternative and as invite.ics. Messages
    # queued before context existed keep their event here (JSON from ics.builder).
    invite: Mapped[str | None] = mapped_column(EncryptedText, nullable=True, deferred=True, deferred_group="body")
    ics: Mapped[str | None] = mapped_column(EncryptedText, nullable=True, deferred=True, deferred_group="body")
    ics_method: Mapped[str | None] = mapped_column(db.String(16), nullable=True)
    status: Mapped[OutboxStatus] = mapped_column(
        string_enum(OutboxStatus),
        default=OutboxStatus.PENDING,
    )
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(db.String(500), default="")
    created_dt = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    next_attempt_dt = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    sent_dt = mapped_column(UTCDateTime, nullable=True)
    # A message that means nothing after this moment (a reminder, after the consultation) is not sent late.
    expires_dt = mapped_column(UTCDateTime, nullable=True)
