"""Patients in a real browser: book on a phone, leave the intake half done, come back from the email, finish."""

import re
import time
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from kapclinic.extensions import db
from kapclinic.intake.models import Intake
from kapclinic.scheduling.models import Booking
from tests.e2e.browser_steps import (
    answer_steps,
    book_in_browser,
    confirmation_email,
    current_step,
    fill_details,
    press_enter_to_go_on,
    tab_to,
)
from tests.e2e.conftest import PHONE
from tests.helpers import patient_json, seed_offering
from tests.intake_answers import born_years_ago


def _link(message, path):
    return re.search(rf"(http://127\.0\.0\.1:\d+/{path}/\S+)", message.get_body(("plain",)).get_content()).group(1)


def test_a_patient_on_a_phone_books_starts_the_intake_closes_the_browser_and_finishes_from_the_email(
    live_server, open_browser, mailbox
):
    seed_offering(live_server.app, "first-consultation", zone="America/New_York")
    phone = open_browser(PHONE, timezone_id="America/Los_Angeles", label="phone")
    page = phone.page
    time_label = book_in_browser(phone, live_server, "First-Consultation")
    # The times were offered in the phone's own zone, and the booked page names it.
    assert "Pacific" in page.inner_text("main") or re.search(r"P[SD]T", page.inner_text("main"))
    assert time_label.split()[0] in page.inner_text("main")

    # The questionnaire opens from its own link in the email (the manage link opens none of it).
    confirmation = confirmation_email(mailbox, "ana@example.com")
    page.goto(_link(confirmation, "intake"))
    phone.check("questionnaire-start")
    page.get_by_role("link", name="Start").click()
    assert answer_steps(phone, until="history") == ["about", "reasons"]
    phone.close()  # the patient puts the phone away; the browser session is gone

    assert confirmation.get_content_type() == "multipart/mixed" or "text/calendar" in str(confirmation)
    later = open_browser(PHONE, timezone_id="America/Los_Angeles", label="phone-later")
    page = later.page
    page.goto(_link(confirmation, "intake"))
    later.check("questionnaire-again")
    page.get_by_role("link", name="Continue where you left off").click()
    assert current_step(page) == "history", "the steps saved before closing the browser are kept"
    answer_steps(later)

    later.check("review")
    review = page.inner_text("main")
    assert "Ana Patient" in review and "Feel like myself again" in review  # answers from before the break
    page.get_by_role("button", name="Submit my answers").click()
    page.wait_for_load_state("load")
    later.check("submitted")
    assert "/done" in page.url
    with live_server.app.app_context():
        intake = db.session.scalars(db.select(Intake)).one()
        assert intake.submitted_dt is not None
        db.session.rollback()


