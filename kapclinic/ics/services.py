"""Calendar events for bookings: the patient's invite and the clinician's own calendar.

Both travel into third-party calendars: the patient's has a generic, non-clinical
title; the clinician's names the consultation type and the patient's initials
(full names only if the clinic chooses), never contact details.
"""

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from flask import current_app

from kapclinic.core.clinic import clinic
from kapclinic.ics.builder import InviteEvent, Person, build_calendar

CANCELLED_PREFIX = "Cancelled: "


@dataclass(frozen=True)
class BookingFacts:
    """What an event says of a booking, as plain values.

    A request stores them with its email (see `to_json`); the outbox builds the invite
    from them when it sends, with the clinic's details as they are then.
    """

    uid: str
    sequence: int
    start_dt: datetime
    end_dt: datetime
    active: bool
    modality: str
    where: str
    patient_email: str
    patient_name: str
    # The booking's own video room, if any: the invite's URL, one tap to join. Facts queued
    # before rooms existed have none.
    video_room: str = ""

    @classmethod
    def of(cls, booking):
        return cls(
            uid=booking.ical_uid,
            sequence=booking.ical_sequence,
            start_dt=booking.start_dt,
            end_dt=booking.end_dt,
            active=booking.is_active,
            modality=booking.consultation_type.modality.label,
            where=booking.where,
            patient_email=booking.patient_email,
            patient_name=booking.patient_name,
            video_room=booking.video_room,
        )

    def to_json(self):
        return {**asdict(self), "start_dt": self.start_dt.isoformat(), "end_dt": self.end_dt.isoformat()}

    @classmethod
    def from_json(cls, values):
        return cls(
            **{
                **values,
                "start_dt": datetime.fromisoformat(values["start_dt"]),
                "end_dt": datetime.fromisoformat(values["end_dt"]),
            }
        )


def _event(facts, summary, description, attendee):
    """One booking as an event; the audience decides the texts and whether the patient attends.

    A cancelled one says so in its title too: some calendar apps ignore STATUS:CANCELLED
    and would go on showing the consultation as if it were still on; and it has no room to join.
    """
    profile = clinic()
    return InviteEvent(
        url=facts.video_room if facts.active else "",
        uid=facts.uid,
        sequence=facts.sequence,
        start_dt=facts.start_dt,
        end_dt=facts.end_dt,
        summary=summary if facts.active else CANCELLED_PREFIX + summary,
        description=description,
        location=facts.where,
        organizer=Person(profile.email, profile.display_name),
        attendee=attendee,
        cancelled=not facts.active,
    )


def invite_event(facts):
    """The patient's event, from a booking's BookingFacts.

    The manage link stays out of the event: calendars are shared and synced, and
    anyone holding that link could cancel. It travels only in the email.

    Nothing here reads replies to an invite, so the event asks for none (RSVP=FALSE,
    see ics.builder) and its description says how to cancel or change instead.
    """
    profile = clinic()
    if facts.active:
        lines = (
            f"Your consultation with {profile.display_name}.",
            f"How: {facts.modality}. {facts.where}",
            f"To cancel or change, use the link in your confirmation email or call {profile.phone}.",
            "Accepting or declining in your calendar does not tell us.",
        )
    else:
        lines = (
            f"Your consultation with {profile.display_name} is cancelled.",
            f"To book again, or if this is a mistake, call {profile.phone}.",
        )
    description = "\n".join(lines)
    return _event(
        facts,
        f"Consultation with {profile.display_name}",
        description,
        Person(facts.patient_email, facts.patient_name),
    )


def emailed_invite(booking):
    """Return (facts, method): REQUEST for a live booking, CANCEL for a cancelled one.

    The facts, not the event: the outbox builds the invite when it sends, so the request
    neither reads the clinic's details nor runs icalendar's serialiser.
    """
    method = "REQUEST" if booking.is_active else "CANCEL"
    return BookingFacts.of(booking), method


def web_calendar_links(facts):
    """(name, address) of web calendars that take an event in a link, for "Add to calendar": Google,
    Outlook.com and Office 365 (Apple Calendar and the rest open the .ics file).

    The same neutral title, description and place as the invite; times in UTC, as the invite's.
    """
    event = invite_event(facts)
    start_dt, end_dt = event.start_dt.astimezone(UTC), event.end_dt.astimezone(UTC)
    google = {
        "action": "TEMPLATE",
        "text": event.summary,
        "dates": f"{start_dt:%Y%m%dT%H%M%SZ}/{end_dt:%Y%m%dT%H%M%SZ}",
        "details": event.description,
        "location": event.location,
    }
    outlook = {
        "path": "/calendar/action/compose",
        "rru": "addevent",
        "subject": event.summary,
        "startdt": f"{start_dt:%Y-%m-%dT%H:%M:%SZ}",
        "enddt": f"{end_dt:%Y-%m-%dT%H:%M:%SZ}",
        "body": event.description,
        "location": event.location,
    }
    return [
        ("Google Calendar", f"https://calendar.google.com/calendar/render?{urlencode(google)}"),
        ("Outlook.com", f"https://outlook.live.com/calendar/0/deeplink/compose?{urlencode(outlook)}"),
        ("Office 365", f"https://outlook.office.com/calendar/0/deeplink/compose?{urlencode(outlook)}"),
    ]


def downloadable_invite(booking, now):
    """Return an .ics file for the "Add to calendar" button (no iTIP method)."""
    return build_calendar([invite_event(BookingFacts.of(booking))], now)


def patient_label(name, style):
    """How staff calendars name the patient: initials by default ("A. P."), or the full name."""
    if style == "full":
        return name
    return " ".join(f"{part[0]}." for part in name.split() if part[:1].isalpha()) or "Patient"


def staff_event(booking):
    """The clinician's event: type and patient label, no contact details, no attendee."""
    consultation_type = booking.consultation_type
    label = patient_label(booking.patient_name, current_app.config["FEED_PATIENT_NAMES"])
    description = f"{consultation_type.modality.label}. {booking.where}\nDetails are in kapclinic."
    return _event(BookingFacts.of(booking), f"{consultation_type.name}: {label}", description, attendee=None)


def staff_calendar(bookings, now, name=None, refresh=None):
    """Several consultations as one .ics (a date range download, or a subscription feed)."""
    return build_calendar([staff_event(booking) for booking in bookings], now, name=name, refresh=refresh)
