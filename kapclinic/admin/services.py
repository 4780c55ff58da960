"""Admin changes to consultation types, clinic settings, the email outbox and bursts of bookings, each audited.

Staff users go through accounts.services.
"""

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update

from kapclinic.accounts.models import StaffUser
from kapclinic.audit import services as audit
from kapclinic.audit.models import AuditAction
from kapclinic.core import clinic as clinic_settings
from kapclinic.core.errors import DomainError, NotFound
from kapclinic.extensions import db
from kapclinic.notifications.models import OutboxMessage, OutboxStatus
from kapclinic.patients.models import Patient
from kapclinic.scheduling import services as scheduling
from kapclinic.scheduling.bursts import BookingTrace, find_bursts
from kapclinic.scheduling.models import Booking, Clinician, ConsultationType, Modality

TYPE_FIELDS = (
    "name",
    "description",
    "fee_cents",
    "duration_minutes",
    "buffer_before_minutes",
    "buffer_after_minutes",
    "min_notice_minutes",
    "horizon_days",
    "slot_step_minutes",
    "location",
    "video_link",
    "is_active",
    "course_only",
    "patient_bookable",
    "change_window_hours",
)


class SlugTaken(DomainError):
    """Another consultation type already uses that short name."""

    default_field = "slug"


def staff_users():
    return db.session.scalars(select(StaffUser).order_by(StaffUser.is_active.desc(), StaffUser.name)).all()


def upcoming_consultations(clinician, now):
    """The clinician's consultations still to come that keep their time, soonest first: to move or cancel."""
    return db.session.scalars(
        select(Booking)
        .where(Booking.clinician_id == clinician.id, scheduling.upcoming_and_holding(now))
        .order_by(Booking.start_dt, Booking.id)
    ).all()


def all_consultation_types():
    return db.session.scalars(select(ConsultationType).order_by(ConsultationType.id)).all()


def save_consultation_type(actor, consultation_type, data, clinician_ids, now):
    """Create (consultation_type None) or update a type from validated form data, with its audit row.

    Return how many patients were sent an updated invite because how or where they meet changed.
    """
    meeting_before = (consultation_type.modality, consultation_type.where) if consultation_type else None
    if consultation_type is None:
        if db.session.scalar(select(ConsultationType.id).where(ConsultationType.slug == data["slug"])):
            raise SlugTaken("Another consultation type already uses that short name.")
        consultation_type = ConsultationType(slug=data["slug"])
        db.session.add(consultation_type)
    for field in TYPE_FIELDS:
        setattr(consultation_type, field, data[field])
    consultation_type.modality = Modality(data["modality"])
    consultation_type.clinicians = db.session.scalars(
        select(Clinician).where(Clinician.id.in_(clinician_ids)).order_by(Clinician.id)
    ).all()
    db.session.flush()
    told = 0
    if meeting_before is not None and meeting_before != (consultation_type.modality, consultation_type.where):
        told = scheduling.resend_changed_details(consultation_type, now)
    change = "added" if meeting_before is None else "changed"
    detail = f"type {consultation_type.slug} {change}, {told} invite(s) updated"
    audit.record(actor, AuditAction.TYPE_SAVED, now, detail=detail)
    return told


def save_clinic_settings(actor, values, now, logo=None, remove_logo=False):
    """Save the clinic's settings (core.clinic.save), with their audit row."""
    clinic_settings.save(values, now, logo=logo, remove_logo=remove_logo)
    audit.record(actor, AuditAction.SETTINGS_SAVED, now)


# --- the email outbox ----------------------------------------------------------------

OUTBOX_LIST_LIMIT = 200
SENT_WINDOW = timedelta(hours=24)
# What an admin may see of a message: never its bodies, which carry patients' private links.
_OUTBOX_COLUMNS = (
    OutboxMessage.id,
    OutboxMessage.recipient,
    OutboxMessage.subject,
    OutboxMessage.template,
    OutboxMessage.attempts,
    OutboxMessage.last_error,
    OutboxMessage.created_dt,
    OutboxMessage.next_attempt_dt,
)


class UnknownMessage(NotFound):
    """No outbox message has that id."""


class NotFailed(DomainError):
    """Only a failed message is put back in the queue; a pending one is still being tried."""


@dataclass(frozen=True)
class OutboxOverview:
    pending: int
    failed: int
    sent_recently: int
    failed_messages: list  # newest first, at most OUTBOX_LIST_LIMIT
    retrying_messages: list  # pending after at least one attempt, next due first


