"""Staff users, their sessions and password resets."""

import enum

from flask_login import UserMixin
from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kapclinic.core.db import UTCDateTime, string_enum
from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db


class Role(enum.StrEnum):
    ADMIN = "admin"
    CLINICIAN = "clinician"
    FRONT_DESK = "front_desk"

    @property
    def label(self):
        return {"admin": "Administrator", "clinician": "Clinician", "front_desk": "Front desk"}[self.value]


class StaffUser(db.Model):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(db.String(254), unique=True)
    name: Mapped[str] = mapped_column(db.String(120))
    role: Mapped[Role] = mapped_column(string_enum(Role))
    password_hash: Mapped[str] = mapped_column(db.String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    # A clinician user acts for this clinician profile.
    clinician_id: Mapped[int | None] = mapped_column(ForeignKey("clinicians.id"), unique=True, nullable=True)
    created_dt = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    password_changed_dt = mapped_column(UTCDateTime, nullable=False, default=now_utc)

    clinician = relationship("Clinician")

    def has_role(self, *roles):
        return self.role in roles

    # What a staff member may do, asked by views and templates alike (never re-derived from the role).

    @property
    def is_admin(self):
        return self.role is Role.ADMIN

    def acts_for(self, clinician_id):
        """A clinician user acting for this clinician profile."""
        return self.role is Role.CLINICIAN and self.clinician_id == clinician_id

    def can_read_intake_for(self, clinician_id):
        """An intake record: the front desk and admins any, a clinician those of their own consultations."""
        return self.role in (Role.ADMIN, Role.FRONT_DESK) or self.acts_for(clinician_id)

    @property
    def can_change_bookings(self):
        """Move or cancel any patient's consultation from the intake record (front desk and admins)."""
        return self.role in (Role.ADMIN, Role.FRONT_DESK)

    @property
    def has_workspace(self):
        """Hours, schedule and calendar feeds: admins for every clinician, clinicians for their own."""
        return self.role in (Role.ADMIN, Role.CLINICIAN)

    @property
    def can_read_audit_trail(self):
        return self.is_admin


class StaffSession(db.Model):
    """One login. The browser holds an opaque token; only its hash is stored, so ending a session here ends it."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(db.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    created_dt = mapped_column(UTCDateTime, nullable=False)
    last_seen_dt = mapped_column(UTCDateTime, nullable=False)
    ended_dt = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[StaffUser] = relationship()


class SignedInUser(UserMixin):
    """What Flask-Login holds for a request: the user and the session it came through."""

    def __init__(self, user, session_token):
        self.user = user
        self.session_token = session_token

    def get_id(self):
        # Flask-Login's alternative-token pattern: the cookie names the session, not the user.
        return self.session_token

    def __getattr__(self, name):
        return getattr(self.user, name)


class PasswordReset(db.Model):
    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(db.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    created_dt = mapped_column(UTCDateTime, nullable=False)
    expires_dt = mapped_column(UTCDateTime, nullable=False)
    used_dt = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[StaffUser] = relationship()


class PasswordResetRequest(db.Model):
    """Someone asked for a reset link at /staff/reset; `flask worker` answers it and deletes the row.

    Every request is recorded the same way, staff address or not, so the request's answer
    cannot tell the two apart by the work it does. The address is kept only as an HMAC
    under SECRET_KEY: the worker needs to match it against staff addresses, never to read
    it, so a copy of the table tells nobody who was asked about.
    """

    __tablename__ = "password_reset_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    address_digest: Mapped[str] = mapped_column(db.String(64))
    requested_dt = mapped_column(UTCDateTime, nullable=False)
