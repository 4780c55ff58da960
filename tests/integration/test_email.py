"""Emails leave through a real SMTP server on loopback, with invites Outlook and Google understand."""

from datetime import timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import select

from kapclinic.core.db import flush_in_savepoint
from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from kapclinic.notifications.models import OutboxMessage, OutboxStatus
from kapclinic.notifications.services import deliver_committed, queue_email
from kapclinic.reminders.models import ReminderSent
from kapclinic.scheduling import services
from kapclinic.scheduling.slots import Interval
from tests.helpers import seed_offering


@pytest.fixture
def booked(app, create_clinician, create_consultation_type, mailbox):
    """Book the first free slot three days out through the service, as a request would."""
    clinician = create_clinician()
    consultation_type = create_consultation_type(clinicians=[clinician])
    now = now_utc()
    start = now + timedelta(days=3)
    slot = services.find_slots(consultation_type, Interval(start, start + timedelta(days=1)), now)[0]
    patient = services.PatientDetails(
        name="Zoë O'Brien, Jr.",
        email="zoe@example.com",
        phone="+12125550100",
        date_of_birth=now.date().replace(year=1990),
        timezone="Europe/London",
        contact_consent=True,
    )
    with app.test_request_context(method="POST"):
        outcome = services.book(consultation_type, clinician, slot.start_dt, patient, now)
        db.session.commit()
        from kapclinic.notifications.services import deliver_committed

        deliver_committed()
    return outcome


def _calendar_parts(message):
    return [part for part in message.walk() if part.get_content_type() == "text/calendar"]


def test_confirmation_has_text_html_and_an_outlook_ready_invite(booked, mailbox):
    (message,) = mailbox.messages
    assert message["To"] == "zoe@example.com"
    types = [part.get_content_type() for part in message.walk()]
    assert "text/plain" in types and "text/html" in types
    inline, attached = _calendar_parts(message)
    assert inline.get_param("method") == "REQUEST"
    assert inline.get_content_charset() == "utf-8"
    assert attached.get_filename() == "invite.ics"
    calendar = Calendar.from_ical(inline.get_payload(decode=True))
    assert str(calendar["METHOD"]) == "REQUEST"
    event = calendar.walk("VEVENT")[0]
    booking = booked.booking
    assert str(event["UID"]) == booking.ical_uid
    assert int(event["SEQUENCE"]) == 0
    assert event.decoded("DTSTART") == booking.start_dt
    assert event.decoded("DTEND") == booking.end_dt
    assert str(event["ORGANIZER"]) == "mailto:appointments@clinic.example.org"
    assert str(event["ATTENDEE"]) == "mailto:zoe@example.com"
    assert str(event["CLASS"]) == "PRIVATE"
    assert "DTSTAMP" in event


def test_invite_and_email_carry_no_clinical_words(booked, mailbox):
    (message,) = mailbox.messages
    # Decoded, part by part: quoted-printable may split a word across lines on the wire.
    raw = "\n".join(
        [str(value) for value in message.values()]
        + [part.get_payload(decode=True).decode("utf-8") for part in message.walk() if not part.is_multipart()]
    ).lower()
    for word in ("ketamine", "depression", "psychiatr", "intake answers"):
        assert word not in raw
    event = Calendar.from_ical(_calendar_parts(message)[0].get_payload(decode=True)).walk("VEVENT")[0]
    assert str(event["SUMMARY"]) == "Consultation with Riverside KAP Clinic"


