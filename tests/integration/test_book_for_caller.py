"""The front desk books for someone on the phone: the patients' date-first picker with the staff's reach.

Staff may book inside the notice patients must give and beyond the patients' horizon; the
clinician's hours and other bookings still hold. The caller gets what a self-booking gets
(confirmation, invite, questionnaire link), and the audit names who booked.
"""

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from kapclinic.accounts.models import Role
from kapclinic.audit.models import AuditAction, AuditEvent
from kapclinic.core.timezones import instant_param, now_utc
from kapclinic.extensions import db
from kapclinic.scheduling.models import Booking, BookingStatus
from tests.helpers import patient_form, sign_in

pytestmark = pytest.mark.both_databases
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def clinician(create_clinician):
    return create_clinician(name="Dr. Rowan Hale")


@pytest.fixture
def consultation_type(clinician, create_consultation_type):
    # Patients must book a week ahead, and see three weeks: the desk reaches past both.
    return create_consultation_type(
        clinicians=[clinician], min_notice_minutes=7 * 24 * 60, horizon_days=21, name="First consultation"
    )


@pytest.fixture
def desk(client, create_staff):
    user = create_staff(Role.FRONT_DESK, name="Frankie Desk")
    sign_in(client, user.email)
    return user


def _time_links(page):
    return [link.replace("&amp;", "&") for link in re.findall(r'class="slot" href="([^"]+)"', page)]


def _bookings():
    rows = db.session.execute(select(Booking.start_dt, Booking.status, Booking.patient_timezone)).all()
    db.session.rollback()
    return rows


def _audit(action):
    rows = db.session.execute(
        select(AuditEvent.actor_id, AuditEvent.booking_id, AuditEvent.intake_id).where(AuditEvent.action == action)
    ).all()
    db.session.rollback()
    return rows


def test_the_desk_books_inside_the_notice_and_the_caller_gets_the_invite_and_questionnaire(
    client, desk, consultation_type, clinician, mailbox, app_context
):
    now = now_utc()
    soon = now.astimezone(NEW_YORK).date() + timedelta(days=2)
    # Inside the week's notice: patients are not offered that day, the desk is.
    patient_page = client.get(f"/book/{consultation_type.slug}", query_string={"tz": "America/New_York"})
    assert f"day={soon.isoformat()}" not in patient_page.text
    picker = client.get(f"/staff/book/{consultation_type.slug}", query_string={"day": soon.isoformat()})
    assert picker.status_code == 200
    assert "The caller&#39;s time zone" in picker.text and 'aria-current="page">Book for a caller' in picker.text
    assert f'<h3 id="day-times-heading">{soon:%A, %B} {soon.day}, {soon.year}</h3>' in picker.text
    links = _time_links(picker.text)
    assert len(links) == 15  # an hour each, from 9:00 to 16:00, every half hour

    details = client.get(links[0])
    assert details.status_code == 200 and "the caller's details" in details.text
    booked = client.post(links[0], data=patient_form(email="caller@example.com", name="Cora Caller"))
    assert booked.status_code == 302 and "/staff/intakes/" in booked.headers["Location"]
    record = client.get(booked.headers["Location"])
    assert "Booked. The caller" in record.text and "Cora Caller" in record.text

    ((start_dt, status, zone),) = _bookings()
    assert status is BookingStatus.CONFIRMED and zone == "America/New_York"
    assert start_dt - now < timedelta(days=3)
    (confirmation,) = mailbox.messages
    assert confirmation["To"] == "caller@example.com"
    text = confirmation.as_string()
    assert "text/calendar" in text and "/intake/" in text
    ((actor_id, booking_id, intake_id),) = _audit(AuditAction.BOOKED_FOR_CALLER)
    assert actor_id == desk.id and booking_id is not None and intake_id is not None


def test_a_double_click_books_once_and_writes_one_audit_row(client, desk, consultation_type, mailbox, app_context):
    link = _time_links(client.get(f"/staff/book/{consultation_type.slug}").text)[0]
    form = patient_form(email="twice@example.com")
    first = client.post(link, data=form)
    second = client.post(link, data=form)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert len(_bookings()) == 1 and len(_audit(AuditAction.BOOKED_FOR_CALLER)) == 1


