"""Which reminders were decided (sent, or not needed): the unique row makes each go out at most once."""

from sqlalchemy import ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kapclinic.core.db import UTCDateTime
from kapclinic.extensions import db


class ReminderSent(db.Model):
    __tablename__ = "reminders_sent"
    # One reminder of a kind per consultation time: a rescheduled consultation is reminded again.
    __table_args__ = (
        UniqueConstraint("booking_id", "kind", "start_dt", name="uq_reminders_sent_once_per_kind_and_time"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(db.String(32))
    start_dt = mapped_column(UTCDateTime, nullable=False)
    queued_dt = mapped_column(UTCDateTime, nullable=False)
