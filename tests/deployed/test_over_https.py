"""Journeys in Chromium over HTTPS through nginx to gunicorn in the production config, emails sent by `flask worker`.

What only HTTPS behind a proxy shows: Flask-WTF's strict CSRF check (a same-origin
Referer on every HTTPS form post), `Secure` session cookies, HSTS, links in emails to
the public https:// origin, and the client's address seen through the proxy.
"""

import re
from datetime import timedelta

import pytest

from kapclinic.audit.models import AuditAction, AuditEvent
from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from kapclinic.intake.models import Intake, ReviewStatus
from kapclinic.scheduling.models import Booking, BookingStatus, Clinician
from tests.deployed.stack import CLIENT_ADDRESS, CLINICIAN_EMAIL, CONSULTATION_NAME, FRONT_DESK_EMAIL, PROXY_ADDRESS
from tests.e2e.browser_steps import (
    answer_steps,
    book_in_browser,
    fill_details,
    move_course_session,
    plan_and_book_course,
)
from tests.e2e.conftest import PHONE
from tests.helpers import booked_by, seed_course_template

pytestmark = pytest.mark.postgres

# The throwaway certificate is made for each run, so the browser cannot know it.
HTTPS = {"ignore_https_errors": True}
# A client naming its own address: the one nginx saw must win.
FORGED_ADDRESS = "203.0.113.9"
LINK = re.compile(r"https?://[^\s\"'<>]+")


def _links(message):
    """Every link in the email's text and HTML parts."""
    return LINK.findall(message.get_body(("plain",)).get_content()) + LINK.findall(
        message.get_body(("html",)).get_content()
    )


def _link_to(message, path):
    return next(link for link in LINK.findall(message.get_body(("plain",)).get_content()) if f"/{path}/" in link)


def _book_then_follow_the_email(stack, open_browser, name, email, phone, path):
    """Book on a phone, close the browser, and open the emailed link to `path` in a new one, as a patient does."""
    booking = open_browser(PHONE, label="phone", **HTTPS)
    book_in_browser(booking, stack, CONSULTATION_NAME, name=name, email=email, phone=phone)
    booking.close()
    later = open_browser(PHONE, label="phone-from-email", **HTTPS)
    later.page.goto(_link_to(stack.email_to(email, "booked"), path))
    return later


