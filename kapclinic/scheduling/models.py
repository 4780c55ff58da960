"""Scheduling state: clinicians, consultation types, availability, bookings."""

import enum
from datetime import date, time, timedelta

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Table,
    UniqueConstraint,
    and_,
    false,
    not_,
    text,
    true,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from kapclinic.core.crypto import EncryptedText
from kapclinic.core.db import UTCDateTime, string_enum
from kapclinic.core.timezones import format_moment, get_zone, now_utc
from kapclinic.extensions import db
from kapclinic.patients.models import Patient
from kapclinic.scheduling.slots import SlotRules


class Modality(enum.StrEnum):
    VIDEO = "video"
    PHONE = "phone"
    IN_PERSON = "in_person"

    @property
    def label(self):
        return {"video": "Video call", "phone": "Phone call", "in_person": "In person"}[self.value]


# "Wrong address?" on the confirmation page: for this long after booking, at most this many times.
EMAIL_CORRECTION_WINDOW = timedelta(hours=1)
EMAIL_CORRECTIONS_MAX = 2


class BookingStatus(enum.StrEnum):
    # Held for the patient until they confirm from the emailed link (BOOKING_CONFIRMATION_MINUTES).
    PENDING = "pending"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    NO_SHOW = "no_show"


consultation_type_clinicians = Table(
    "consultation_type_clinicians",
    db.metadata,
    Column("consultation_type_id", ForeignKey("consultation_types.id", ondelete="CASCADE"), primary_key=True),
    Column("clinician_id", ForeignKey("clinicians.id", ondelete="CASCADE"), primary_key=True),
)


