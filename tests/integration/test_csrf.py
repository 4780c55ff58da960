"""With CSRF protection on (as in production), no form POST without its token changes anything."""

import re

from sqlalchemy import func, select

from kapclinic.extensions import db
from tests.helpers import seed_offering
from tests.intake_answers import ADULT_STEPS, book_for_intake, complete_steps

SAMPLE_VALUES = {
    "clinician_id": "1",
    "public_id": "00000000-0000-0000-0000-000000000000",
    "patient_id": "00000000-0000-0000-0000-000000000001",
    "other_patient_id": "00000000-0000-0000-0000-000000000002",
    "course_id": "00000000-0000-0000-0000-000000000003",
    "step": "0",
    "day": "2030-01-01",
    "time_off_id": "1",
    "user_id": "1",
    "type_id": "1",
    "action": "deactivate",
    "intake_id": "1",
    "message_id": "1",
    "slug": "first-consultation",
    "key": "about",
    "template_id": "1",
}


def _row_counts():
    counts = {
        table.name: db.session.scalar(select(func.count()).select_from(table)) for table in db.metadata.sorted_tables
    }
    db.session.rollback()
    return counts


def test_every_form_post_without_its_csrf_token_is_refused_and_writes_nothing(make_app, sqlite_url, mailbox):
    app = make_app(sqlite_url, WTF_CSRF_ENABLED=True)
    offering = seed_offering(app, "first-consultation")
    intake_path = book_for_intake(app.test_client(), offering, mailbox)  # the API needs no token: it takes JSON only
    # Every step answered (through an app without the check, on the same database), so review reaches its own check.
    same_keys = {"DATA_KEYS": app.config["DATA_KEYS"], "INDEX_KEY": app.config["INDEX_KEY"]}
    complete_steps(make_app(sqlite_url, **same_keys).test_client(), intake_path, ADULT_STEPS)
    token = intake_path.split("/")[2]
    values = {**SAMPLE_VALUES, "token": token}
    client = app.test_client()
    with app.app_context():
        before = _row_counts()
    checked = []
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods or rule.endpoint.startswith("api."):
            continue
        path = rule.rule
        for name in rule.arguments:
            path = re.sub(rf"<([^>]*:)?{name}>", values[name], path)
        if rule.endpoint in ("intake.guardian_consent", "intake.change_guardian"):
            # for an adolescent awaiting a guardian; the intake's own check is the same function as on the steps
            continue
        response = client.post(path, data={"name": "Ana", "body": "note", "status": "completed"})
        assert response.status_code == 400, (rule.endpoint, response.status_code)
        checked.append(rule.endpoint)
    with app.app_context():
        assert _row_counts() == before
    assert len(checked) >= 30 and "intake.step" in checked and "accounts.login" in checked
    assert {"admin.new_user", "admin.edit_user", "admin.set_active"} <= set(checked)
