"""Admins keep course templates: each change to a course's shape is a new version, and the old ones stay as they were.

Also the consultation type form's three fields for course sessions, and the demo's course.
"""

import re
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from kapclinic.accounts.models import Role
from kapclinic.audit.models import AuditAction, AuditEvent
from kapclinic.courses.models import CourseTemplate, CourseTemplateVersion
from kapclinic.extensions import db
from kapclinic.scheduling.models import ConsultationType
from tests.helpers import TYPE_FORM, seed_course_template, seed_offering, sign_in

pytestmark = pytest.mark.both_databases

LIST = "/staff/admin/course-templates"
# The shape of tests.helpers.seed_course_template's version 1 (the demo's too).
COURSE_SHAPE = {
    "preparation_count": 2,
    "cycles": 3,
    "integration_min_days": 1,
    "integration_max_days": 3,
    "min_days_between_dosing": 6,
    "min_days_after_preparation": 1,
}
NEW = "/staff/admin/course-templates/new"


@pytest.fixture
def admin(client, create_staff):
    user = create_staff(Role.ADMIN, email="admin@clinic.example.org", name="Ada Admin")
    assert sign_in(client, user.email).status_code == 302
    return client


@pytest.fixture
def seeded(app, in_app):
    """A template (version 1) with three course-only session types, to take types from or to edit."""
    seed = seed_course_template(app, seed_offering(app, "course").clinician_id)
    slug, name = in_app(lambda: db.session.execute(select(CourseTemplate.slug, CourseTemplate.name)).one())
    return SimpleNamespace(template_id=seed.template_id, type_ids=seed.type_ids, slug=slug, name=name)


def template_form(seeded, **changes):
    """What the form posts for the seeded shape and types; tests change what they need."""
    values = {
        "name": "KAP sublingual, adult",
        "slug": "kap-sublingual-adult",
        "is_active": "y",
        **{name: str(value) for name, value in COURSE_SHAPE.items()},
        "preparation_type_id": str(seeded.type_ids["preparation"]),
        "dosing_type_id": str(seeded.type_ids["dosing"]),
        "integration_type_id": str(seeded.type_ids["integration"]),
    }
    values.update(changes)
    return {name: value for name, value in values.items() if value is not None}


def edit_path(template_id):
    return f"/staff/admin/course-templates/{template_id}"


def stored(slug):
    """The template's name and active flag, and each version's number, shape, type ids and author, oldest first."""

    def read():
        template = db.session.scalar(select(CourseTemplate).where(CourseTemplate.slug == slug))
        if template is None:
            return None
        columns = [*COURSE_SHAPE, "preparation_type_id", "dosing_type_id", "integration_type_id", "created_by_id"]
        versions = [
            {"number": version.number, **{name: getattr(version, name) for name in columns}}
            for version in template.versions
        ]
        return {"id": template.id, "name": template.name, "is_active": template.is_active, "versions": versions}

    return read


def counts():
    """Rows a save may write: templates, versions and audit rows."""
    return tuple(
        db.session.scalar(select(func.count()).select_from(model))
        for model in (CourseTemplate, CourseTemplateVersion, AuditEvent)
    )


def audit_rows():
    return [
        (event.action, event.detail)
        for event in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        if event.action is AuditAction.COURSE_TEMPLATE_SAVED
    ]


def text_of(response):
    return re.sub(r"\s+", " ", response.text)


def test_admin_adds_a_template_and_each_change_is_a_new_version(admin, in_app, seeded):
    assert admin.post(NEW, data=template_form(seeded)).status_code == 302
    first = in_app(stored("kap-sublingual-adult"))
    assert first["name"] == "KAP sublingual, adult" and first["is_active"]
    assert [version["number"] for version in first["versions"]] == [1]
    version_one = first["versions"][0]
    assert version_one["cycles"] == 3 and version_one["dosing_type_id"] == seeded.type_ids["dosing"]
    assert version_one["created_by_id"] is not None

    page = text_of(admin.get(edit_path(first["id"])))
    assert (
        "Version 1 in use: 2 preparation sessions, then 3 × [dosing, then integration 1–3 days later]; "
        "at least 6 days between dosing sessions; at least 1 day after each preparation session." in page
    )
    assert "<strong>Version 1</strong> <span>" in page and "· Ada Admin</span>" in page

    edited = admin.post(
        edit_path(first["id"]), data=template_form(seeded, cycles="4", integration_max_days="2", based_on="1")
    )
    assert edited.status_code == 302
    second = in_app(stored("kap-sublingual-adult"))
    assert [version["number"] for version in second["versions"]] == [1, 2]
    assert second["versions"][0] == version_one, "version 1 is never changed"
    assert second["versions"][1] | {"number": 1, "cycles": 3, "integration_max_days": 3} == version_one
    assert "saved as version 2" in text_of(admin.get(LIST))

    page = text_of(admin.get(edit_path(first["id"])))
    assert "Version 2 in use: 2 preparation sessions, then 4 × [dosing, then integration 1–2 days later]" in page
    assert page.index("Version 2</strong>") < page.index("Version 1</strong>"), "the history, newest first"
    listed = text_of(admin.get(LIST))
    assert "KAP sublingual, adult</strong> <span>Version 2 · 10 sessions · active</span>" in listed


