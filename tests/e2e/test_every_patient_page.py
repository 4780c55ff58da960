"""Every page a patient or guardian can reach, on a phone: axe-core (WCAG 2.2 AA) finds nothing serious,
nothing is wider than the screen, the Tab key reaches every control, and the CSP blocks nothing.

The journeys check the pages they pass through; this walks the rest (refusals, confirmations,
the crisis page, error pages) so that no page goes unchecked.
"""

import re

from tests.e2e.browser_steps import book_in_browser, confirmation_email
from tests.e2e.conftest import PHONE
from tests.e2e.test_patient_journeys import _link
from tests.helpers import seed_offering
from tests.intake_answers import ADULT_STEPS, book_for_intake, born_years_ago, complete_steps


def test_every_patient_page_passes_axe_on_a_phone(live_server, open_browser, mailbox):
    offering = seed_offering(live_server.app, "first-consultation", zone="America/New_York")
    live_server.app.config["CANCELLATION_WINDOW_HOURS"] = 0  # today's times may still be changed online
    phone = open_browser(PHONE, timezone_id="America/Chicago", label="every-page")
    page = phone.page
    base = live_server.url

    page.goto(base + "/book")
    phone.check("choose-a-consultation")
    page.goto(base + "/book/first-consultation")
    page.locator("a.slot").first.click()
    page.wait_for_load_state("load")
    page.get_by_role("button", name="Book this time").click()  # nothing typed
    page.wait_for_load_state("load")
    phone.check("details-with-errors")
    assert page.locator(".error-summary").count() == 1

    book_in_browser(phone, live_server, "First-Consultation", name="Rae Patient", email="rae@example.com")
    confirmation = confirmation_email(mailbox, "rae@example.com")
    manage = _link(confirmation, "manage")
    for suffix, name in (
        ("", "manage"),
        ("/cancel", "cancel"),
        ("/reschedule", "reschedule"),
        ("/email", "wrong-address"),
    ):
        page.goto(manage + suffix)
        phone.check(name)
    page.goto(manage + "/reschedule")
    page.locator("a.slot").first.click()
    page.wait_for_load_state("load")
    phone.check("confirm-reschedule")

    intake = _link(confirmation, "intake")
    page.goto(intake)
    phone.check("questionnaire-start")
    page.goto(intake + "/step/phq9")
    page.locator('[name="phq9_9"][value="3"]').check()  # a risk answer, the rest unanswered
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_load_state("load")
    phone.check("step-with-errors-and-crisis-help")
    page.get_by_role("button", name="Save and finish later").click()
    page.wait_for_load_state("load")
    phone.check("saved-with-crisis-help")
    page.goto(intake + "/support")
    phone.check("support")

    page.goto(base + "/links")
    phone.check("links-again")
    page.goto(base + "/manage/not-a-link-0123456789abcdef")
    phone.check("link-that-does-not-work")
    page.goto(base + "/no-such-page")
    phone.check("page-not-found")

    # An adolescent's questionnaire at its end (answered over HTTP: the journeys walk its steps), and the guardian.
    fifteen = born_years_ago(15)
    client = live_server.seeding_app.test_client()
    intake_path = book_for_intake(client, offering, mailbox, date_of_birth=fifteen, slot=3, email="sky@example.com")
    steps = ADULT_STEPS[:-1] + ["guardian", "consent"]
    complete_steps(client, intake_path, steps, about={"date_of_birth": fifteen, "preferred_name": "Sky"})
    page.goto(base + intake_path + "/review")
    phone.check("review")
    page.get_by_role("button", name="Submit my answers").click()
    page.wait_for_load_state("load")
    phone.check("done-awaiting-guardian")
    request = next(message for message in mailbox.messages if message["To"] == "grace@example.com")
    page.goto(_link(request, "intake/guardian"))
    phone.check("guardian")
    assert re.search(r"Consent for Sky.s consultation", page.inner_text("h1"))
