"""Every front desk route against every role, on a real intake, on another clinician's, and on ids that do not exist.

The table lists every `frontdesk.*` endpoint of the app's URL map: a new route
without a row fails the test, so nobody adds a page of patient data unchecked.
"""

import re

import pytest
from sqlalchemy import select

from kapclinic.accounts.models import Role
from kapclinic.extensions import db
from kapclinic.intake.models import Intake
from kapclinic.scheduling.models import Booking, Clinician
from tests.helpers import STAFF_PASSWORD, booked_by, seed_offering, sign_in
from tests.intake_answers import ADULT_STEPS, book_for_intake, complete_steps

pytestmark = pytest.mark.both_databases

ROLES = ("anonymous", "front_desk", "clinician", "admin")
# endpoint, method -> status for each role in ROLES, on an intake of the clinician's own consultation.
# POSTs send an empty form: allowed roles get the form's 422, not a change.
MATRIX = {
    ("frontdesk.queue", "GET"): (302, 200, 200, 200),
    # The filter form is answered with the address of the filtered view.
    ("frontdesk.queue", "POST"): (302, 303, 303, 303),
    ("frontdesk.queue_csv", "GET"): (302, 200, 200, 200),
    ("frontdesk.day_sheet", "GET"): (302, 200, 200, 200),
    ("frontdesk.intake_record", "GET"): (302, 200, 200, 200),
    ("frontdesk.intake_print", "GET"): (302, 200, 200, 200),
    ("frontdesk.intake_fhir", "GET"): (302, 200, 200, 200),
    ("frontdesk.questionnaire_definition", "GET"): (302, 200, 200, 200),
    ("frontdesk.change_status", "POST"): (302, 422, 422, 422),
    ("frontdesk.add_note", "POST"): (302, 422, 422, 422),
    ("frontdesk.acknowledge_urgent", "POST"): (302, 422, 422, 422),
    ("frontdesk.reassign", "POST"): (302, 422, 403, 422),
    ("frontdesk.reschedule", "GET"): (302, 200, 403, 200),
    ("frontdesk.reschedule", "POST"): (302, 422, 403, 422),
    ("frontdesk.cancel", "POST"): (302, 422, 403, 422),
    # The seeded consultation is by phone: there is no video link to set, whatever the form says.
    ("frontdesk.set_video_link", "POST"): (302, 409, 403, 409),
    ("frontdesk.patient_trail", "GET"): (302, 403, 403, 200),
    ("frontdesk.staff_trail", "GET"): (302, 403, 403, 200),
}


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("frontdesk."):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule, method


def _path(rule, intake_id, user_id):
    values = {"intake_id": intake_id, "user_id": user_id, "version": "2026-11.1"}
    path = rule.rule
    for name in rule.arguments:
        path = re.sub(rf"<([^>]*:)?{name}>", str(values[name]), path)
    return path


def test_every_front_desk_route_is_in_the_matrix(app):
    routes = {(rule.endpoint, method) for rule, method in _routes(app)}
    assert routes == set(MATRIX), f"missing: {routes - set(MATRIX)}; stale: {set(MATRIX) - routes}"


def _submit(app, offering, mailbox, email):
    patient = app.test_client()
    intake_url = book_for_intake(patient, offering, mailbox, email=email)
    complete_steps(patient, intake_url, ADULT_STEPS)
    assert patient.post(f"{intake_url}/review").status_code == 302
    with app.app_context():
        intake_id = db.session.scalar(select(Intake.id).join(Booking).where(booked_by(email)))
        db.session.rollback()
    return intake_id, intake_url