def test_a_save_that_changes_nothing_adds_no_version_and_writes_nothing(admin, in_app, seeded):
    before = in_app(stored(seeded.slug))
    rows_before = in_app(counts)
    same = template_form(seeded, name=seeded.name, based_on="1")
    saved = admin.post(edit_path(seeded.template_id), data=same)
    assert saved.status_code == 302
    assert in_app(stored(seeded.slug)) == before and in_app(counts) == rows_before
    assert "nothing changed" in admin.get(LIST).text

    # The name and whether new courses may be opened are the template's, not a version's.
    renamed = admin.post(edit_path(seeded.template_id), data={**same, "name": "KAP, adults", "is_active": ""})
    assert renamed.status_code == 302
    after = in_app(stored(seeded.slug))
    assert after["versions"] == before["versions"]
    assert (after["name"], after["is_active"]) == ("KAP, adults", False)
    assert "not active: no new courses" in admin.get(LIST).text


def test_every_save_that_changes_something_is_audited(admin, in_app, seeded):
    assert admin.post(NEW, data=template_form(seeded, slug="kap-teen")).status_code == 302
    template_id = in_app(stored("kap-teen"))["id"]
    edit = template_form(seeded, slug="kap-teen", based_on="1")
    assert admin.post(edit_path(template_id), data={**edit, "cycles": "2"}).status_code == 302
    assert admin.post(edit_path(template_id), data={**edit, "cycles": "2", "based_on": "2"}).status_code == 302
    renamed = {**edit, "cycles": "2", "based_on": "2", "name": "Teens", "is_active": ""}
    assert admin.post(edit_path(template_id), data=renamed).status_code == 302
    assert admin.post(edit_path(template_id), data={**edit, "cycles": "x"}).status_code == 422
    assert in_app(audit_rows) == [
        (AuditAction.COURSE_TEMPLATE_SAVED, "template kap-teen version 1: added"),
        (AuditAction.COURSE_TEMPLATE_SAVED, "template kap-teen version 2: new version"),
        (AuditAction.COURSE_TEMPLATE_SAVED, "template kap-teen version 2: name changed, closed to new courses"),
    ]


INVALID = [
    pytest.param(
        {"integration_min_days": "3", "integration_max_days": "1"},
        "integration_min_days",
        "The earliest day for integration must not be after the latest.",
        id="integration-3-to-1",
    ),
    pytest.param(
        {"cycles": "0", "preparation_count": "0"},
        "preparation_count",
        "A course needs at least one preparation session or one dosing cycle.",
        id="no-sessions",
    ),
    pytest.param(
        {"dosing_type_id": ""},
        "dosing_type_id",
        "Choose the dosing session type: this course has dosing sessions.",
        id="missing-type",
    ),
    pytest.param(
        {"preparation_type_id": None},
        "preparation_type_id",
        "Choose the preparation session type: this course has preparation sessions.",
        id="type-not-sent",
    ),
    pytest.param(
        {"integration_type_id": "999999"},
        "integration_type_id",
        "Choose one of the session types listed.",
        id="unknown-type",
    ),
    pytest.param(
        {"preparation_count": "999"},
        "preparation_count",
        "Enter the number of preparation sessions: 0 to 10.",
        id="count-999",
    ),
    pytest.param(
        {"cycles": "three"},
        "cycles",
        "Enter the number of dosing cycles as a whole number, like 2.",
        id="not-a-number",
    ),
    pytest.param({"cycles": ""}, "cycles", "Enter the number of dosing cycles.", id="empty-count"),
    pytest.param(
        {"min_days_between_dosing": "-1"},
        "min_days_between_dosing",
        "Enter the days between dosing sessions: 0 to 90.",
        id="negative-days",
    ),
    pytest.param({"name": "KAP\r\nBcc: x"}, "name", "Remove line breaks and control characters.", id="name"),
]


@pytest.mark.parametrize(("changes", "field", "message"), INVALID)
@pytest.mark.parametrize("page", ["new", "edit"])
def test_an_invalid_template_is_explained_next_to_its_field_and_nothing_is_written(
    admin, in_app, seeded, page, changes, field, message
):
    before, rows_before = in_app(stored(seeded.slug)), in_app(counts)
    path, base = (NEW, {}) if page == "new" else (edit_path(seeded.template_id), {"based_on": "1"})
    response = admin.post(path, data=template_form(seeded, **base, **changes))
    assert response.status_code == 422
    assert f'<p class="error" id="{field}-error">{message}</p>' in response.text.replace("&#39;", "'")
    assert f'href="#{field}">{message}</a>' in response.text.replace("&#39;", "'"), "named in the error summary"
    assert in_app(stored(seeded.slug)) == before and in_app(counts) == rows_before


