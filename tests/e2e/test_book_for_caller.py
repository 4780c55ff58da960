"""The front desk books for a caller: from the staff navigation, in the caller's zone, within the notice."""

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from icalendar import Calendar

from kapclinic.accounts.models import Role
from kapclinic.core.timezones import now_utc, parse_instant
from kapclinic.extensions import db
from kapclinic.scheduling.models import Booking
from tests.e2e.browser_steps import confirmation_email, fill_details
from tests.e2e.conftest import PHONE
from tests.helpers import seed_offering


def test_the_front_desk_books_a_caller_in_london_who_gets_the_invite(live_server, open_browser, mailbox):
    # Patients must give two days' notice: the caller wants tomorrow, which only the desk can book.
    seed_offering(live_server.app, "first-consultation", zone="America/New_York", min_notice_minutes=2 * 24 * 60)
    live_server.add_staff(Role.FRONT_DESK, "desk@clinic.example.org", "Dee Desk")
    desk = open_browser(label="front-desk")
    page = desk.page
    desk.sign_in(live_server, "desk@clinic.example.org")

    page.get_by_role("navigation", name="Staff sections").get_by_role("link", name="Book for a caller").click()
    desk.check("types")
    page.get_by_role("link", name=re.compile("First-Consultation")).click()
    page.get_by_label("Find your time zone by city or name").fill("london")  # the city typed is chosen
    with page.expect_navigation():
        page.get_by_label("Find your time zone by city or name").press("Enter")
    assert re.search(r"tz=Europe(%2F|/)London", page.url), page.url
    desk.check("picker-london")
    assert "Times in" in page.inner_text("main") and "London" in page.inner_text("main")

    tomorrow = (now_utc() + timedelta(days=1)).astimezone(ZoneInfo("Europe/London")).date()
    day_name = f"{tomorrow:%A, %B} {tomorrow.day}, {tomorrow.year}"
    page.get_by_role("link", name=re.compile(rf"^{day_name}, \d+ times? free")).click()
    chosen = page.locator("a.slot").first
    label = chosen.inner_text()
    start = parse_qs(urlsplit(chosen.get_attribute("href")).query)["start"][0]
    chosen.click()
    desk.check("details")
    assert label in page.inner_text("main")
    fill_details(page, "Cora Caller", "cora@example.com")
    page.get_by_role("button", name="Book and send the confirmation").click()
    page.wait_for_url(re.compile(r"/staff/intakes/\d+"))
    desk.check("record")
    assert "Booked. The caller" in page.inner_text("main") and "Cora Caller" in page.inner_text("main")

    invite = confirmation_email(mailbox, "cora@example.com")
    calendar = next(
        Calendar.from_ical(part.get_content()) for part in invite.walk() if part.get_content_type() == "text/calendar"
    )
    (event,) = calendar.walk("VEVENT")
    assert event.decoded("DTSTART") == parse_instant(start)
    with live_server.app.app_context():
        booking = db.session.scalars(db.select(Booking)).one()
        assert booking.patient_timezone == "Europe/London" and booking.start_dt == parse_instant(start)
        db.session.rollback()


def test_the_staff_navigation_fits_a_phone_and_marks_the_section(live_server, open_browser):
    seed_offering(live_server.app, "first-consultation", zone="America/New_York")
    live_server.add_staff(Role.ADMIN, "admin@clinic.example.org", "Ada Admin")
    phone = open_browser(PHONE, label="admin-phone")
    phone.sign_in(live_server, "admin@clinic.example.org")
    nav = phone.page.get_by_role("navigation", name="Staff sections")
    for section in ("Book for a caller", "Schedules", "Hours", "Clinic settings"):
        nav.get_by_role("link", name=section).click()
        phone.check(section.lower().replace(" ", "-"))  # no sideways scrolling, axe clean
        assert nav.locator('[aria-current="page"]').inner_text() == section
