"""What a person does in the browser, shared by the journeys: book a time, answer intake steps."""

import re
import time

from kapclinic.intake.sample_answers import SAMPLE_ANSWERS

STEP_URL = re.compile(r"/intake/[^/]+/step/(?P<key>[a-z0-9_]+)$")


def book_in_browser(
    visit,
    server,
    type_name,
    name="Ana Patient",
    email="ana@example.com",
    date_of_birth="1990-04-12",
    phone="+1 212 555 0100",
):
    """From the landing page to the booked page, through the first free time; return the time's label."""
    page = visit.page
    page.goto(server.url + "/")
    visit.check("landing")
    page.get_by_role("link", name=type_name).first.click()
    page.locator("a.slot").first.wait_for()
    visit.check("choose-a-time")
    slot = page.locator("a.slot").first
    label = slot.inner_text()
    slot.click()
    page.locator("#name").wait_for()
    visit.check("your-details")
    fill_details(page, name, email, date_of_birth, phone)
    page.check("#contact_consent")
    with page.expect_navigation():
        page.get_by_role("button", name="Book this time").click()
    assert "Your consultation is booked" in page.inner_text("main"), f"not booked: {page.inner_text('main')[:500]}"
    visit.check("booked")
    return label


def fill_details(page, name, email, date_of_birth="1990-04-12", phone="+1 212 555 0100"):
    """The booking form's fields, as the patient types them."""
    page.fill("#name", name)
    page.fill("#email", email)
    page.fill("#phone", phone)
    page.fill("#date_of_birth", date_of_birth)


def fill_answers(page, answers):
    """Fill a form from field -> value(s), as a person would: visible questions only, in order."""
    for name, value in answers.items():
        for one in value if isinstance(value, list) else [value]:
            fields = page.locator(f'[name="{name}"]')
            first = fields.first
            if not first.is_visible():
                # A follow-up hidden until the answer it depends on is given (intake.js).
                break
            kind = first.get_attribute("type")
            if kind in ("radio", "checkbox"):
                page.locator(f'[name="{name}"][value="{one}"]').check()
            elif first.evaluate("element => element.tagName") == "SELECT":
                first.select_option(one)
            else:
                first.fill(one)


def current_step(page):
    match = STEP_URL.search(page.url)
    return match.group("key") if match else None


def answer_steps(visit, until=None, changes=None):
    """Answer each intake step shown, with the sample answers, until the review page (or step `until`)."""
    page = visit.page
    answered = []
    while (key := current_step(page)) is not None and key != until:
        visit.check(f"step-{key}")
        fill_answers(page, {**SAMPLE_ANSWERS[key], **(changes or {}).get(key, {})})
        with page.expect_navigation():
            page.get_by_role("button", name="Save and continue").click()
        assert current_step(page) != key, (
            f"step {key} was not accepted: {page.locator('.error-summary').all_inner_texts()}"
        )
        answered.append(key)
    return answered


def tab_to(page, selector, limit=250):
    """Press Tab until the element matching `selector` has the focus, and check that the focus shows."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("selector => document.activeElement?.matches(selector) ?? false", selector):
            ring = page.evaluate(
                "() => { const style = getComputedStyle(document.activeElement);"
                " return style.outlineStyle !== 'none' && style.outlineWidth !== '0px' || style.boxShadow !== 'none'; }"
            )
            assert ring, f"{selector} has the focus but shows no focus ring"
            return
    raise AssertionError(f"{selector} cannot be reached with the Tab key")


def press_enter_to_go_on(page):
    """Enter on a focused link or submit button, waiting for the next page."""
    with page.expect_navigation():
        page.keyboard.press("Enter")


def confirmation_email(mailbox, address):
    """The booking's confirmation email, which the server sends just after answering: wait for it."""
    for _ in range(100):
        found = [
            message
            for message in mailbox.messages
            if message["To"] == address and "booked" in message["Subject"].lower()
        ]
        if found:
            return found[-1]
        time.sleep(0.1)
    raise AssertionError(f"no confirmation email to {address}")


def plan_and_book_course(visit, base_url, intake_id, first_day, template="KAP sublingual, adult (8 sessions)"):
    """A clinician plans a course from the intake record at 10:00, records both gates and books every session."""
    page = visit.page
    page.goto(f"{base_url}/staff/intakes/{intake_id}")
    page.get_by_role("link", name="Plan a treatment course").click()
    visit.check("plan-empty")
    page.get_by_label("Course template").select_option(label=template)
    page.get_by_label("First session’s date").fill(first_day.isoformat())
    page.get_by_label("Time of day for the sessions").fill("10:00")
    page.get_by_role("button", name="Propose every session").click()
    visit.check("plan-proposed")
    assert "Still missing" in page.inner_text("main")
    page.get_by_role("button", name="Record clearance").click()
    page.get_by_role("button", name=re.compile("Record: signed")).click()
    visit.check("plan-ready")
    page.get_by_role("button", name=re.compile(r"Book all \d+ sessions")).click()
    page.wait_for_url(re.compile(r"/staff/courses/"))
    visit.check("course")


def move_course_session(visit, link, number):
    """The patient opens a session's emailed link and moves session `number` to the second time offered; returns it."""
    page = visit.page
    page.goto(link)
    visit.check("manage-course")
    page.get_by_role("link", name=f"Move session {number}").click()
    visit.check("move-session")
    option = page.get_by_role("radio").nth(1)
    option.check()
    chosen = option.get_attribute("value")
    page.get_by_role("button", name="Move my session").click()
    visit.check("moved")
    assert f"Session {number} has moved to" in page.inner_text("main")
    return chosen
