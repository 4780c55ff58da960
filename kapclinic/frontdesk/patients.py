"""The patient page's facts, and merging and splitting patient records, each with its audit row.

Merging moves every booking (and with it its intake) of the duplicate to the record kept;
the duplicate stays, pointing at it, so audit rows that name it still lead somewhere.
Splitting moves chosen bookings to a new record with its own contact details.
"""

from dataclasses import dataclass

from sqlalchemy import select, update

from kapclinic.audit import services as audit
from kapclinic.audit.models import AuditAction
from kapclinic.core.timezones import format_moment
from kapclinic.courses.models import Course, TreatmentGate
from kapclinic.extensions import db
from kapclinic.patients import services as patients
from kapclinic.patients.models import Patient
from kapclinic.patients.services import PatientError
from kapclinic.scheduling.models import Booking


@dataclass(frozen=True)
class PatientSessions:
    upcoming: list
    past: list


def record_for(public_id, for_update=False):
    """The record staff open by its public id: a merged one leads to the record it was merged into."""
    query = select(Patient).where(Patient.public_id == public_id)
    if for_update:
        query = query.with_for_update()
    patient = db.session.scalar(query)
    while patient is not None and patient.is_merged:
        patient = db.session.get(Patient, patient.merged_into_id)
    return patient


def bookings_of(patient):
    return db.session.scalars(select(Booking).where(Booking.patient_id == patient.id).order_by(Booking.start_dt)).all()


def sessions_of(patient, now):
    """Upcoming sessions soonest first; past and cancelled ones newest first."""
    bookings = bookings_of(patient)
    upcoming = [booking for booking in bookings if booking.is_active and booking.end_dt > now]
    past = [booking for booking in reversed(bookings) if booking not in upcoming]
    return PatientSessions(upcoming, past)


def session_label(booking, zone):
    """One session in a list staff choose from: when, what, with whom, and its state if not simply booked."""
    state = "" if booking.is_active else " (cancelled)"
    return (
        f"{format_moment(booking.start_dt, zone)}: {booking.consultation_type.name} "
        f"with {booking.clinician.display_name}{state}"
    )


def _audit(actor, action, now, patient, detail):
    """One row naming the record by its public id (no contact detail), tied to its latest booking if any."""
    latest = db.session.scalar(
        select(Booking).where(Booking.patient_id == patient.id).order_by(Booking.start_dt.desc()).limit(1)
    )
    audit.record(actor, action, now, booking=latest, detail=f"patient {patient.public_id} {detail}".strip())


def record_viewed(actor, patient, now):
    _audit(actor, AuditAction.PATIENT_VIEWED, now, patient, "")


def update_contact(actor, patient, name, email, phone, date_of_birth, now):
    patients.update_contact(patient, name, email, phone, date_of_birth, now)
    _audit(actor, AuditAction.PATIENT_UPDATED, now, patient, "contact details changed")


def _active_overlaps(first_ids, second_ids):
    """Pairs of active bookings, one from each set, whose times overlap: one person cannot attend both."""
    if not first_ids or not second_ids:
        return []
    first = {booking.id: booking for booking in db.session.scalars(select(Booking).where(Booking.id.in_(first_ids)))}
    second = db.session.scalars(select(Booking).where(Booking.id.in_(second_ids))).all()
    return [
        (mine, theirs)
        for mine in first.values()
        for theirs in second
        if mine.is_active and theirs.is_active and mine.start_dt < theirs.end_dt and theirs.start_dt < mine.end_dt
    ]


def _refuse_overlaps(clashes, zone):
    if clashes:
        times = "; ".join(format_moment(first.start_dt, zone) for first, _second in clashes)
        raise PatientError(
            "One person cannot hold two sessions at once, and these records have sessions at the same time "
            f"({times}). Cancel or move one of each pair first, then merge."
        )


def merge(actor, kept, duplicate, now, zone):
    """Move every booking of `duplicate` to `kept`; the duplicate then leads to `kept`. Raises PatientError."""
    if kept.id == duplicate.id:
        raise PatientError("That is this record. Choose the other record to merge into this one.")
    if duplicate.is_merged or kept.is_merged:
        raise PatientError("That record was merged already. Open the record it was merged into.")
    kept_ids = [booking.id for booking in bookings_of(kept)]
    duplicate_ids = [booking.id for booking in bookings_of(duplicate)]
    _refuse_overlaps(_active_overlaps(kept_ids, duplicate_ids), zone)
    for row_class in (Booking, Course, TreatmentGate):
        db.session.execute(update(row_class).where(row_class.patient_id == duplicate.id).values(patient_id=kept.id))
    duplicate.merged_into_id = kept.id
    duplicate.updated_dt = kept.updated_dt = now
    db.session.flush()
    db.session.expire_all()
    _audit(actor, AuditAction.PATIENT_MERGED, now, kept, f"took in patient {duplicate.public_id}")


def _whole_courses(patient, chosen):
    """The courses the chosen bookings belong to; a course's sessions go together or not at all."""
    sessions = db.session.execute(
        select(Booking.id, Booking.course_id).where(Booking.patient_id == patient.id, Booking.course_id.is_not(None))
    ).all()
    courses = {course_id for booking_id, course_id in sessions if booking_id in chosen}
    if any(course_id in courses and booking_id not in chosen for booking_id, course_id in sessions):
        raise PatientError(
            "A treatment course's sessions belong to one person: choose all of its sessions or none.", field="bookings"
        )
    return courses


def split(actor, patient, booking_public_ids, name, email, phone, date_of_birth, now):
    """Move the chosen bookings (by public id) to a new record with these details; return it. Raises PatientError."""
    own = {booking.public_id: booking.id for booking in bookings_of(patient)}
    chosen = {own[public_id] for public_id in booking_public_ids if public_id in own}
    if not booking_public_ids:
        raise PatientError("Choose the sessions that belong to the other person.", field="bookings")
    if len(chosen) != len(set(booking_public_ids)):
        raise PatientError("Some of the chosen sessions are not on this record any more. Please choose again.")
    if chosen == set(own.values()):
        raise PatientError(
            "Leave at least one session on this record. To correct this person's details, edit them instead.",
            field="bookings",
        )
    if patients.identity_digest(email, date_of_birth) == patient.identity_index:
        raise PatientError(
            "The new record needs its own email address or date of birth: with the same ones, "
            "the next booking could not tell the two people apart.",
            field="email",
        )
    courses = _whole_courses(patient, chosen)
    other = patients.new_patient(name, email, phone, date_of_birth, now)
    db.session.flush()
    db.session.execute(update(Booking).where(Booking.id.in_(chosen)).values(patient_id=other.id))
    if courses:
        db.session.execute(update(Course).where(Course.id.in_(courses)).values(patient_id=other.id))
    db.session.expire_all()
    moved = f"gave {len(chosen)} booking(s) to patient {other.public_id}"
    _audit(actor, AuditAction.PATIENT_SPLIT, now, patient, moved)
    return other