def test_patient_invite_says_how_to_cancel_and_asks_for_no_reply_nobody_reads(booked, mailbox):
    (message,) = mailbox.messages
    inline, attached = _calendar_parts(message)
    for part in (inline, attached):
        event = Calendar.from_ical(part.get_payload(decode=True)).walk("VEVENT")[0]
        attendee = event["ATTENDEE"]
        assert attendee.params["RSVP"] == "FALSE" and attendee.params["PARTSTAT"] == "ACCEPTED"
        description = str(event["DESCRIPTION"])
        assert "To cancel or change, use the link in your confirmation email or call +1 555 0100." in description
        assert "Accepting or declining in your calendar does not tell us." in description
        # Calendars get shared: the private link is in the email only, never in the invite.
        raw = part.get_payload(decode=True).decode("utf-8").replace("\r\n ", "")
        assert booked.manage_token not in raw and "/manage/" not in raw and "/intake/" not in raw


def test_patient_time_in_email_is_in_their_zone_naming_it(booked, mailbox):
    body = mailbox.messages[0].get_body(("plain",)).get_content()
    assert "GMT" in body or "BST" in body
    assert "EST" in body or "EDT" in body


def test_cancellation_sends_method_cancel_with_same_uid_and_next_sequence(app, booked, mailbox):
    booking = booked.booking
    with app.test_request_context(method="POST"):
        services.cancel(booking, now_utc(), by="patient")
        db.session.commit()
        from kapclinic.notifications.services import deliver_committed

        deliver_committed()
    cancel_message = mailbox.messages[-1]
    inline = _calendar_parts(cancel_message)[0]
    assert inline.get_param("method") == "CANCEL"
    calendar = Calendar.from_ical(inline.get_payload(decode=True))
    event = calendar.walk("VEVENT")[0]
    assert str(calendar["METHOD"]) == "CANCEL"
    assert str(event["UID"]) == booking.ical_uid
    assert int(event["SEQUENCE"]) == 1
    assert str(event["STATUS"]) == "CANCELLED"
    # For calendar apps that ignore STATUS: the title says it too, and no way to cancel is offered.
    assert str(event["SUMMARY"]) == "Cancelled: Consultation with Riverside KAP Clinic"
    assert "is cancelled" in str(event["DESCRIPTION"]) and "To cancel or change" not in str(event["DESCRIPTION"])


def test_smtp_down_keeps_the_booking_and_the_outbox_delivers_later(
    app, create_clinician, create_consultation_type, mailbox, smtp_server
):
    client = app.test_client()
    clinician = create_clinician()
    consultation_type = create_consultation_type(clinicians=[clinician])
    now = now_utc()
    start = now + timedelta(days=3)
    slot = services.find_slots(consultation_type, Interval(start, start + timedelta(days=1)), now)[0]
    body = {
        "type": consultation_type.slug,
        "clinician_id": clinician.id,
        "start": slot.start_dt.isoformat(),
        "name": "Ana Patient",
        "email": "ana@example.com",
        "phone": "+12125550100",
        "date_of_birth": "1990-01-01",
        "tz": "America/New_York",
    }
    mailbox.refuse = True
    response = client.post("/api/v1/bookings", json=body)
    assert response.status_code == 201
    assert mailbox.messages == []
    row = db.session.scalar(select(OutboxMessage))
    assert row.status is OutboxStatus.PENDING and row.attempts == 1
    mailbox.refuse = False
    db.session.expire_all()
    # Not due yet: the retry waits for its backoff.
    assert app.test_cli_runner().invoke(args=["outbox", "send"]).output.strip() == "sent 0 message(s)"
    row.next_attempt_dt = now_utc() - timedelta(seconds=1)
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["outbox", "send"])
    assert result.output.strip() == "sent 1 message(s)"
    assert [message["To"] for message in mailbox.messages] == ["ana@example.com"]
    db.session.expire_all()
    assert db.session.scalar(select(OutboxMessage.status)) is OutboxStatus.SENT


