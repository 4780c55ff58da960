"""Every staff page of the URL map, on a phone: axe-core (WCAG 2.2 AA) finds nothing serious, nothing is
wider than the screen, the Tab key reaches every control, and the CSP blocks nothing.

The pages are read from `app.url_map`, so a staff page added later is walked without anyone listing
it here; a route whose URL needs a value this file does not know fails, naming the value.
"""

import re
from datetime import date, time, timedelta

from sqlalchemy import func, select

from kapclinic.accounts.models import Role, StaffUser
from kapclinic.core.timezones import instant_param
from kapclinic.courses.models import CourseTemplate
from kapclinic.extensions import db
from kapclinic.intake.models import Intake
from kapclinic.intake.questionnaire import QUESTIONNAIRE_VERSION
from kapclinic.notifications.models import OutboxMessage
from kapclinic.patients.models import Patient
from kapclinic.scheduling.models import Booking, Clinician, ConsultationType, TimeOff
from kapclinic.workspace import services as workspace
from tests.e2e.conftest import PHONE
from tests.helpers import open_test_course, seed_course_template, seed_offering
from tests.intake_answers import book_for_intake, submit_intake

# Files, not pages: downloads a browser saves.
DOWNLOADS = (".ics", ".csv", ".json")


def _url_values(app, offering):
    """A real value for every argument a staff page's URL takes: the seeded clinician's records."""
    with app.app_context():
        clinician_id = offering.clinician_id
        first_day = date.today() + timedelta(days=40)
        workspace.add_time_off(db.session.get(Clinician, clinician_id), first_day, first_day, "Conference")
        db.session.commit()
        values = {
            "clinician_id": clinician_id,
            "intake_id": db.session.scalar(select(Intake.id)),
            "public_id": db.session.scalar(select(Booking.public_id).order_by(Booking.id)),
            "patient_id": db.session.scalar(select(Patient.public_id).order_by(Patient.id)),
            "other_patient_id": db.session.scalar(select(Patient.public_id).order_by(Patient.id.desc())),
            "user_id": db.session.scalar(select(StaffUser.id).where(StaffUser.role == Role.FRONT_DESK)),
            "clinician_user_id": db.session.scalar(select(StaffUser.id).where(StaffUser.role == Role.CLINICIAN)),
            "type_id": db.session.scalar(select(ConsultationType.id)),
            "message_id": db.session.scalar(select(func.min(OutboxMessage.id))),
            "time_off_id": db.session.scalar(select(TimeOff.id)),
            "template_id": db.session.scalar(select(func.min(CourseTemplate.id))),
            "slug": offering.slug,
            "version": QUESTIONNAIRE_VERSION,
            "day": first_day.isoformat(),
            # Not in the path: the time the caller's details are for.
            "start": instant_param(offering.starts[0]),
        }
        db.session.rollback()
    return values


def _staff_id(app, email):
    with app.app_context():
        user_id = db.session.scalar(select(StaffUser.id).where(StaffUser.email == email))
        db.session.rollback()
    return user_id


def _staff_pages(app, values):
    pages = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or not rule.rule.startswith("/staff") or rule.rule.endswith(DOWNLOADS):
            continue
        if rule.endpoint in ("accounts.reset_password",):  # a private link's page: its own test walks it
            continue
        missing = set(rule.arguments) - set(values)
        assert not missing, f"{rule.endpoint}: give this walk a value for {missing}"
        path = rule.rule
        # A clinician's upcoming consultations are a clinician user's page.
        own = {"user_id": values["clinician_user_id"]} if rule.endpoint == "admin.user_consultations" else {}
        for name in rule.arguments:
            path = re.sub(rf"<([^>]*:)?{name}>", str({**values, **own}[name]), path)
        if rule.endpoint == "callers.caller_details":
            path += f"?start={values['start']}"
        pages.append((rule.endpoint, path))
    return sorted(pages)


def test_every_staff_page_passes_axe_on_a_phone(live_server, open_browser, mailbox):
    offering = seed_offering(live_server.app, "first-consultation", zone="America/New_York")
    submit_intake(live_server.seeding_app, offering, mailbox, 0, "Una Urgent", "una@example.com", phq9={"phq9_9": "2"})
    live_server.add_staff(Role.FRONT_DESK, "desk@clinic.example.org", "Dee Desk")
    live_server.add_staff(Role.ADMIN, "admin@clinic.example.org", "Ada Admin")
    live_server.add_staff(Role.CLINICIAN, "dr@clinic.example.org", "Dr Lee", clinician_id=offering.clinician_id)
    # A second patient, whose record the merge page compares with the first's.
    book_for_intake(
        live_server.seeding_app.test_client(), offering, mailbox, slot=4, name="Pat Other", email="pat@example.com"
    )
    template = seed_course_template(live_server.app, offering.clinician_id)
    admin_id = _staff_id(live_server.app, "admin@clinic.example.org")
    with live_server.seeding_app.app_context():  # the app the patients booked through (its blind index key)
        # 16:00 UTC is within the New York clinician's hours all year.
        course = open_test_course("una@example.com", template.version_id, admin_id, first_time=time(16))()
        db.session.commit()
    values = {**_url_values(live_server.app, offering), **course}
    pages = _staff_pages(live_server.app, values)
    assert len(pages) >= 20, pages

    phone = open_browser(PHONE, label="admin-phone")
    phone.sign_in(live_server, "admin@clinic.example.org")
    problems = []  # every page's, at once
    for endpoint, path in pages:
        response = phone.page.goto(live_server.url + path)
        try:
            assert response.status < 400, f"{endpoint}: {response.status}"
            phone.check(endpoint.replace(".", "-"))
        except AssertionError as problem:
            problems.append(str(problem).split("\n")[0][:300])
    assert problems == [], "\n".join(problems)
