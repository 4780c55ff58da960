"""Admins add staff (who choose their own password) and manage consultation types from the web.

Onboarding a clinician (account and profile together) is tests/integration/test_admin_onboarding.py.
"""

import pytest
from icalendar import Calendar
from sqlalchemy import select

from kapclinic.accounts.models import Role
from kapclinic.extensions import db
from kapclinic.scheduling.models import Clinician, ConsultationType
from tests.helpers import TYPE_FORM, patient_json, seed_offering, sign_in

pytestmark = pytest.mark.both_databases


@pytest.fixture
def admin_client(client, create_staff):
    admin = create_staff(Role.ADMIN, email="admin@clinic.example.org", name="Ada Admin")
    sign_in(client, admin.email)
    return client


def _new_clinician():
    clinician = Clinician(name="Dr New", email="dr.new.profile@clinic.example.org", timezone="Europe/London")
    db.session.add(clinician)
    db.session.flush()
    return clinician.id


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "X", "email": "not-an-email", "role": "front_desk"}, "valid email"),
        ({"name": "", "email": "a@clinic.example.org", "role": "front_desk"}, "enter your name"),
        ({"name": "Dr X", "email": "x@clinic.example.org", "role": "clinician"}, "Use the IANA time zone of a city"),
        ({"name": "Ada", "email": "admin@clinic.example.org", "role": "admin"}, "already exists"),
        ({"name": "Eve", "email": "eve@clinic.example.org", "role": "superuser"}, "Not a valid choice"),
    ],
)
def test_invalid_staff_users_are_explained(admin_client, data, message):
    response = admin_client.post("/staff/admin/users/new", data=data)
    assert response.status_code == 422
    assert message in response.text


def test_admin_deactivates_a_user_and_their_session_ends(app, admin_client, create_staff):
    desk = create_staff(Role.FRONT_DESK)
    desk_client = app.test_client()
    sign_in(desk_client, desk.email)
    assert admin_client.post(f"/staff/admin/users/{desk.id}/deactivate").status_code == 302
    assert desk_client.get("/staff/").status_code == 302
    assert admin_client.post(f"/staff/admin/users/{desk.id}/activate").status_code == 302
    assert sign_in(app.test_client(), desk.email).status_code == 302


def test_admin_cannot_lock_themselves_out(admin_client, in_app):
    from kapclinic.accounts.models import StaffUser

    admin_id = in_app(lambda: db.session.query(StaffUser.id).filter_by(email="admin@clinic.example.org").scalar())
    assert admin_client.post(f"/staff/admin/users/{admin_id}/deactivate").status_code == 409


def test_admin_creates_and_edits_a_consultation_type_patients_can_book(admin_client, in_app):
    clinician_id = in_app(lambda: _new_clinician())
    created = admin_client.post("/staff/admin/types/new", data={**TYPE_FORM, "clinicians": [str(clinician_id)]})
    assert created.status_code == 302
    listed = admin_client.get("/api/v1/consultation-types").json
    assert {"slug": "ketamine-follow-up", "duration_minutes": 30, "clinician_ids": [clinician_id]}.items() <= next(
        item for item in listed if item["slug"] == "ketamine-follow-up"
    ).items()
    type_id = in_app(lambda: db.session.query(ConsultationType.id).filter_by(slug="ketamine-follow-up").scalar())
    edited = admin_client.post(
        f"/staff/admin/types/{type_id}",
        data={**TYPE_FORM, "slug": "changed", "duration_minutes": "45", "is_active": ""},
    )
    assert edited.status_code == 302
    assert in_app(lambda: db.session.get(ConsultationType, type_id).slug) == "ketamine-follow-up"
    assert all(item["slug"] != "ketamine-follow-up" for item in admin_client.get("/api/v1/consultation-types").json)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"slug": "Has Spaces"}, "lower-case letters"),
        ({"duration_minutes": "0"}, "Enter 5 to 480"),
        ({"duration_minutes": "abc"}, "Not a valid integer value"),
        ({"modality": "in_person", "location": ""}, "needs an address"),
        ({"modality": "video", "video_link": "javascript:alert(1)"}, "https://"),
        ({"name": "Line\nbreak"}, "line breaks"),
        ({"slot_step_minutes": "7"}, "Not a valid choice"),
    ],
)
def test_invalid_consultation_types_are_explained_and_not_saved(admin_client, in_app, changes, message):
    response = admin_client.post("/staff/admin/types/new", data={**TYPE_FORM, **changes})
    assert response.status_code == 422
    assert message in response.text
    assert in_app(lambda: db.session.query(ConsultationType).count()) == 0


def test_a_slug_in_use_is_refused(admin_client):
    assert admin_client.post("/staff/admin/types/new", data=TYPE_FORM).status_code == 302
    again = admin_client.post("/staff/admin/types/new", data=TYPE_FORM)
    assert again.status_code == 422 and "already uses that short name" in again.text


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.FRONT_DESK])
def test_only_admins_reach_admin_pages(client, create_staff, role):
    user = create_staff(role)
    sign_in(client, user.email)
    for path in (
        "/staff/admin/users",
        "/staff/admin/users/new",
        "/staff/admin/types",
        "/staff/admin/types/new",
        "/staff/admin/settings",
        f"/staff/admin/users/{user.id}",
        f"/staff/admin/users/{user.id}/deactivate",
        f"/staff/admin/users/{user.id}/consultations",
    ):
        assert client.get(path).status_code == 403, path
    assert client.post(f"/staff/admin/users/{user.id}", data={"name": "Me", "role": "admin"}).status_code == 403
    assert client.post("/staff/admin/types/new", data=TYPE_FORM).status_code == 403
    assert client.post(f"/staff/admin/users/{user.id}/deactivate").status_code == 403


