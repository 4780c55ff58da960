"""Scheduling rules that need the database: finding slots, booking, cancelling, rescheduling.

Services flush; the request commits once. Emails are queued in the same
transaction (notifications.services) and delivered after the commit.
"""

import uuid
from dataclasses import dataclass, replace
from datetime import date, timedelta

from sqlalchemy import func, select, text

from kapclinic.core import tokens
from kapclinic.core.db import flush_in_savepoint
from kapclinic.core.timezones import format_moment
from kapclinic.core.urls import public_url
from kapclinic.extensions import db
from kapclinic.ics.services import emailed_invite
from kapclinic.intake.services import consultation_moved as intake_consultation_moved
from kapclinic.intake.services import create_for_booking as create_intake
from kapclinic.notifications.services import queue_email
from kapclinic.scheduling.models import (
    AvailabilityRule,
    Booking,
    BookingStatus,
    Clinician,
    ConsultationType,
    DateOverride,
    TimeOff,
)
from kapclinic.scheduling.validation import is_slug
from kapclinic.scheduling.slots import (
    ClinicianCalendar,
    Interval,
    TimeRange,
    bookable_slots,
    bookable_slots_for_all,
    local_week,
    pick_fair_clinician,
)

ALTERNATIVES_SHOWN = 6


class SchedulingError(Exception):
    """A booking request the rules refuse; `field` names the input at fault."""

    def __init__(self, message, field="start"):
        super().__init__(message)
        self.field = field


class SlotTaken(SchedulingError):
    """The time was free a moment ago and someone else has just booked it."""

    def __init__(self, alternatives):
        super().__init__("This time was just taken. Please choose another.")
        self.alternatives = alternatives


class NotBookable(SchedulingError):
    """The time is not one the clinic offers (past, off-grid, outside hours, ...)."""


@dataclass(frozen=True)
class PatientDetails:
    name: str
    email: str
    phone: str
    date_of_birth: date
    timezone: str
    contact_consent: bool


@dataclass(frozen=True)
class BookingOutcome:
    booking: Booking
    manage_token: str | None  # None when an idempotent replay returned an earlier booking
    intake_token: str | None = None
    replayed: bool = False


# --- reading -----------------------------------------------------------------


def active_consultation_types():
    return db.session.scalars(
        select(ConsultationType).where(ConsultationType.is_active).order_by(ConsultationType.id)
    ).all()


def consultation_type_by_slug(slug):
    if not is_slug(slug):
        return None
    return db.session.scalar(
        select(ConsultationType).where(ConsultationType.slug == slug, ConsultationType.is_active)
    )


def active_clinicians():
    return db.session.scalars(select(Clinician).where(Clinician.is_active).order_by(Clinician.id)).all()


def clinician_for_type(consultation_type, clinician_id):
    """Return the active clinician with that id who offers the type, or None."""
    for clinician in consultation_type.active_clinicians:
        if clinician.id == clinician_id:
            return clinician
    return None


