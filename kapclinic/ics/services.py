"""Invites for bookings: generic, non-clinical texts, since they land in third-party calendars."""

from flask import current_app

from kapclinic.ics.builder import InviteEvent, Person, build_calendar, build_invite


def invite_event(booking):
    """Describe a booking as a calendar event a patient can keep in any calendar.

    The manage link stays out of the event: calendars are shared and synced, and
    anyone holding that link could cancel. It travels only in the email.
    """
    config = current_app.config
    clinic = config["CLINIC_NAME"]
    consultation_type = booking.consultation_type
    lines = [
        f"Your consultation with {clinic}.",
        f"How: {consultation_type.modality.label}. {consultation_type.where}",
        "To change or cancel, use the link in your confirmation email.",
        f"Questions: {config['CLINIC_PHONE']} or {config['CLINIC_EMAIL']}.",
    ]
    return InviteEvent(
        uid=booking.ical_uid,
        sequence=booking.ical_sequence,
        start_dt=booking.start_dt,
        end_dt=booking.end_dt,
        summary=f"Consultation with {clinic}",
        description="\n".join(line for line in lines if line),
        location=consultation_type.where,
        organizer=Person(config["CLINIC_EMAIL"], clinic),
        attendee=Person(booking.patient_email, booking.patient_name),
        cancelled=not booking.is_active,
    )


def emailed_invite(booking, now):
    """Return (ics bytes, method): REQUEST for a live booking, CANCEL for a cancelled one."""
    method = "REQUEST" if booking.is_active else "CANCEL"
    return build_invite(invite_event(booking), now, method), method


def downloadable_invite(booking, now):
    """Return an .ics file for the "Add to calendar" button (no iTIP method)."""
    return build_calendar([invite_event(booking)], now)


def patient_label(name, style):
    """How staff calendars name the patient: initials by default ("A. P."), or the full name."""
    if style == "full":
        return name
    return " ".join(f"{part[0]}." for part in name.split() if part[:1].isalpha()) or "Patient"


def staff_event(booking):
    """A consultation as it appears in the clinician's own calendar: type and patient label, no contact details."""
    config = current_app.config
    consultation_type = booking.consultation_type
    label = patient_label(booking.patient_name, config["FEED_PATIENT_NAMES"])
    return InviteEvent(
        uid=booking.ical_uid,
        sequence=booking.ical_sequence,
        start_dt=booking.start_dt,
        end_dt=booking.end_dt,
        summary=f"{consultation_type.name}: {label}",
        description=f"{consultation_type.modality.label}. {consultation_type.where}\nDetails are in kapclinic.",
        location=consultation_type.where,
        organizer=Person(config["CLINIC_EMAIL"], config["CLINIC_NAME"]),
        attendee=None,
        cancelled=not booking.is_active,
    )


def staff_calendar(bookings, now, name=None, refresh=None):
    """Several consultations as one .ics (a date range download, or a subscription feed)."""
    return build_calendar([staff_event(booking) for booking in bookings], now, name=name, refresh=refresh)