def test_an_adolescent_is_asked_for_a_guardian_who_consents_from_their_own_link(live_server, open_browser, mailbox):
    seed_offering(live_server.app, "first-consultation", zone="America/New_York")
    fifteen = born_years_ago(15)
    teen = open_browser(PHONE, label="adolescent")
    page = teen.page
    book_in_browser(
        teen, live_server, "First-Consultation", name="Sam Young", email="sam@example.com", date_of_birth=fifteen
    )
    page.goto(_link(confirmation_email(mailbox, "sam@example.com"), "intake"))
    page.get_by_role("link", name="Start").click()
    answered = answer_steps(
        teen, changes={"about": {"date_of_birth": fifteen, "legal_name": "Sam Young", "preferred_name": "Sam"}}
    )
    assert "guardian" in answered, answered
    page.get_by_role("button", name="Submit my answers").click()
    page.wait_for_load_state("load")
    teen.check("waiting-for-guardian")
    assert "guardian" in page.inner_text("main").lower()

    request = next(message for message in mailbox.messages if message["To"] == "grace@example.com")
    guardian = open_browser(label="guardian")
    guardian.page.goto(_link(request, "intake/guardian"))
    guardian.check("guardian-consent")
    text = guardian.page.inner_text("main")
    assert re.search(r"\d{1,2}:\d{2} [AP]M E[SD]T", text)  # the consultation's time, its zone named
    # Written for the guardian: whose consultation (first name only) and why they are asked; the answers stay off it.
    assert "Consent for Sam's consultation" in text and "Because Sam is under 18" in text
    assert "Sam Young" not in text and "Feel like myself again" not in text
    guardian.page.get_by_role("button", name="Give my consent").click()
    guardian.page.wait_for_load_state("load")
    guardian.check("guardian-consent-incomplete")
    assert guardian.page.evaluate("document.activeElement.classList.contains('error-summary')")
    guardian.page.get_by_label("Your relationship to them").fill("Mother")
    guardian.page.get_by_label("Your full name, as your signature").fill("Grace Guardian")
    guardian.page.get_by_label("I have read the statement above and I give my consent").check()
    guardian.page.get_by_role("button", name="Give my consent").click()
    guardian.page.wait_for_load_state("load")
    guardian.check("guardian-consented")
    assert "Your consent is recorded" in guardian.page.inner_text("main")
    with live_server.app.app_context():
        intake = db.session.scalars(db.select(Intake)).one()
        assert intake.guardian_signed_dt is not None and intake.is_submitted
        db.session.rollback()


def test_booking_and_a_questionnaire_step_work_with_the_keyboard_alone(live_server, open_browser, mailbox):
    seed_offering(live_server.app, "first-consultation", zone="America/New_York")
    person = open_browser(label="keyboard")
    page, keys = person.page, person.page.keyboard
    page.goto(live_server.url + "/")
    tab_to(page, "a[href^='/book/first-consultation']")
    press_enter_to_go_on(page)
    tab_to(page, "a.slot")
    press_enter_to_go_on(page)
    for selector, typed in (("#name", "Kim Keys"), ("#email", "kim@example.com"), ("#phone", "+1 212 555 0199")):
        tab_to(page, selector)
        keys.type(typed)
    tab_to(page, "#date_of_birth")
    keys.type("04121990")  # a date field takes month, day and year typed in turn
    tab_to(page, "#contact_consent")
    keys.press("Space")
    tab_to(page, "button.primary")
    press_enter_to_go_on(page)
    assert "Your consultation is booked" in page.inner_text("main")
    person.check("booked-by-keyboard")

    page.goto(_link(confirmation_email(mailbox, "kim@example.com"), "intake"))  # from the email, then by keyboard again
    tab_to(page, "a.button")
    press_enter_to_go_on(page)
    answer_steps(person, until="phq9", changes={"about": {"legal_name": "Kim Keys"}})
    for number in range(1, 10):
        tab_to(page, f"[name=phq9_{number}]")
        keys.press("Space")  # the first answer, "Not at all"
        if number < 9:
            keys.press("ArrowDown")  # the next one, "Several days"
    tab_to(page, "button.primary")
    press_enter_to_go_on(page)
    assert current_step(page) == "asq"
    page.go_back()
    page.reload()
    assert (
        page.locator('[name=phq9_1][value="1"]').is_checked() and page.locator('[name=phq9_9][value="0"]').is_checked()
    )


def test_the_back_button_and_book_again_makes_one_booking_and_one_email(live_server, open_browser, mailbox):
    """After booking, Back shows the form again; pressing "Book this time" once more must not book twice."""
    seed_offering(live_server.app, "first-consultation", zone="America/New_York")
    person = open_browser(label="back-button")
    page = person.page
    page.goto(live_server.url + "/book/first-consultation")
    page.locator("a.slot").first.click()
    fill_details(page, "Dana Double", "dana@example.com")
    with page.expect_navigation():
        page.get_by_role("button", name="Book this time").click()
    booked_url = page.url
    page.go_back()
    person.check("form-again")
    assert "You booked this time a moment ago" in page.inner_text("main")
    if not page.input_value("#name"):  # the browser may or may not restore what was typed
        fill_details(page, "Dana Double", "dana@example.com")
    with page.expect_navigation():
        page.get_by_role("button", name="Book this time").click()
    person.check("after-booking-again")
    assert page.url == booked_url, "the patient lands on the booking they already have"
    with live_server.app.app_context():
        assert db.session.scalar(db.select(db.func.count(Booking.id))) == 1
        db.session.rollback()
    assert [message["To"] for message in mailbox.messages] == ["dana@example.com"]


