"""Text people type cannot add email headers or calendar properties, and HTML in it is shown, never run."""

import re

import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from kapclinic.accounts import services as accounts
from kapclinic.accounts.models import Role
from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from kapclinic.frontdesk.models import IntakeNote
from kapclinic.scheduling.models import Booking, Clinician
from tests.helpers import STAFF_PASSWORD, patient_form, seed_offering, sign_in
from tests.intake_answers import ADULT_STEPS, book_for_intake, born_years_ago, complete_steps

# No control characters (those are refused outright): only what a real name may hold, used hostilely.
HOSTILE_NAME = 'Ana "<b onmouseover=alert(1)>" O\'Brien; END:VEVENT, BEGIN:VALARM'


def _details_url(client):
    week = client.get("/book/first-consultation").text
    return re.search(r'class="slot" href="([^"]+)"', week).group(1).replace("&amp;", "&")


def test_a_hostile_name_is_escaped_in_pages_emails_and_invites(make_app, sqlite_url, mailbox):
    app = make_app(sqlite_url, FEED_PATIENT_NAMES="full")
    seed_offering(app, "first-consultation")
    client = app.test_client()
    booked = client.post(_details_url(client), data=patient_form(name=HOSTILE_NAME), follow_redirects=True)
    assert booked.status_code == 200
    assert "<b onmouseover" not in booked.text

    (message,) = mailbox.messages
    assert message["To"] == "ana.patient@example.com" and message["Bcc"] is None
    html = message.get_body(("html",)).get_content()
    assert "<b onmouseover" not in html
    invite = next(part for part in message.walk() if part.get_content_type() == "text/calendar").get_content()
    _assert_one_event_without_alarm(invite)
    with app.app_context():
        booking = db.session.scalars(select(Booking)).one()
        public_id, clinician_id = booking.public_id, booking.clinician_id
        db.session.rollback()

    with app.app_context():
        accounts.create_user(
            "dr@clinic.example.org",
            "Dr",
            Role.CLINICIAN,
            STAFF_PASSWORD,
            now_utc(),
            db.session.get(Clinician, clinician_id),
        )
        db.session.commit()
    staff = app.test_client()
    sign_in(staff, "dr@clinic.example.org")
    schedule = staff.get(
        f"/staff/clinicians/{clinician_id}/schedule?view=week&date={now_utc().date().isoformat()}"
    ).text
    assert "<b onmouseover" not in schedule
    staff_invite = staff.get(f"/staff/bookings/{public_id}/invite.ics")
    event = _assert_one_event_without_alarm(staff_invite.text)
    assert HOSTILE_NAME in str(event["SUMMARY"])  # the whole name is text inside one property


def _assert_one_event_without_alarm(ics_text):
    calendar = Calendar.from_ical(ics_text)
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 1 and not list(calendar.walk("VALARM"))
    unfolded = ics_text.replace("\r\n ", "")
    assert [line for line in unfolded.splitlines() if line.startswith(("BEGIN:", "END:"))] == [
        "BEGIN:VCALENDAR",
        "BEGIN:VEVENT",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return events[0]


@pytest.mark.usefixtures("app_context")
def test_line_breaks_that_could_add_email_headers_are_refused_and_nothing_is_written(app, client, mailbox):
    seed_offering(app, "first-consultation")
    url = _details_url(client)
    for field, value in (
        ("email", "ana@example.com\r\nBcc: all@example.net"),
        ("name", "Ana\r\nBcc: all@example.net"),
        ("phone", "+1 212 555 0100\nX-Priority: 1"),
    ):
        refused = client.post(url, data=patient_form(**{field: value}))
        assert refused.status_code == 422, field
        assert 'class="error"' in refused.text
    assert db.session.scalar(select(func.count(Booking.id))) == 0
    assert mailbox.messages == []


@pytest.mark.usefixtures("app_context")
def test_free_text_with_html_is_shown_as_text_to_the_patient_and_the_front_desk(app, mailbox):
    offering = seed_offering(app, "first-consultation")
    patient = app.test_client()
    intake_url = book_for_intake(patient, offering, mailbox)
    script = "<script>alert('x')</script><img src=x onerror=alert(1)>"
    complete_steps(patient, intake_url, ADULT_STEPS, reasons={"hopes": script}, medications={"allergies": script})
    review = patient.get(f"{intake_url}/review").text
    assert "<script>alert" not in review and "<img src=x" not in review
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in review
    assert patient.post(f"{intake_url}/review").status_code == 302

    accounts.create_user("desk@clinic.example.org", "Desk", Role.FRONT_DESK, STAFF_PASSWORD, now_utc())
    db.session.commit()
    staff = app.test_client()
    sign_in(staff, "desk@clinic.example.org")
    record_path = re.search(r'href="(/staff/intakes/\d+)[?"]', staff.get("/staff/intakes?from=").text).group(1)
    assert staff.post(f"{record_path}/notes", data={"kind": "note", "body": script}).status_code == 302
    record = staff.get(record_path).text
    assert "<script>alert" not in record and "<img src=x" not in record
    assert record.count("&lt;script&gt;") >= 2  # the patient's answers and the staff note
    assert db.session.scalar(select(func.count(IntakeNote.id))) == 1


PROBE = "<script>alert(1)</script>"


@pytest.mark.usefixtures("app_context")
def test_html_typed_into_a_refused_form_comes_back_as_text(app, mailbox):
    """Each form shown again after a refusal puts back what was typed: escaped, never as markup."""
    offering = seed_offering(app, "first-consultation")
    patient = app.test_client()
    intake_url = book_for_intake(patient, offering, mailbox, date_of_birth=born_years_ago(15))
    complete_steps(
        patient, intake_url, ADULT_STEPS[:-1] + ["guardian", "consent"], about={"date_of_birth": born_years_ago(15)}
    )
    assert patient.post(f"{intake_url}/review").status_code == 302
    open_intake_url = book_for_intake(patient, offering, mailbox, slot=2, email="other@example.com")
    to_guardian = next(message for message in mailbox.messages if message["To"] == "grace@example.com")
    guardian_path = re.search(
        r"https://clinic\.example\.org(/intake/guardian/\S+)", to_guardian.get_body(("plain",)).get_content()
    ).group(1)
    accounts.create_user("desk@clinic.example.org", "Desk", Role.FRONT_DESK, STAFF_PASSWORD, now_utc())
    db.session.commit()
    desk = app.test_client()
    sign_in(desk, "desk@clinic.example.org")
    record = re.search(r'href="(/staff/intakes/\d+)[?"]', desk.get("/staff/intakes?from=").text).group(1)
    booking_form = (
        re.search(r'class="slot" href="([^"]+)"', patient.get("/book/first-consultation").text)
        .group(1)
        .replace("&amp;", "&")
    )

    refused = {
        "booking details (bad email)": patient.post(
            booking_form, data=patient_form(name=f"Ana {PROBE}", email="not-an-email")
        ),
        "questionnaire step (no reason ticked)": patient.post(f"{open_intake_url}/step/reasons", data={"hopes": PROBE}),
        "guardian consent (not ticked)": app.test_client().post(guardian_path, data={"signature": PROBE}),
        "staff note (no such kind)": desk.post(f"{record}/notes", data={"kind": "gossip", "body": PROBE}),
    }
    for form, response in refused.items():
        assert 400 <= response.status_code < 500, (form, response.status_code)
        assert PROBE not in response.text, form
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text, f"{form}: what was typed is not shown again"