def outbox_overview(now):
    """Counts and the messages that need an admin's eye, read without decrypting any body."""
    pending, failed, sent_recently = db.session.execute(
        select(
            func.count().filter(OutboxMessage.status == OutboxStatus.PENDING),
            func.count().filter(OutboxMessage.status == OutboxStatus.FAILED),
            func.count().filter(OutboxMessage.status == OutboxStatus.SENT, OutboxMessage.sent_dt >= now - SENT_WINDOW),
        )
    ).one()
    failed_messages = db.session.execute(
        select(*_OUTBOX_COLUMNS)
        .where(OutboxMessage.status == OutboxStatus.FAILED)
        .order_by(OutboxMessage.created_dt.desc(), OutboxMessage.id.desc())
        .limit(OUTBOX_LIST_LIMIT)
    ).all()
    retrying_messages = db.session.execute(
        select(*_OUTBOX_COLUMNS)
        .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.attempts > 0)
        .order_by(OutboxMessage.next_attempt_dt, OutboxMessage.id)
        .limit(OUTBOX_LIST_LIMIT)
    ).all()
    return OutboxOverview(pending, failed, sent_recently, failed_messages, retrying_messages)


def retry_failed(actor, now, message_id=None):
    """Queue failed messages again (one, or all when message_id is None), with an audit row; return how many.

    They become pending, due now, with a fresh allowance of attempts. The status is
    checked in the UPDATE itself, so a message another admin retried a moment ago is
    refused rather than queued twice.
    """
    query = update(OutboxMessage).where(OutboxMessage.status == OutboxStatus.FAILED)
    if message_id is not None:
        query = query.where(OutboxMessage.id == message_id)
    retried = db.session.execute(query.values(status=OutboxStatus.PENDING, attempts=0, next_attempt_dt=now)).rowcount
    if message_id is not None and not retried:
        status = db.session.scalar(select(OutboxMessage.status).where(OutboxMessage.id == message_id))
        if status is None:
            raise UnknownMessage(f"There is no outbox message {message_id}.")
        raise NotFailed(f"Message {message_id} is {status.value}; only failed messages can be retried.")
    detail = f"message {message_id}" if message_id is not None else f"all failed: {retried}"
    audit.record(actor, AuditAction.OUTBOX_RETRIED, now, detail=detail)
    return retried


# --- bursts of bookings ------------------------------------------------------------------


@dataclass(frozen=True)
class BurstView:
    burst: object  # scheduling.bursts.Burst
    bookings: list  # in the order they were made


def booking_bursts(now, min_count, window):
    """Active upcoming bookings made in bursts from one client network or with one phone, the worst first."""
    traces = [
        BookingTrace(*row)
        for row in db.session.execute(
            select(Booking.id, Booking.created_dt, Booking.client_network, Patient.phone_index)
            .join(Booking.patient)
            .where(scheduling.upcoming_and_holding(now))
        )
    ]
    bursts = find_bursts(traces, min_count, window)
    wanted = {booking_id for burst in bursts for booking_id in burst.booking_ids}
    bookings = {booking.id: booking for booking in db.session.scalars(select(Booking).where(Booking.id.in_(wanted)))}
    return [BurstView(burst, [bookings[booking_id] for booking_id in burst.booking_ids]) for burst in bursts]


class NotInABurst(DomainError):
    """A booking chosen for cancelling is not in any burst the page lists now (cancelled, passed, or never in one)."""


def bookings_to_cancel(booking_ids, now, min_count, window, for_update=False):
    """The chosen bookings, each in a burst found now; raise NotInABurst for any other id.

    The bursts page cancels only what it would list: an id typed into the form (or a
    booking that left its burst meanwhile) cannot make it cancel anyone else's booking.
    """
    in_bursts = {booking.id for view in booking_bursts(now, min_count, window) for booking in view.bookings}
    if not set(booking_ids) <= in_bursts:
        raise NotInABurst(
            "Some of these bookings are no longer in a burst: they were cancelled, have passed or were never listed. "
            "Nothing was cancelled. Please look at the bursts page again."
        )
    query = select(Booking).where(Booking.id.in_(booking_ids)).order_by(Booking.id)
    return db.session.scalars(query.with_for_update() if for_update else query).all()


def cancel_burst(actor, booking_ids, now, min_count, window):
    """Cancel the chosen bookings of current bursts; return how many.

    Each patient is emailed why (one of several bookings made together that we could
    not check) and how to book again, or to ignore it if they never booked; a calendar
    update goes only to those who were sent an invite. One audit row per booking, with
    no patient data in its detail.
    """
    bookings = bookings_to_cancel(booking_ids, now, min_count, window, for_update=True)
    for booking in bookings:
        scheduling.cancel(booking, now, by="admin", why=scheduling.CANCELLED_UNCHECKED_BURST)
        audit.record(
            actor,
            AuditAction.CANCELLED,
            now,
            booking=booking,
            detail=f"cancelled with a burst of {len(bookings)} suspicious bookings",
        )
    return len(bookings)
