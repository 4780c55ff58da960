"""Admins onboard a clinician in one flow (account and profile together), edit staff, and deactivate them.

Issue 15: the new clinician chooses a password from the emailed link, shows in the API with
their photo and, once they have hours, on patients' booking page; deactivating a clinician
takes their times away at once and lists their upcoming consultations to hand on.
"""

import io
import re

import pytest
from sqlalchemy import func, select

from kapclinic.accounts.models import Role, StaffUser
from kapclinic.audit.models import AuditAction, AuditEvent
from kapclinic.extensions import db
from kapclinic.notifications.models import OutboxMessage
from kapclinic.scheduling.models import Clinician, ConsultationType
from tests.helpers import give_weekly_hours, patient_json, seed_offering, sign_in

pytestmark = pytest.mark.both_databases

# The smallest PNG there is: one transparent pixel.
PIXEL_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da63f8ffff3f0005fe02fe0dc7e2d40000000049454e44ae426082"
)
TINY_WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"


@pytest.fixture
def admin_client(client, create_staff):
    admin = create_staff(Role.ADMIN, email="admin@clinic.example.org", name="Ada Admin")
    sign_in(client, admin.email)
    return client


@pytest.fixture
def offering(app):
    """A bookable consultation type (with a clinician of its own) the new clinician may offer too."""
    return seed_offering(app, "first-consultation")


def _type_id(in_app, slug):
    return in_app(lambda: db.session.scalar(select(ConsultationType.id).where(ConsultationType.slug == slug)))


def _clinician_form(type_ids, photo=(PIXEL_PNG, "me.png"), **changes):
    data = {
        "name": "Dr. Rosa Marquez",
        "email": "rosa.marquez@clinic.example.org",
        "role": "clinician",
        "credentials": "MD, PhD",
        "bio": "Psychiatrist. I work with adults living with depression & PTSD.",
        "timezone": "America/Chicago",
        "consultation_types": [str(type_id) for type_id in type_ids],
        **changes,
    }
    if photo is not None:
        data["photo"] = (io.BytesIO(photo[0]), photo[1])
    return data


def _post(client, path, data):
    return client.post(path, data=data, content_type="multipart/form-data")


def _audit_actions(in_app):
    return in_app(lambda: [(event.action, event.detail) for event in db.session.scalars(select(AuditEvent))])


def _count(in_app, model):
    return in_app(lambda: db.session.scalar(select(func.count()).select_from(model)))


def test_an_admin_onboards_a_clinician_who_sets_a_password_and_patients_book_them(
    app, admin_client, client, in_app, mailbox, offering
):
    type_id = _type_id(in_app, offering.slug)
    assert admin_client.get("/staff/admin/users/new").status_code == 200
    added = _post(admin_client, "/staff/admin/users/new", _clinician_form([type_id]))
    assert added.status_code == 302, added.text

    welcome = mailbox.messages[-1]
    assert welcome["To"] == "rosa.marquez@clinic.example.org"
    link = re.search(r"https://clinic\.example\.org(/staff/reset/\S+)", welcome.get_body(("plain",)).get_content())
    newcomer = app.test_client()
    chosen = {"password": "my own passphrase", "confirm": "my own passphrase"}
    assert newcomer.post(link.group(1), data=chosen).status_code == 302
    assert sign_in(newcomer, "rosa.marquez@clinic.example.org", "my own passphrase").status_code == 302

    (listed,) = [item for item in client.get("/api/v1/clinicians").json if item["name"] == "Dr. Rosa Marquez"]
    assert listed["credentials"] == "MD, PhD" and listed["timezone"] == "America/Chicago"
    assert listed["consultation_types"] == [offering.slug]
    photo_path = listed["photo_url"].removeprefix("https://clinic.example.org")
    photo = client.get(photo_path)
    assert photo.data == PIXEL_PNG and photo.mimetype == "image/png"
    assert photo.headers["Cache-Control"] == "public, max-age=86400"
    assert newcomer.get("/staff/availability").headers["Location"].endswith(f"/{listed['id']}/availability")

    give_weekly_hours(app, listed["id"])
    page = client.get(f"/book/{offering.slug}?clinician={listed['id']}&tz=UTC").text
    assert f'src="{photo_path}" alt="Photo of Dr. Rosa Marquez"' in page
    assert "I work with adults living with depression &amp; PTSD." in page
    starts = client.get(
        f"/api/v1/slots?type={offering.slug}&clinician={listed['id']}&start={offering.starts[0].date()}"
        f"&end={offering.starts[0].date()}&tz=UTC"
    ).json["slots"]
    booked = client.post("/api/v1/bookings", json=patient_json(offering, starts[0]["start"], clinician_id=listed["id"]))
    assert booked.status_code == 201
    (invited,) = [detail for action, detail in _audit_actions(in_app) if action is AuditAction.STAFF_INVITED]
    assert invited == "role: clinician"


