""" "Wrong address?" on the confirmation page: the patient corrects a mistyped address.

The confirmation goes again, with its invite and fresh links, to the corrected address;
every link sent to the wrong one stops working. Only the holder of the newest link may do
it, within an hour of booking and twice at most, and a network only a few times an hour.
"""

import re
from datetime import timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from kapclinic.notifications.models import OutboxMessage
from kapclinic.scheduling.models import Booking
from tests.helpers import patient_form, seed_offering

pytestmark = pytest.mark.both_databases
WRONG = "ana.wrong@example.org"
RIGHT = "ana@example.com"
NOT_VALID = "This link is not valid any more"


def _first_slot_details(client, consultation_type, days=3):
    day = (now_utc() + timedelta(days=days)).date().isoformat()
    page = client.get(f"/book/{consultation_type.slug}", query_string={"tz": "UTC", "day": day}).text
    return re.findall(r'class="slot" href="([^"]+)"', page)[0].replace("&amp;", "&")


@pytest.fixture
def consultation_type(create_clinician, create_consultation_type):
    return create_consultation_type(clinicians=[create_clinician()])


@pytest.fixture
def booked(client, consultation_type, mailbox):
    """A consultation booked on the web form with a mistyped address: the path of its confirmation page."""
    response = client.post(_first_slot_details(client, consultation_type), data=patient_form(email=WRONG))
    assert response.status_code == 302
    return response.headers["Location"]


def _links_in(message):
    text = message.get_body(("plain",)).get_content()
    manage = re.search(r"https://clinic\.example\.org(/manage/\S+)", text).group(1)
    questionnaire = re.search(r"https://clinic\.example\.org(/intake/\S+)", text).group(1)
    return manage, questionnaire


def _sent_to(mailbox, address):
    return [message for message in mailbox.messages if message["To"] == address]


def _booking_row():
    booking = db.session.scalar(select(Booking).order_by(Booking.id))
    values = (booking.patient_email, booking.manage_token_hash, booking.email_corrections, booking.intake.token_hash)
    db.session.rollback()
    return values


def _outbox_size():
    count = db.session.scalar(select(func.count(OutboxMessage.id)))
    db.session.rollback()
    return count


def test_the_corrected_address_gets_the_confirmation_and_the_wrong_ones_links_stop(
    client, booked, mailbox, app_context
):
    confirmation = client.get(booked).text
    assert f"We emailed your confirmation to <strong>{WRONG}</strong>" in confirmation
    correct_url = re.search(r'href="(/manage/[^"]+/email)">Wrong address\?', confirmation).group(1)
    (wrong_email,) = _sent_to(mailbox, WRONG)
    old_manage, old_questionnaire = _links_in(wrong_email)
    assert client.get(correct_url).status_code == 200

    corrected = client.post(correct_url, data={"email": RIGHT})
    assert corrected.status_code == 302
    page = client.get(corrected.headers["Location"]).text
    assert f"We have sent your confirmation again, to {RIGHT}" in page
    assert f"We emailed your confirmation to <strong>{RIGHT}</strong>" in page
    (right_email,) = _sent_to(mailbox, RIGHT)
    assert right_email["Subject"].endswith("is booked") and len(_sent_to(mailbox, WRONG)) == 1
    invite = Calendar.from_ical(
        next(part for part in right_email.walk() if part.get_content_type() == "text/calendar").get_payload(decode=True)
    ).walk("VEVENT")[0]
    assert str(invite["ATTENDEE"]) == f"mailto:{RIGHT}"
    new_manage, new_questionnaire = _links_in(right_email)
    assert new_manage == corrected.headers["Location"]
    assert client.get(new_manage).status_code == 200 and client.get(new_questionnaire).status_code == 200
    # The wrong address's links answer as links that never existed do.
    unknown_manage, unknown_questionnaire = client.get("/manage/unknown"), client.get("/intake/unknown")
    for old, unknown in ((old_manage, unknown_manage), (old_questionnaire, unknown_questionnaire)):
        answer = client.get(old)
        assert answer.status_code == unknown.status_code == 404
    assert NOT_VALID in client.get(old_manage).text


def test_links_kept_from_before_a_reschedule_stop_too(client, booked, mailbox):
    later = (now_utc() + timedelta(days=5)).date().isoformat()
    choices = client.get(f"{booked}/reschedule", query_string={"day": later}).text
    moved = client.post(re.findall(r'class="slot" href="([^"]+)"', choices)[0].replace("&amp;", "&"))
    newest = moved.headers["Location"]
    rescheduled_manage, rescheduled_questionnaire = _links_in(mailbox.messages[-1])
    first_manage, first_questionnaire = _links_in(_sent_to(mailbox, WRONG)[0])
    assert client.get(booked).status_code == 200  # the first email's link still opens it, as after any move
    # Only the newest link may correct the address.
    assert client.get(f"{booked}/email").status_code == 404
    assert client.post(f"{newest}/email", data={"email": RIGHT}).status_code == 302
    for link in (first_manage, first_questionnaire, rescheduled_manage, rescheduled_questionnaire):
        assert client.get(link).status_code == 404, link


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Please enter your email address."),
        ("not an address", "Please enter a valid email address"),
        (WRONG, "That is the address we sent your confirmation to"),
        ("x" * 250 + "@example.com", "That email address is too long."),
    ],
)
def test_an_address_we_cannot_use_is_refused_on_its_field_and_nothing_changes(
    client, booked, mailbox, app_context, typed, message
):
    before, outbox = _booking_row(), _outbox_size()
    mailbox.clear()
    refused = client.post(f"{booked}/email", data={"email": typed})
    assert refused.status_code == 422
    assert 'aria-invalid="true"' in refused.text and message in refused.text
    assert "Nothing was changed or sent." in refused.text
    assert _booking_row() == before and _outbox_size() == outbox and mailbox.messages == []
    assert client.get(booked).status_code == 200