def load_calendars(clinicians, window, exclude_booking_id=None):
    """Build the slot engine's view of each clinician for `window` (one query per table)."""
    if not clinicians:
        return []
    ids = [clinician.id for clinician in clinicians]
    # A little beyond the window: buffers and local dates reach over its edges.
    margin = timedelta(days=2)
    wide = Interval(window.start_dt - margin, window.end_dt + margin)
    rules = db.session.scalars(select(AvailabilityRule).where(AvailabilityRule.clinician_id.in_(ids))).all()
    overrides = db.session.scalars(
        select(DateOverride).where(
            DateOverride.clinician_id.in_(ids),
            DateOverride.on_date >= wide.start_dt.date(),
            DateOverride.on_date <= wide.end_dt.date(),
        )
    ).all()
    time_off = db.session.scalars(
        select(TimeOff).where(
            TimeOff.clinician_id.in_(ids), TimeOff.start_dt < wide.end_dt, TimeOff.end_dt > wide.start_dt
        )
    ).all()
    booking_query = select(
        Booking.clinician_id, Booking.blocked_start_dt, Booking.blocked_end_dt, Booking.start_dt, Booking.end_dt
    ).where(
        Booking.clinician_id.in_(ids),
        Booking.status != BookingStatus.CANCELLED,
        Booking.blocked_start_dt < wide.end_dt,
        Booking.blocked_end_dt > wide.start_dt,
    )
    if exclude_booking_id is not None:
        booking_query = booking_query.where(Booking.id != exclude_booking_id)
    bookings = db.session.execute(booking_query).all()

    weekly = {clinician_id: {} for clinician_id in ids}
    for rule in rules:
        weekly[rule.clinician_id].setdefault(rule.weekday, []).append(TimeRange(rule.start_time, rule.end_time))
    by_date = {clinician_id: {} for clinician_id in ids}
    for override in overrides:
        ranges = by_date[override.clinician_id].setdefault(override.on_date, [])
        if not override.is_day_off:
            ranges.append(TimeRange(override.start_time, override.end_time))
    away = {clinician_id: [] for clinician_id in ids}
    for span in time_off:
        away[span.clinician_id].append(Interval(span.start_dt, span.end_dt))
    busy = {clinician_id: [] for clinician_id in ids}
    consultations = {clinician_id: [] for clinician_id in ids}
    for clinician_id, blocked_start_dt, blocked_end_dt, start_dt, end_dt in bookings:
        busy[clinician_id].append(Interval(blocked_start_dt, blocked_end_dt))
        consultations[clinician_id].append(Interval(start_dt, end_dt))

    return [
        ClinicianCalendar(
            clinician_id=clinician.id,
            zone=clinician.zone,
            weekly={weekday: tuple(ranges) for weekday, ranges in weekly[clinician.id].items()},
            overrides={day: tuple(ranges) for day, ranges in by_date[clinician.id].items()},
            time_off=tuple(away[clinician.id]),
            busy=tuple(busy[clinician.id]),
            consultations=tuple(consultations[clinician.id]),
            max_per_day=clinician.max_per_day,
            min_gap=timedelta(minutes=clinician.min_gap_minutes),
        )
        for clinician in clinicians
    ]


def find_slots(consultation_type, window, now, clinician=None, exclude_booking_id=None, rules=None):
    """Return free slots of one clinician, or of every clinician offering the type."""
    clinicians = [clinician] if clinician is not None else consultation_type.active_clinicians
    calendars = load_calendars(clinicians, window, exclude_booking_id)
    return bookable_slots_for_all(calendars, rules or consultation_type.slot_rules, window, now)


STAFF_HORIZON = timedelta(days=365)


def staff_rules(consultation_type):
    """The type's rules without the patient-facing notice and horizon: the front desk may move a consultation to tomorrow."""
    return replace(consultation_type.slot_rules, min_notice=timedelta(0), horizon=STAFF_HORIZON)


def nearby_alternatives(consultation_type, start_dt, now, clinician=None, exclude_booking_id=None):
    """Return the free starts closest to `start_dt` (within three days either side)."""
    window = Interval(start_dt - timedelta(days=3), start_dt + timedelta(days=3))
    slots = find_slots(consultation_type, window, now, clinician, exclude_booking_id)
    unique_starts = {}
    for slot in slots:
        unique_starts.setdefault(slot.start_dt, slot)
    closest = sorted(unique_starts.values(), key=lambda slot: abs(slot.start_dt - start_dt))
    return sorted(closest[:ALTERNATIVES_SHOWN])


# --- manage tokens -------------------------------------------------------------

def issue_manage_token():
    """Return (token for the link, hash to store)."""
    return tokens.issue(tokens.MANAGE_BOOKING)


def booking_for_token(token, for_update=False):
    """Return the booking a manage link points to, or None if the link is invalid or expired."""
    token_hash = tokens.stored_hash(token, tokens.MANAGE_BOOKING)
    if token_hash is None:
        return None
    query = select(Booking).where(Booking.manage_token_hash == token_hash)
    return db.session.scalar(query.with_for_update() if for_update else query)


# --- booking --------------------------------------------------------------------


# Namespace of the PostgreSQL advisory locks that serialise bookings per clinician.
_BOOKING_LOCK_SPACE = 4242


