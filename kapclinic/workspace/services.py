"""Availability changes a clinician (or an admin) makes, and what they affect; the schedule and its audit rows."""

import secrets
import uuid
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select

from kapclinic.accounts.models import StaffUser
from kapclinic.audit import services as audit
from kapclinic.audit.models import AuditAction
from kapclinic.core.errors import NotAllowed, NotFound
from kapclinic.core.tokens import hash_secret
from kapclinic.extensions import db
from kapclinic.scheduling import services as scheduling
from kapclinic.scheduling.models import AvailabilityRule, Booking, BookingStatus, Clinician, DateOverride, TimeOff
from kapclinic.scheduling.slots import utc_window_for_local_dates

PREVIEW_DAYS = 14


def clinician_for(user, clinician_id):
    """The clinician whose availability `user` may manage: admins any, clinicians only their own."""
    clinician = db.session.get(Clinician, clinician_id)
    if clinician is None:
        raise NotFound("No such clinician.")
    if clinician.can_be_managed_by(user):
        return clinician
    raise NotAllowed("You can only manage your own availability.")


def replace_weekly_hours(clinician, weekly):
    """Replace the clinician's weekly hours with {weekday: [TimeRange]}."""
    db.session.execute(delete(AvailabilityRule).where(AvailabilityRule.clinician_id == clinician.id))
    for weekday, ranges in weekly.items():
        for hours in ranges:
            db.session.add(
                AvailabilityRule(clinician_id=clinician.id, weekday=weekday, start_time=hours.start, end_time=hours.end)
            )
    db.session.flush()
    db.session.expire(clinician, ["availability_rules"])


def weekly_hours(clinician):
    """{weekday: [(start, end)]} in order, for the editor."""
    hours = {}
    for rule in sorted(clinician.availability_rules, key=lambda rule: (rule.weekday, rule.start_time)):
        hours.setdefault(rule.weekday, []).append((rule.start_time, rule.end_time))
    return hours


def set_date_override(clinician, day, hours):
    """Make `day` a day off (hours None) or give it these hours instead of the weekly ones."""
    remove_date_override(clinician, day)
    if hours is None:
        db.session.add(DateOverride(clinician_id=clinician.id, on_date=day))
    else:
        db.session.add(DateOverride(clinician_id=clinician.id, on_date=day, start_time=hours.start, end_time=hours.end))
    db.session.flush()


def remove_date_override(clinician, day):
    db.session.execute(
        delete(DateOverride).where(DateOverride.clinician_id == clinician.id, DateOverride.on_date == day)
    )


def upcoming_overrides(clinician, today):
    return db.session.scalars(
        select(DateOverride)
        .where(DateOverride.clinician_id == clinician.id, DateOverride.on_date >= today)
        .order_by(DateOverride.on_date, DateOverride.start_time)
    ).all()


def bookings_during(clinician, start_dt, end_dt):
    """Active bookings of the clinician that overlap [start_dt, end_dt)."""
    return db.session.scalars(
        select(Booking)
        .where(
            Booking.clinician_id == clinician.id,
            Booking.status == BookingStatus.CONFIRMED,
            Booking.start_dt < end_dt,
            Booking.end_dt > start_dt,
        )
        .order_by(Booking.start_dt)
    ).all()


def add_time_off(clinician, first_day, last_day, reason):
    """Add time off over whole local days; return the bookings inside it, which stay until someone acts."""
    window = utc_window_for_local_dates(first_day, last_day, clinician.zone)
    db.session.add(TimeOff(clinician_id=clinician.id, start_dt=window.start_dt, end_dt=window.end_dt, reason=reason))
    db.session.flush()
    return bookings_during(clinician, window.start_dt, window.end_dt)


def bookings_on(clinician, day):
    window = utc_window_for_local_dates(day, day, clinician.zone)
    return bookings_during(clinician, window.start_dt, window.end_dt)


def upcoming_time_off(clinician, now):
    return db.session.scalars(
        select(TimeOff).where(TimeOff.clinician_id == clinician.id, TimeOff.end_dt > now).order_by(TimeOff.start_dt)
    ).all()


def remove_time_off(clinician, time_off_id):
    span = db.session.get(TimeOff, time_off_id)
    if span is None or span.clinician_id != clinician.id:
        raise NotFound("No such time off.")
    db.session.delete(span)
    db.session.flush()


def preview(clinician, now):
    """The next two weeks of bookable starts per consultation type: the same engine patients see."""
    today = now.astimezone(clinician.zone).date()
    window = utc_window_for_local_dates(today, today + timedelta(days=PREVIEW_DAYS - 1), clinician.zone)
    return [
        (consultation_type, scheduling.find_slots(consultation_type, window, now, clinician))
        for consultation_type in clinician.consultation_types
        if consultation_type.is_active
    ]