def test_the_corrected_address_is_held_to_the_online_limit_as_at_booking(
    client, consultation_type, booked, mailbox, app_context
):
    for days in (4, 5):
        details = _first_slot_details(client, consultation_type, days)
        assert client.post(details, data=patient_form(email=RIGHT)).status_code == 302
    before = _booking_row()
    refused = client.post(f"{booked}/email", data={"email": RIGHT})
    assert refused.status_code == 422 and "already has 2 upcoming consultations" in refused.text
    assert _booking_row() == before and len(_sent_to(mailbox, RIGHT)) == 2  # the two confirmations only


def test_a_likely_typo_is_offered_before_anything_is_sent(client, booked, mailbox, app_context):
    before = _booking_row()
    mailbox.clear()
    asked = client.post(f"{booked}/email", data={"email": "ana@gmial.com"})
    assert asked.status_code == 200 and "Did you mean <strong>ana@gmail.com</strong>?" in asked.text
    assert _booking_row() == before and mailbox.messages == []
    fixed = client.post(f"{booked}/email", data={"email": "ana@gmial.com", "email_fix": "ana@gmail.com"})
    assert fixed.status_code == 302 and len(_sent_to(mailbox, "ana@gmail.com")) == 1


def test_after_an_hour_the_address_can_only_be_changed_by_calling(client, booked, mailbox, app_context):
    booking = db.session.scalar(select(Booking))
    booking.created_dt = now_utc() - timedelta(minutes=61)
    db.session.commit()
    before, outbox = _booking_row(), _outbox_size()
    assert "Wrong address?" not in client.get(booked).text
    assert "only in the first hour after booking" in client.get(f"{booked}/email").text
    refused = client.post(f"{booked}/email", data={"email": RIGHT})
    assert refused.status_code == 409
    assert "can no longer be changed online" in refused.text and "Please call us" in refused.text
    assert _booking_row() == before and _outbox_size() == outbox and _sent_to(mailbox, RIGHT) == []


def test_an_address_is_corrected_twice_at_most(client, booked, mailbox):
    first = client.post(f"{booked}/email", data={"email": "ana.two@example.com"}).headers["Location"]
    second = client.post(f"{first}/email", data={"email": RIGHT}).headers["Location"]
    assert "Wrong address?" not in client.get(second).text
    refused = client.post(f"{second}/email", data={"email": "ana.three@example.com"})
    assert refused.status_code == 409 and _sent_to(mailbox, "ana.three@example.com") == []


def test_a_network_corrects_a_few_times_an_hour_and_no_address_reaches_the_logs(
    make_app, database_url, mailbox, caplog, capfd
):
    app = make_app(database_url, RATELIMIT_ENABLED=True, EMAIL_CORRECTION_RATE_LIMIT="2 per hour")
    offering = seed_offering(app, "limited")
    client = app.test_client()
    page = client.post(_first_slot_details(client, offering), data=patient_form(email=WRONG)).headers["Location"]
    statuses = []
    for address in ("ana.two@example.com", RIGHT, "ana.three@example.com"):
        answer = client.post(f"{page}/email", data={"email": address})
        statuses.append(answer.status_code)
        page = answer.headers.get("Location", page)
    assert statuses == [302, 302, 429]  # the third would be refused anyway (twice at most), but by the limit first
    logged = caplog.text + "".join(capfd.readouterr())
    assert "@example" not in logged and page.rsplit("/", 1)[1] not in logged


def test_a_held_time_asked_to_confirm_at_the_wrong_address_is_corrected_from_the_held_page(
    client, app, consultation_type, mailbox, app_context
):
    """The wrong address could never confirm: only the browser that booked can send the link elsewhere."""
    app.config["BOOKING_CONFIRMATION_MINUTES"] = 30
    held = client.post(_first_slot_details(client, consultation_type), data=patient_form(email=WRONG))
    assert held.headers["Location"] == "/book/held"
    page = client.get("/book/held").text
    assert f"<strong>{WRONG}</strong>" in page and 'href="/book/held/email">Wrong address?' in page
    (asking_wrong,) = _sent_to(mailbox, WRONG)
    wrong_manage = re.search(
        r"https://clinic\.example\.org(/manage/\S+)", asking_wrong.get_body(("plain",)).get_content()
    ).group(1)
    # Another browser (a script, or whoever owns the wrong address) has no held page to correct from.
    assert app.test_client().post("/book/held/email", data={"email": "eve@example.com"}).status_code == 302
    assert _sent_to(mailbox, "eve@example.com") == []

    form = client.get("/book/held/email").text
    assert "We sent the link to confirm your consultation to" in form and "Send the link to confirm there" in form
    corrected = client.post("/book/held/email", data={"email": RIGHT})
    assert corrected.status_code == 302 and corrected.headers["Location"] == "/book/held"
    assert f"We have sent the email to confirm again, to {RIGHT}" in client.get("/book/held").text
    (asking_right,) = _sent_to(mailbox, RIGHT)
    assert asking_right["Subject"].startswith("Please confirm your consultation")
    right_manage = re.search(
        r"https://clinic\.example\.org(/manage/\S+)", asking_right.get_body(("plain",)).get_content()
    ).group(1)
    assert client.get(wrong_manage).status_code == 404
    assert client.post(f"{right_manage}/confirm").status_code == 302
    assert db.session.scalar(select(Booking.status)).value == "confirmed"
    db.session.rollback()
