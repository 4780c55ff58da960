"""Build iCalendar invites. Pure module: plain values in, bytes out.

Invites travel into third-party calendars, so callers pass generic, non-clinical
titles and descriptions, and every event is CLASS:PRIVATE. Times are written in
UTC (DTSTART:...Z), which every calendar client reads without a VTIMEZONE.
Text values are escaped by icalendar (commas, semicolons, newlines); parameter
values such as a display name are cleaned here because RFC 5545 gives them no
escape for quotes or line breaks.
"""

import json
import re
from dataclasses import asdict, dataclass
from datetime import datetime

from icalendar import Calendar, Event, vCalAddress, vDuration, vText

PRODID = "-//kapclinic//Consultation scheduling//EN"
_UNSAFE_IN_PARAMETER = re.compile(r'[\x00-\x1f\x7f";:,]')


@dataclass(frozen=True)
class Person:
    email: str
    name: str = ""


@dataclass(frozen=True)
class InviteEvent:
    uid: str
    sequence: int
    start_dt: datetime
    end_dt: datetime
    summary: str
    description: str
    location: str
    organizer: Person
    attendee: Person | None
    cancelled: bool = False
    # A web address to join or manage the consultation, if any.
    url: str = ""


def _parameter_safe(value):
    return _UNSAFE_IN_PARAMETER.sub(" ", value).strip()


def _address(person, **params):
    address = vCalAddress(f"mailto:{person.email}")
    if person.name:
        address.params["cn"] = vText(_parameter_safe(person.name))
    for key, value in params.items():
        address.params[key] = vText(value)
    return address


def _event_component(invite, dtstamp):
    event = Event()
    event.add("uid", invite.uid)
    event.add("sequence", invite.sequence)
    event.add("dtstamp", dtstamp)
    event.add("dtstart", invite.start_dt)
    event.add("dtend", invite.end_dt)
    event.add("summary", invite.summary)
    event.add("description", invite.description)
    if invite.location:
        event.add("location", invite.location)
    if invite.url:
        event.add("url", invite.url)
    event.add("class", "PRIVATE")
    event.add("transp", "OPAQUE")
    event.add("status", "CANCELLED" if invite.cancelled else "CONFIRMED")
    event.add("organizer", _address(invite.organizer))
    if invite.attendee is not None:
        # The patient booked this themselves: they have accepted (PARTSTAT=ACCEPTED) and no
        # reply is asked for (RSVP=FALSE, RFC 5545 3.2.17), since nothing here reads iTIP
        # REPLYs. METHOD stays REQUEST/CANCEL (RFC 5546 3.2.2, 3.2.5), not PUBLISH: those
        # are what calendar clients act on to update an event by UID and SEQUENCE, or to
        # remove it; PUBLISH has no cancellation that clients honour.
        event.add(
            "attendee",
            _address(invite.attendee, role="REQ-PARTICIPANT", partstat="ACCEPTED", rsvp="FALSE"),
        )
    return event


def build_calendar(events, dtstamp, method=None, name=None, refresh=None):
    """Return an iCalendar document (bytes) holding `events`.

    `method` is REQUEST or CANCEL for emailed invites (iTIP, RFC 5546) and None
    for downloads and feeds. A subscription feed names itself (X-WR-CALNAME) and
    says how often to fetch it again: REFRESH-INTERVAL (RFC 7986) for Apple and
    Google, X-PUBLISHED-TTL for Outlook.
    """
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    if method:
        calendar.add("method", method)
    if name:
        # Typed explicitly: icalendar does not know these are TEXT and would not escape them.
        calendar.add("x-wr-calname", vText(name))
        calendar.add("name", vText(name))
    if refresh:
        calendar.add("refresh-interval", vDuration(refresh), parameters={"VALUE": "DURATION"})
        calendar.add("x-published-ttl", vDuration(refresh))
    for invite in events:
        calendar.add_component(_event_component(invite, dtstamp))
    return calendar.to_ical()


def build_invite(invite, dtstamp, method):
    """Return one event as an emailed invite: METHOD:REQUEST, or METHOD:CANCEL when cancelled."""
    return build_calendar([invite], dtstamp, method=method)


def invite_to_json(invite):
    """The event as JSON text: what a request stores so the outbox can build the invite when it sends."""
    values = asdict(invite)
    values["start_dt"], values["end_dt"] = invite.start_dt.isoformat(), invite.end_dt.isoformat()
    return json.dumps(values, sort_keys=True)


def invite_from_json(text):
    """The event `invite_to_json` stored."""
    values = json.loads(text)
    return InviteEvent(
        **{
            **values,
            "start_dt": datetime.fromisoformat(values["start_dt"]),
            "end_dt": datetime.fromisoformat(values["end_dt"]),
            "organizer": Person(**values["organizer"]),
            "attendee": Person(**values["attendee"]) if values["attendee"] else None,
        }
    )
