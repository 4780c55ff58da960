"""Every route of the URL map against every role: anonymous, a patient's private links, front desk, clinician, admin.

ROUTE_MATRIX has a row for each (endpoint, method) of `app.url_map`: a route added
without a row fails `test_every_route_has_a_row_in_the_matrix`, so nobody adds a page
without deciding who may open it. Each row is then requested for real, as each role,
with ids and links of seeded records; all the mismatches of a role are reported at once.
"""

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from kapclinic.accounts.models import Role
from kapclinic.extensions import db
from kapclinic.intake.models import Intake
from kapclinic.intake.questionnaire import QUESTIONNAIRE_VERSION
from kapclinic.notifications.models import OutboxMessage
from kapclinic.scheduling.models import Booking, Clinician, ConsultationType, TimeOff
from kapclinic.workspace import services as workspace
from tests.helpers import booked_by, open_test_course, seed_course_template, seed_offering, sign_in
from tests.intake_answers import ADULT_STEPS, book_for_intake, born_years_ago, complete_steps

pytestmark = pytest.mark.both_databases

ROLES = ("anonymous", "patient_token", "front_desk", "clinician", "admin")

# Outcomes. REACHED: the view ran for this visitor and answered it: a 2xx, a redirect that is
# not to sign-in, or the view's own refusal of the (deliberately empty or invalid) input sent:
# 400, 409 or 422. The denials: LOGIN is a redirect to the sign-in page that comes back to the
# page asked for; FORBIDDEN is 403; NOT_FOUND is 404. Anything else (401, 405, 500...) is a mismatch.
REACHED = "reached"
LOGIN = "login"
FORBIDDEN = "403"
NOT_FOUND = "404"
INPUT_REFUSED = (400, 409, 422)
# Where a view would send a visitor it turns away without saying so: never a route's normal answer.
BOUNCES = ("/", "/staff/")

# Rows, in ROLES order. "patient_token" is a visitor without a staff session who holds the real
# private link a token route takes: the patient's manage, questionnaire and guardian links of
# their own booking (and, on the two token routes that are not a patient's, the clinician's
# feed link and a staff password-reset link). Everyone else asks with a made-up token.
PUBLIC = (REACHED, REACHED, REACHED, REACHED, REACHED)
LINK_HOLDER_ONLY = (NOT_FOUND, REACHED, NOT_FOUND, NOT_FOUND, NOT_FOUND)
ANY_STAFF = (LOGIN, LOGIN, REACHED, REACHED, REACHED)
FRONT_DESK_AND_ADMIN = (LOGIN, LOGIN, REACHED, FORBIDDEN, REACHED)
CLINICIAN_AND_ADMIN = (LOGIN, LOGIN, FORBIDDEN, REACHED, REACHED)
ADMIN_ONLY = (LOGIN, LOGIN, FORBIDDEN, FORBIDDEN, REACHED)