def _serialise_bookings(clinicians):
    """Take the clinicians' booking locks until the transaction ends.

    The exclusion constraint alone stops overlaps; the daily limit and minimum gap
    are checked in Python, so on PostgreSQL bookings for one clinician queue here
    (SQLite's write lock already does this). Sorted, so two requests never deadlock.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        return
    for clinician_id in sorted(clinician.id for clinician in clinicians):
        db.session.execute(text("SELECT pg_advisory_xact_lock(:space, :key)"), {"space": _BOOKING_LOCK_SPACE, "key": clinician_id})


def _check_offered(consultation_type, clinicians, start_dt, now, exclude_booking_id=None, rules=None):
    """Return the clinicians free at start_dt; raise NotBookable or SlotTaken otherwise."""
    rules = rules or consultation_type.slot_rules
    window = Interval(start_dt, start_dt + timedelta(minutes=1))
    calendars = load_calendars(clinicians, window, exclude_booking_id)
    free = [
        slot.clinician_id
        for slot in bookable_slots_for_all(calendars, rules, window, now)
        if slot.start_dt == start_dt
    ]
    if free:
        return free
    if start_dt <= now:
        raise NotBookable("That time has already passed. Please choose a time in the future.")
    # Would it be offered if nobody had booked? Then it has just been taken.
    unbooked = [replace(calendar, busy=(), consultations=()) for calendar in calendars]
    if any(
        slot.start_dt == start_dt
        for calendar in unbooked
        for slot in bookable_slots(calendar, rules, window, now)
    ):
        clinician = clinicians[0] if len(clinicians) == 1 else None
        raise SlotTaken(
            nearby_alternatives(consultation_type, start_dt, now, clinician, exclude_booking_id)
        )
    raise NotBookable("That time is not one we offer. Please pick a time from the list.")


def _week_counts(clinician_ids, start_dt):
    """Active bookings per clinician in each clinician's local week of start_dt."""
    counts = {}
    for clinician in db.session.scalars(select(Clinician).where(Clinician.id.in_(clinician_ids))):
        week = local_week(start_dt, clinician.zone)
        counts[clinician.id] = db.session.scalar(
            select(func.count(Booking.id)).where(
                Booking.clinician_id == clinician.id,
                Booking.status != BookingStatus.CANCELLED,
                Booking.start_dt >= week.start_dt,
                Booking.start_dt < week.end_dt,
            )
        )
    return counts


def _insert_booking(booking):
    """Flush one booking; return False if the database refused an overlap."""
    return flush_in_savepoint(lambda: db.session.add(booking))


def _booking_with_key(idempotency_key):
    if idempotency_key is None:
        return None
    return db.session.scalar(select(Booking).where(Booking.idempotency_key == idempotency_key))


def _replay(earlier, consultation_type, clinician, start_dt, patient):
    """Return the earlier booking for a repeated key, unless the key now asks for something else."""
    same = (
        earlier.consultation_type_id == consultation_type.id
        and earlier.start_dt == start_dt
        and earlier.patient_email == patient.email
        and (clinician is None or earlier.clinician_id == clinician.id)
    )
    if not same:
        raise NotBookable(
            "This request key was already used for a different booking. Reload the page and try again.",
            field="idempotency_key",
        )
    return BookingOutcome(earlier, None, replayed=True)


def book(consultation_type, clinician, start_dt, patient, now, idempotency_key=None):
    """Book start_dt with `clinician`, or with a fair pick of free clinicians when None.

    Raises NotBookable or SlotTaken. A repeated idempotency key returns the
    booking it made the first time.
    """
    candidates = [clinician] if clinician is not None else consultation_type.active_clinicians
    _serialise_bookings(candidates)
    # Looked up after the lock: a twin request that just committed is found here.
    earlier = _booking_with_key(idempotency_key)
    if earlier is not None:
        return _replay(earlier, consultation_type, clinician, start_dt, patient)
    free = _check_offered(consultation_type, candidates, start_dt, now)
    rules = consultation_type.slot_rules
    blocked = rules.blocked_interval(start_dt)
    counts = _week_counts(free, start_dt)
    while counts:
        chosen_id = pick_fair_clinician(counts)
        token, token_hash = issue_manage_token()
        booking = Booking(
            public_id=str(uuid.uuid4()),
            clinician_id=chosen_id,
            consultation_type_id=consultation_type.id,
            start_dt=start_dt,
            end_dt=start_dt + rules.duration,
            blocked_start_dt=blocked.start_dt,
            blocked_end_dt=blocked.end_dt,
            status=BookingStatus.CONFIRMED,
            patient_name=patient.name,
            patient_email=patient.email,
            patient_phone=patient.phone,
            patient_date_of_birth=patient.date_of_birth,
            patient_timezone=patient.timezone,
            contact_consent=patient.contact_consent,
            ical_uid=f"{uuid.uuid4()}@kapclinic",
            ical_sequence=0,
            manage_token_hash=token_hash,
            idempotency_key=idempotency_key,
            created_dt=now,
            updated_dt=now,
        )
        if _insert_booking(booking):
            intake_token = create_intake(booking, now)
            _notify_patient(booking, "booking_confirmed", now, token, intake_token)
            return BookingOutcome(booking, token, intake_token)
        # Refused by the database: either the same form was submitted twice at
        # once (the other request holds the key) or the clinician was just booked.
        earlier = _booking_with_key(idempotency_key)
        if earlier is not None:
            return _replay(earlier, consultation_type, clinician, start_dt, patient)
        del counts[chosen_id]
    raise SlotTaken(nearby_alternatives(consultation_type, start_dt, now, clinician))