def test_on_a_phone_a_patient_fixes_an_email_typo_and_books_another_time_when_theirs_is_taken(
    live_server, open_browser, mailbox
):
    """Nothing typed is retyped: the error summary takes focus, the typo is one tap, the taken time one more."""
    offering = seed_offering(live_server.app, "first-consultation", zone="America/New_York")
    phone = open_browser(PHONE, timezone_id="America/Los_Angeles", label="phone-recover")
    page = phone.page
    page.goto(f"{live_server.url}/book/first-consultation")
    page.locator("a.slot").first.click()
    page.locator("#name").wait_for()

    # Sent with a name missing: the summary of problems has the focus, and links to the field.
    fill_details(page, "", "ana@gmial.com")
    with page.expect_navigation():
        page.get_by_role("button", name="Book this time").click()
    assert page.evaluate("document.activeElement.className") == "error-summary"
    phone.check("details-with-a-problem")
    page.get_by_role("link", name=re.compile("name", re.I)).first.click()
    page.keyboard.type("Ana Patient")

    # The domain looks mistyped: asked once, fixed with one tap ...
    with page.expect_navigation():
        page.get_by_role("button", name="Book this time").click()
    phone.check("did-you-mean")
    assert "Did you mean ana@gmail.com?" in page.inner_text("main")
    # ... but meanwhile someone else books this very time.
    start = parse_qs(urlsplit(page.url).query)["start"][0]
    other = patient_json(offering, start, email="other@example.com", name="Other Patient")
    taken = live_server.app.test_client().post("/api/v1/bookings", json=other)
    assert taken.status_code == 201, taken.json
    with page.expect_navigation():
        page.get_by_role("button", name="Yes, use ana@gmail.com").click()
    phone.check("time-taken")
    assert "This time was just taken" in page.inner_text("main")
    assert page.input_value("#email") == "ana@gmail.com" and page.input_value("#name") == "Ana Patient"
    with page.expect_navigation():
        page.locator("#alternatives ~ ul button.slot").first.click()
    assert "Your consultation is booked" in page.inner_text("main")
    phone.check("booked-another-time")
    assert confirmation_email(mailbox, "ana@gmail.com")["To"] == "ana@gmail.com"
    with live_server.app.app_context():
        assert sorted(booking.patient_email for booking in db.session.scalars(db.select(Booking))) == [
            "ana@gmail.com",
            "other@example.com",
        ]
        db.session.rollback()