def test_a_taken_time_keeps_what_was_typed_and_offers_the_nearest_times(
    client, desk, consultation_type, mailbox, app_context
):
    link = _time_links(client.get(f"/staff/book/{consultation_type.slug}").text)[0]
    assert client.post(link, data=patient_form(email="first@example.com")).status_code == 302
    taken = client.post(link, data=patient_form(email="second@example.com", name="Sid Second"))
    assert taken.status_code == 409
    assert "This time was just taken." in taken.text and 'value="Sid Second"' in taken.text
    alternative = re.search(r'formaction="([^"]+)">Book ', taken.text).group(1).replace("&amp;", "&")
    assert client.post(alternative, data=patient_form(email="second@example.com")).status_code == 302
    assert len(_bookings()) == 2


def test_the_clinicians_hours_still_hold_and_bad_input_writes_nothing(
    client, desk, consultation_type, mailbox, app_context
):
    night = datetime.combine(now_utc().astimezone(NEW_YORK).date() + timedelta(days=3), datetime.min.time())
    outside = instant_param(night.replace(hour=3, tzinfo=NEW_YORK))  # the clinician works 9-5
    url = f"/staff/book/{consultation_type.slug}/details?start={outside}"
    refused = client.post(url, data=patient_form())
    assert refused.status_code == 422 and "That time is not one we offer." in refused.text
    link = _time_links(client.get(f"/staff/book/{consultation_type.slug}").text)[0]
    bad = client.post(link, data=patient_form(email="not an address", date_of_birth="2999-01-01"))
    assert bad.status_code == 422 and "There is a problem" in bad.text
    assert client.get(f"/staff/book/{consultation_type.slug}/details").status_code == 400
    assert client.get("/staff/book/no-such-type").status_code == 404
    assert _bookings() == [] and _audit(AuditAction.BOOKED_FOR_CALLER) == []


def test_a_child_can_be_booked_by_phone(client, desk, consultation_type, mailbox, app_context):
    """Online, under MINIMUM_ONLINE_AGE is told to call: the call is where it gets booked."""
    link = _time_links(client.get(f"/staff/book/{consultation_type.slug}").text)[0]
    twelve = date.today().replace(year=date.today().year - 12).isoformat()
    assert client.post(link, data=patient_form(email="kid@example.com", date_of_birth=twelve)).status_code == 302
    assert len(_bookings()) == 1


@pytest.mark.parametrize("role", [Role.CLINICIAN, None])
def test_only_the_front_desk_and_admins_book_for_callers(client, create_staff, consultation_type, role):
    if role is not None:
        sign_in(client, create_staff(role).email)
    response = client.get("/staff/book")
    assert response.status_code == (403 if role else 302)


def test_a_caller_in_london_across_the_spring_gap_sees_new_yorks_nine_oclock_at_one_then_two(
    client, desk, consultation_type, clinician, app_context
):
    """Between the US (Mar 14, 2027) and UK (Mar 28) clock changes London is four hours ahead of New York, not five.

    Those weeks are past the patients' two-week horizon: the desk still books them.
    """
    gap_day, after = date(2027, 3, 15), date(2027, 3, 29)
    if now_utc().date() >= gap_day - timedelta(days=1):
        pytest.skip("the 2027 spring gap has passed")
    for day, first_time in ((gap_day, "1:00 PM"), (after, "2:00 PM")):
        page = client.get(
            f"/staff/book/{consultation_type.slug}", query_string={"tz": "Europe/London", "day": day.isoformat()}
        ).text
        labels = re.findall(r'class="slot" href="[^"]+" aria-label="[^"]+">([^<]+)<', page)
        assert labels[0] == first_time, (day, labels[:3])


def test_the_navigation_shows_what_each_role_may_open_and_marks_where_you_are(client, create_staff, app_context):
    nav = re.compile(r'<nav class="staff-sections".*?</nav>', re.S)
    seen = {}
    for role in Role:
        client.post("/staff/logout", data={})
        sign_in(client, create_staff(role).email)
        home = client.get("/staff/")
        links = re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', nav.search(home.text).group(0))
        seen[role] = {label for _, label in links}
        for href, label in links:
            opened = client.get(href, follow_redirects=True)
            assert opened.status_code == 200, (role, label)
            marked = re.findall(r'aria-current="page">([^<]+)<', nav.search(opened.text).group(0))
            assert marked == [label], (role, href, marked)
    assert {"Day sheet", "Book for a caller"} <= seen[Role.FRONT_DESK] and "Staff" not in seen[Role.FRONT_DESK]
    assert {"My schedule", "My hours", "Calendar feed", "My intakes"} <= seen[Role.CLINICIAN]
    assert "Book for a caller" not in seen[Role.CLINICIAN]
    assert {"Book for a caller", "Staff", "Clinic settings", "Schedules"} <= seen[Role.ADMIN]
