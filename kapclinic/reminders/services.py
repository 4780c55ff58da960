"""Queue the reminders that are due, each exactly once, however many workers run at once.

A reminder of a kind is due when the consultation is confirmed and starts within its
window; it is sent only if the consultation was already booked (or last moved) by
then: someone who books tomorrow's slot today has their confirmation, not a "24 hours
to go" email. The unique ReminderSent row, inserted in a savepoint in the same
transaction as the email, decides each reminder once: a second worker's insert waits
for the first and then fails, so it skips.
"""

from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, exists, select

from kapclinic.core.db import flush_in_savepoint
from kapclinic.core.urls import public_url
from kapclinic.extensions import db
from kapclinic.intake import services as intakes
from kapclinic.intake.models import Intake, IntakeStatus
from kapclinic.notifications.services import queue_email
from kapclinic.reminders.models import ReminderSent
from kapclinic.scheduling.models import Booking, BookingStatus
from kapclinic.scheduling.services import when_for_people


def _due(kind, hours, now, limit, unfinished_intake):
    already = exists().where(
        and_(ReminderSent.booking_id == Booking.id, ReminderSent.kind == kind, ReminderSent.start_dt == Booking.start_dt)
    )
    query = select(Booking).where(
        Booking.status == BookingStatus.CONFIRMED,
        Booking.start_dt > now,
        Booking.start_dt <= now + timedelta(hours=hours),
        ~already,
    )
    if unfinished_intake:
        query = query.join(Intake).where(Intake.status == IntakeStatus.DRAFT)
    return db.session.scalars(query.order_by(Booking.start_dt).limit(limit)).all()


def _claim(booking, kind, now):
    """Decide this reminder once: the row stands for "sent" or for "not needed", so no one looks again."""
    return flush_in_savepoint(
        lambda: db.session.add(ReminderSent(booking_id=booking.id, kind=kind, start_dt=booking.start_dt, queued_dt=now))
    )


def _was_booked_by_then(booking, hours):
    return booking.updated_dt <= booking.start_dt - timedelta(hours=hours)


def _consultation_reminder(booking, hours):
    queue_email(
        booking.patient_email,
        "consultation_reminder",
        {"booking": booking, "hours": hours, **when_for_people(booking)},
        expires_dt=booking.start_dt,
    )


def _intake_reminder(booking, hours):
    # A new link (the one in earlier emails stops working): only the hash of the old one is kept.
    token = intakes.renew_link(booking.intake)
    queue_email(
        booking.patient_email,
        "intake_reminder",
        {"booking": booking, "intake_url": public_url("intake.start", token=token), **when_for_people(booking)},
        expires_dt=booking.start_dt,
    )


def queue_due(now, limit):
    """Queue every due reminder (up to `limit` of each kind); return how many were queued."""
    config = current_app.config
    kinds = [(f"consultation-{hours}h", hours, False, _consultation_reminder) for hours in config["REMINDER_HOURS"]]
    intake_hours = config["INTAKE_REMINDER_HOURS"]
    kinds.append((f"intake-{intake_hours}h", intake_hours, True, _intake_reminder))
    queued = 0
    for kind, hours, unfinished_intake, send in kinds:
        for booking in _due(kind, hours, now, limit, unfinished_intake):
            if _claim(booking, kind, now) and _was_booked_by_then(booking, hours):
                send(booking, hours)
                queued += 1
    return queued