def test_a_hanging_mail_server_does_not_hang_the_booking(make_app, sqlite_url):
    """An SMTP server that accepts the connection and never answers: the booking returns after the timeout."""
    import socket
    import threading
    import time as clock

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    app = make_app(sqlite_url, MAIL_PORT=listener.getsockname()[1], MAIL_TIMEOUT_SECONDS=0.5)
    offering = seed_offering(app, "slow")
    body = {
        "type": "slow",
        "clinician_id": offering.clinician_id,
        "start": offering.starts[0].isoformat(),
        "name": "Ana Patient",
        "email": "ana@example.com",
        "phone": "+12125550100",
        "date_of_birth": "1990-01-01",
        "tz": "UTC",
    }
    started = clock.monotonic()
    response = app.test_client().post("/api/v1/bookings", json=body)
    elapsed = clock.monotonic() - started
    assert response.status_code == 201
    assert elapsed < 5
    with app.app_context():
        row = db.session.scalar(select(OutboxMessage))
        assert row.status is OutboxStatus.PENDING and row.attempts == 1
    for connection, _ in accepted:
        connection.close()
    listener.close()


def test_development_without_mail_server_writes_eml_files(tmp_path, make_app, sqlite_url):
    app = make_app(sqlite_url, MAIL_SERVER=None)
    app.instance_path = str(tmp_path)
    with app.app_context():
        db.session.add(OutboxMessage(recipient="a@example.com", subject="Hello", body_text="t", body_html="<p>t</p>"))
        db.session.commit()
        from kapclinic.notifications.services import deliver_due

        assert deliver_due() == 1
        db.session.rollback()
    files = list((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 1
    assert b"Subject: Hello" in files[0].read_bytes()


def test_an_email_queued_before_a_lost_race_in_a_savepoint_still_goes_out_with_the_request(app, mailbox):
    """flush_in_savepoint rolls back only its savepoint: emails queued earlier in the transaction stand."""
    with app.test_request_context("/", method="POST"):
        queue_email(
            "dr@clinic.example.org",
            "password_reset",
            {"name": "Dr", "minutes": 60, "reset_url": "https://clinic.example.org/x"},
        )
        db.session.flush()
        lost = flush_in_savepoint(
            lambda: db.session.add(ReminderSent(booking_id=999_999, kind="k", start_dt=now_utc(), queued_dt=now_utc()))
        )
        assert lost is False  # refused by the foreign key, as a concurrent writer's row would be
        db.session.commit()
        assert deliver_committed() == 1
    assert [message["To"] for message in mailbox.messages] == ["dr@clinic.example.org"]


def test_an_invite_the_worker_sends_later_is_dated_when_it_was_made(make_app, sqlite_url, mailbox):
    """The request stores the template's values and the invite's facts; the sender renders the email and builds
    the invite, dated when the booking queued it."""
    app = make_app(sqlite_url, OUTBOX_SEND_AFTER_REQUEST=False)  # as deployed: `flask worker` sends
    offering = seed_offering(app, "later-invite")
    client = app.test_client()
    start = offering.starts[0].isoformat()
    from tests.helpers import patient_json

    assert client.post("/api/v1/bookings", json=patient_json(offering, start)).status_code == 201
    with app.app_context():
        row = db.session.scalar(select(OutboxMessage))
        # The request rendered nothing: it stored the template's name and values, and the invite's facts.
        assert (row.subject, row.body_text, row.body_html, row.ics) == ("", None, None, None)
        assert row.template == "booking_confirmed" and row.context["invite"]["start_dt"] == start
        # As if the worker reached it an hour after the booking.
        queued_dt = row.created_dt = row.created_dt - timedelta(hours=1)
        db.session.commit()
    with app.app_context():
        from kapclinic.notifications.services import deliver_due

        assert deliver_due() == 1
    (message,) = mailbox.messages
    assert message["Subject"].endswith("is booked") and "Ana Patient" in message.get_body(("plain",)).get_content()
    event = Calendar.from_ical(_calendar_parts(message)[0].get_payload(decode=True)).walk("VEVENT")[0]
    assert abs(event.decoded("DTSTAMP") - queued_dt) < timedelta(seconds=1)
    assert event.decoded("DTSTART") == offering.starts[0]