def cancel(booking, now, by, reason=""):
    """Cancel a booking; the slot opens again at once."""
    booking.status = BookingStatus.CANCELLED
    booking.cancelled_dt = now
    booking.cancelled_by = by
    booking.cancellation_reason = reason
    booking.ical_sequence += 1
    booking.updated_dt = now
    db.session.flush()
    _notify_patient(booking, "booking_cancelled", now)


def reschedule(booking, start_dt, now, clinician=None, by_staff=False):
    """Move a booking to another free start, with the same clinician unless another is given; return a new manage token.

    Staff work without the patient-facing notice and horizon (see staff_rules); the
    clinician's hours, time off, limits and other bookings still hold.
    """
    consultation_type = booking.consultation_type
    clinician = clinician or booking.clinician
    only_clinician_changed = start_dt == booking.start_dt
    rules = staff_rules(consultation_type) if by_staff else consultation_type.slot_rules
    _serialise_bookings({booking.clinician, clinician})
    _check_offered(consultation_type, [clinician], start_dt, now, exclude_booking_id=booking.id, rules=rules)
    blocked = rules.blocked_interval(start_dt)
    token, token_hash = issue_manage_token()

    def move():
        booking.clinician = clinician
        booking.start_dt = start_dt
        booking.end_dt = start_dt + rules.duration
        booking.blocked_start_dt = blocked.start_dt
        booking.blocked_end_dt = blocked.end_dt
        booking.ical_sequence += 1
        booking.manage_token_hash = token_hash
        booking.updated_dt = now

    if not flush_in_savepoint(move):
        # The savepoint rollback expired the booking: it reads its old times again.
        raise SlotTaken(nearby_alternatives(consultation_type, start_dt, now, clinician, booking.id))
    if booking.intake is not None:
        intake_consultation_moved(booking.intake, now)
    _notify_patient(booking, "booking_rescheduled", now, token, only_clinician_changed=only_clinician_changed)
    return token


def resend_changed_details(consultation_type, now):
    """The type's way of meeting or place changed: every upcoming consultation of it gets an updated invite.

    Same time and UID, the next SEQUENCE, so calendars replace the event; the rows are
    locked like a patient's own change. `updated_dt` stays: it means "booked or moved"
    to the reminders. Return how many patients were told.
    """
    upcoming = db.session.scalars(
        select(Booking)
        .where(
            Booking.consultation_type_id == consultation_type.id,
            Booking.status == BookingStatus.CONFIRMED,
            Booking.start_dt > now,
        )
        .order_by(Booking.start_dt)
        .with_for_update()
    ).all()
    for booking in upcoming:
        booking.ical_sequence += 1
        db.session.flush()
        _notify_patient(booking, "booking_details_changed", now)
    return len(upcoming)


# --- patient emails ---------------------------------------------------------------


def when_for_people(booking):
    """The consultation time in the patient's zone and in the clinician's, each naming its zone."""
    return {
        "patient_when": format_moment(booking.start_dt, booking.patient_zone),
        "clinician_when": format_moment(booking.start_dt, booking.clinician.zone),
        "same_zone": booking.patient_timezone == booking.clinician.timezone,
    }


def _notify_patient(booking, template, now, manage_token=None, intake_token=None, **extra):
    """Queue the patient's email with its calendar invite (REQUEST, or CANCEL once cancelled)."""
    manage_url = public_url("scheduling.manage", token=manage_token) if manage_token else ""
    intake_url = public_url("intake.start", token=intake_token or manage_token) if manage_token else ""
    ics, method = emailed_invite(booking, now)
    queue_email(
        booking.patient_email,
        template,
        {
            "booking": booking,
            "manage_url": manage_url,
            "intake_url": intake_url,
            "book_url": public_url("scheduling.choose_type"),
            **when_for_people(booking),
            **extra,
        },
        ics=ics,
        ics_method=method,
    )