def test_missing_types_and_a_bad_shape_are_all_named_at_once(admin, seeded):
    response = admin.post(
        NEW,
        data=template_form(seeded, dosing_type_id="", integration_type_id="", integration_min_days="5"),
    )
    assert response.status_code == 422
    assert {"dosing_type_id-error", "integration_type_id-error", "integration_min_days-error"} <= set(
        re.findall(r'id="([a-z_]+-error)"', response.text)
    )


def test_a_type_the_counts_do_not_use_is_not_kept(admin, in_app, seeded):
    """No dosing cycles: no dosing or integration type in the version, whatever the form still says."""
    data = template_form(seeded, slug="prep-only", cycles="0", dosing_type_id="")
    assert admin.post(NEW, data=data).status_code == 302
    version = in_app(stored("prep-only"))["versions"][0]
    assert (version["dosing_type_id"], version["integration_type_id"]) == (None, None)
    page = text_of(admin.get(edit_path(in_app(stored("prep-only"))["id"])))
    assert "Version 1 in use: 2 preparation sessions; at least 1 day after each preparation session." in page


def test_a_template_keeps_a_session_type_that_is_no_longer_active(admin, in_app, seeded):
    """Deactivating a type leaves the templates that use it editable; a new template cannot choose it."""
    in_app(lambda: setattr(db.session.get(ConsultationType, seeded.type_ids["dosing"]), "is_active", False))
    page = admin.get(edit_path(seeded.template_id)).text
    assert re.search(r"<option selected value=\"\d+\">Treatment session · 180 min[^<]*no longer active</option>", page)
    renamed = template_form(seeded, name="Renamed", based_on="1")
    assert admin.post(edit_path(seeded.template_id), data=renamed).status_code == 302
    assert in_app(stored(seeded.slug))["name"] == "Renamed"
    refused = admin.post(NEW, data=template_form(seeded, slug="another"))
    assert (
        refused.status_code == 422
        and 'id="dosing_type_id-error">Choose one of the session types listed.' in refused.text
    )


def test_a_short_name_in_use_is_refused(admin, in_app, seeded):
    rows_before = in_app(counts)
    response = admin.post(NEW, data=template_form(seeded, slug=seeded.slug))
    assert response.status_code == 422 and "Another course template already uses that short name." in response.text
    assert in_app(counts) == rows_before


def test_a_save_over_someone_elses_newer_version_is_refused_until_they_see_it(admin, app, in_app, seeded, create_staff):
    other = create_staff(Role.ADMIN, email="other-admin@clinic.example.org", name="Otto Other")
    other_client = app.test_client()
    sign_in(other_client, other.email)
    path = edit_path(seeded.template_id)
    assert other_client.post(path, data=template_form(seeded, cycles="4", based_on="1")).status_code == 302
    rows_before = in_app(counts)

    stale = admin.post(path, data=template_form(seeded, cycles="5", based_on="1"))
    assert stale.status_code == 409
    assert "Someone saved this template (version 2) after you opened it" in stale.text.replace("&#39;", "'")
    assert 'name="based_on" type="hidden" value="2"' in stale.text and "Otto Other" in stale.text
    assert in_app(counts) == rows_before
    again = admin.post(path, data=template_form(seeded, cycles="5", based_on="2"))
    assert again.status_code == 302
    assert [version["cycles"] for version in in_app(stored(seeded.slug))["versions"]] == [3, 4, 5]


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.CLINICIAN])
def test_front_desk_and_clinicians_may_not_open_or_save_course_templates(client, in_app, create_staff, seeded, role):
    user = create_staff(role)
    sign_in(client, user.email)
    rows_before = in_app(counts)
    for path in (LIST, NEW, edit_path(seeded.template_id)):
        assert client.get(path).status_code == 403, path
    assert client.post(NEW, data=template_form(seeded)).status_code == 403
    assert client.post(edit_path(seeded.template_id), data=template_form(seeded, cycles="1")).status_code == 403
    assert in_app(counts) == rows_before
    assert "Course templates" not in client.get("/staff/intakes").text


def test_an_unknown_template_is_not_found(admin):
    assert admin.get(edit_path(999_999)).status_code == 404
    assert admin.get(f"{LIST}/{2**31}").status_code == 404


def test_the_admin_navigation_leads_to_course_templates(admin, seeded):
    page = admin.get(edit_path(seeded.template_id)).text
    assert f'<a href="{LIST}" aria-current="page">Course templates</a>' in page
    types = admin.get("/staff/admin/types").text
    assert (
        types.index(">Consultation types</a>")
        < types.index(">Course templates</a>")
        < types.index(">Clinic settings</a>")
    )