def test_a_clinician_without_a_photo_shows_initials_and_a_null_photo_url(app, admin_client, client, in_app, offering):
    form = _clinician_form([_type_id(in_app, offering.slug)], photo=None)
    assert _post(admin_client, "/staff/admin/users/new", form).status_code == 302
    (listed,) = [item for item in client.get("/api/v1/clinicians").json if item["name"] == "Dr. Rosa Marquez"]
    assert listed["photo_url"] is None
    assert client.get(f"/clinicians/{listed['id']}/photo").status_code == 404
    give_weekly_hours(app, listed["id"])
    page = client.get(f"/book/{offering.slug}").text
    assert '<span class="avatar" aria-hidden="true">RM</span>' in page


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"photo": (PIXEL_PNG + b"\0" * 110_000, "big.png")}, "photo", "Please use an image under 100 KB."),
        ({"photo": (b"<svg onload='alert(1)'/>", "me.svg")}, "photo", "Please use a PNG, JPEG or WebP image."),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone", "Use the IANA time zone of a city"),
        ({"timezone": "EST"}, "timezone", "an abbreviation such as EST does not"),
        ({"email": "admin@clinic.example.org"}, "email", "A staff user with that email already exists."),
        ({"consultation_types": ["999999"]}, "consultation_types", "is not a valid choice"),
        ({"consultation_types": ["abc"]}, "consultation_types", "could not be coerced"),
        ({"bio": "<script>alert(1)</script> Hello"}, "bio", "without HTML tags"),
        ({"bio": "x" * 1001}, "bio", "under 1000 characters"),
        ({"credentials": "MD\r\nBcc: x@example.com"}, "credentials", "Remove line breaks"),
        ({"name": ""}, "name", "Please enter your name."),
    ],
)
def test_bad_onboarding_input_is_explained_by_its_field_and_writes_nothing(
    admin_client, in_app, mailbox, offering, changes, field, message
):
    form = _clinician_form([_type_id(in_app, offering.slug)])
    form.update(
        {name: (io.BytesIO(value[0]), value[1]) if name == "photo" else value for name, value in changes.items()}
    )
    users, clinicians = _count(in_app, StaffUser), _count(in_app, Clinician)

    response = _post(admin_client, "/staff/admin/users/new", form)

    assert response.status_code == 422
    assert re.search(rf'<p class="error" id="{field}-error">[^<]*{re.escape(message)}', response.text), response.text
    assert (_count(in_app, StaffUser), _count(in_app, Clinician)) == (users, clinicians)
    assert mailbox.messages == []


def test_an_email_another_clinician_profile_has_is_refused_on_the_email_field(admin_client, in_app, offering):
    taken = in_app(lambda: db.session.get(Clinician, offering.clinician_id).email)
    form = _clinician_form([_type_id(in_app, offering.slug)], email=taken)
    response = _post(admin_client, "/staff/admin/users/new", form)
    assert response.status_code == 422
    assert '<p class="error" id="email-error">Another clinician profile already uses that email.' in response.text


def test_front_desk_users_need_no_profile(admin_client, in_app, mailbox):
    form = {"name": "Fran Desk", "email": "fran@clinic.example.org", "role": "front_desk", "timezone": "Bad/Zone"}
    assert admin_client.post("/staff/admin/users/new", data=form).status_code == 302
    assert in_app(lambda: db.session.scalar(select(StaffUser).where(StaffUser.name == "Fran Desk")).clinician) is None