ROUTE_MATRIX = {
    # Public pages, the booking path and the API.
    ("scheduling.index", "GET"): PUBLIC,
    ("ops.healthz", "GET"): PUBLIC,
    ("ops.readyz", "GET"): PUBLIC,
    ("scheduling.choose_type", "GET"): PUBLIC,
    ("scheduling.choose_slot", "GET"): PUBLIC,
    ("scheduling.patient_details", "GET"): PUBLIC,
    ("scheduling.patient_details", "POST"): PUBLIC,
    # This browser's own held booking, found through its session (others go on to /book).
    ("scheduling.held", "GET"): PUBLIC,
    ("scheduling.correct_held_email", "GET"): PUBLIC,
    ("scheduling.correct_held_email", "POST"): PUBLIC,
    ("scheduling.links_again", "GET"): PUBLIC,
    ("scheduling.links_again", "POST"): PUBLIC,
    ("api.consultation_types", "GET"): PUBLIC,
    ("api.clinicians", "GET"): PUBLIC,
    ("api.slots", "GET"): PUBLIC,
    ("api.availability", "GET"): PUBLIC,
    ("api.times", "GET"): PUBLIC,
    ("api.create_booking", "POST"): PUBLIC,
    ("api.openapi", "GET"): PUBLIC,
    # The clinic's brand: its colours for anyone; its logo, once uploaded (none here: 404 for all).
    ("brand.stylesheet", "GET"): PUBLIC,
    ("brand.logo", "GET"): (NOT_FOUND,) * 5,
    # A clinician's photo, the same way (the own clinician has none).
    ("brand.clinician_photo", "GET"): (NOT_FOUND,) * 5,
    # The patient's manage link.
    ("scheduling.manage", "GET"): LINK_HOLDER_ONLY,
    ("scheduling.download_invite", "GET"): LINK_HOLDER_ONLY,
    ("scheduling.cancel", "GET"): LINK_HOLDER_ONLY,
    ("scheduling.cancel", "POST"): LINK_HOLDER_ONLY,
    ("scheduling.reschedule", "GET"): LINK_HOLDER_ONLY,
    ("scheduling.move_course_session", "GET"): LINK_HOLDER_ONLY,
    ("scheduling.move_course_session", "POST"): LINK_HOLDER_ONLY,
    ("scheduling.confirm_reschedule", "GET"): LINK_HOLDER_ONLY,
    ("scheduling.confirm_reschedule", "POST"): LINK_HOLDER_ONLY,
    ("scheduling.confirm_booking", "POST"): LINK_HOLDER_ONLY,
    ("scheduling.email_questionnaire_link", "POST"): LINK_HOLDER_ONLY,
    ("scheduling.correct_email", "GET"): LINK_HOLDER_ONLY,
    ("scheduling.correct_email", "POST"): LINK_HOLDER_ONLY,
    # The patient's questionnaire link, and the guardian's consent link.
    ("intake.start", "GET"): LINK_HOLDER_ONLY,
    ("intake.step", "GET"): LINK_HOLDER_ONLY,
    ("intake.step", "POST"): LINK_HOLDER_ONLY,
    ("intake.support", "GET"): LINK_HOLDER_ONLY,
    ("intake.saved", "GET"): LINK_HOLDER_ONLY,
    ("intake.review", "GET"): LINK_HOLDER_ONLY,
    ("intake.review", "POST"): LINK_HOLDER_ONLY,
    ("intake.done", "GET"): LINK_HOLDER_ONLY,
    ("intake.change_guardian", "GET"): LINK_HOLDER_ONLY,
    ("intake.change_guardian", "POST"): LINK_HOLDER_ONLY,
    ("intake.guardian_consent", "GET"): LINK_HOLDER_ONLY,
    ("intake.guardian_consent", "POST"): LINK_HOLDER_ONLY,
    # The clinician's calendar feed: the link is the credential, a staff session is not.
    ("feeds.clinician_feed", "GET"): LINK_HOLDER_ONLY,
    # Staff accounts.
    ("accounts.login", "GET"): PUBLIC,
    ("accounts.login", "POST"): PUBLIC,
    ("accounts.request_reset", "GET"): PUBLIC,
    ("accounts.request_reset", "POST"): PUBLIC,
    ("accounts.reset_password", "GET"): LINK_HOLDER_ONLY,
    ("accounts.reset_password", "POST"): LINK_HOLDER_ONLY,
    ("accounts.home", "GET"): ANY_STAFF,
    ("accounts.keepalive", "POST"): ANY_STAFF,
    ("accounts.change_password", "GET"): ANY_STAFF,
    ("accounts.change_password", "POST"): ANY_STAFF,
    ("accounts.logout", "POST"): ANY_STAFF,
    # Front desk: the queue, the day sheet and the intake record (a clinician sees their own patients' only).
    ("frontdesk.queue", "GET"): ANY_STAFF,
    ("frontdesk.queue", "POST"): ANY_STAFF,
    ("frontdesk.queue_csv", "GET"): ANY_STAFF,
    ("frontdesk.day_sheet", "GET"): ANY_STAFF,
    ("frontdesk.intake_record", "GET"): ANY_STAFF,
    ("frontdesk.intake_print", "GET"): ANY_STAFF,
    ("frontdesk.intake_fhir", "GET"): ANY_STAFF,
    ("frontdesk.questionnaire_definition", "GET"): ANY_STAFF,
    ("frontdesk.change_status", "POST"): ANY_STAFF,
    ("frontdesk.add_note", "POST"): ANY_STAFF,
    ("frontdesk.acknowledge_urgent", "POST"): ANY_STAFF,
    ("frontdesk.reassign", "POST"): FRONT_DESK_AND_ADMIN,
    ("frontdesk.reschedule", "GET"): FRONT_DESK_AND_ADMIN,
    ("frontdesk.reschedule", "POST"): FRONT_DESK_AND_ADMIN,
    ("frontdesk.cancel", "POST"): FRONT_DESK_AND_ADMIN,
    ("frontdesk.set_video_link", "POST"): FRONT_DESK_AND_ADMIN,
    # Book for a caller.
    ("callers.choose_type", "GET"): FRONT_DESK_AND_ADMIN,
    ("callers.choose_time", "GET"): FRONT_DESK_AND_ADMIN,
    ("callers.caller_details", "GET"): FRONT_DESK_AND_ADMIN,
    ("callers.caller_details", "POST"): FRONT_DESK_AND_ADMIN,
    # Patient records: one person's every session, merged and split by the desk.
    ("patients.find_patient", "GET"): FRONT_DESK_AND_ADMIN,
    ("patients.find_patient", "POST"): FRONT_DESK_AND_ADMIN,
    ("patients.patient_record", "GET"): FRONT_DESK_AND_ADMIN,
    ("patients.edit_patient", "GET"): FRONT_DESK_AND_ADMIN,
    ("patients.edit_patient", "POST"): FRONT_DESK_AND_ADMIN,
    ("patients.find_duplicate", "GET"): FRONT_DESK_AND_ADMIN,
    ("patients.find_duplicate", "POST"): FRONT_DESK_AND_ADMIN,
    ("patients.merge_patient", "GET"): FRONT_DESK_AND_ADMIN,
    ("patients.merge_patient", "POST"): FRONT_DESK_AND_ADMIN,
    ("patients.split_patient", "GET"): FRONT_DESK_AND_ADMIN,
    ("patients.split_patient", "POST"): FRONT_DESK_AND_ADMIN,
    # Treatment courses: planned from a ready intake, gated, booked, moved and cancelled.
    ("courses.plan_course", "GET"): ANY_STAFF,
    ("courses.open_course", "POST"): ANY_STAFF,
    ("courses.record_gate", "POST"): ANY_STAFF,
    ("courses.course_page", "GET"): ANY_STAFF,
    ("courses.cancel_course", "POST"): ANY_STAFF,
    ("courses.move_session", "GET"): ANY_STAFF,
    ("courses.move_session", "POST"): ANY_STAFF,
    ("frontdesk.patient_trail", "GET"): ADMIN_ONLY,
    ("frontdesk.staff_trail", "GET"): ADMIN_ONLY,
    # Clinician workspace (admins manage any clinician's).
    ("workspace.my_availability", "GET"): CLINICIAN_AND_ADMIN,
    ("workspace.availability", "GET"): CLINICIAN_AND_ADMIN,
    ("workspace.weekly_hours", "GET"): CLINICIAN_AND_ADMIN,
    ("workspace.weekly_hours", "POST"): CLINICIAN_AND_ADMIN,
    ("workspace.set_offering", "POST"): CLINICIAN_AND_ADMIN,
    ("workspace.add_override", "POST"): CLINICIAN_AND_ADMIN,
    ("workspace.remove_override", "POST"): CLINICIAN_AND_ADMIN,
    ("workspace.add_time_off", "POST"): CLINICIAN_AND_ADMIN,
    ("workspace.remove_time_off", "POST"): CLINICIAN_AND_ADMIN,
    ("workspace.my_schedule", "GET"): CLINICIAN_AND_ADMIN,
    ("workspace.schedule", "GET"): CLINICIAN_AND_ADMIN,
    ("workspace.schedule_ics", "GET"): CLINICIAN_AND_ADMIN,
    ("workspace.booking_ics", "GET"): CLINICIAN_AND_ADMIN,
    ("workspace.mark_outcome", "POST"): CLINICIAN_AND_ADMIN,
    ("workspace.cancel_booking", "GET"): CLINICIAN_AND_ADMIN,
    ("workspace.cancel_booking", "POST"): CLINICIAN_AND_ADMIN,
    ("workspace.feed_settings", "GET"): CLINICIAN_AND_ADMIN,
    ("workspace.make_feed_address", "POST"): CLINICIAN_AND_ADMIN,
    # Administration.
    ("admin.users", "GET"): ADMIN_ONLY,
    ("admin.new_user", "GET"): ADMIN_ONLY,
    ("admin.new_user", "POST"): ADMIN_ONLY,
    ("admin.edit_user", "GET"): ADMIN_ONLY,
    ("admin.edit_user", "POST"): ADMIN_ONLY,
    ("admin.confirm_deactivate", "GET"): ADMIN_ONLY,
    ("admin.set_active", "POST"): ADMIN_ONLY,
    ("admin.user_consultations", "GET"): ADMIN_ONLY,
    ("admin.consultation_types", "GET"): ADMIN_ONLY,
    ("admin.edit_type", "GET"): ADMIN_ONLY,
    ("admin.edit_type", "POST"): ADMIN_ONLY,
    ("admin.settings", "GET"): ADMIN_ONLY,
    ("admin.settings", "POST"): ADMIN_ONLY,
    ("admin.outbox", "GET"): ADMIN_ONLY,
    ("admin.retry_message", "POST"): ADMIN_ONLY,
    ("admin.retry_all_failed", "POST"): ADMIN_ONLY,
    ("admin.bursts", "GET"): ADMIN_ONLY,
    ("admin.cancel_burst", "POST"): ADMIN_ONLY,
    # Course templates (admin).
    ("course_templates.index", "GET"): ADMIN_ONLY,
    ("course_templates.new_template", "GET"): ADMIN_ONLY,
    ("course_templates.new_template", "POST"): ADMIN_ONLY,
    ("course_templates.edit_template", "GET"): ADMIN_ONLY,
    ("course_templates.edit_template", "POST"): ADMIN_ONLY,
}

