"""Every staff route refuses anonymous visitors and wrong roles, read from the app's own URL map."""

import re

import pytest

from kapclinic.accounts.models import Role
from tests.conftest import sign_in

# Pages anyone may open: signing in and resetting a password.
PUBLIC_STAFF_ENDPOINTS = {"accounts.login", "accounts.request_reset", "accounts.reset_password"}
SAMPLE_VALUES = {"clinician_id": 1, "public_id": "00000000-0000-0000-0000-000000000000", "token": "x",
                 "day": "2030-01-01", "time_off_id": 1, "user_id": 1, "type_id": 1, "action": "deactivate",
                 "intake_id": 1, "version": "2026-11.1", "message_id": 1}


@pytest.fixture
def app(staff_app):
    return staff_app


def _staff_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/staff") and rule.endpoint not in PUBLIC_STAFF_ENDPOINTS:
            path = rule.rule
            for name in rule.arguments:
                path = re.sub(rf"<([^>]*:)?{name}>", str(SAMPLE_VALUES[name]), path)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule.endpoint, method, path


def test_every_staff_route_sends_anonymous_visitors_to_sign_in(app, client):
    routes = list(_staff_routes(app))
    assert len(routes) > 20
    for endpoint, method, path in routes:
        response = client.open(path, method=method)
        assert response.status_code == 302 and "/staff/login" in response.headers["Location"], (endpoint, method, path)


@pytest.mark.parametrize(
    ("role", "forbidden_prefixes"),
    [(Role.FRONT_DESK, ("workspace.", "admin.")), (Role.CLINICIAN, ("admin.",))],
)
def test_roles_without_access_get_403(app, client, create_staff, role, forbidden_prefixes):
    user = create_staff(role)
    sign_in(client, user.email)
    checked = 0
    for endpoint, method, path in _staff_routes(app):
        if endpoint.startswith(forbidden_prefixes):
            response = client.open(path, method=method)
            assert response.status_code == 403, (endpoint, method, path, response.status_code)
            checked += 1
    assert checked > 3


@pytest.mark.parametrize(
    "path",
    [
        "/staff/clinicians/99999999999999999999/availability",
        "/staff/admin/types/99999999999999999999",
        "/staff/bookings/%00/invite.ics",
        "/staff/bookings/not-a-uuid/cancel",
    ],
)
def test_odd_ids_in_staff_urls_are_404_not_500(client, create_staff, path):
    admin = create_staff(Role.ADMIN)
    sign_in(client, admin.email)
    assert client.get(path).status_code == 404


def test_far_future_dates_are_refused_cleanly(client, create_staff):
    user = create_staff(Role.CLINICIAN)
    sign_in(client, user.email)
    base = f"/staff/clinicians/{user.clinician_id}"
    assert client.post(f"{base}/overrides", data={"on_date": "9999-12-31", "kind": "day_off"}).status_code == 422
    assert client.post(f"{base}/time-off", data={"first_day": "9999-12-30", "last_day": "9999-12-31"}).status_code == 422
    assert client.get(f"{base}/schedule.ics?start=9999-12-30&end=9999-12-31").status_code == 400


def test_staff_emails_ignore_case(client, create_staff):
    user = create_staff(Role.FRONT_DESK, email="Bob.Smith@Clinic.example.org")
    assert user.email == "bob.smith@clinic.example.org"
    assert sign_in(client, "BOB.SMITH@clinic.example.org").status_code == 302


def test_a_deactivated_clinicians_feed_stops(app, client, create_staff):
    clinician = create_staff(Role.CLINICIAN)
    admin = create_staff(Role.ADMIN)
    sign_in(client, clinician.email)
    page = client.post(f"/staff/clinicians/{clinician.clinician_id}/feed").text
    feed = re.search(r'value="https://clinic\.example\.org(/feeds/[^"]+)"', page).group(1)
    assert app.test_client().get(feed).status_code == 200
    admin_client = app.test_client()
    sign_in(admin_client, admin.email)
    assert admin_client.post(f"/staff/admin/users/{clinician.id}/deactivate").status_code == 302
    assert app.test_client().get(feed).status_code == 404
