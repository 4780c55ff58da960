"""Booking for a caller: the front desk books on the phone what the patient could book online.

Staff reach inside the patient-facing notice and further ahead (scheduling.staff_rules); the
clinician's hours, time off, limits and other bookings still hold. The patient gets the same
confirmation, invite and questionnaire link as a self-booking, and the audit says who booked.
"""

from kapclinic.audit import services as audit
from kapclinic.audit.models import AuditAction
from kapclinic.scheduling import services as scheduling


def book_for_caller(user, consultation_type, clinician, start_dt, patient, now, idempotency_key):
    """Book like scheduling.book, with staff rules and no online-only limits; raises its SchedulingErrors.

    A repeated key (a double click) returns the first booking, and writes no second audit row.
    """
    outcome = scheduling.book(
        consultation_type,
        clinician,
        start_dt,
        patient,
        now,
        idempotency_key,
        rules=scheduling.staff_rules(consultation_type),
    )
    if not outcome.replayed:
        audit.record(user, AuditAction.BOOKED_FOR_CALLER, now, booking=outcome.booking, intake=outcome.booking.intake)
    return outcome
