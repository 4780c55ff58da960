"""Staff in a browser: the front desk works the urgent intake first; a clinician's hours change what patients see."""

import re
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from kapclinic.accounts.models import Role
from kapclinic.audit.models import AuditAction, AuditEvent
from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from kapclinic.intake.models import Intake, ReviewStatus
from tests.e2e.browser_steps import book_in_browser
from tests.helpers import seed_offering
from tests.intake_answers import submit_intake

CLOCK = re.compile(r"(\d{1,2}):(\d{2}) ([AP]M)")


def _offered_hours(page):
    """The local hour (0-23) of every time offered on the slots page."""
    hours = set()
    for label in page.locator("a.slot").all_inner_texts():
        hour, _, half = CLOCK.search(label).groups()
        hours.add(int(hour) % 12 + (12 if half == "PM" else 0))
    return hours


def test_the_front_desk_finds_the_urgent_intake_on_top_and_records_the_follow_up(live_server, open_browser, mailbox):
    offering = seed_offering(live_server.seeding_app, "first-consultation", zone="America/New_York")
    submit_intake(live_server.seeding_app, offering, mailbox, 0, "Cal Calm", "cal@example.com")
    urgent_id = submit_intake(
        live_server.seeding_app, offering, mailbox, 4, "Una Urgent", "una@example.com", phq9={"phq9_9": "2"}
    )
    live_server.add_staff(Role.FRONT_DESK, "desk@clinic.example.org", "Dee Desk")

    desk = open_browser(label="front-desk")
    page = desk.page
    desk.sign_in(live_server, "desk@clinic.example.org")
    page.goto(live_server.url + "/staff/intakes")
    desk.check("queue")
    rows = page.locator("tbody tr").all_inner_texts()
    assert "Una Urgent" in rows[0] and "Urgent" in rows[0], rows  # later consultation, but urgent first
    assert "Cal Calm" in rows[1]
    assert "PHQ-9 10 (Moderate)" in rows[0] and "ASQ (Negative screen)" in rows[0]  # a screen has no total to show

    page.get_by_role("link", name="Una Urgent").click()
    desk.check("urgent-record")
    assert "Urgent safety answer" in page.inner_text("main")
    page.get_by_label("What was done").fill("Called Una; safe with her brother tonight; Dr told.")
    page.get_by_role("button", name="Record the follow-up").click()
    desk.check("follow-up-recorded")
    assert "Followed up by Dee Desk" in page.inner_text("main")
    page.get_by_label("Status", exact=True).select_option(ReviewStatus.IN_REVIEW.value)
    page.get_by_role("button", name="Change status").click()
    desk.check("in-review")

    page.goto(live_server.url + "/staff/intakes")
    rows = page.locator("tbody tr").all_inner_texts()
    assert "Cal Calm" in rows[0], "once followed up, the urgent intake takes its place by consultation time"
    with live_server.app.app_context():
        intake = db.session.get(Intake, urgent_id)
        assert intake.review_status is ReviewStatus.IN_REVIEW and intake.urgent_acknowledged_dt is not None
        actions = db.session.scalars(db.select(AuditEvent.action).where(AuditEvent.intake_id == urgent_id)).all()
        assert AuditAction.INTAKE_VIEWED in actions
        db.session.rollback()


def test_a_clinician_changes_weekly_hours_the_patients_times_follow_and_the_invite_downloads(
    live_server, open_browser, mailbox
):
    offering = seed_offering(live_server.app, "first-consultation", zone="America/New_York")
    live_server.add_staff(Role.CLINICIAN, "dr@clinic.example.org", "Dr Lee", clinician_id=offering.clinician_id)
    patient = open_browser(timezone_id="America/New_York", label="patient")
    slots_url = f"{live_server.url}/book/first-consultation?tz=America/New_York&from="
    # Tomorrow in New York: all of its hours are still ahead, whatever the time of day the test runs.
    tomorrow = now_utc().astimezone(ZoneInfo("America/New_York")).date() + timedelta(days=1)
    patient.page.goto(slots_url + tomorrow.isoformat())
    patient.check("times-before")
    assert min(_offered_hours(patient.page)) < 12, "the seeded hours start at 08:00"

    clinician = open_browser(label="clinician")
    page = clinician.page
    clinician.sign_in(live_server, "dr@clinic.example.org")
    page.goto(f"{live_server.url}/staff/clinicians/{offering.clinician_id}/hours")
    clinician.check("weekly-hours")
    for weekday in range(7):
        page.fill(f"#d{weekday}_r0_start", "13:00")
        page.fill(f"#d{weekday}_r0_end", "17:00")
    page.get_by_role("button", name="Save weekly hours").click()
    page.wait_for_load_state("load")
    clinician.check("hours-saved")

    patient.page.reload()
    patient.check("times-after")
    hours = _offered_hours(patient.page)
    assert hours and min(hours) >= 13 and max(hours) <= 16, hours

    book_in_browser(patient, live_server, "First-Consultation", name="Pat Doe", email="pat@example.com")
    page.goto(f"{live_server.url}/staff/clinicians/{offering.clinician_id}/schedule?view=week")
    clinician.check("schedule")
    with page.expect_download() as download_info:
        page.get_by_role("link", name=".ics", exact=True).first.click()
    invite = download_info.value
    assert invite.suggested_filename.endswith(".ics")
    body = Path(invite.path()).read_text(encoding="utf-8")
    assert "BEGIN:VEVENT" in body and "DTSTART" in body
    assert "P. D." in body and "Pat Doe" not in body  # initials unless the clinic chooses full names
