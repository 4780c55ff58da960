"""Clinic-wide settings that administrators change from the web."""

from sqlalchemy import CheckConstraint
from sqlalchemy.orm import Mapped, deferred, mapped_column

from kapclinic.core.db import UTCDateTime
from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db


class ClinicSettings(db.Model):
    """One row: what the clinic calls itself and how it runs. Config values apply until it exists."""

    __tablename__ = "clinic_settings"
    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        CheckConstraint("cancellation_window_hours BETWEEN 0 AND 168", name="window_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    name: Mapped[str] = mapped_column(db.String(120))
    address: Mapped[str] = mapped_column(db.String(255), default="")
    phone: Mapped[str] = mapped_column(db.String(32))
    crisis_line: Mapped[str] = mapped_column(db.String(32))
    emergency_number: Mapped[str] = mapped_column(db.String(16))
    timezone: Mapped[str] = mapped_column(db.String(64))
    cancellation_window_hours: Mapped[int]
    # The brand on every patient page: an accent colour (#rrggbb, "" for the default) and a logo
    # image, loaded only when the logo itself is asked for.
    accent_colour: Mapped[str] = mapped_column(db.String(7), default="", server_default="")
    logo = deferred(mapped_column(db.LargeBinary, nullable=True))
    logo_type: Mapped[str | None] = mapped_column(db.String(32), nullable=True)
    updated_dt = mapped_column(UTCDateTime, nullable=False, default=now_utc)