def test_the_front_desk_signs_in_stays_signed_in_and_signs_out_over_https_with_secure_cookies_and_hsts(
    stack, open_browser
):
    desk = open_browser(label="front-desk", **HTTPS)
    page = desk.page
    desk.sign_in(stack, FRONT_DESK_EMAIL)
    cookies = desk.context.cookies()
    assert [cookie["name"] for cookie in cookies] == ["session"]
    assert all(cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Lax" for cookie in cookies), cookies
    response = page.goto(stack.url + "/staff/intakes")
    desk.check("queue")
    assert response.status == 200
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert response.headers["referrer-policy"] == "same-origin"

    # The idle warning's button posts from script (staff.js), with the CSRF token in a header.
    page.evaluate("document.getElementById('idle-warning').hidden = false")
    with page.expect_response(lambda answer: answer.url.endswith("/staff/keepalive")) as keepalive:
        page.get_by_role("button", name="Stay signed in").click()
    assert keepalive.value.status == 200, f"the session was not kept: {keepalive.value.status}"

    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    desk.check("signed-out")
    assert "You are signed out." in page.inner_text("main"), page.inner_text("main")[:300]


def test_the_front_desk_books_for_a_caller_over_https_inside_the_notice_and_the_worker_emails_the_caller(
    stack, open_browser
):
    """Strict CSRF (a same-origin Referer) on the staff booking form, and the caller's email from the worker."""
    desk = open_browser(label="front-desk", **HTTPS)
    page = desk.page
    desk.sign_in(stack, FRONT_DESK_EMAIL)
    page.get_by_role("navigation", name="Staff sections").get_by_role("link", name="Book for a caller").click()
    page.get_by_role("link", name=re.compile(CONSULTATION_NAME)).click()
    # Patients must give 26 hours' notice here; the first day the desk is offered may be today or tomorrow.
    page.locator("a.slot").first.click()
    desk.check("caller-details")
    fill_details(page, "Cora Caller", "cora.caller@example.com", date_of_birth="1988-02-03", phone="+1 212 555 0142")
    page.get_by_role("button", name="Book and send the confirmation").click()
    page.wait_for_url(re.compile(r"/staff/intakes/\d+"))
    desk.check("booked-record")
    assert "Booked. The caller" in page.inner_text("main")
    links = _links(stack.email_to("cora.caller@example.com", "booked"))
    assert any(link.startswith(f"{stack.url}/manage/") for link in links), links
    assert any(link.startswith(f"{stack.url}/intake/") for link in links), links
    with stack.app.app_context():
        booking = db.session.scalars(db.select(Booking).where(booked_by("cora.caller@example.com"))).one()
        actor = db.session.scalar(
            db.select(AuditEvent.actor_id).where(
                AuditEvent.booking_id == booking.id, AuditEvent.action == AuditAction.BOOKED_FOR_CALLER
            )
        )
        assert actor is not None and booking.status is BookingStatus.CONFIRMED
        db.session.rollback()


def test_a_patient_books_on_a_phone_and_the_worker_emails_https_links_to_the_public_origin(stack, open_browser):
    phone = open_browser(PHONE, timezone_id="America/Los_Angeles", label="phone", **HTTPS)
    book_in_browser(
        phone, stack, CONSULTATION_NAME, name="Hana Https", email="hana@example.com", phone="+1 212 555 0101"
    )
    cookies = phone.context.cookies()  # the booking form's CSRF token lives in the session cookie
    assert cookies and all(cookie["secure"] and cookie["httpOnly"] for cookie in cookies), cookies

    confirmation = stack.email_to("hana@example.com", "booked")
    links = _links(confirmation)
    assert any("/manage/" in link for link in links) and any("/intake/" in link for link in links), links
    # Every link to the clinic is on its public https origin; the rest add the event to web calendars.
    calendars = ("https://calendar.google.com/", "https://outlook.live.com/", "https://outlook.office.com/")
    ours = [link for link in links if not link.startswith(calendars)]
    assert ours and all(link.startswith(stack.url + "/") for link in ours), links
    assert len(links) - len(ours) == 3, links  # Google Calendar, Outlook.com and Office 365


def test_a_patient_cancels_from_the_manage_link_in_the_email(stack, open_browser):
    later = _book_then_follow_the_email(
        stack, open_browser, "Cary Cancel", "cary@example.com", "+1 212 555 0102", "manage"
    )
    page = later.page
    later.check("manage")
    page.get_by_role("link", name="Cancel").click()
    later.check("cancel")
    page.get_by_role("button", name="Yes, cancel it").click()
    page.wait_for_load_state("load")
    later.check("cancelled")
    assert "Your consultation is cancelled" in page.inner_text("main"), page.inner_text("main")
    stack.email_to("cary@example.com", "cancelled")
    with stack.app.app_context():
        booking = db.session.scalars(db.select(Booking).where(booked_by("cary@example.com"))).one()
        assert booking.status is BookingStatus.CANCELLED
        db.session.rollback()


def test_the_patient_answers_the_questionnaire_from_the_email_and_the_front_desk_reviews_it_from_the_browsers_address(
    stack, open_browser
):
    later = _book_then_follow_the_email(
        stack, open_browser, "Quinn Questions", "quinn@example.com", "+1 212 555 0103", "intake"
    )
    page = later.page
    later.check("questionnaire")
    page.get_by_role("link", name="Start").click()
    assert answer_steps(later, changes={"about": {"legal_name": "Quinn Questions"}})[0] == "about"
    later.check("review")
    page.get_by_role("button", name="Submit my answers").click()
    page.wait_for_load_state("load")
    later.check("submitted")
    assert "/done" in page.url

    desk = open_browser(label="front-desk", **HTTPS, extra_http_headers={"X-Forwarded-For": FORGED_ADDRESS})
    desk.sign_in(stack, FRONT_DESK_EMAIL)
    desk.page.goto(stack.url + "/staff/intakes")
    desk.page.get_by_role("link", name="Quinn Questions").click()
    desk.check("record")
    desk.page.get_by_label("Status", exact=True).select_option(ReviewStatus.IN_REVIEW.value)
    desk.page.get_by_role("button", name="Change status").click()
    desk.page.wait_for_load_state("load")
    desk.check("status-changed")
    assert "Status changed." in desk.page.inner_text("main")

    with stack.app.app_context():
        intake = db.session.scalars(db.select(Intake).join(Booking).where(booked_by("quinn@example.com"))).one()
        assert intake.review_status is ReviewStatus.IN_REVIEW
        change = db.session.scalars(
            db.select(AuditEvent).where(
                AuditEvent.intake_id == intake.id, AuditEvent.action == AuditAction.STATUS_CHANGED
            )
        ).one()
        # The browser's address: not nginx's (PROXY_ADDRESS), nor the one the browser made up.
        assert change.remote_addr == CLIENT_ADDRESS, (change.remote_addr, PROXY_ADDRESS, FORGED_ADDRESS)
        db.session.rollback()


def test_a_clinician_books_a_course_over_https_and_the_patient_moves_a_session_from_its_email(stack, open_browser):
    """The course's forms under strict CSRF, the worker's per-session emails with https links, a move by its rules."""
    with stack.app.app_context():
        clinician_id = db.session.scalar(db.select(Clinician.id))
        db.session.rollback()
    seed_course_template(stack.app, clinician_id)
    phone = open_browser(PHONE, label="phone", **HTTPS)
    book_in_browser(
        phone, stack, CONSULTATION_NAME, name="Cody Course", email="cody@example.com", phone="+1 212 555 0104"
    )
    phone.close()
    with stack.app.app_context():
        intake = db.session.scalars(db.select(Intake).join(Booking).where(booked_by("cody@example.com"))).one()
        intake.review_status = ReviewStatus.READY  # reviewed by the desk (its own journey is above)
        intake_id = intake.id
        db.session.commit()

    clinician = open_browser(label="clinician", **HTTPS)
    clinician.sign_in(stack, CLINICIAN_EMAIL)
    plan_and_book_course(clinician, stack.url, intake_id, (now_utc() + timedelta(days=10)).date())

    link = _link_to(stack.email_to("cody@example.com", "Session 4 of 8"), "manage")
    assert link.startswith(stack.url + "/manage/"), link
    move_course_session(open_browser(PHONE, label="patient", **HTTPS), link, 4)
    stack.email_to("cody@example.com", "has a new time")
