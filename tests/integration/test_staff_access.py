"""Every staff route refuses anonymous visitors and wrong roles, read from the app's own URL map."""

import re

import pytest

from kapclinic.accounts.models import Role
from tests.conftest import sign_in

# Pages anyone may open: signing in and resetting a password.
PUBLIC_STAFF_ENDPOINTS = {"accounts.login", "accounts.request_reset", "accounts.reset_password"}
SAMPLE_VALUES = {"clinician_id": 1, "public_id": "00000000-0000-0000-0000-000000000000", "token": "x",
                 "day": "2030-01-01", "time_off_id": 1, "user_id": 1, "type_id": 1, "action": "deactivate"}


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
