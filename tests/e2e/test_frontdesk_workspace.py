"""The front desk in a browser: a filtered queue survives the record and Back; the record opens with its actions."""

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from kapclinic.accounts.models import Role
from kapclinic.core.timezones import get_zone
from kapclinic.extensions import db
from kapclinic.intake.models import Intake
from tests.e2e.conftest import PHONE
from tests.helpers import seed_offering
from tests.intake_answers import submit_intake

DESK = "desk@clinic.example.org"
# What the record shows, in this order: what the desk acts on first, then the answers.
RECORD_HEADINGS = [
    "Summary",
    "Urgent safety answer",
    "Review status: Submitted, awaiting review",
    "Notes and contact log",
    "Consultation",
    "Scores and medicines",
    "All answers",
]


def _filters(url):
    """The query string's filters, the sealed search left out (a new seal each time the address is made)."""
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    return {name: values for name, values in query.items() if name != "find"}, "find" in query


def _queue_shows_the_filtered_view(page):
    rows = page.locator("tbody tr").all_inner_texts()
    assert len(rows) == 1 and "Una Urgent" in rows[0], rows
    assert page.get_by_label("Status", exact=True).input_value() == "awaiting_review"
    assert page.get_by_label("Name, email or phone").input_value() == "una"


def test_a_filtered_queue_survives_the_record_and_back_and_the_day_sheet_prints(live_server, open_browser, mailbox):
    offering = seed_offering(live_server.seeding_app, "first-consultation", zone="America/New_York")
    submit_intake(live_server.seeding_app, offering, mailbox, 0, "Cal Calm", "cal@example.com")
    urgent_id = submit_intake(
        live_server.seeding_app, offering, mailbox, 4, "Una Urgent", "una@example.com", phq9={"phq9_9": "2"}
    )
    with live_server.app.app_context():
        booking = db.session.get(Intake, urgent_id).booking
        day = booking.start_dt.astimezone(get_zone("America/New_York")).date()
        db.session.rollback()
    live_server.add_staff(Role.FRONT_DESK, DESK, "Dee Desk")

    desk = open_browser(label="front-desk-desktop")
    page = desk.page
    desk.sign_in(live_server, DESK)
    page.goto(live_server.url + "/staff/intakes")
    desk.check("queue")
    assert len(page.locator("tbody tr").all_inner_texts()) == 2

    page.get_by_label("Status", exact=True).select_option("awaiting_review")
    page.get_by_label("Name, email or phone").fill("una")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    filtered_url = page.url
    filters, sealed = _filters(filtered_url)
    assert filters["status"] == ["awaiting_review"] and sealed
    assert "una" not in filtered_url.lower(), "the search reaches the address only sealed"
    desk.check("queue-filtered")
    _queue_shows_the_filtered_view(page)

    # "Back to the queue" on the record returns to the same view.
    page.get_by_role("link", name="Una Urgent").click()
    page.wait_for_load_state("load")
    desk.check("record")
    headings = page.locator("main h2").all_inner_texts()
    assert [heading for heading in headings if heading in RECORD_HEADINGS] == RECORD_HEADINGS, headings
    parts = page.locator("section.answers details")
    assert parts.count() >= 3 and all(parts.nth(i).get_attribute("open") is None for i in range(parts.count()))
    phone_link = page.locator('main a[href^="tel:+1"]').first
    assert re.fullmatch(r"\(\d{3}\) \d{3}-\d{4}", phone_link.inner_text()), phone_link.inner_text()
    page.get_by_role("link", name="Back to the queue").click()
    page.wait_for_load_state("load")
    assert _filters(page.url)[0] == filters
    _queue_shows_the_filtered_view(page)

    # The browser's Back does too.
    page.get_by_role("link", name="Una Urgent").click()
    page.wait_for_load_state("load")
    page.go_back()
    page.wait_for_load_state("load")
    _queue_shows_the_filtered_view(page)

    # On a phone: the shared address opens the same view; the record fits the screen.
    phone = open_browser(device=PHONE, label="front-desk-phone")
    phone.sign_in(live_server, DESK)
    phone.page.goto(filtered_url)
    phone.check("queue-filtered")
    _queue_shows_the_filtered_view(phone.page)
    phone.page.get_by_role("link", name="Una Urgent").click()
    phone.page.wait_for_load_state("load")
    phone.check("record")

    # A status change is confirmed beside the status, where the page lands.
    page.get_by_role("link", name="Una Urgent").click()
    page.wait_for_load_state("load")
    page.locator("#review").get_by_label("Status", exact=True).select_option("in_review")
    with page.expect_navigation():
        page.get_by_role("button", name="Change status").click()
    assert page.url.endswith("#review")
    assert "Status changed." in page.locator("#review").inner_text()
    assert "Status changed." not in page.locator("main > .flash").all_inner_texts()
    desk.check("status-changed")
    page.get_by_role("link", name="Back to the queue").click()
    page.wait_for_load_state("load")
    assert _filters(page.url)[0] == filters and "No intakes match these filters." in page.inner_text("main")

    page.goto(f"{live_server.url}/staff/day?day={day.isoformat()}")
    desk.check("day-sheet")
    sheet = page.locator("table.day-sheet tbody").inner_text()
    assert "Una Urgent" in sheet and "Urgent" in sheet and "In review" in sheet
    assert page.get_by_role("button", name="Print").is_visible(), "staff.js shows the Print button"
    page.get_by_role("link", name="Next day").click()
    page.wait_for_load_state("load")
    assert page.url.endswith(f"day={(day + timedelta(days=1)).isoformat()}")
    page.go_back()
    page.wait_for_load_state("load")
    page.get_by_role("link", name="Una Urgent").click()
    page.wait_for_load_state("load")
    page.get_by_role("link", name="Back to the day sheet").click()
    page.wait_for_load_state("load")
    assert page.url.endswith(f"/staff/day?day={day.isoformat()}")

    phone.page.goto(f"{live_server.url}/staff/day?day={day.isoformat()}")
    phone.check("day-sheet")