def _onboarded(admin_client, in_app, offering):
    added = _post(admin_client, "/staff/admin/users/new", _clinician_form([_type_id(in_app, offering.slug)]))
    assert added.status_code == 302
    return in_app(
        lambda: db.session.scalar(select(StaffUser.id).where(StaffUser.email == "rosa.marquez@clinic.example.org"))
    )


def test_an_admin_edits_a_clinicians_account_and_profile(app, admin_client, client, in_app, offering):
    user_id = _onboarded(admin_client, in_app, offering)
    second_type = in_app(lambda: _add_type("integration-session"))
    page = admin_client.get(f"/staff/admin/users/{user_id}")
    assert page.status_code == 200 and 'value="MD, PhD"' in page.text and "The current photo of" in page.text

    edited = _post(
        admin_client,
        f"/staff/admin/users/{user_id}",
        _clinician_form(
            [second_type],
            photo=(TINY_WEBP, "new.webp"),
            name="Dr. Rosa Marquez-Lee",
            email="rosa.lee@clinic.example.org",
            credentials="MD",
            bio="New bio.",
            timezone="Europe/Lisbon",
        ),
    )
    assert edited.status_code == 302, edited.text
    (listed,) = [item for item in client.get("/api/v1/clinicians").json if item["name"] == "Dr. Rosa Marquez-Lee"]
    assert (listed["credentials"], listed["bio"], listed["timezone"]) == ("MD", "New bio.", "Europe/Lisbon")
    assert listed["consultation_types"] == ["integration-session"]
    photo = client.get(listed["photo_url"].removeprefix("https://clinic.example.org"))
    assert photo.data == TINY_WEBP and photo.mimetype == "image/webp"
    assert in_app(lambda: db.session.get(StaffUser, user_id).email) == "rosa.lee@clinic.example.org"
    (updated,) = [detail for action, detail in _audit_actions(in_app) if action is AuditAction.STAFF_UPDATED]
    assert updated == "changed: name, email, credentials, bio, timezone, photo, consultation_types"

    removed = _post(
        admin_client,
        f"/staff/admin/users/{user_id}",
        _clinician_form([second_type], photo=None, name="Dr. Rosa Marquez-Lee", email="rosa.lee@clinic.example.org")
        | {"credentials": "MD", "bio": "New bio.", "timezone": "Europe/Lisbon", "remove_photo": "y"},
    )
    assert removed.status_code == 302
    (listed,) = [item for item in client.get("/api/v1/clinicians").json if item["name"] == "Dr. Rosa Marquez-Lee"]
    assert listed["photo_url"] is None


def _add_type(slug):
    consultation_type = ConsultationType(slug=slug, name=slug.title(), duration_minutes=60, modality="phone")
    db.session.add(consultation_type)
    db.session.flush()
    return consultation_type.id


@pytest.mark.parametrize(
    ("role", "new_role", "message"),
    [
        (Role.CLINICIAN, "admin", "stays a clinician"),
        (Role.FRONT_DESK, "clinician", "cannot become one"),
        (Role.ADMIN, "front_desk", "only active admin"),
    ],
)
def test_role_changes_that_would_strand_a_profile_or_the_clinic_are_refused(
    client, create_staff, in_app, role, new_role, message
):
    user = create_staff(role, email="someone@clinic.example.org", name="Some One")
    if role is not Role.ADMIN:
        admin = create_staff(Role.ADMIN, email="admin@clinic.example.org")
        sign_in(client, admin.email)
    else:
        sign_in(client, user.email)
    form = {"name": "Some One", "email": "someone@clinic.example.org", "role": new_role, "timezone": "Europe/Paris"}
    response = client.post(f"/staff/admin/users/{user.id}", data=form)
    assert response.status_code == 422 and message in response.text
    assert in_app(lambda: db.session.get(StaffUser, user.id).role) is role
    assert AuditAction.STAFF_UPDATED not in [action for action, _ in _audit_actions(in_app)]


