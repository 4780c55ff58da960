"""Staff routes beyond who may open them (tests/integration/test_route_matrix.py): odd ids, dates, emails, feeds."""

import pytest

from kapclinic.accounts.models import Role
from tests.helpers import new_feed_path, sign_in

pytestmark = pytest.mark.both_databases


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
    assert (
        client.post(f"{base}/time-off", data={"first_day": "9999-12-30", "last_day": "9999-12-31"}).status_code == 422
    )
    assert client.get(f"{base}/schedule.ics?start=9999-12-30&end=9999-12-31").status_code == 400


def test_staff_emails_ignore_case(client, create_staff):
    user = create_staff(Role.FRONT_DESK, email="Bob.Smith@Clinic.example.org")
    assert user.email == "bob.smith@clinic.example.org"
    assert sign_in(client, "BOB.SMITH@clinic.example.org").status_code == 302


def test_a_deactivated_clinicians_feed_stops(app, client, create_staff):
    clinician = create_staff(Role.CLINICIAN)
    admin = create_staff(Role.ADMIN)
    sign_in(client, clinician.email)
    feed = new_feed_path(client, clinician.clinician_id)
    assert app.test_client().get(feed).status_code == 200
    admin_client = app.test_client()
    sign_in(admin_client, admin.email)
    assert admin_client.post(f"/staff/admin/users/{clinician.id}/deactivate").status_code == 302
    assert app.test_client().get(feed).status_code == 404
