"""Queue the reminders that are due, each exactly once, however many workers run at once.

A reminder of a kind is due when the consultation is confirmed and starts within its
window; it is sent only if the consultation was already booked (or last moved) by
then: someone who books tomorrow's slot today has their confirmation, not a "24 hours
to go" email. Kinds: the consultation itself (24 and 2 hours before), a questionnaire
not finished, and a guardian who has not signed (72 hours before). The unique
ReminderSent row, inserted in a savepoint in the same transaction as the email,
decides each reminder once: a second worker's insert waits for the first and then
fails, so it skips.
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


def _due(kind, hours, now, limit, intake_status):
    already = exists().where(
        and_(
            ReminderSent.booking_id == Booking.id, ReminderSent.kind == kind, ReminderSent.start_dt == Booking.start_dt
        )
    )
    query = select(Booking).where(
        Booking.status == BookingStatus.CONFIRMED,
        Booking.start_dt > now,
        Booking.start_dt <= now + timedelta(hours=hours),
        ~already,
    )
    if intake_status is not None:
        query = query.join(Intake).where(Intake.status == intake_status)
    return db.session.scalars(query.order_by(Booking.start_dt).limit(limit)).all()


def _claim(booking, kind, now):
    """Decide this reminder once: the row stands for "sent" or for "not needed", so no one looks again."""
    return flush_in_savepoint(
        lambda: db.session.add(ReminderSent(booking_id=booking.id, kind=kind, start_dt=booking.start_dt, queued_dt=now))
    )


def _settled_by_then(booking, hours, intake_status):
    """Booked (or last moved) before the reminder's window opened, and for a guardian, asked before it too.

    Otherwise the first email is still fresh: a guardian asked yesterday for a consultation
    in two days needs no reminder whose new link would replace the one just sent.
    """
    cutoff = booking.start_dt - timedelta(hours=hours)
    if intake_status is IntakeStatus.AWAITING_GUARDIAN and booking.intake.signed_dt > cutoff:
        return False
    return booking.updated_dt <= cutoff


def _consultation_reminder(booking, hours):
    queue_email(
        booking.patient_email,
        "consultation_reminder",
        {"hours": hours, **booking.for_email()},
        expires_dt=booking.start_dt,
    )


def _intake_reminder(booking, hours):
    # A new link (the one in earlier emails stops working): only the hash of the old one is kept.
    token = intakes.renew_link(booking.intake)
    queue_email(
        booking.patient_email,
        "intake_reminder",
        {"intake_url": public_url("intake.start", token=token), **booking.for_email()},
        expires_dt=booking.start_dt,
    )


def _guardian_reminder(booking, hours):
    intakes.remind_guardian(booking.intake)


def queue_due(now, limit):
    """Queue every due reminder (up to `limit` of each kind); return how many were queued."""
    config = current_app.config
    kinds = [(f"consultation-{hours}h", hours, None, _consultation_reminder) for hours in config["REMINDER_HOURS"]]
    intake_hours = config["INTAKE_REMINDER_HOURS"]
    if intake_hours:
        kinds.append((f"intake-{intake_hours}h", intake_hours, IntakeStatus.DRAFT, _intake_reminder))
        # An adolescent who has finished still needs their guardian's signature before the consultation.
        kinds.append((f"guardian-{intake_hours}h", intake_hours, IntakeStatus.AWAITING_GUARDIAN, _guardian_reminder))
    queued = 0
    for kind, hours, intake_status, send in kinds:
        for booking in _due(kind, hours, now, limit, intake_status):
            if _claim(booking, kind, now) and _settled_by_then(booking, hours, intake_status):
                send(booking, hours)
                queued += 1
    return queued