def test_deactivating_a_clinician_asks_first_then_removes_their_times_and_lists_their_consultations(
    app, admin_client, client, create_staff_for_clinician, in_app, mailbox, offering
):
    booked = client.post(
        "/api/v1/bookings",
        json=patient_json(offering, offering.starts[0].isoformat(), clinician_id=offering.clinician_id),
    )
    assert booked.status_code == 201
    account = create_staff_for_clinician(offering.clinician_id)

    confirm = admin_client.get(f"/staff/admin/users/{account.id}/deactivate")
    assert confirm.status_code == 200
    assert "Patients can no longer see or book their times" in confirm.text
    assert "Their 1 upcoming consultation stays booked" in confirm.text
    assert in_app(lambda: db.session.get(StaffUser, account.id).is_active)  # asking changed nothing

    done = admin_client.post(f"/staff/admin/users/{account.id}/deactivate")
    assert done.status_code == 302
    assert done.headers["Location"].endswith(f"/staff/admin/users/{account.id}/consultations")
    assert offering.clinician_id not in [item["id"] for item in client.get("/api/v1/clinicians").json]
    day = offering.starts[0].date()
    slots = client.get(f"/api/v1/slots?type={offering.slug}&start={day}&end={day}&tz=UTC").json["slots"]
    assert slots == []

    listing = admin_client.get(done.headers["Location"])
    assert listing.status_code == 200 and "Ana Patient" in listing.text
    record = re.search(r'href="(/staff/intakes/\d+)">Ana Patient</a>', listing.text)
    assert admin_client.get(record.group(1)).status_code == 200
    actions = [action for action, _ in _audit_actions(in_app)]
    assert AuditAction.STAFF_DEACTIVATED in actions and AuditAction.UPCOMING_VIEWED in actions

    assert admin_client.post(f"/staff/admin/users/{account.id}/activate").status_code == 302
    assert client.get(f"/api/v1/slots?type={offering.slug}&start={day}&end={day}&tz=UTC").json["slots"]
    assert AuditAction.STAFF_ACTIVATED in [action for action, _ in _audit_actions(in_app)]


def test_the_command_line_creates_a_clinician_with_their_profile_and_queues_the_link(app, in_app, offering, tmp_path):
    photo = tmp_path / "photo.png"
    photo.write_bytes(PIXEL_PNG)
    result = app.test_cli_runner().invoke(
        args=[
            *("users", "create", "--role", "clinician", "--invite"),
            *("--email", "Sam.Lee@clinic.example.org", "--name", "Dr. Sam Lee"),
            *("--timezone", "America/Denver", "--credentials", "PsyD", "--bio", "Therapist."),
            *("--types", offering.slug, "--photo", str(photo)),
        ]
    )
    assert result.exit_code == 0, result.output
    assert "created clinician sam.lee@clinic.example.org, emailed a link" in result.output
    # Queued for `flask worker`, which sends what commands queue.
    assert in_app(
        lambda: [tuple(row) for row in db.session.execute(select(OutboxMessage.recipient, OutboxMessage.template))]
    ) == [("sam.lee@clinic.example.org", "staff_welcome")]

    def created():
        user = db.session.scalar(select(StaffUser).where(StaffUser.email == "sam.lee@clinic.example.org"))
        profile = user.clinician
        return (
            profile.name,
            profile.credentials,
            profile.timezone,
            profile.photo_type,
            profile.consultation_types[0].slug,
        )

    assert in_app(created) == ("Dr. Sam Lee", "PsyD", "America/Denver", "image/png", offering.slug)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--timezone", "EST"), "timezone: Use the IANA time zone of a city"),
        (("--timezone", "Europe/Oslo", "--types", "no-such-type"), "no active consultation type no-such-type"),
        (("--timezone", "Europe/Oslo", "--bio", "<b>hi</b>"), "bio: Please write the bio as plain text"),
        ((), "a clinician needs --timezone"),
    ],
)
def test_the_command_line_refuses_a_bad_profile_and_writes_nothing(app, in_app, options, message):
    result = app.test_cli_runner().invoke(
        args=["users", "create", "--role", "clinician", "--invite", "--email", "x@clinic.example.org", "--name", "X Y"]
        + list(options)
    )
    assert result.exit_code != 0 and message in result.output
    assert (_count(in_app, StaffUser), _count(in_app, Clinician), _count(in_app, OutboxMessage)) == (0, 0, 0)