@pytest.fixture
def world(app, mailbox, create_staff, in_app):
    """Two clinicians' patients, and one signed-in client per role; the clinician owns the first intake."""
    own = seed_offering(app, "own")
    other = seed_offering(app, "other")
    own_intake, patient_link = _submit(app, own, mailbox, "own@example.com")
    other_intake, _ = _submit(app, other, mailbox, "other@example.com")

    def clinician_for_own():
        from kapclinic.accounts import services as accounts
        from kapclinic.core.timezones import now_utc

        user = accounts.create_user(
            "own.clinician@clinic.example.org",
            "Dr. Own",
            Role.CLINICIAN,
            STAFF_PASSWORD,
            now_utc(),
            db.session.get(Clinician, own.clinician_id),
        )
        return user.id

    users = {
        "front_desk": create_staff(Role.FRONT_DESK).id,
        "admin": create_staff(Role.ADMIN).id,
        "clinician": in_app(clinician_for_own),
    }
    emails = {"front_desk": "front_desk", "admin": "admin", "clinician": "own.clinician@clinic.example.org"}
    clients = {"anonymous": app.test_client()}
    for role in ("front_desk", "admin", "clinician"):
        clients[role] = app.test_client()
        with app.app_context():
            from kapclinic.accounts.models import StaffUser

            email = db.session.get(StaffUser, users[role]).email
            db.session.rollback()
        assert sign_in(clients[role], email).status_code == 302, emails[role]
    return {"own": own_intake, "other": other_intake, "clients": clients, "users": users, "patient_link": patient_link}


def _call(client, method, path):
    return client.open(path, method=method, data={} if method == "POST" else None)


def test_each_role_gets_what_the_matrix_says_on_its_own_patients_intake(app, world):
    checked = 0
    for rule, method in _routes(app):
        expected = dict(zip(ROLES, MATRIX[(rule.endpoint, method)], strict=True))
        path = _path(rule, world["own"], world["users"]["front_desk"])
        for role in ROLES:
            response = _call(world["clients"][role], method, path)
            assert response.status_code == expected[role], (role, method, path, response.status_code)
            if expected[role] == 302:
                assert "/staff/login" in response.headers["Location"]
            checked += 1
    assert checked == len(MATRIX) * len(ROLES)


def test_a_clinician_gets_404_for_another_clinicians_intake_and_everyone_for_unknown_ids(app, world):
    for rule, method in _routes(app):
        if "intake_id" not in rule.arguments:
            continue
        allowed = dict(zip(ROLES, MATRIX[(rule.endpoint, method)], strict=True))
        other_path = _path(rule, world["other"], 1)
        if allowed["clinician"] != 403:
            assert _call(world["clients"]["clinician"], method, other_path).status_code == 404, (method, other_path)
        for role in ("front_desk", "clinician", "admin"):
            for missing in (999999, 2**31 - 1):
                status = _call(world["clients"][role], method, _path(rule, missing, 1)).status_code
                assert status == (403 if allowed[role] == 403 else 404), (role, method, rule.rule, missing, status)
            # Beyond the id converter's range there is no such page at all.
            for odd in (2**31, "-1", "1.0", "%00"):
                assert _call(world["clients"][role], method, _path(rule, odd, 1)).status_code == 404


def test_a_patients_token_opens_nothing_on_the_staff_side(app, world):
    token = world["patient_link"].rsplit("/", 1)[1]
    patient = world["clients"]["anonymous"]
    assert patient.get(world["patient_link"]).status_code in (200, 302)
    for path in (f"/staff/intakes/{token}", f"/staff/intakes/{world['own']}", "/staff/intakes"):
        response = patient.get(path)
        assert response.status_code in (302, 404), path
        if response.status_code == 302:
            assert "/staff/login" in response.headers["Location"]


def test_staff_pages_with_patient_data_are_never_cached(app, world):
    desk = world["clients"]["front_desk"]
    for path in (
        "/staff/intakes",
        "/staff/intakes.csv",
        "/staff/day",
        f"/staff/intakes/{world['own']}",
        f"/staff/intakes/{world['own']}/print",
        f"/staff/intakes/{world['own']}/questionnaire-response.json",
        f"/staff/audit/intakes/{world['own']}",
    ):
        client = world["clients"]["admin"] if "/audit/" in path else desk
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path