SETTINGS = {
    "name": "Harbour Mind Clinic",
    "address": "1 Quay Road, Portsmouth",
    "phone": "+1 212 555 0199",
    "crisis_line": "988",
    "emergency_number": "911",
    "timezone": "America/Chicago",
    "cancellation_window_hours": "168",
}


def test_admin_changes_clinic_settings_and_patients_see_them(admin_client, mailbox):
    assert admin_client.post("/staff/admin/settings", data=SETTINGS).status_code == 302
    landing = admin_client.get("/").text
    assert "Harbour Mind Clinic" in landing and "1 Quay Road, Portsmouth" in landing
    booked_offering = seed_offering(admin_client.application, "settings")
    response = admin_client.post(
        "/api/v1/bookings",
        json={
            "type": "settings",
            "clinician_id": booked_offering.clinician_id,
            "start": booked_offering.starts[0].isoformat(),
            "name": "Ana Patient",
            "email": "ana@example.com",
            "phone": "+12125550100",
            "date_of_birth": "1990-01-01",
            "tz": "UTC",
        },
    )
    assert response.status_code == 201
    email = mailbox.messages[-1]
    assert "Harbour Mind Clinic" in email["Subject"]
    manage = admin_client.get(response.json["manage_url"].removeprefix("https://clinic.example.org")).text
    assert "Online changes close 168 hours" in manage  # the consultation is two or three days away
    week = admin_client.get("/book/settings").text
    assert "Times in Central Time — Chicago (UTC−" in week


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"timezone": "Mars/Base"}, "IANA time zone"),
        # Real zones, but no place: the clinic's times would be an hour off for half the year.
        ({"timezone": "EST"}, "an abbreviation such as EST does not"),
        ({"timezone": "Etc/GMT+5"}, "keeps daylight-saving time right"),
        ({"cancellation_window_hours": "500"}, "Enter 0 to 168"),
        ({"phone": "call us!"}, "Use digits"),
        ({"name": ""}, "Enter the clinic"),
        ({"name": "Evil\r\nBcc: x@example.com"}, "line breaks"),
    ],
)
def test_invalid_clinic_settings_are_explained(admin_client, changes, message):
    response = admin_client.post("/staff/admin/settings", data={**SETTINGS, **changes})
    assert response.status_code == 422
    assert message in response.text
    assert "Harbour Mind Clinic" not in admin_client.get("/").text


def test_changing_how_patients_meet_sends_upcoming_patients_an_updated_invite(app, admin_client, mailbox):
    offering = seed_offering(app, "first-consultation")  # by phone
    patient = app.test_client()
    booked = patient.post(
        "/api/v1/bookings",
        json=patient_json(offering, offering.starts[0].isoformat(), clinician_id=offering.clinician_id),
    )
    assert booked.status_code == 201
    (confirmation,) = mailbox.messages
    first_invite = Calendar.from_ical(_invite_part(confirmation)).walk("VEVENT")[0]
    mailbox.clear()
    with app.app_context():
        type_id = db.session.scalar(select(ConsultationType.id).where(ConsultationType.slug == "first-consultation"))
        db.session.rollback()
    form = {
        **TYPE_FORM,
        "slug": "first-consultation",
        "name": "First consultation",
        "duration_minutes": "60",
        "clinicians": [str(offering.clinician_id)],
    }

    renamed = admin_client.post(f"/staff/admin/types/{type_id}", data=form)
    assert renamed.status_code == 302 and mailbox.messages == []  # the patient's invite shows no type name
    moved = admin_client.post(
        f"/staff/admin/types/{type_id}",
        data={**form, "modality": "in_person", "location": "12 Elm Street"},
        follow_redirects=True,
    )
    assert "1 patient(s) with upcoming consultations were sent an updated invite" in moved.text

    (update,) = mailbox.messages
    assert update["To"] == "ana.patient@example.com" and "how you meet has changed" in update["Subject"]
    event = Calendar.from_ical(_invite_part(update)).walk("VEVENT")[0]
    assert str(event["UID"]) == str(first_invite["UID"]) and int(event["SEQUENCE"]) == int(first_invite["SEQUENCE"]) + 1
    assert event.decoded("DTSTART") == first_invite.decoded("DTSTART") and str(event["LOCATION"]) == "12 Elm Street"


def _invite_part(message):
    return next(part for part in message.walk() if part.get_content_type() == "text/calendar").get_content()


def test_each_change_an_admin_makes_writes_an_audit_row(admin_client, in_app):
    from kapclinic.audit.models import AuditAction, AuditEvent

    assert admin_client.post("/staff/admin/types/new", data=TYPE_FORM).status_code == 302
    assert admin_client.post("/staff/admin/settings", data=SETTINGS).status_code == 302
    assert admin_client.post("/staff/admin/outbox/retry-failed").status_code == 302
    assert admin_client.post("/staff/admin/types/new", data=TYPE_FORM).status_code == 422  # refused: no row
    rows = in_app(lambda: [(event.action, event.detail) for event in db.session.scalars(select(AuditEvent))])
    assert rows == [
        (AuditAction.TYPE_SAVED, "type ketamine-follow-up added, 0 invite(s) updated"),
        (AuditAction.SETTINGS_SAVED, ""),
        (AuditAction.OUTBOX_RETRIED, "all failed: 0"),
    ]
