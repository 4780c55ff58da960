"""What real mail servers and calendar apps receive: the raw bytes on the SMTP wire.

The shared `mailbox` fixture hands tests parsed messages; these tests need the bytes
as sent (is every one 7-bit? which transfer encoding?), so they run their own
aiosmtpd server that keeps them.
"""

import threading
from datetime import time, timedelta
from email import message_from_bytes, policy
from email.headerregistry import Address

import pytest
from icalendar import Calendar

from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from kapclinic.notifications.services import deliver_committed
from kapclinic.scheduling import services
from kapclinic.scheduling.slots import Interval
from tests.helpers import running_smtp

PATIENT = "Zoë Ñúñez"
CLINICIAN = "José Álvarez"


class RawMailbox:
    """Keeps each message exactly as it crossed the wire, with the MAIL FROM options."""

    def __init__(self):
        self._lock = threading.Lock()
        self.received = []

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            self.received.append((envelope.content, list(envelope.mail_options)))
        return "250 OK"


@pytest.fixture(scope="module")
def wire():
    mailbox = RawMailbox()
    with running_smtp(mailbox) as controller:
        yield controller, mailbox


@pytest.fixture
def raw_mail(wire):
    _, mailbox = wire
    mailbox.received.clear()
    return mailbox.received


def _app(make_app, sqlite_url, wire, **overrides):
    controller, _ = wire
    return make_app(sqlite_url, MAIL_PORT=controller.port, **overrides)


def _book(app, name=PATIENT):
    """Book with a clinician whose name is not ASCII either; deliver as a request's end would."""
    from kapclinic.scheduling.models import AvailabilityRule, Clinician, ConsultationType, Modality

    now = now_utc()
    with app.app_context():
        clinician = Clinician(name=CLINICIAN, credentials="MD", email="jose@clinic.example.org", timezone="UTC")
        clinician.availability_rules = [
            AvailabilityRule(weekday=day, start_time=start, end_time=end)
            for day in range(7)
            for start, end in [(time(9), time(17))]
        ]
        consultation_type = ConsultationType(
            slug="wire",
            name="Consultation",
            duration_minutes=60,
            min_notice_minutes=0,
            horizon_days=30,
            slot_step_minutes=60,
            modality=Modality.VIDEO,
            video_link="https://video.clinic.example.org/room",
            clinicians=[clinician],
        )
        db.session.add(consultation_type)
        db.session.commit()
        start = now + timedelta(days=3)
        slot = services.find_slots(consultation_type, Interval(start, start + timedelta(days=1)), now)[0]
        patient = services.PatientDetails(
            name=name,
            email="zoe@example.com",
            phone="+12125550100",
            date_of_birth=now.date().replace(year=1990),
            timezone="Europe/Madrid",
            contact_consent=True,
        )
        with app.test_request_context(method="POST"):
            outcome = services.book(consultation_type, clinician, slot.start_dt, patient, now)
            db.session.commit()
            deliver_committed()
        return outcome.booking.id


def _parsed(raw):
    return message_from_bytes(raw, policy=policy.default)


def _text_parts(message):
    return [part for part in message.walk() if part.get_content_maintype() == "text"]


def _calendar_parts(message):
    return [part for part in message.walk() if part.get_content_type() == "text/calendar"]


def test_patient_with_accented_name_gets_a_seven_bit_message_any_relay_passes(make_app, sqlite_url, wire, raw_mail):
    app = _app(make_app, sqlite_url, wire)
    _book(app)
    ((raw, mail_options),) = raw_mail
    # Without BODY=8BITMIME an 8-bit byte may be mangled or refused by a relay: none may be sent.
    assert max(raw) < 128, "8-bit byte on the wire"
    assert "BODY=8BITMIME" not in mail_options
    message = _parsed(raw)
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    for part in (plain, html):
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
    # Decoded, the text is exactly what was meant.
    assert f"Hello {PATIENT}," in plain.get_content()
    assert f"With: {CLINICIAN}" in plain.get_content()
    assert f"{PATIENT}" in html.get_content()
    for part in _text_parts(message):
        assert part["Content-Transfer-Encoding"] in {"quoted-printable", "base64", "7bit"}
    # The invite, inline and attached, still reads as the same calendar.
    inline, attached = _calendar_parts(message)
    assert inline.get_param("method") == "REQUEST" and attached.get_filename() == "invite.ics"
    for part in (inline, attached):
        calendar = Calendar.from_ical(part.get_payload(decode=True))
        (event,) = calendar.walk("VEVENT")
        assert event["ATTENDEE"].params["CN"] == PATIENT
        assert str(calendar["METHOD"]) == "REQUEST"


def test_email_says_it_was_sent_automatically_and_names_its_sender(make_app, sqlite_url, wire, raw_mail):
    app = _app(make_app, sqlite_url, wire, CLINIC_DISPLAY_NAME="Clínica Río")
    _book(app)
    ((raw, _),) = raw_mail
    headers = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    # RFC 3834: out-of-office replies and vacation responders leave it alone.
    assert "\r\nAuto-Submitted: auto-generated\r\n" in headers
    (sender,) = _parsed(raw)["From"].addresses
    assert sender == Address(display_name="Clínica Río", addr_spec="appointments@clinic.example.org")
    assert "=?utf-8?" in headers  # the non-ASCII name travels as an RFC 2047 encoded word


def test_a_neutral_display_name_keeps_ketamine_off_lock_screens_and_invites(make_app, sqlite_url, wire, raw_mail):
    app = _app(
        make_app, sqlite_url, wire, CLINIC_NAME="Riverside Ketamine Clinic", CLINIC_DISPLAY_NAME="Riverside Health"
    )
    booking_id = _book(app)
    with app.app_context(), app.test_request_context(method="POST"):
        from kapclinic.scheduling.models import Booking

        services.cancel(db.session.get(Booking, booking_id), now_utc(), by="patient")
        db.session.commit()
        deliver_committed()
    assert len(raw_mail) == 2
    for raw, _ in raw_mail:
        message = _parsed(raw)
        assert "Riverside Health" in message["Subject"] and "ketamine" not in message["Subject"].lower()
        (sender,) = message["From"].addresses
        assert sender.display_name == "Riverside Health"
        calendar = Calendar.from_ical(_calendar_parts(message)[0].get_payload(decode=True))
        (event,) = calendar.walk("VEVENT")
        assert "Riverside Health" in str(event["SUMMARY"])
        assert event["ORGANIZER"].params["CN"] == "Riverside Health"
        for field in ("SUMMARY", "DESCRIPTION", "LOCATION"):
            assert "ketamine" not in str(event.get(field, "")).lower()
        assert "ketamine" not in str(event["ORGANIZER"].params).lower()
    # Opened, the email may name the clinic as it is.
    assert "Riverside Ketamine Clinic" in _parsed(raw_mail[0][0]).get_body(("plain",)).get_content()


def test_no_email_subject_line_names_the_clinic_by_its_full_name():
    """The first line of each template is the subject a lock screen shows; new templates included."""
    from pathlib import Path

    templates = sorted((Path(__file__).parents[2] / "templates" / "email").glob("[!_]*.txt"))
    assert templates
    for template in templates:
        subject = template.read_text(encoding="utf-8").partition("\n")[0]
        assert "clinic_name" not in subject, f"{template.name}: subject uses clinic_name, not clinic_display_name"