def test_on_a_desktop_in_london_a_patient_goes_back_adds_a_medicine_saves_to_finish_later_and_finishes(
    live_server, open_browser, mailbox
):
    seed_offering(live_server.app, "first-consultation", zone="America/New_York")
    desk = open_browser(timezone_id="Europe/London", label="london-desktop")
    page = desk.page
    book_in_browser(desk, live_server, "First-Consultation", email="lee@example.com", name="Lee Patient")
    intake_link = _link(confirmation_email(mailbox, "lee@example.com"), "intake")
    page.goto(intake_link)
    page.get_by_role("link", name="Start").click()
    answer_steps(desk, until="history", changes={"about": {"legal_name": "Lee Patient"}})
    assert "Part 2 of 4: Your health and treatment" in page.inner_text("main")

    # Back, to the page before with its answers, and forward again.
    page.get_by_role("link", name="Back").click()
    assert current_step(page) == "reasons" and page.input_value("#q-hopes") == "Feel like myself again"
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_load_state("load")
    assert current_step(page) == "history"

    # One antidepressant row to start with; "Add another" opens the next and moves there.
    assert page.locator("fieldset.row:visible").count() == 1
    page.fill("#q-ad1_name", "Sertraline")
    page.get_by_role("button", name="Add another antidepressant").click()
    assert page.evaluate("document.activeElement.id") == "q-ad2_name"
    page.keyboard.type("Bupropion")
    desk.check("history-two-medicines")
    # The doorbell rings: save the half-filled page (required answers still missing) and close the browser.
    page.get_by_role("button", name="Save and finish later").click()
    page.wait_for_load_state("load")
    desk.check("saved-for-later")
    assert "Your answers are saved" in page.inner_text("main")
    desk.close()

    later = open_browser(timezone_id="Europe/London", label="london-later")
    page = later.page
    page.goto(intake_link)
    page.get_by_role("link", name="Continue where you left off").click()
    page.wait_for_load_state("load")
    assert current_step(page) == "history"
    assert page.input_value("#q-ad1_name") == "Sertraline" and page.input_value("#q-ad2_name") == "Bupropion"
    assert "saved this page to finish later" in page.inner_text("main")
    later.check("history-reopened")
    answer_steps(later, changes={"history": {"ad1_name": "Sertraline", "ad2_name": "Bupropion"}})
    page.get_by_role("button", name="Submit my answers").click()
    page.wait_for_load_state("load")
    later.check("submitted-with-a-copy")
    main = page.inner_text("main")
    assert "Bupropion" in main and "Your consultation" in main
    assert page.get_by_role("button", name="Print or save a copy").is_visible()
    with live_server.app.app_context():
        intake = db.session.scalars(db.select(Intake)).one()
        assert intake.answers["history"]["ad2_name"] == "Bupropion" and intake.draft_answers is None
        db.session.rollback()


def test_a_patient_finds_their_zone_by_typing_a_city_and_the_times_follow(live_server, open_browser, mailbox):
    seed_offering(live_server.app, "first-consultation", zone="America/New_York")
    phone = open_browser(PHONE, timezone_id="America/Los_Angeles", label="zone-search")
    page = phone.page
    page.goto(live_server.url + "/book/first-consultation")
    page.wait_for_url("**tz=America%2FLos_Angeles**")  # the browser's zone first
    assert "Pacific Time" in page.inner_text("main")
    page.get_by_label("Find your time zone by city or name").fill("kathm")
    options = page.locator("#tz option").all_inner_texts()
    assert options[0].startswith("Pacific Time") and any(option.startswith("Nepal Time") for option in options)
    assert len(options) == 2 and page.inner_text("#tz-search-count").startswith("1 zone matches; chosen: Nepal")
    assert page.input_value("#tz") == "Asia/Kathmandu"  # the city typed is the zone chosen
    phone.check("zone-search")
    with page.expect_navigation():
        page.get_by_label("Find your time zone by city or name").press("Enter")
    page.wait_for_load_state("load")
    phone.check("times-in-kathmandu")
    assert "Times in Nepal Time \u2014 Kathmandu" in page.inner_text("main")
    # 9:00 in New York is 19:45 in Kathmandu (UTC+5:45): the quarter-hour offset reaches the times.
    assert re.search(r"\b\d{1,2}:45 [AP]M\b", page.inner_text(".day-times"))


