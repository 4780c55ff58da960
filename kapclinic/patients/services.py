"""Finding, matching, merging and splitting patient records.

A booking is matched to a patient on email address and date of birth: whoever knows
both is the same person as far as the clinic's online booking can tell. The name and
phone given last are kept (the desk calls the number the patient gave most recently).
Two records of one person (a new address) are merged by staff; a record that holds two
people (twins booked with a parent's address) is split.
"""

import uuid

from sqlalchemy import func, or_, select, text

from kapclinic.core.crypto import blind_index
from kapclinic.core.errors import DomainError
from kapclinic.core.validation import InvalidField, clean_phone
from kapclinic.extensions import db
from kapclinic.patients.models import Patient, PatientNameTerm, identity_digest, name_terms

_PATIENT_LOCK_SPACE = 4245
SEARCH_LIMIT = 50


class PatientError(DomainError):
    default_field = None


def serialise_identity(email, date_of_birth):
    """Hold the lock on this email and date of birth until the transaction ends.

    Two first bookings of one new patient at once must find one record, not make two.
    SQLite's write lock already serialises.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        return
    db.session.execute(
        text("SELECT pg_advisory_xact_lock(:space, hashtext(:key))"),
        {"space": _PATIENT_LOCK_SPACE, "key": identity_digest(email, date_of_birth)},
    )


def matching_patient(email, date_of_birth):
    """The record bookings with this email and date of birth belong to (the oldest, if split left two), or None."""
    return db.session.scalar(
        select(Patient)
        .where(Patient.identity_index == identity_digest(email, date_of_birth), Patient.merged_into_id.is_(None))
        .order_by(Patient.id)
        .limit(1)
    )


def new_patient(name, email, phone, date_of_birth, now):
    patient = Patient(public_id=str(uuid.uuid4()), created_dt=now)
    patient.set_contact(name, email, phone, date_of_birth)
    patient.updated_dt = now
    db.session.add(patient)
    return patient


def remember_contact(patient, name, email, phone, now):
    """A matched patient booked again: keep the name and phone given now (the email differs at most in case)."""
    if (patient.name, patient.phone, patient.email) != (name, phone, email):
        update_contact(patient, name, email, phone, patient.date_of_birth, now)


def by_public_id(public_id):
    return db.session.scalar(select(Patient).where(Patient.public_id == public_id))


def _as_phone(search, region):
    """The search as a stored phone number (E.164), or itself when it is not one."""
    try:
        return clean_phone(search, region)
    except InvalidField:
        return search


def search_condition(search, region="US"):
    """Patients whose email or phone (typed in any format; national numbers read in `region`) is exactly
    `search`, or whose name has every word of it.

    Blind indexes find whole values only: "lopez" finds "Ana María López", "lop" does not.
    """
    by_contact = [
        Patient.email_index == blind_index("email", search.lower()),
        Patient.phone_index == blind_index("phone", _as_phone(search, region)),
    ]
    terms = name_terms(search)
    if not terms:
        return or_(*by_contact)
    digests = [blind_index("name", term) for term in terms]
    named = (
        select(PatientNameTerm.patient_id)
        .where(PatientNameTerm.digest.in_(digests))
        .group_by(PatientNameTerm.patient_id)
        .having(func.count(func.distinct(PatientNameTerm.digest)) == len(set(digests)))
    )
    return or_(*by_contact, Patient.id.in_(named))


def find(search, region="US"):
    """Records staff may open for a search (merged ones left out), newest first."""
    return db.session.scalars(
        select(Patient)
        .where(search_condition(search, region), Patient.merged_into_id.is_(None))
        .order_by(Patient.id.desc())
        .limit(SEARCH_LIMIT)
    ).all()


def update_contact(patient, name, email, phone, date_of_birth, now):
    patient.set_contact(name, email, phone, date_of_birth)
    patient.updated_dt = now
    db.session.flush()