# --- schedule -----------------------------------------------------------------------


def booking_for(user, public_id):
    """A booking `user` may see: admins any, clinicians only their own consultations."""
    try:
        public_id = str(uuid.UUID(public_id))
    except ValueError:
        raise NotFound("No such consultation.") from None
    booking = db.session.scalar(select(Booking).where(Booking.public_id == public_id))
    if booking is None:
        raise NotFound("No such consultation.")
    if booking.can_be_managed_by(user):
        return booking
    raise NotAllowed("That consultation is not yours.")


def schedule(clinician, window, include_cancelled=False):
    """The clinician's consultations starting inside `window`, in time order."""
    query = select(Booking).where(
        Booking.clinician_id == clinician.id, Booking.start_dt >= window.start_dt, Booking.start_dt < window.end_dt
    )
    if not include_cancelled:
        query = query.where(Booking.status != BookingStatus.CANCELLED)
    return db.session.scalars(query.order_by(Booking.start_dt)).all()


def mark_outcome(user, booking, status, now):
    """Record that a past consultation took place or the patient did not come."""
    if status not in (BookingStatus.COMPLETED, BookingStatus.NO_SHOW):
        raise ValueError("only completed or no-show can be marked")
    if not booking.can_mark_outcome(now):
        raise NotAllowed("Only consultations that have started can be marked.")
    booking.status = status
    booking.ical_sequence += 1
    booking.updated_dt = now
    db.session.flush()
    _record(user, AuditAction.OUTCOME_MARKED, now, booking, detail=f"marked {status.value}")


def cancel(user, booking, reason, now):
    """Cancel for the clinician (the patient is emailed) and record who did it."""
    scheduling.cancel(booking, now, by="clinician", reason=reason)
    _record(user, AuditAction.CANCELLED, now, booking, detail="from the clinician's schedule")


def _record(user, action, now, booking, detail=""):
    audit.record(user, action, now, intake=booking.intake, booking=booking, detail=detail)


def record_schedule_viewed(user, clinician, view, first, last, now):
    """One row for a day or week page: it shows patients' names and urgent markers."""
    audit.record(user, AuditAction.SCHEDULE_VIEWED, now, detail=f"clinician {clinician.id}, {view} {first} to {last}")


def record_invite_exported(user, booking, now):
    _record(user, AuditAction.INVITE_EXPORTED, now, booking)


def record_schedule_exported(user, clinician, booking_ids, first, last, now):
    """One row per exported consultation, so each patient's trail shows the export (one row if none)."""
    detail = f"clinician {clinician.id}, {first} to {last}"
    if not booking_ids:
        audit.record(user, AuditAction.SCHEDULE_EXPORTED, now, detail=detail)
    for booking in db.session.scalars(select(Booking).where(Booking.id.in_(booking_ids)).order_by(Booking.id)):
        _record(user, AuditAction.SCHEDULE_EXPORTED, now, booking, detail=detail)


def feed_bookings(clinician, now):
    """What the subscription feed holds: recent and upcoming consultations, recent cancellations too."""
    since = now - timedelta(days=current_app.config["FEED_CANCELLED_DAYS"])
    return db.session.scalars(
        select(Booking)
        .where(
            Booking.clinician_id == clinician.id,
            Booking.start_dt >= since,
            (Booking.status != BookingStatus.CANCELLED) | (Booking.cancelled_dt >= since),
        )
        .order_by(Booking.start_dt)
    ).all()


def rotate_feed_token(clinician):
    """Make a new feed link; the old one stops working at once. Return the new token: only its hash is kept."""
    token = secrets.token_urlsafe(32)
    clinician.feed_token_hash = hash_secret(token)
    db.session.flush()
    return token


def is_current_feed_token(clinician, token):
    """Whether `token` opens the clinician's feed now (a replaced one does not)."""
    return isinstance(token, str) and clinician.feed_token_hash == hash_secret(token)


def clinician_for_feed(token):
    if not isinstance(token, str) or len(token) > 100:
        return None
    clinician = db.session.scalar(
        select(Clinician).where(Clinician.feed_token_hash == hash_secret(token), Clinician.is_active)
    )
    # A clinician whose staff account is deactivated has no feed either.
    staff = db.session.scalar(select(StaffUser).where(StaffUser.clinician_id == clinician.id)) if clinician else None
    if staff is not None and not staff.is_active:
        return None
    return clinician


def set_offering(clinician, consultation_types, max_per_day, min_gap_minutes):
    """Which consultation types the clinician offers, and their daily limit and minimum gap."""
    clinician.consultation_types = list(consultation_types)
    clinician.max_per_day = max_per_day
    clinician.min_gap_minutes = min_gap_minutes
    db.session.flush()