def test_a_patient_whose_link_expired_gets_fresh_links_and_adds_the_consultation_to_google_calendar(
    live_server, open_browser, mailbox
):
    seed_offering(live_server.app, "first-consultation", zone="America/New_York")
    phone = open_browser(PHONE, timezone_id="America/Los_Angeles", label="expired-link")
    page = phone.page
    book_in_browser(phone, live_server, "First-Consultation", email="kai@example.com", name="Kai Patient")
    manage_link = _link(confirmation_email(mailbox, "kai@example.com"), "manage")

    # Months later the link in the first email has expired: the page says what to do next.
    live_server.app.config["MANAGE_LINK_MAX_AGE_DAYS"] = 0
    time.sleep(1.1)  # older than zero days, to the second
    page.goto(manage_link)
    phone.check("expired-link")
    assert "This link does not work any more" in page.inner_text("h1")
    page.get_by_role("link", name="Send me my links again").click()
    page.wait_for_load_state("load")
    live_server.app.config["MANAGE_LINK_MAX_AGE_DAYS"] = 180
    phone.check("links-again")
    page.get_by_label("Email").fill("kai@example.com")
    page.get_by_role("button", name="Send me my links").click()
    page.wait_for_load_state("load")
    phone.check("links-sent")
    assert "we have emailed fresh links" in page.inner_text("main")
    for _ in range(100):
        fresh = [message for message in mailbox.messages if message["To"] == "kai@example.com"][1:]
        if fresh:
            break
        time.sleep(0.1)
    page.goto(_link(fresh[-1], "manage"))
    phone.check("booking-from-fresh-link")

    # "Add to Google Calendar": the consultation's own times in UTC, under the invite's neutral title.
    google = urlsplit(page.get_by_role("link", name="Google Calendar").get_attribute("href"))
    assert google.netloc == "calendar.google.com"
    event = parse_qs(google.query)
    with live_server.app.app_context():
        booking = db.session.scalars(db.select(Booking)).one()
        start, end = booking.start_dt, booking.end_dt
        db.session.rollback()
    assert event["dates"] == [f"{start:%Y%m%dT%H%M%SZ}/{end:%Y%m%dT%H%M%SZ}"]
    title = event["text"][0]
    assert "ketamine" not in title.lower() and "Kai" not in title


def test_across_the_spring_clock_changes_a_patient_in_los_angeles_books_a_london_clinician_from_the_calendar(
    live_server, open_browser, mailbox
):
    """The US moves its clocks two weeks before the UK: for those weeks Los Angeles is 7 hours behind London, not 8."""
    today = date.today()
    march = date(today.year if today.month < 3 else today.year + 1, 3, 1)
    seed_offering(live_server.app, "first-consultation", zone="Europe/London", horizon_days=(march - today).days + 45)
    us_change = next(march + timedelta(days=n) for n in range(7, 14) if (march + timedelta(days=n)).weekday() == 6)
    between = us_change + timedelta(days=1)  # Los Angeles on summer time, London not yet
    phone = open_browser(PHONE, timezone_id="America/Los_Angeles", label="los-angeles-march")
    page = phone.page
    page.goto(live_server.url + "/book/first-consultation")
    page.wait_for_url("**tz=America%2FLos_Angeles**")
    for _ in range(6):  # month by month, as a person would
        if f"{march:%B %Y}" in page.inner_text(".month-nav + table caption, .picker"):
            break
        page.get_by_role("link", name=re.compile(r"\u2192$")).click()
        page.wait_for_load_state("load")
    page.get_by_role("link", name=re.compile(rf"^{between:%A}, {between:%B} {between.day}, {between.year}, ")).click()
    page.wait_for_load_state("load")
    phone.check("march-day-between-the-changes")
    first = page.locator("a.slot").first
    assert first.inner_text() == "1:00 AM"  # 08:00 in London (GMT) is 01:00 in Los Angeles (PDT) that week
    first.click()
    page.wait_for_load_state("load")
    fill_details(page, "Mo Patient", "mo@example.com")
    page.check("#contact_consent")
    page.get_by_role("button", name="Book this time").click()
    page.wait_for_load_state("load")
    phone.check("booked-between-the-changes")
    main = page.inner_text("main")
    assert f"{between:%b} {between.day}, {between.year}, 1:00 AM PDT" in main and "8:00 AM GMT" in main
    with live_server.app.app_context():
        booking = db.session.scalars(db.select(Booking)).one()
        assert booking.start_dt == datetime(between.year, 3, between.day, 8, tzinfo=UTC)
        db.session.rollback()