# POSTs are sent an empty form, which allowed roles see refused; these views would instead act
# on an empty form (save no weekly hours, offer no consultation type, cancel: the reason is
# optional), so they get an invalid one.
POST_BODIES = {
    "scheduling.cancel": {"data": {"reason": "x" * 501}},
    "workspace.weekly_hours": {"data": {"d0_r0_start": "25:00", "d0_r0_end": "17:00"}},
    "workspace.set_offering": {"data": {"types": "no-such-type"}},
    "api.create_booking": {"json": {}},
}
# Asked last: it ends the session the other requests of a staff role run in.
ENDS_THE_SESSION = ("accounts.logout", "POST")

# Which private link each token route takes.
LINK_KIND_BY_BLUEPRINT = {"scheduling": "manage", "intake": "intake", "feeds": "feed", "accounts": "reset"}
FORGED_TOKEN = "made-up-link"

# What a clinician gets for another clinician's record, by the first of these ids in the URL: an
# intake is simply not there for them (as the README promises); workspace pages refuse, as
# tests/integration/test_workspace.py expects (clinician ids are public in the API, and booking
# ids are random UUIDs, so a 403 reveals nothing that could be guessed).
DENIAL_FOR_ANOTHER_CLINICIANS = {
    "intake_id": NOT_FOUND,
    "course_id": NOT_FOUND,
    "clinician_id": FORBIDDEN,
    "public_id": FORBIDDEN,
}