def test_session_types_offered_only_in_courses_are_listed_first(admin, in_app, seeded, create_consultation_type):
    in_app(lambda: create_consultation_type(slug="aaa-first", name="Aaa first consultation"))
    page = admin.get(NEW).text
    select = page[page.index('id="dosing_type_id"') :]
    select = select[: select.index("</select>")]
    names = re.findall(r"<option[^>]*>([^<]*)</option>", select)
    assert names[0] == "Choose a session type"
    assert all("course only" in name for name in names[1:4]) and "course only" not in names[4], names


# --- the consultation type form: its course fields -------------------------------------------------


def test_a_session_type_says_if_it_is_for_courses_who_may_move_it_and_its_change_window(admin, in_app):
    form = admin.get("/staff/admin/types/new").text
    assert re.search(r'<input checked id="patient_bookable"[^>]*type="checkbox"', form), "on by default"
    assert "Offered only as part of a treatment course" in form
    assert "Patients may change it online until … hours before (empty: the clinic&#39;s setting)" in form

    course_session = {**TYPE_FORM, "course_only": "y", "patient_bookable": "", "change_window_hours": "48"}
    assert admin.post("/staff/admin/types/new", data=course_session).status_code == 302
    read = lambda: db.session.execute(  # noqa: E731
        select(ConsultationType.course_only, ConsultationType.patient_bookable, ConsultationType.change_window_hours)
    ).one()
    assert tuple(in_app(read)) == (True, False, 48)
    type_id = in_app(lambda: db.session.scalar(select(ConsultationType.id)))
    back = {**TYPE_FORM, "patient_bookable": "y", "change_window_hours": ""}
    assert admin.post(f"/staff/admin/types/{type_id}", data=back).status_code == 302
    assert tuple(in_app(read)) == (False, True, None)
    assert in_app(lambda: [event.action for event in db.session.scalars(select(AuditEvent))]) == [
        AuditAction.TYPE_SAVED,
        AuditAction.TYPE_SAVED,
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("169", "Enter 0 to 168 hours, or leave it empty."),
        ("-1", "Enter 0 to 168 hours, or leave it empty."),
        ("two days", "Enter a whole number of hours, like 48, or leave it empty."),
        ("1.5", "Enter a whole number of hours, like 48, or leave it empty."),
    ],
)
def test_a_change_window_that_is_not_0_to_168_hours_is_refused(admin, in_app, value, message):
    response = admin.post("/staff/admin/types/new", data={**TYPE_FORM, "change_window_hours": value})
    assert response.status_code == 422
    assert f'<p class="error" id="change_window_hours-error">{message}</p>' in response.text
    assert response.text.count('class="error"') == 1, "one message, not two"
    assert in_app(lambda: db.session.scalar(select(func.count()).select_from(ConsultationType))) == 0
    assert in_app(lambda: db.session.scalar(select(func.count()).select_from(AuditEvent))) == 0


# --- the demo's course --------------------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # demo-data refuses any other database
def test_the_demo_has_course_session_types_and_a_template_once(app, in_app):
    runner = app.test_cli_runner()
    first, second = runner.invoke(args=["demo-data"]), runner.invoke(args=["demo-data"])
    assert first.exit_code == second.exit_code == 0, first.output
    assert "1 new course template(s)" in first.output and "0 new course template(s)" in second.output

    def read():
        template = db.session.scalar(select(CourseTemplate))
        version = template.current
        types = db.session.scalars(select(ConsultationType).where(ConsultationType.course_only)).all()
        return {
            "templates": db.session.scalar(select(func.count()).select_from(CourseTemplate)),
            "name": template.name,
            "versions": len(template.versions),
            "shape": {name: getattr(version, name) for name in COURSE_SHAPE},
            "kinds": [step.kind for step in version.steps(lambda kind_type: kind_type.slot_rules)],
            "types": {
                item.name: (
                    item.duration_minutes,
                    item.modality.value,
                    item.patient_bookable,
                    item.change_window_hours,
                    len(item.clinicians),
                )
                for item in types
            },
        }

    demo = in_app(read)
    assert (demo["templates"], demo["name"], demo["versions"]) == (1, "KAP sublingual, adult", 1)
    assert demo["shape"] == COURSE_SHAPE
    assert demo["kinds"] == ["preparation"] * 2 + ["dosing", "integration"] * 3
    assert demo["types"] == {
        "Preparation session": (50, "video", True, None, 3),
        "Treatment session": (180, "in_person", False, 48, 3),
        "Integration session": (50, "video", True, None, 3),
    }
    assert not any(word in name.lower() for name in demo["types"] for word in ("ketamine", "dosing"))
