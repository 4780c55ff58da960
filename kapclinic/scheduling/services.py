"""Scheduling rules that need the database: finding slots, booking, cancelling, rescheduling.

Services flush; the request commits once. Emails are queued in the same
transaction (notifications.services) and delivered after the commit.
"""

import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import cache

from flask import current_app
from sqlalchemy import (
    ARRAY,
    Date,
    Integer,
    Time,
    and_,
    any_,
    bindparam,
    cast,
    exists,
    func,
    literal_column,
    null,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import joinedload

from kapclinic.core import tokens
from kapclinic.core.clinic import clinic
from kapclinic.core.crypto import blind_index
from kapclinic.core.db import UTCDateTime, flush_in_savepoint
from kapclinic.core.errors import DomainError
from kapclinic.core.timezones import format_moment
from kapclinic.core.urls import public_url
from kapclinic.core.validation import is_slug
from kapclinic.extensions import db
from kapclinic.ics.services import emailed_invite
from kapclinic.intake.services import below_online_age
from kapclinic.intake.services import consultation_moved as intake_consultation_moved
from kapclinic.intake.services import create_for_booking as create_intake
from kapclinic.intake.services import renew_link as renew_questionnaire_link
from kapclinic.notifications.services import queue_email
from kapclinic.patients.models import Patient
from kapclinic.patients.services import matching_patient, new_patient, remember_contact, serialise_identity
from kapclinic.scheduling.models import (
    AvailabilityRule,
    Booking,
    BookingStatus,
    Clinician,
    ConsultationType,
    DateOverride,
    TimeOff,
)
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
# Random bytes in a video room's name: 144 bits, beyond guessing (and 24 URL-safe characters).
VIDEO_ROOM_BYTES = 18


class SchedulingError(DomainError):
    """A booking request the rules refuse; `field` names the input at fault (the start time unless said)."""

    default_field = "start"


class SlotTaken(SchedulingError):
    """The time was free a moment ago and someone else has just booked it."""

    def __init__(self, alternatives):
        super().__init__("This time was just taken. Please choose another.")
        self.alternatives = alternatives


class NotBookable(SchedulingError):
    """The time is not one the clinic offers (past, off-grid, outside hours, ...)."""


class PatientLimitReached(SchedulingError):
    """This email address or phone number already holds as many upcoming consultations as one person may book online."""


class HoldReleased(SchedulingError):
    """The booking was not confirmed in time, so its slot was given up."""


class PatientBusy(SchedulingError):
    """The patient already has a session at that time (with us, with any clinician)."""

    default_field = "start"


class CorrectionClosed(SchedulingError):
    """The address can no longer be corrected online (see Booking.can_correct_email)."""

    default_field = None


@dataclass(frozen=True)
class PatientDetails:
    name: str
    email: str
    phone: str
    date_of_birth: date
    timezone: str
    contact_consent: bool


@dataclass(frozen=True)
class PublicVisitor:
    """Someone booking on the public path (web form or API), where the limits against abuse hold.

    Staff booking for a caller, and the demo data, pass no visitor.
    """

    client_network: str | None


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


def consultation_types_to_book():
    """Types booked one at a time (by patients, or the desk for a caller); course sessions go with their course."""
    return [item for item in active_consultation_types() if not item.course_only]


def consultation_type_by_slug(slug):
    if not is_slug(slug):
        return None
    return db.session.scalars(_type_by_slug_statement(), {"slug": slug}).unique().first()


@cache
def _type_by_slug_statement():
    # With its clinicians (and their staff accounts) in the same query: every caller asks who offers it.
    return (
        select(ConsultationType)
        .where(ConsultationType.slug == bindparam("slug"), ConsultationType.is_active, ~ConsultationType.course_only)
        .options(joinedload(ConsultationType.clinicians))
    )


def active_clinicians():
    """Active clinician profiles, bookable or not: staff still manage a deactivated clinician's bookings."""
    return db.session.scalars(select(Clinician).where(Clinician.is_active).order_by(Clinician.id)).all()


def bookable_clinicians():
    """Clinicians patients may book (see Clinician.is_bookable)."""
    return db.session.scalars(select(Clinician).where(Clinician.is_bookable).order_by(Clinician.id)).all()


def clinician_for_type(consultation_type, clinician_id):
    """Return the active clinician with that id who offers the type, or None."""
    for clinician in consultation_type.active_clinicians:
        if clinician.id == clinician_id:
            return clinician
    return None


def _status_is_not(status):
    # Written into the SQL, not bound: PostgreSQL can then use the partial indexes of
    # active bookings (the overlap constraint's among them) in a prepared statement's plan.
    return Booking.status != literal_column(f"'{status.value}'")


def holds_its_slot(now):
    """SQL condition: the booking keeps its time from others (active, and not a hold past its deadline)."""
    return and_(
        _status_is_not(BookingStatus.CANCELLED),
        or_(_status_is_not(BookingStatus.PENDING), Booking.confirm_by_dt > now),
    )


def upcoming_and_holding(now):
    """SQL condition: a booking still to come that keeps its time (what the patient cap and the bursts page count)."""
    return and_(holds_its_slot(now), Booking.start_dt > now)


def _blocks_within(start_dt, end_dt, on_postgresql):
    """SQL condition: the booking's blocked span overlaps [start_dt, end_dt).

    On PostgreSQL as the overlap of ranges the exclusion constraint's GiST index holds,
    so a clinician's years of past bookings are never read; elsewhere as two comparisons.
    """
    if on_postgresql:
        half_open = literal_column("'[)'")
        blocked = func.tstzrange(Booking.blocked_start_dt, Booking.blocked_end_dt, half_open)
        return blocked.op("&&")(func.tstzrange(start_dt, end_dt, half_open))
    return and_(Booking.blocked_start_dt < end_dt, Booking.blocked_end_dt > start_dt)


@cache
def _calendar_statement(on_postgresql, excluding):
    """Everything the slot engine needs about some clinicians near a window, as one UNION ALL query.

    One round trip instead of four (weekly hours, dated hours, time off, bookings): a
    booking asks this on every request, so the statement is built once, with parameters
    (see _calendar_rows). Each row says which kind it is; the columns a kind does not use
    are NULL, typed so every database reads them back alike.
    """

    def unused(type_):
        return cast(null(), type_)

    def asked(column):
        if on_postgresql:
            # One array parameter: the same text, and plan, for any number of clinicians.
            return column == any_(bindparam("ids", type_=ARRAY(Integer)))
        return column.in_(bindparam("ids", expanding=True))

    start_dt, end_dt = bindparam("start_dt", type_=UTCDateTime), bindparam("end_dt", type_=UTCDateTime)
    booked = select(
        literal_column("'booked'").label("kind"),
        Booking.clinician_id,
        unused(Integer).label("weekday"),
        unused(Date).label("on_date"),
        unused(Time).label("start_time"),
        unused(Time).label("end_time"),
        Booking.blocked_start_dt.label("start_dt"),
        Booking.blocked_end_dt.label("end_dt"),
        Booking.start_dt.label("booked_start_dt"),
        Booking.end_dt.label("booked_end_dt"),
    ).where(
        asked(Booking.clinician_id),
        holds_its_slot(bindparam("now", type_=UTCDateTime)),
        _blocks_within(start_dt, end_dt, on_postgresql),
    )
    if excluding:
        booked = booked.where(Booking.id != bindparam("excluded", type_=Integer))
    no_times = (unused(UTCDateTime), unused(UTCDateTime), unused(UTCDateTime), unused(UTCDateTime))
    weekly = select(
        literal_column("'weekly'"),
        AvailabilityRule.clinician_id,
        AvailabilityRule.weekday,
        unused(Date),
        AvailabilityRule.start_time,
        AvailabilityRule.end_time,
        *no_times,
    ).where(asked(AvailabilityRule.clinician_id))
    dated = select(
        literal_column("'dated'"),
        DateOverride.clinician_id,
        unused(Integer),
        DateOverride.on_date,
        DateOverride.start_time,
        DateOverride.end_time,
        *no_times,
    ).where(
        asked(DateOverride.clinician_id),
        DateOverride.on_date >= bindparam("first_day", type_=Date),
        DateOverride.on_date <= bindparam("last_day", type_=Date),
    )
    away = select(
        literal_column("'away'"),
        TimeOff.clinician_id,
        unused(Integer),
        unused(Date),
        unused(Time),
        unused(Time),
        TimeOff.start_dt,
        TimeOff.end_dt,
        unused(UTCDateTime),
        unused(UTCDateTime),
    ).where(asked(TimeOff.clinician_id), TimeOff.start_dt < end_dt, TimeOff.end_dt > start_dt)
    # The bookings come first: a UNION's columns take their types from its first SELECT.
    return union_all(booked, weekly, dated, away)


def _calendar_rows(ids, wide, now, exclude_booking_id):
    statement = _calendar_statement(_on_postgresql(), exclude_booking_id is not None)
    return db.session.execute(
        statement,
        {
            "ids": ids,
            "now": now,
            "start_dt": wide.start_dt,
            "end_dt": wide.end_dt,
            "first_day": wide.start_dt.date(),
            "last_day": wide.end_dt.date(),
            "excluded": exclude_booking_id,
        },
    ).all()


def load_calendars(clinicians, window, now, exclude_booking_id=None):
    """Build the slot engine's view of each clinician for `window` (one query, see _calendar_rows)."""
    if not clinicians:
        return []
    ids = [clinician.id for clinician in clinicians]
    # A little beyond the window: buffers and local dates reach over its edges.
    margin = timedelta(days=2)
    wide = Interval(window.start_dt - margin, window.end_dt + margin)
    weekly = {clinician_id: {} for clinician_id in ids}
    by_date = {clinician_id: {} for clinician_id in ids}
    away = {clinician_id: [] for clinician_id in ids}
    busy = {clinician_id: [] for clinician_id in ids}
    consultations = {clinician_id: [] for clinician_id in ids}
    for row in _calendar_rows(ids, wide, now, exclude_booking_id):
        if row.kind == "weekly":
            weekly[row.clinician_id].setdefault(row.weekday, []).append(TimeRange(row.start_time, row.end_time))
        elif row.kind == "dated":
            ranges = by_date[row.clinician_id].setdefault(row.on_date, [])
            if row.start_time is not None:  # a dated row without hours is a day off
                ranges.append(TimeRange(row.start_time, row.end_time))
        elif row.kind == "away":
            away[row.clinician_id].append(Interval(row.start_dt, row.end_dt))
        else:
            busy[row.clinician_id].append(Interval(row.start_dt, row.end_dt))
            consultations[row.clinician_id].append(Interval(row.booked_start_dt, row.booked_end_dt))

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
    """Return free slots of one clinician, or of every clinician offering the type (bookable clinicians only)."""
    clinicians = _bookable([clinician] if clinician is not None else consultation_type.active_clinicians)
    calendars = load_calendars(clinicians, window, now, exclude_booking_id)
    return bookable_slots_for_all(calendars, rules or consultation_type.slot_rules, window, now)


def _bookable(clinicians):
    return [clinician for clinician in clinicians if clinician.is_bookable]


STAFF_HORIZON = timedelta(days=365)


def staff_rules(consultation_type):
    """The type's rules without the patient-facing notice and horizon.

    The front desk may move a consultation to tomorrow.
    """
    return replace(consultation_type.slot_rules, min_notice=timedelta(0), horizon=STAFF_HORIZON)


def nearby_alternatives(consultation_type, start_dt, now, clinician=None, exclude_booking_id=None, rules=None):
    """Return the free starts closest to `start_dt` (within three days either side)."""
    window = Interval(start_dt - timedelta(days=3), start_dt + timedelta(days=3))
    slots = find_slots(consultation_type, window, now, clinician, exclude_booking_id, rules)
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
    query = select(Booking).where(
        or_(Booking.manage_token_hash == token_hash, Booking.previous_manage_token_hash == token_hash)
    )
    return db.session.scalar(query.with_for_update() if for_update else query)


def is_latest_link(booking, token):
    """The link in the newest email about the booking (not the one before a reschedule)."""
    return tokens.stored_hash(token, tokens.MANAGE_BOOKING) == booking.manage_token_hash


def booking_by_public_id(public_id, for_update=False):
    """The booking with this public id (not a link: callers decide who may see it), or None."""
    query = select(Booking).where(Booking.public_id == public_id)
    return db.session.scalar(query.with_for_update() if for_update else query)


# --- booking --------------------------------------------------------------------


# Namespaces of the PostgreSQL advisory locks that serialise bookings per clinician and per patient.
_BOOKING_LOCK_SPACE = 4242
_PATIENT_LOCK_SPACE = 4244


def _on_postgresql():
    return db.session.get_bind().dialect.name == "postgresql"


def _serialise_bookings(clinicians):
    """Take the booking locks of the clinicians whose own limits are checked here, until the transaction ends.

    Overlaps need no lock: PostgreSQL's exclusion constraint refuses them. A daily limit
    and a minimum gap are checked in Python, so bookings for a clinician who set one
    queue here (SQLite's write lock already does this); bookings for the others run side
    by side. One statement, in id order, so two requests never deadlock.
    """
    keys = sorted(clinician.id for clinician in clinicians if clinician.max_per_day or clinician.min_gap_minutes)
    if not keys or not _on_postgresql():
        return
    locks = ", ".join(f"pg_advisory_xact_lock(:space, :key{number})" for number in range(len(keys)))
    db.session.execute(
        text(f"SELECT {locks}"),
        {"space": _BOOKING_LOCK_SPACE, **{f"key{number}": key for number, key in enumerate(keys)}},
    )


def _serialise_patient(email, phone):
    """Take locks on the patient's email address and phone number until the transaction ends.

    Two bookings with one address at once must not both count the other as absent
    and slip under the cap. Taken after the clinicians' locks, and sorted, as every
    booking does, so two requests never deadlock. SQLite's write lock already serialises.
    """
    if not _on_postgresql():
        return
    first, second = sorted({f"email {email.lower()}", f"phone {phone}"})
    db.session.execute(
        text(
            "SELECT pg_advisory_xact_lock(:space, hashtext(:first)), pg_advisory_xact_lock(:space, hashtext(:second))"
        ),
        {"space": _PATIENT_LOCK_SPACE, "first": first, "second": second},
    )


@cache
def _patient_count_statement():
    """Upcoming bookings holding their time, by this email address (without case) and by this phone number."""
    same_email = Patient.email_index == bindparam("email")
    same_phone = Patient.phone_index == bindparam("phone")
    return (
        select(func.count(Booking.id).filter(same_email), func.count(Booking.id).filter(same_phone))
        .select_from(Booking)
        .join(Patient, Booking.patient_id == Patient.id)
        .where(upcoming_and_holding(bindparam("now", type_=UTCDateTime)), or_(same_email, same_phone))
    )


def _check_patient_limit(email, phone, now, fields=("email", "phone")):
    """Refuse a booking that would give this email address or phone more active upcoming consultations than allowed.

    Emails are stored as email-validator normalises them (domain in lower case) and
    compared without case; phones are stored in E.164, so equal numbers are equal text.
    Both are counted in one query, by the patients' blind indexes (a family's records
    share a phone); `fields` says which of them to hold to the limit.
    """
    limit = current_app.config["MAX_ACTIVE_BOOKINGS_PER_PATIENT"]
    by_email, by_phone = db.session.execute(
        _patient_count_statement(),
        {"email": blind_index("email", email.lower()), "phone": blind_index("phone", phone), "now": now},
    ).one()
    # A family may share a phone, so its message speaks of the number, not of one person.
    checks = (
        ("email", "email address", "for one person", by_email),
        ("phone", "phone number", "with this phone number", by_phone),
    )
    for field, label, whose, upcoming in checks:
        if field in fields and upcoming >= limit:
            raise PatientLimitReached(
                f"This {label} already has {limit} upcoming consultation{'s' if limit != 1 else ''} with us, "
                f"the most we book online {whose}. To book another, please call us on {clinic().phone}. "
                "To change one of your consultations instead, use the link in its confirmation email.",
                field=field,
            )


def _patient_sessions_within(patient, start_dt, end_dt, now, exclude_booking_id):
    """Conditions: the patient's sessions holding their time that overlap [start_dt, end_dt), one booking left out."""
    return (
        Booking.patient_id == patient.id,
        holds_its_slot(now),
        Booking.start_dt < end_dt,
        Booking.end_dt > start_dt,
        Booking.id != (exclude_booking_id or 0),
    )


def _check_patient_free(patient, start_dt, end_dt, now, exclude_booking_id=None):
    """Refuse a time the patient already holds another session in (any clinician, any course).

    PostgreSQL's `ex_bookings_patient_no_overlap` is the guarantee; this names the clash
    first, under the patient's lock (patients.services.serialise_identity). A hold past
    its deadline holds nothing.
    """
    clash = db.session.scalar(
        select(Booking)
        .where(*_patient_sessions_within(patient, start_dt, end_dt, now, exclude_booking_id))
        .order_by(Booking.start_dt)
        .limit(1)
    )
    if clash is not None:
        when = format_moment(clash.start_dt, clash.patient_zone)
        raise PatientBusy(
            f"You already have a {clash.consultation_type.name.lower()} with us at that time ({when}), so "
            "nothing was booked. Please choose another time, or use the link in that booking's email to move it."
        )


def _check_online_age(patient, start_dt):
    """Said on the booking form, before anything is booked (the questionnaire used to be the first to say so)."""
    if below_online_age(patient.date_of_birth, start_dt):
        raise NotBookable(
            f"For children under {current_app.config['MINIMUM_ONLINE_AGE']} we book the consultation by phone, "
            f"with a parent or guardian. Please call us on {clinic().phone}. Nothing was booked.",
            field="date_of_birth",
        )


def _check_offered(consultation_type, clinicians, start_dt, now, exclude_booking_id=None, rules=None):
    """Return the clinicians free at start_dt; raise NotBookable or SlotTaken otherwise."""
    rules = rules or consultation_type.slot_rules
    window = Interval(start_dt, start_dt + timedelta(minutes=1))
    if not _on_postgresql():
        # No constraint will refuse the insert there, so expired holds are tidied away first
        # (under SQLite's write lock it costs nothing): feeds and the fair pick count no ghost.
        release_expired_holds(now, [clinician.id for clinician in clinicians])
    calendars = load_calendars(clinicians, window, now, exclude_booking_id)
    free_ids = {
        slot.clinician_id for slot in bookable_slots_for_all(calendars, rules, window, now) if slot.start_dt == start_dt
    }
    if free_ids:
        return [clinician for clinician in clinicians if clinician.id in free_ids]
    if start_dt <= now:
        raise NotBookable("That time has already passed. Please choose a time in the future.")
    # Would it be offered if nobody had booked? Then it has just been taken.
    unbooked = [replace(calendar, busy=(), consultations=()) for calendar in calendars]
    if any(slot.start_dt == start_dt for calendar in unbooked for slot in bookable_slots(calendar, rules, window, now)):
        clinician = clinicians[0] if len(clinicians) == 1 else None
        raise SlotTaken(nearby_alternatives(consultation_type, start_dt, now, clinician, exclude_booking_id, rules))
    raise NotBookable("That time is not one we offer. Please pick a time from the list.")


def _check_clinician_bookable(clinician):
    if not clinician.is_bookable:
        raise NotBookable(
            f"{clinician.display_name} is not taking bookings now. Please choose another clinician, or call us on "
            f"{clinic().phone}.",
            field="clinician",
        )


def _week_counts(clinicians, start_dt):
    """Active bookings per clinician in each clinician's own local week of start_dt, in one query."""
    weeks = {clinician.id: local_week(start_dt, clinician.zone) for clinician in clinicians}
    in_own_week = or_(
        *(
            and_(
                Booking.clinician_id == clinician_id, Booking.start_dt >= week.start_dt, Booking.start_dt < week.end_dt
            )
            for clinician_id, week in weeks.items()
        )
    )
    counted = dict(
        db.session.execute(
            select(Booking.clinician_id, func.count(Booking.id))
            .where(Booking.status != BookingStatus.CANCELLED, in_own_week)
            .group_by(Booking.clinician_id)
        ).all()
    )
    return {clinician_id: counted.get(clinician_id, 0) for clinician_id in weeks}


def _fairness_order(free, start_dt):
    """The free clinicians, the fair pick first (see pick_fair_clinician); one needs no counting."""
    if len(free) == 1:
        return list(free)
    counts = _week_counts(free, start_dt)
    order = []
    while counts:
        chosen_id = pick_fair_clinician(counts)
        order.append(next(clinician for clinician in free if clinician.id == chosen_id))
        del counts[chosen_id]
    return order


def _flush_past_expired_holds(change, clinician_id, now):
    """Apply and flush `change` (a booking added or moved); return False if the database refused an overlap.

    A hold past its deadline is free to the slot engine, but on PostgreSQL it is still a
    row the exclusion constraint counts: when one stands in the way, the clinician's
    expired holds are released and the change is tried once more. (SQLite has no such
    constraint; _check_offered releases them there first.)
    """
    if flush_in_savepoint(change):
        return True
    return bool(release_expired_holds(now, [clinician_id])) and flush_in_savepoint(change)


def _new_booking(consultation_type, clinician, start_dt, rules, now):
    """(manage token, the columns every new booking has): its times and blocked span, its own UID, link and room."""
    token, token_hash = issue_manage_token()
    blocked = rules.blocked_interval(start_dt)
    return token, {
        "public_id": str(uuid.uuid4()),
        "clinician_id": clinician.id,
        "consultation_type_id": consultation_type.id,
        "start_dt": start_dt,
        "end_dt": start_dt + rules.duration,
        "blocked_start_dt": blocked.start_dt,
        "blocked_end_dt": blocked.end_dt,
        "ical_uid": f"{uuid.uuid4()}@kapclinic",
        "ical_sequence": 0,
        "manage_token_hash": token_hash,
        "video_room_token": secrets.token_urlsafe(VIDEO_ROOM_BYTES),
        "created_dt": now,
        "updated_dt": now,
        "now": now,
    }


def _add_booking(now, **columns):
    """Insert a new booking and return it, or None if the database refused it: the clinician
    was just booked, or a twin request holds its idempotency key.

    On PostgreSQL one INSERT ... ON CONFLICT DO NOTHING: a refusal returns no row instead
    of an error, so no savepoint is needed, and two inserts racing for overlapping times
    never deadlock (PostgreSQL's speculative insertion lets one of them through).
    """
    if not _on_postgresql():
        booking = Booking(**columns)
        added = _flush_past_expired_holds(lambda: db.session.add(booking), booking.clinician_id, now)
        return booking if added else None
    booking = db.session.scalars(_insert_unless_refused(), [columns]).first()
    if booking is None and release_expired_holds(now, [columns["clinician_id"]]):
        booking = db.session.scalars(_insert_unless_refused(), [columns]).first()
    return booking


@cache
def _insert_unless_refused():
    return postgresql.insert(Booking).on_conflict_do_nothing().returning(Booking)


def _booking_with_key(idempotency_key):
    if idempotency_key is None:
        return None
    return db.session.scalar(select(Booking).where(Booking.idempotency_key == idempotency_key))


def request_fingerprint(consultation_type, clinician, start_dt, patient):
    """SHA-256 of everything a booking request asks for: a repeated key must ask for exactly this again."""
    asked = {
        "type": consultation_type.id,
        "clinician": clinician.id if clinician is not None else None,
        "start": start_dt.isoformat(),
        "name": patient.name,
        "email": patient.email,
        "phone": patient.phone,
        "date_of_birth": patient.date_of_birth.isoformat(),
        "timezone": patient.timezone,
        "contact_consent": patient.contact_consent,
    }
    return hashlib.sha256(json.dumps(asked, sort_keys=True).encode("utf-8")).hexdigest()


def _replay(earlier, fingerprint):
    """Return the earlier booking for a repeated key, unless the repeat asks for anything else."""
    if earlier.idempotency_fingerprint != fingerprint:
        raise NotBookable(
            "This request key was already used with different details, so nothing was booked or changed. "
            "Reload the page to book with these details, or use the link in your email to change your booking.",
            field="idempotency_key",
        )
    return BookingOutcome(earlier, None, replayed=True)


def book(consultation_type, clinician, start_dt, patient, now, idempotency_key=None, visitor=None, rules=None):
    """Book start_dt with `clinician`, or with a fair pick of free clinicians when None.

    Raises NotBookable, SlotTaken or PatientLimitReached. A repeated idempotency key
    returns the booking it made the first time. A `visitor` (the public path) is held
    to the per-patient cap, and with BOOKING_CONFIRMATION_MINUTES its booking is
    pending until confirmed. `rules` replace the type's own (staff_rules for the front desk).
    """
    rules = rules or consultation_type.slot_rules
    if visitor is not None:
        _check_online_age(patient, start_dt)
    if clinician is not None:
        _check_clinician_bookable(clinician)
    candidates = _bookable([clinician] if clinician is not None else consultation_type.active_clinicians)
    _serialise_bookings(candidates)
    if visitor is not None:
        _serialise_patient(patient.email, patient.phone)
    serialise_identity(patient.email, patient.date_of_birth)
    fingerprint = request_fingerprint(consultation_type, clinician, start_dt, patient)
    # Looked up after the lock: a twin request that just committed is found here.
    earlier = _booking_with_key(idempotency_key)
    if earlier is not None:
        return _replay(earlier, fingerprint)
    if visitor is not None:
        _check_patient_limit(patient.email, patient.phone, now)
    free = _check_offered(consultation_type, candidates, start_dt, now, rules=rules)
    record = matching_patient(patient.email, patient.date_of_birth)
    if record is None:
        record = new_patient(patient.name, patient.email, patient.phone, patient.date_of_birth, now)
    else:
        _check_patient_free(record, start_dt, start_dt + rules.duration, now)
        remember_contact(record, patient.name, patient.email, patient.phone, now)
    db.session.flush()
    hold_minutes = current_app.config["BOOKING_CONFIRMATION_MINUTES"] if visitor is not None else 0
    for chosen in _fairness_order(free, start_dt):
        token, columns = _new_booking(consultation_type, chosen, start_dt, rules, now)
        booking = _add_booking(
            **columns,
            status=BookingStatus.PENDING if hold_minutes else BookingStatus.CONFIRMED,
            confirm_by_dt=now + timedelta(minutes=hold_minutes) if hold_minutes else None,
            patient_id=record.id,
            patient_timezone=patient.timezone,
            contact_consent=patient.contact_consent,
            idempotency_key=idempotency_key,
            idempotency_fingerprint=fingerprint,
            client_network=visitor.client_network if visitor is not None else None,
        )
        if booking is not None:
            if booking.is_pending:
                # No invite and no questionnaire until the patient confirms: a fake booking
                # cannot put answers in the front desk's queue.
                confirm_by = format_moment(booking.confirm_by_dt, booking.patient_zone)
                notify_patient(booking, "booking_pending", now, token, invite=False, confirm_by=confirm_by)
                return BookingOutcome(booking, token)
            intake_token = create_intake(booking, now)
            notify_patient(booking, "booking_confirmed", now, token, intake_token)
            return BookingOutcome(booking, token, intake_token)
        # Refused by the database: either the same form was submitted twice at
        # once (the other request holds the key) or the clinician was just booked.
        earlier = _booking_with_key(idempotency_key)
        if earlier is not None:
            return _replay(earlier, fingerprint)
    raise SlotTaken(nearby_alternatives(consultation_type, start_dt, now, clinician, rules=rules))


def hold_calendars(clinicians, patient):
    """Take the locks one booking takes (the clinicians' own limits, the patient's identity) for several at once.

    A course books all its sessions inside them, so its checks and its inserts see the same calendar.
    """
    _serialise_bookings(clinicians)
    serialise_identity(patient.email, patient.date_of_birth)


def patient_commitments(patient, window, now, exclude_booking_id=None):
    """The patient's active sessions overlapping `window`, as consultation Intervals (no buffers)."""
    rows = db.session.execute(
        select(Booking.start_dt, Booking.end_dt).where(
            *_patient_sessions_within(patient, window.start_dt, window.end_dt, now, exclude_booking_id)
        )
    ).all()
    return tuple(Interval(start_dt, end_dt) for start_dt, end_dt in rows)


def add_course_session(consultation_type, clinician, patient, start_dt, rules, now, course, step, booked_from):
    """Insert one confirmed session of a course (checked by the course's planner under hold_calendars).

    `booked_from` is the consultation the course follows: the session takes its zone and contact consent.
    Returns (booking, manage token), or (None, None) when the database refused it: the
    clinician or the patient was just booked at that time by someone else.
    """
    token, columns = _new_booking(consultation_type, clinician, start_dt, rules, now)
    booking = _add_booking(
        **columns,
        status=BookingStatus.CONFIRMED,
        patient_id=patient.id,
        patient_timezone=booked_from.patient_timezone,
        contact_consent=booked_from.contact_consent,
        course_id=course.id,
        course_step=step,
    )
    return (booking, token) if booking is not None else (None, None)


def confirm_held(booking, manage_token, now):
    """The patient confirmed a pending booking from its link: it stands, and the invite and questionnaire go out.

    Confirming twice changes nothing. Raises HoldReleased once the deadline has passed.
    """
    if booking.status is BookingStatus.CONFIRMED:
        return
    if not booking.is_pending or booking.hold_expired(now):
        raise HoldReleased(
            "We did not hear from you in time, so this time was released for other patients. "
            "Please book again, or call us."
        )
    booking.status = BookingStatus.CONFIRMED
    booking.confirm_by_dt = None
    booking.updated_dt = now
    db.session.flush()
    intake_token = create_intake(booking, now)
    notify_patient(booking, "booking_confirmed", now, manage_token, intake_token)


RELEASED_UNCONFIRMED = "unconfirmed"


def release_expired_holds(now, clinician_ids=None):
    """Cancel pending bookings not confirmed by their deadline, so their slots open; return how many.

    The worker calls this every round. Booking calls it for the clinician whose insert
    the database refused: slots already treat an expired hold as free, and PostgreSQL's
    exclusion constraint must agree. Nobody is emailed: the email asking to confirm said so.
    """
    expired = and_(Booking.status == BookingStatus.PENDING, Booking.confirm_by_dt <= now)
    if clinician_ids is not None:
        expired = and_(expired, Booking.clinician_id.in_(clinician_ids))
    # One UPDATE, no rows loaded: on a normal day it finds nothing.
    released = db.session.execute(
        update(Booking)
        .where(expired)
        .values(status=BookingStatus.CANCELLED, cancelled_dt=now, cancelled_by=RELEASED_UNCONFIRMED, updated_dt=now)
        .execution_options(synchronize_session="fetch")
    ).rowcount
    return released


# Why the clinic cancelled, as the patient's email explains it.
CANCELLED_PLAINLY = "plain"
CANCELLED_UNCHECKED_BURST = "unchecked-burst"  # one of several bookings made together online that we could not check


def cancel(booking, now, by, reason="", why=CANCELLED_PLAINLY):
    """Cancel a booking; the slot opens again at once, and the patient is told `why`.

    A held booking never confirmed was never sent an invite, so its email carries no
    calendar update: there is nothing in the patient's calendar to remove.
    """
    invite_was_sent = not booking.is_pending
    booking.status = BookingStatus.CANCELLED
    booking.cancelled_dt = now
    booking.cancelled_by = by
    booking.cancellation_reason = reason or None
    booking.ical_sequence += 1
    booking.updated_dt = now
    db.session.flush()
    notify_patient(
        booking,
        "booking_cancelled",
        now,
        invite=invite_was_sent,
        unchecked_burst=why == CANCELLED_UNCHECKED_BURST,
    )


def reschedule(booking, start_dt, now, clinician=None, by_staff=False, course_rules_checked=False):
    """Move a booking to another free start, with the same clinician unless another is given; return a new manage token.

    Staff work without the patient-facing notice and horizon (see staff_rules); the
    clinician's hours, time off, limits and other bookings still hold. A course's session
    moves only through courses.services.move_session, which checks its spacing first.
    """
    if booking.course_id is not None and not course_rules_checked:
        raise NotBookable("This session belongs to a treatment course: it is moved from the course, by its rules.")
    consultation_type = booking.consultation_type
    clinician = clinician or booking.clinician
    only_clinician_changed = start_dt == booking.start_dt
    rules = staff_rules(consultation_type) if by_staff else consultation_type.slot_rules
    _check_clinician_bookable(clinician)
    _serialise_bookings({booking.clinician, clinician})
    serialise_identity(booking.patient_email, booking.patient_date_of_birth)
    _check_offered(consultation_type, [clinician], start_dt, now, exclude_booking_id=booking.id, rules=rules)
    _check_patient_free(booking.patient, start_dt, start_dt + rules.duration, now, exclude_booking_id=booking.id)
    blocked = rules.blocked_interval(start_dt)
    token, token_hash = issue_manage_token()

    def move():
        booking.clinician = clinician
        booking.start_dt = start_dt
        booking.end_dt = start_dt + rules.duration
        booking.blocked_start_dt = blocked.start_dt
        booking.blocked_end_dt = blocked.end_dt
        booking.ical_sequence += 1
        booking.previous_manage_token_hash = booking.manage_token_hash  # the first email's link still opens it
        booking.manage_token_hash = token_hash
        booking.updated_dt = now

    if not _flush_past_expired_holds(move, clinician.id, now):
        # The savepoint rollback expired the booking: it reads its old times again.
        raise SlotTaken(nearby_alternatives(consultation_type, start_dt, now, clinician, booking.id, rules))
    if booking.intake is not None:
        intake_consultation_moved(booking.intake, now)
    notify_patient(
        booking,
        "booking_rescheduled",
        now,
        token,
        _fresh_questionnaire_link(booking),
        only_clinician_changed=only_clinician_changed,
    )
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
        notify_patient(booking, "booking_details_changed", now)
    return len(upcoming)


def set_video_link(booking, link, now):
    """Give one consultation a video link of its own (staff's choice); the patient gets an updated invite.

    The caller checks who may and that the link is sound (Booking.can_set_video_link,
    core.validation.clean_video_link). Same time and UID, the next SEQUENCE, as when a
    type's place changes (resend_changed_details).
    """
    booking.staff_video_link = link
    booking.ical_sequence += 1
    db.session.flush()
    notify_patient(booking, "booking_details_changed", now)


# --- patient emails ---------------------------------------------------------------


def _fresh_questionnaire_link(booking):
    """A new questionnaire link while it is unfinished (the one sent before keeps working), else None."""
    if booking.intake is None or not booking.intake.is_editable:
        return None
    return renew_questionnaire_link(booking.intake)


def email_questionnaire_link(booking):
    """Email the patient a fresh link to their unfinished questionnaire; return False if there is none to finish.

    The manage page offers this instead of opening the questionnaire with the manage
    link: each link does one thing, and the questionnaire's goes only to the booking's address.
    """
    intake_token = _fresh_questionnaire_link(booking)
    if intake_token is None:
        return False
    queue_email(
        booking.patient_email,
        "questionnaire_link",
        {
            "intake_url": public_url("intake.start", token=intake_token),
            **booking.for_email(),
        },
        expires_dt=booking.start_dt,
    )
    return True


def correct_email(booking, email, now):
    """The patient mistyped their address: send the confirmation again, to `email`; return the new manage token.

    A held time gets its email asking to confirm instead, since the wrong address could never
    confirm it. What was sent to the wrong address stops working: the manage link (and the one
    kept from before a reschedule) and every questionnaire link. The new address is held to the
    per-patient cap, as at booking. Raises CorrectionClosed, PatientLimitReached, or a
    SchedulingError on the email field when nothing would change.
    """
    if not booking.can_correct_email(now):
        raise CorrectionClosed(
            "The address of this booking can no longer be changed online: that is possible only in the first "
            f"hour after booking. Please call us on {clinic().phone} and we will correct it."
        )
    if email.lower() == booking.patient_email.lower():
        raise SchedulingError(
            "That is the address we sent your confirmation to. If it has not arrived, please check your spam folder.",
            field="email",
        )
    _serialise_patient(email, booking.patient_phone)
    _check_patient_limit(email, booking.patient_phone, now, fields=("email",))
    _move_to_address(booking, email, now)
    booking.email_corrections += 1
    token, booking.manage_token_hash = issue_manage_token()
    booking.previous_manage_token_hash = None
    db.session.flush()
    if booking.is_pending:
        confirm_by = format_moment(booking.confirm_by_dt, booking.patient_zone)
        notify_patient(booking, "booking_pending", now, token, invite=False, confirm_by=confirm_by)
        return token
    intake_token = renew_questionnaire_link(booking.intake, keep_previous=False) if booking.intake else None
    notify_patient(booking, "booking_confirmed", now, token, intake_token)
    return token


def _move_to_address(booking, email, now):
    """Give the booking the corrected address: the patient record the address and date of birth match.

    A record made by this booking alone just takes the address; one with other bookings
    (the typo matched someone, or the patient booked before) keeps its own, and the
    booking moves to the record of the address (a new one if none).
    """
    wrong = booking.patient
    born = wrong.date_of_birth
    serialise_identity(email, born)
    target = matching_patient(email, born)
    if target is not None:
        _check_patient_free(target, booking.start_dt, booking.end_dt, now)
    elif not db.session.scalar(select(exists().where(Booking.patient_id == wrong.id, Booking.id != booking.id))):
        wrong.set_contact(wrong.name, email, wrong.phone, born)
        return
    booking.patient = target or new_patient(wrong.name, email, wrong.phone, born, now)


def send_links_again(email, now):
    """Email fresh links for every upcoming consultation booked with this address, in one message; return how many.

    Each consultation's link to change it is issued again (the one in earlier emails stops
    working: only one is kept), and its questionnaire's link is renewed as a reminder's is
    (the one before keeps working). An address with none gets nothing: the page answers the
    same either way, so it tells nobody whether an address has booked.
    """
    bookings = db.session.scalars(
        select(Booking)
        .join(Booking.patient)
        .where(Patient.email_index == blind_index("email", email.lower()), upcoming_and_holding(now))
        .order_by(Booking.start_dt)
    ).all()
    if not bookings:
        return 0
    consultations = []
    for booking in bookings:
        token, booking.manage_token_hash = issue_manage_token()
        booking.previous_manage_token_hash = None  # links in earlier emails stop, as the page says
        booking.updated_dt = now
        intake = booking.intake if booking.status is BookingStatus.CONFIRMED else None
        questionnaire = intake is not None and intake.is_editable
        consultations.append(
            {
                **booking.for_email(),
                "type_name": booking.consultation_type.name,
                "manage_url": public_url("scheduling.manage", token=token),
                "intake_url": public_url("intake.start", token=renew_questionnaire_link(intake))
                if questionnaire
                else "",
            }
        )
    queue_email(bookings[0].patient_email, "links_again", {"consultations": consultations})
    db.session.flush()
    return len(bookings)


def notify_patient(booking, template, now, manage_token=None, intake_token=None, invite=True, **extra):
    """Queue the patient's email, with its calendar invite (REQUEST, or CANCEL once cancelled) unless `invite` is False.

    A questionnaire link is only ever made from a questionnaire token, never from the manage token.
    """
    manage_url = public_url("scheduling.manage", token=manage_token) if manage_token else ""
    intake_url = public_url("intake.start", token=intake_token) if intake_token else ""
    event, method = emailed_invite(booking) if invite else (None, None)
    queue_email(
        booking.patient_email,
        template,
        {
            "manage_url": manage_url,
            "intake_url": intake_url,
            "book_url": public_url("scheduling.choose_type"),
            "invite_attached": invite,
            **booking.for_email(),
            **extra,
        },
        invite=event,
        ics_method=method,
    )