class Clinician(db.Model):
    __tablename__ = "clinicians"
    __table_args__ = (
        CheckConstraint("max_per_day IS NULL OR max_per_day > 0", name="positive_daily_limit"),
        CheckConstraint("min_gap_minutes >= 0", name="gap_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(db.String(120))
    credentials: Mapped[str] = mapped_column(db.String(120), default="")
    bio: Mapped[str] = mapped_column(db.Text, default="")
    email: Mapped[str] = mapped_column(db.String(254), unique=True)
    timezone: Mapped[str] = mapped_column(db.String(64))
    is_active: Mapped[bool] = mapped_column(default=True)
    # Limits the clinician sets: consultations starting per local day (None: no limit),
    # and minutes kept free between one consultation and the next.
    max_per_day: Mapped[int | None] = mapped_column(nullable=True)
    min_gap_minutes: Mapped[int] = mapped_column(default=0, server_default="0")
    # The private calendar feed's token is shown once when made; only its hash is kept.
    feed_token_hash: Mapped[str | None] = mapped_column(db.String(64), unique=True, nullable=True)
    # A photo for patients' cards, loaded only when the image itself is asked for; photo_version
    # moves on with each new one, so its address (?v=) changes and browsers may keep each a day.
    photo = deferred(mapped_column(db.LargeBinary, nullable=True))
    photo_type: Mapped[str | None] = mapped_column(db.String(32), nullable=True)
    photo_version: Mapped[int] = mapped_column(default=0, server_default="0")

    availability_rules: Mapped[list["AvailabilityRule"]] = relationship(
        back_populates="clinician", cascade="all, delete-orphan", order_by="AvailabilityRule.weekday"
    )
    date_overrides: Mapped[list["DateOverride"]] = relationship(
        back_populates="clinician", cascade="all, delete-orphan"
    )
    time_off: Mapped[list["TimeOff"]] = relationship(back_populates="clinician", cascade="all, delete-orphan")
    # The staff account that acts for this profile, if any (accounts.models.StaffUser.clinician).
    # Joined: whether a clinician is bookable needs it, and every list of clinicians asks.
    staff_user = relationship("StaffUser", uselist=False, viewonly=True, lazy="joined")
    consultation_types: Mapped[list["ConsultationType"]] = relationship(
        secondary=consultation_type_clinicians, back_populates="clinicians"
    )

    @property
    def zone(self):
        return get_zone(self.timezone)

    @property
    def display_name(self):
        return f"{self.name}, {self.credentials}" if self.credentials else self.name

    @property
    def has_photo(self):
        return self.photo_type is not None

    @property
    def initials(self):
        """For the avatar on the clinician's card: first and last name's letters, titles such as "Dr." left out."""
        words = [word for word in self.name.split() if not word.endswith(".")] or self.name.split()
        return "".join(word[0] for word in [*words[:1], *words[1:][-1:]]).upper()

    def can_be_managed_by(self, user):
        """Hours, time off and feeds: by admins, and by the clinician user acting for this profile."""
        return user.is_admin or user.acts_for(self.id)

    @hybrid_property
    def is_bookable(self):
        """Patients may book them: the profile is active and so is the staff account acting for it, if any.

        Deactivating a clinician's account (admin or `flask users deactivate`) ends their
        bookability too; their existing bookings stay for the front desk to move. One rule,
        in Python for a loaded clinician and in SQL for a query.
        """
        return self.is_active and (self.staff_user is None or self.staff_user.is_active)

    @is_bookable.inplace.expression
    @classmethod
    def _is_bookable_in_sql(cls):
        return and_(cls.is_active, not_(cls.staff_user.has(is_active=False)))


class ConsultationType(db.Model):
    __tablename__ = "consultation_types"
    __table_args__ = (
        CheckConstraint("duration_minutes > 0", name="positive_duration"),
        CheckConstraint("buffer_before_minutes >= 0 AND buffer_after_minutes >= 0", name="buffers_not_negative"),
        CheckConstraint("min_notice_minutes >= 0", name="notice_not_negative"),
        CheckConstraint("horizon_days > 0", name="positive_horizon"),
        CheckConstraint("slot_step_minutes > 0", name="positive_step"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(db.String(64), unique=True)
    name: Mapped[str] = mapped_column(db.String(120))
    description: Mapped[str] = mapped_column(db.Text, default="")
    # Shown on the booking pages when set (in CLINIC_CURRENCY); booking takes no payment.
    fee_cents: Mapped[int | None] = mapped_column(nullable=True)
    duration_minutes: Mapped[int]
    buffer_before_minutes: Mapped[int] = mapped_column(default=0)
    buffer_after_minutes: Mapped[int] = mapped_column(default=0)
    min_notice_minutes: Mapped[int] = mapped_column(default=24 * 60)
    horizon_days: Mapped[int] = mapped_column(default=60)
    # Starts are offered on this grid of the clinician's local clock.
    slot_step_minutes: Mapped[int] = mapped_column(default=15)
    modality: Mapped[Modality] = mapped_column(string_enum(Modality))
    location: Mapped[str] = mapped_column(db.String(255), default="")
    # For video: the address of a video server where any path is a room (Jitsi's way). Each
    # booking gets a room of its own under it (Booking.video_room), so patients never share one.
    video_link: Mapped[str] = mapped_column(db.String(255), default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    # For the sessions of a treatment course (courses.models): offered only inside a course, never on
    # the public booking page; whether patients may move it themselves from their link (a dosing
    # session is moved by staff); and its own change window in hours (None: the clinic's).
    course_only: Mapped[bool] = mapped_column(default=False, server_default=false())
    patient_bookable: Mapped[bool] = mapped_column(default=True, server_default=true())
    change_window_hours: Mapped[int | None] = mapped_column(nullable=True)

    clinicians: Mapped[list[Clinician]] = relationship(
        secondary=consultation_type_clinicians, back_populates="consultation_types", order_by="Clinician.id"
    )

    @property
    def slot_rules(self):
        return SlotRules(
            duration=timedelta(minutes=self.duration_minutes),
            buffer_before=timedelta(minutes=self.buffer_before_minutes),
            buffer_after=timedelta(minutes=self.buffer_after_minutes),
            min_notice=timedelta(minutes=self.min_notice_minutes),
            horizon=timedelta(days=self.horizon_days),
            grid_minutes=self.slot_step_minutes,
        )

    @property
    def active_clinicians(self):
        return [clinician for clinician in self.clinicians if clinician.is_bookable]

    @property
    def where(self):
        """Where the patient goes: an address, a video link, or a phone call.

        A booking says its own room instead (Booking.where); this is what one without a room
        shows, and what an admin's change to the type is compared by.
        """
        if self.modality is Modality.IN_PERSON:
            return self.location
        if self.modality is Modality.VIDEO:
            return self.video_link or "A video link will be sent before the consultation"
        return "The clinician will call the phone number you gave"

    def video_room(self, room_token):
        """The room `room_token` names under the type's video address ("" without either).

        Made from the address when asked, so a clinic that moves to another video server
        moves every room with it (and the admin's change re-sends each patient their own).
        """
        if not self.video_link or not room_token:
            return ""
        return f"{self.video_link.rstrip('/')}/{room_token}"


class AvailabilityRule(db.Model):
    """Weekly working hours: one range on one weekday, in the clinician's local time."""

    __tablename__ = "availability_rules"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
        CheckConstraint("end_time > start_time", name="ends_after_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinician_id: Mapped[int] = mapped_column(ForeignKey("clinicians.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int]  # 0 = Monday
    start_time: Mapped[time] = mapped_column(db.Time)
    end_time: Mapped[time] = mapped_column(db.Time)

    clinician: Mapped[Clinician] = relationship(back_populates="availability_rules")


class DateOverride(db.Model):
    """Different hours on one local date; a row without times marks a day off."""

    __tablename__ = "date_overrides"
    __table_args__ = (
        CheckConstraint(
            "(start_time IS NULL AND end_time IS NULL) OR (end_time > start_time)", name="hours_or_day_off"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinician_id: Mapped[int] = mapped_column(ForeignKey("clinicians.id", ondelete="CASCADE"), index=True)
    on_date: Mapped[date] = mapped_column(db.Date)
    start_time: Mapped[time | None] = mapped_column(db.Time, nullable=True)
    end_time: Mapped[time | None] = mapped_column(db.Time, nullable=True)

    clinician: Mapped[Clinician] = relationship(back_populates="date_overrides")

    @property
    def is_day_off(self):
        return self.start_time is None


class TimeOff(db.Model):
    """A span of days (or hours) away, stored in UTC."""

    __tablename__ = "time_off"
    __table_args__ = (CheckConstraint("end_dt > start_dt", name="ends_after_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinician_id: Mapped[int] = mapped_column(ForeignKey("clinicians.id", ondelete="CASCADE"), index=True)
    start_dt = mapped_column(UTCDateTime, nullable=False)
    end_dt = mapped_column(UTCDateTime, nullable=False)
    reason: Mapped[str] = mapped_column(db.String(255), default="")

    clinician: Mapped[Clinician] = relationship(back_populates="time_off")


class Booking(db.Model):
    """A patient's consultation. Times in UTC; the blocked span includes the buffers.

    On PostgreSQL the exclusion constraint `ex_bookings_no_overlap` guarantees that
    no two active bookings of one clinician have overlapping blocked spans, and
    `ex_bookings_patient_no_overlap` that one patient never holds two active sessions
    at once, whatever the application does. On SQLite writing requests hold the
    database write lock from the start of their transaction (see core.db), and the
    services check both.

    Who it is for is the patient record (encrypted); `patient_name` and the like read it.
    """

    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint("end_dt > start_dt", name="ends_after_start"),
        CheckConstraint("blocked_start_dt <= start_dt AND blocked_end_dt >= end_dt", name="blocked_covers"),
        Index("ix_bookings_clinician_blocked", "clinician_id", "blocked_start_dt"),
        # A patient's sessions in time order: their page, the per-patient cap, their overlaps.
        Index("ix_bookings_patient_start", "patient_id", "start_dt"),
        Index("uq_bookings_previous_manage_token_hash", "previous_manage_token_hash", unique=True),
        postgresql.ExcludeConstraint(
            ("clinician_id", "="),
            (text("tstzrange(blocked_start_dt, blocked_end_dt, '[)')"), "&&"),
            where=text("status <> 'cancelled'"),
            using="gist",
            name="ex_bookings_no_overlap",
        ).ddl_if(dialect="postgresql"),
        postgresql.ExcludeConstraint(
            ("patient_id", "="),
            (text("tstzrange(start_dt, end_dt, '[)')"), "&&"),
            where=text("status <> 'cancelled'"),
            using="gist",
            name="ex_bookings_patient_no_overlap",
        ).ddl_if(dialect="postgresql"),
        UniqueConstraint("idempotency_key", name="uq_bookings_idempotency_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(db.String(36), unique=True)
    clinician_id: Mapped[int] = mapped_column(ForeignKey("clinicians.id"), index=True)
    consultation_type_id: Mapped[int] = mapped_column(ForeignKey("consultation_types.id"))
    start_dt = mapped_column(UTCDateTime, nullable=False, index=True)
    end_dt = mapped_column(UTCDateTime, nullable=False)
    blocked_start_dt = mapped_column(UTCDateTime, nullable=False)
    blocked_end_dt = mapped_column(UTCDateTime, nullable=False)
    status: Mapped[BookingStatus] = mapped_column(
        string_enum(BookingStatus),
        default=BookingStatus.CONFIRMED,
    )

    # Not null on PostgreSQL; SQLite cannot add a NOT NULL reference without rebuilding the
    # table (see migration 0024), and every booking is made with one (scheduling.services.book).
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    patient_timezone: Mapped[str] = mapped_column(db.String(64))
    contact_consent: Mapped[bool] = mapped_column(default=False)

    # Calendar invites: one UID for the booking's life, SEQUENCE bumped on each change.
    ical_uid: Mapped[str] = mapped_column(db.String(255), unique=True)
    ical_sequence: Mapped[int] = mapped_column(default=0)
    manage_token_hash: Mapped[str] = mapped_column(db.String(64), unique=True)
    # The link before the current one (a reschedule emails a new link): it still opens the booking.
    previous_manage_token_hash: Mapped[str | None] = mapped_column(db.String(64), nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(db.String(64), nullable=True)

    created_dt = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    # When it was booked, last moved or its links last sent again: the reminders' "first email is
    # still fresh". Set by those services alone, never by any other change to the row (an updated
    # invite, a corrected address, a staff video link), which would silently skip a reminder.
    updated_dt = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    cancelled_dt = mapped_column(UTCDateTime, nullable=True)
    cancelled_by: Mapped[str | None] = mapped_column(db.String(32), nullable=True)
    # What the patient wrote when cancelling: free text that may be clinical, so encrypted (None: no reason).
    cancellation_reason: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)
    # A pending booking is released if not confirmed by then (None once confirmed, or when no hold applies).
    confirm_by_dt = mapped_column(UTCDateTime, nullable=True)
    # Where a public booking came from, for spotting bursts: the IPv4 address or the IPv6 /64.
    client_network: Mapped[str | None] = mapped_column(db.String(49), nullable=True, index=True)
    # SHA-256 of the request an idempotency key made: a repeat must ask for exactly the same.
    idempotency_fingerprint: Mapped[str | None] = mapped_column(db.String(64), nullable=True)
    # The unguessable name of this booking's own video room (see video_room). Made for every
    # booking, so one whose type turns to video later still gets a room nobody else has.
    # Encrypted, as the answers are: with the type's address it is all it takes to join.
    # None on bookings made before rooms existed: they show the type's link, as they did.
    video_room_token: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)
    # A link staff set for this one consultation (another service, a room already agreed); it wins.
    staff_video_link: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)
    # Times the patient corrected the address from the confirmation page (see can_correct_email).
    email_corrections: Mapped[int] = mapped_column(default=0, server_default="0")
    # A session of a treatment course (courses.models.Course), and which of its steps (from 0).
    course_id: Mapped[int | None] = mapped_column(ForeignKey("courses.id"), nullable=True, index=True)
    course_step: Mapped[int | None] = mapped_column(nullable=True)

    clinician: Mapped[Clinician] = relationship()
    consultation_type: Mapped[ConsultationType] = relationship()
    # Joined: nearly every page and email about a booking names its patient.
    patient: Mapped[Patient] = relationship(lazy="joined", innerjoin=True)

    @property
    def patient_name(self):
        return self.patient.name

    @property
    def patient_email(self):
        return self.patient.email

    @property
    def patient_phone(self):
        return self.patient.phone

    @property
    def patient_date_of_birth(self):
        return self.patient.date_of_birth

    @property
    def is_active(self):
        return self.status is not BookingStatus.CANCELLED

    @property
    def is_pending(self):
        return self.status is BookingStatus.PENDING

    def hold_expired(self, now):
        """A pending booking past its deadline: the slot is free again, whether or not the worker has released it."""
        return self.is_pending and self.confirm_by_dt is not None and self.confirm_by_dt <= now

    @property
    def patient_zone(self):
        return get_zone(self.patient_timezone)

    @property
    def video_room(self):
        """The address of this consultation's own video room ("" unless it is by video and one is known).

        The link staff set, else the booking's room under the type's video address; a booking
        from before rooms existed has the type's link, as it always had.
        """
        kind = self.consultation_type
        if kind.modality is not Modality.VIDEO:
            return ""
        return self.staff_video_link or kind.video_room(self.video_room_token) or kind.video_link

    @property
    def where(self):
        """Where this patient goes: their own video room, else the type's address or way of calling."""
        return self.video_room or self.consultation_type.where

    @property
    def noun(self):
        """What pages and emails call it: a course's session, or a consultation."""
        return "session" if self.course_id is not None else "consultation"

    def for_email(self):
        """What an email says of the booking, as plain values: the outbox renders it later, in another process."""
        return {
            "noun": self.noun,
            "patient_name": self.patient_name,
            "clinician_name": self.clinician.display_name,
            "modality": self.consultation_type.modality.label,
            "where": self.where,
            "video_room": self.video_room,
            **self.when_for_people(),
        }

    def when_for_people(self):
        """The consultation time in the patient's zone and in the clinician's, each naming its zone.

        Every page and email about a booking shows it this way, so it lives with the booking.
        """
        return {
            "patient_when": format_moment(self.start_dt, self.patient_zone),
            "clinician_when": format_moment(self.start_dt, self.clinician.zone),
            "same_zone": self.patient_timezone == self.clinician.timezone,
        }

    def can_be_managed_by(self, user):
        """Seen, cancelled or marked from the staff schedule: by admins, and by the clinician it is with."""
        return user.is_admin or user.acts_for(self.clinician_id)

    def can_correct_email(self, now):
        """The patient may correct the address from the confirmation page (or, for a held time, the page
        that says to confirm it): a consultation still to come, within EMAIL_CORRECTION_WINDOW of
        booking, at most EMAIL_CORRECTIONS_MAX times.

        That page is where the patient sees the address they typed. Later, a forwarded link
        must not be a way to have everything about the booking sent somewhere else.
        """
        return (
            (self.status is BookingStatus.CONFIRMED or (self.is_pending and not self.hold_expired(now)))
            and self.course_id is None  # a course's address is the patient record's: the desk corrects it
            and self.start_dt > now
            and now <= self.created_dt + EMAIL_CORRECTION_WINDOW
            and self.email_corrections < EMAIL_CORRECTIONS_MAX
        )

    def can_set_video_link(self, now):
        """Staff may give an upcoming video consultation a link of its own until it starts."""
        return (
            self.status is BookingStatus.CONFIRMED
            and self.consultation_type.modality is Modality.VIDEO
            and self.start_dt > now
        )

    def can_staff_cancel(self, now):
        """Staff may cancel a confirmed consultation until it starts."""
        return self.status is BookingStatus.CONFIRMED and self.start_dt > now

    def can_mark_outcome(self, now):
        """Whether it took place (or the patient did not come) can be recorded once it has started."""
        return self.status is not BookingStatus.CANCELLED and self.start_dt <= now

    def awaits_outcome(self, now):
        """Started, and nobody has recorded yet whether it took place."""
        return self.status is BookingStatus.CONFIRMED and self.start_dt <= now

    def can_patient_change(self, now, window):
        """The patient may cancel or reschedule online until `window` before the start."""
        return self.status is BookingStatus.CONFIRMED and now <= self.start_dt - window