def _routes(app):
    """Every (rule, method) of the URL map but static files, the session-ending one last."""
    routes = [
        (rule, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
    ]
    return sorted(routes, key=lambda route: ((route[0].endpoint, route[1]) == ENDS_THE_SESSION, route[0].rule))


def _link_kind(endpoint):
    if endpoint == "intake.guardian_consent":
        return "guardian"
    return LINK_KIND_BY_BLUEPRINT[endpoint.split(".")[0]]


def outcome_of(response, asked_for):
    """Sort a response into REACHED or one of the denials; anything else is named by its status."""
    status = response.status_code
    if status in (301, 302, 303, 307, 308):
        location = urlsplit(response.headers["Location"])
        if location.path == "/staff/login" and parse_qs(location.query).get("next") == [asked_for]:
            return LOGIN
        if location.path in BOUNCES:
            return f"bounced to {location.path}"
        return REACHED
    if status == 403:
        return FORBIDDEN
    if status == 404:
        return NOT_FOUND
    if 200 <= status < 300 or status in INPUT_REFUSED:
        return REACHED
    return f"unexpected {status}"


@dataclass
class World:
    """Seeded records as plain values, and a client for each role (staff sign in when first asked for)."""

    app: object
    own: dict  # URL values of the signed-in clinician's own records
    other: dict  # the same for another clinician's records
    links: dict  # the patient's (and the feed's, and a reset) real links' tokens, by kind
    staff_emails: dict
    patient: object  # the client the patient booked and filled in the questionnaire with
    clients: dict = field(default_factory=dict)

    def client_for(self, role):
        if role not in self.clients:
            client = self.patient if role == "patient_token" else self.app.test_client()
            if role in self.staff_emails:
                assert sign_in(client, self.staff_emails[role]).status_code == 302, role
            self.clients[role] = client
        return self.clients[role]


def _link(mailbox, recipient, pattern):
    message = next(message for message in reversed(mailbox.messages) if message["To"] == recipient)
    return re.search(pattern, message.get_body(("plain",)).get_content()).group(1)


def _adolescent_awaiting_guardian(patient, offering, mailbox):
    """Book and fill in a 15-year-old's questionnaire up to the guardian's signature; return the links' tokens.

    Such an intake is the one every patient route applies to, including the guardian's pages.
    """
    fifteen = born_years_ago(15)
    intake_url = book_for_intake(patient, offering, mailbox, date_of_birth=fifteen, email="teen@example.com")
    manage = _link(mailbox, "teen@example.com", r"https://clinic\.example\.org/manage/(\S+)")
    complete_steps(patient, intake_url, ADULT_STEPS[:-1] + ["guardian", "consent"], about={"date_of_birth": fifteen})
    assert patient.post(f"{intake_url}/review").status_code == 302
    guardian = _link(mailbox, "grace@example.com", r"https://clinic\.example\.org/intake/guardian/(\S+)")
    return {"manage": manage, "intake": intake_url.rsplit("/", 1)[1], "guardian": guardian}


def _records_of(offering, patient_email):
    """URL values for one clinician's records: their intake, booking, consultation type and a time off."""

    def load():
        clinician = db.session.get(Clinician, offering.clinician_id)
        first_day = date.today() + timedelta(days=100)
        workspace.add_time_off(clinician, first_day, first_day, "Conference")
        intake_id, public_id = db.session.execute(
            select(Intake.id, Booking.public_id).join(Booking).where(booked_by(patient_email))
        ).one()
        others = select(Booking).where(~booked_by(patient_email)).order_by(Booking.id).limit(1)
        return {
            "clinician_id": clinician.id,
            "intake_id": intake_id,
            "public_id": public_id,
            "patient_id": db.session.scalar(select(Booking).where(booked_by(patient_email))).patient.public_id,
            "other_patient_id": db.session.scalar(others).patient.public_id,
            "time_off_id": db.session.scalar(select(TimeOff.id).where(TimeOff.clinician_id == clinician.id)),
            "type_id": db.session.scalar(select(ConsultationType.id).where(ConsultationType.slug == offering.slug)),
            "slug": offering.slug,
        }

    return load


@pytest.fixture
def world(app, mailbox, create_staff, create_staff_for_clinician, in_app):
    """Two clinicians with a booked patient each; the signed-in one owns the first, a teenager awaiting a guardian."""
    own = seed_offering(app, "own")
    other = seed_offering(app, "other")
    patient = app.test_client()
    links = _adolescent_awaiting_guardian(patient, own, mailbox)
    book_for_intake(app.test_client(), other, mailbox, email="other@example.com")

    staff = {
        "front_desk": create_staff(Role.FRONT_DESK),
        "clinician": create_staff_for_clinician(own.clinician_id),
        "admin": create_staff(Role.ADMIN),
    }
    assert app.test_client().post("/staff/reset", data={"email": staff["front_desk"].email}).status_code == 302
    app.test_cli_runner().invoke(args=["worker", "--once"])  # the worker turns a reset request into its email
    links["reset"] = _link(mailbox, staff["front_desk"].email, r"https://clinic\.example\.org/staff/reset/(\S+)")
    links["feed"] = in_app(lambda: workspace.rotate_feed_token(db.session.get(Clinician, own.clinician_id)))
    own_template = seed_course_template(app, own.clinician_id)

    shared = in_app(
        lambda: {
            # A staff member other than the admin (who may not deactivate themself), and a
            # clinician, whose upcoming consultations the admin may list.
            "user_id": staff["clinician"].id,
            "action": "activate",  # already active: the admin's request changes nothing
            "message_id": db.session.scalar(select(func.min(OutboxMessage.id))),  # sent, so retrying it is refused
            "version": QUESTIONNAIRE_VERSION,
            "key": "about",
            "day": "2099-01-01",  # no override there: removing it changes nothing
            "template_id": own_template.template_id,
        }
    )
    own_course = in_app(open_test_course("teen@example.com", own_template.version_id, staff["admin"].id))
    other_course = in_app(
        open_test_course(
            "other@example.com", seed_course_template(app, other.clinician_id).version_id, staff["admin"].id
        )
    )
    return World(
        app=app,
        own={**shared, **own_course, **in_app(_records_of(own, "teen@example.com"))},
        other={**shared, **other_course, **in_app(_records_of(other, "other@example.com"))},
        links=links,
        staff_emails={role: user.email for role, user in staff.items()},
        patient=patient,
    )


def _path(rule, values, token):
    unknown = set(rule.arguments) - set(values) - {"token"}
    assert not unknown, f"{rule.rule}: the world has no value for {sorted(unknown)}"
    return rule.build({**values, "token": token}, append_unknown=False)[1]


def _ask(client, endpoint, method, path):
    if method == "POST":
        return client.open(path, method=method, **POST_BODIES.get(endpoint, {"data": {}}))
    return client.open(path, method=method)


def test_every_route_has_a_row_in_the_matrix(make_app, sqlite_url):
    """A new route without a row fails here, by name; so does a row left behind by a removed route."""
    routes = {(rule.endpoint, method) for rule, method in _routes(make_app(sqlite_url))}
    missing = sorted(routes - set(ROUTE_MATRIX))
    stale = sorted(set(ROUTE_MATRIX) - routes)
    assert not missing and not stale, f"routes without a row: {missing}; rows without a route: {stale}"
    assert all(len(outcomes) == len(ROLES) for outcomes in ROUTE_MATRIX.values())


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_what_the_matrix_says_on_every_route(app, world, role):
    """One signed-in client per role asks for every route with the own clinician's records and real links."""
    client = world.client_for(role)
    mismatches, checked = [], 0
    for rule, method in _routes(app):
        row = ROUTE_MATRIX.get((rule.endpoint, method))
        if row is None:
            continue  # named by test_every_route_has_a_row_in_the_matrix
        expected = row[ROLES.index(role)]
        token = (
            world.links[_link_kind(rule.endpoint)]
            if role == "patient_token" and "token" in rule.arguments
            else FORGED_TOKEN
        )
        path = _path(rule, world.own, token)
        response = _ask(client, rule.endpoint, method, path)
        observed = outcome_of(response, path)
        checked += 1
        if observed != expected:
            mismatches.append(
                f"{method} {rule.rule} ({rule.endpoint}): expected {expected}, got {observed} "
                f"[{response.status_code} {response.headers.get('Location', '')}]"
            )
    assert not mismatches, f"{role}:\n" + "\n".join(mismatches)
    assert checked >= len(ROUTE_MATRIX)


def test_a_link_made_for_one_purpose_opens_no_page_of_another(app, world):
    """Manage, questionnaire, guardian, feed and reset links are each refused (404) on the others' routes.

    No exception: the manage link opens no questionnaire page (a link forwarded to change a
    time must not show the answers).
    """
    patient = world.client_for("patient_token")
    mismatches = []
    for rule, method in _routes(app):
        if "token" not in rule.arguments:
            continue
        route_kind = _link_kind(rule.endpoint)
        for kind, token in world.links.items():
            if kind == route_kind:
                continue
            path = _path(rule, world.own, token)
            observed = outcome_of(_ask(patient, rule.endpoint, method, path), path)
            if observed != NOT_FOUND:
                mismatches.append(f"{kind} link on {method} {rule.rule}: got {observed}")
    assert not mismatches, "\n".join(mismatches)


def test_a_clinician_is_denied_another_clinicians_records(app, world):
    """Every route a clinician may open with an id in it, asked with another clinician's ids."""
    clinician = world.client_for("clinician")
    mismatches = []
    for rule, method in _routes(app):
        row = ROUTE_MATRIX.get((rule.endpoint, method))
        owners_ids = [name for name in DENIAL_FOR_ANOTHER_CLINICIANS if name in rule.arguments]
        if row is None or row[ROLES.index("clinician")] != REACHED or not owners_ids:
            continue
        expected = DENIAL_FOR_ANOTHER_CLINICIANS[owners_ids[0]]
        path = _path(rule, world.other, FORGED_TOKEN)
        observed = outcome_of(_ask(clinician, rule.endpoint, method, path), path)
        if observed != expected:
            mismatches.append(f"{method} {path} ({rule.endpoint}): expected {expected}, got {observed}")
    # In their own workspace, another clinician's time off is not there.
    path = f"/staff/clinicians/{world.own['clinician_id']}/time-off/{world.other['time_off_id']}/delete"
    if clinician.post(path).status_code != 404:
        mismatches.append(f"POST {path}: another clinician's time off is not 404")
    assert not mismatches, "\n".join(mismatches)
