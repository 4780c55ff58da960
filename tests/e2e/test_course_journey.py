"""A course end to end: an admin adds the template, a clinician books a course, the patient moves a session."""

import re
from datetime import datetime, timedelta

from sqlalchemy import select

from kapclinic.accounts.models import Role
from kapclinic.core.timezones import now_utc
from kapclinic.courses.models import CourseTemplate
from kapclinic.extensions import db
from kapclinic.intake.models import Intake, ReviewStatus
from kapclinic.scheduling.models import Booking
from tests.e2e.browser_steps import move_course_session, plan_and_book_course
from tests.e2e.conftest import DESKTOP, PHONE
from tests.helpers import seed_course_template, seed_offering
from tests.intake_answers import submit_intake


def _sessions(app):
    with app.app_context():
        rows = db.session.execute(
            select(Booking.course_step, Booking.start_dt)
            .where(Booking.course_id.is_not(None))
            .order_by(Booking.course_step)
        ).all()
        db.session.rollback()
    return rows


def _admin_adds_the_template(live_server, open_browser, seeded):
    """An admin adds "KAP sublingual, adult" from the staff navigation, with the session types already set up."""
    live_server.add_staff(Role.ADMIN, "ada@clinic.example.org", "Ada Admin")
    admin = open_browser(DESKTOP, label="admin")
    page = admin.page
    admin.sign_in(live_server, "ada@clinic.example.org")
    page.get_by_role("navigation", name="Staff sections").get_by_role("link", name="Course templates").click()
    page.get_by_role("link", name="Add a course template").click()
    admin.check("new-template")
    page.get_by_label("Name staff see").fill("KAP sublingual, adult")
    page.get_by_label("Short name").fill("kap-sublingual-adult")
    page.get_by_label("Preparation sessions").fill("2")
    page.get_by_label("Preparation session type").select_option(str(seeded.type_ids["preparation"]))
    page.get_by_label("At least … days after a preparation session").fill("1")
    page.get_by_label("Dosing cycles").fill("3")
    page.get_by_label("Dosing session type").select_option(str(seeded.type_ids["dosing"]))
    page.get_by_label("Integration session type").select_option(str(seeded.type_ids["integration"]))
    page.get_by_label("At the earliest (days after)").fill("1")
    page.get_by_label("At the latest (days after)").fill("3")
    page.get_by_label("At least … days between dosing sessions").fill("6")
    page.get_by_role("button", name="Add the template").click()
    admin.check("template-added")
    assert "KAP sublingual, adult" in page.inner_text("main")


def test_a_clinician_books_a_course_and_the_patient_moves_an_integration_session(live_server, open_browser, mailbox):
    app = live_server.seeding_app
    offering = seed_offering(app, "first-consultation")
    seeded = seed_course_template(app, offering.clinician_id)
    with app.app_context():  # its session types stay; the admin adds the template itself
        db.session.get(CourseTemplate, seeded.template_id).is_active = False
        db.session.commit()
    _admin_adds_the_template(live_server, open_browser, seeded)
    live_server.add_staff(Role.CLINICIAN, "rowan@clinic.example.org", "Rowan Hale", clinician_id=offering.clinician_id)
    intake_id = submit_intake(app, offering, mailbox, 0, "Robin Course", "robin@example.com")
    with app.app_context():
        db.session.get(Intake, intake_id).review_status = ReviewStatus.READY  # the desk reviewed it
        db.session.commit()

    clinician = open_browser(DESKTOP, label="clinician")
    clinician.sign_in(live_server, "rowan@clinic.example.org")
    plan_and_book_course(clinician, live_server.url, intake_id, (now_utc() + timedelta(days=10)).date())
    assert "The course is booked: 8 sessions" in clinician.page.inner_text("main")
    assert len(_sessions(live_server.app)) == 8

    # The patient, on a phone, opens the link in the email of session 4 (the first integration session).
    message = next(m for m in mailbox.messages if m["To"] == "robin@example.com" and "Session 4 of 8" in m["Subject"])
    link = re.search(r"(http://127\.0\.0\.1:\d+/manage/\S+)", message.get_body(("plain",)).get_content()).group(1)
    patient = open_browser(PHONE, label="patient")
    patient.page.goto(link)
    main = patient.page.inner_text("main")
    assert "Your course: 8 sessions" in main and main.count("please call us") == 3
    before = _sessions(live_server.app)[3].start_dt
    chosen = move_course_session(patient, link, 4)
    moved = _sessions(live_server.app)[3].start_dt
    assert moved == datetime.fromisoformat(chosen.replace("Z", "+00:00"))
    treatment = _sessions(live_server.app)[2].start_dt
    assert moved != before
    assert timedelta(days=1) <= moved.date() - treatment.date() <= timedelta(days=3)  # the template's rule
