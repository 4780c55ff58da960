"""The clinician workspace: weekly hours, days off, time off, preview, and who may touch whose availability."""

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from kapclinic.accounts.models import Role
from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from kapclinic.scheduling.models import Booking, BookingStatus, ConsultationType, Modality
from tests.helpers import patient_json, sign_in

pytestmark = pytest.mark.both_databases


@pytest.fixture
def clinician_user(create_staff, in_app):
    """A signed-in-able clinician with a 60-minute video consultation, bookable from now."""
    user = create_staff(Role.CLINICIAN, email="dr.own@clinic.example.org", name="Dr Own")

    def offer():
        from kapclinic.scheduling.models import Clinician

        db.session.add(
            ConsultationType(
                slug="workspace",
                name="Workspace consult",
                duration_minutes=60,
                min_notice_minutes=0,
                horizon_days=30,
                slot_step_minutes=60,
                modality=Modality.VIDEO,
                clinicians=[db.session.get(Clinician, user.clinician_id)],
            )
        )

    in_app(offer)
    return user


def _slots(client, days_ahead=1, days=7, tz="America/New_York"):
    first = now_utc().date() + timedelta(days=days_ahead)
    response = client.get(
        "/api/v1/slots",
        query_string={
            "type": "workspace",
            "start": first.isoformat(),
            "end": (first + timedelta(days=days - 1)).isoformat(),
            "tz": tz,
        },
    )
    return response.json["slots"]


def _hours_form(**ranges):
    """Weekly hours form data: d0_r0=("10:00", "12:00") style keyword arguments."""
    data = {}
    for key, (start, end) in ranges.items():
        data[f"{key}_start"], data[f"{key}_end"] = start, end
    return data


def test_clinician_sets_weekly_hours_and_patients_see_them(client, clinician_user):
    sign_in(client, clinician_user.email)
    assert len({slot["start"][11:16] for slot in _slots(client)}) == 8  # 09:00 to 16:00, hourly
    only_mornings = _hours_form(**{f"d{day}_r0": ("10:00", "12:00") for day in range(7)})
    response = client.post(f"/staff/clinicians/{clinician_user.clinician_id}/hours", data=only_mornings)
    assert response.status_code == 302
    assert {slot["start"][11:16] for slot in _slots(client)} == {"10:00", "11:00"}
    page = client.get(f"/staff/clinicians/{clinician_user.clinician_id}/hours").text
    assert 'value="10:00"' in page and 'value="12:00"' in page


@pytest.mark.parametrize(
    ("ranges", "field", "message"),
    [
        ({"d0_r0": ("12:00", "09:00")}, "d0_r0_end", "end must be after the start"),
        ({"d0_r0": ("09:00", "12:00"), "d0_r1": ("11:00", "14:00")}, "d0_r1_start", "overlaps 09:00-12:00"),
        ({"d2_r0": ("9am", "17:00")}, "d2_r0_start", "like 09:00"),
        ({"d3_r0": ("09:00", "")}, "d3_r0_end", "Give an end time"),
        ({"d4_r2": ("25:00", "26:00")}, "d4_r2_start", "like 09:00"),
    ],
)
def test_invalid_weekly_hours_are_explained_and_nothing_changes(client, clinician_user, ranges, field, message):
    sign_in(client, clinician_user.email)
    before = _slots(client)
    response = client.post(f"/staff/clinicians/{clinician_user.clinician_id}/hours", data=_hours_form(**ranges))
    assert response.status_code == 422
    assert message in response.text
    assert f'id="{field}-error"' in response.text
    assert _slots(client) == before


def test_a_day_off_and_other_hours_change_that_day_only(client, clinician_user):
    sign_in(client, clinician_user.email)
    day_off = (now_utc().astimezone(ZoneInfo("America/New_York")) + timedelta(days=2)).date()
    other = day_off + timedelta(days=1)
    url = f"/staff/clinicians/{clinician_user.clinician_id}/overrides"
    assert client.post(url, data={"on_date": day_off.isoformat(), "kind": "day_off"}).status_code == 302
    assert (
        client.post(
            url, data={"on_date": other.isoformat(), "kind": "hours", "start": "13:00", "end": "15:00"}
        ).status_code
        == 302
    )
    by_day = {}
    for slot in _slots(client):
        by_day.setdefault(slot["start"][:10], set()).add(slot["start"][11:16])
    assert day_off.isoformat() not in by_day
    assert by_day[other.isoformat()] == {"13:00", "14:00"}
    assert len(by_day[(other + timedelta(days=1)).isoformat()]) == 8
    bad = client.post(url, data={"on_date": "not-a-date", "kind": "hours", "start": "15:00", "end": "13:00"})
    assert bad.status_code == 422 and "like 2026-12-24" in bad.text and "after the start" in bad.text


def test_time_off_lists_the_bookings_it_covers_and_keeps_them(client, clinician_user, in_app):
    slot = _slots(client, days_ahead=3)[0]
    booked = client.post(
        "/api/v1/bookings",
        json=patient_json(
            type("T", (), {"slug": "workspace"}), slot["start"], clinician_id=clinician_user.clinician_id
        ),
    )
    assert booked.status_code == 201
    sign_in(client, clinician_user.email)
    first = date.fromisoformat(slot["start"][:10]) - timedelta(days=1)
    response = client.post(
        f"/staff/clinicians/{clinician_user.clinician_id}/time-off",
        data={
            "first_day": first.isoformat(),
            "last_day": (first + timedelta(days=3)).isoformat(),
            "reason": "Conference",
        },
    )
    assert response.status_code == 200
    assert "1 booked consultation falls in this time" in response.text
    assert "Ana Patient" in response.text
    assert in_app(lambda: db.session.query(Booking).one().status) is BookingStatus.CONFIRMED
    starts = {slot["start"][:10] for slot in _slots(client, days_ahead=1, days=10)}
    for offset in range(4):
        assert (first + timedelta(days=offset)).isoformat() not in starts


def test_time_off_dates_are_checked(client, clinician_user):
    sign_in(client, clinician_user.email)
    url = f"/staff/clinicians/{clinician_user.clinician_id}/time-off"
    backwards = client.post(url, data={"first_day": "2099-01-10", "last_day": "2099-01-01"})
    assert backwards.status_code == 422 and "on or after the first day" in backwards.text
    past = client.post(url, data={"first_day": "2001-01-01", "last_day": "2001-01-02"})
    assert past.status_code == 422 and "today or a later date" in past.text


def test_preview_uses_the_patients_slot_engine(client, clinician_user):
    sign_in(client, clinician_user.email)
    page = client.get(f"/staff/clinicians/{clinician_user.clinician_id}/availability").text
    assert "Workspace consult" in page
    first_slot = _slots(client, days_ahead=1)[0]["start"]
    hour = int(first_slot[11:13])
    assert f"{hour % 12 or 12}:00 {'AM' if hour < 12 else 'PM'} E" in page


def test_staff_pages_need_a_sign_in_and_the_right_role(client, create_staff, clinician_user):
    own = f"/staff/clinicians/{clinician_user.clinician_id}"
    for path in (f"{own}/availability", f"{own}/hours", "/staff/availability", "/staff/"):
        response = client.get(path)
        assert response.status_code == 302 and "/staff/login" in response.headers["Location"], path
    front_desk = create_staff(Role.FRONT_DESK)
    sign_in(client, front_desk.email)
    assert client.get(f"{own}/availability").status_code == 403
    assert client.post(f"{own}/hours", data={}).status_code == 403


def test_a_clinician_cannot_touch_another_clinicians_availability(client, create_staff, clinician_user, in_app):
    other = create_staff(Role.CLINICIAN, email="dr.other@clinic.example.org", name="Dr Other")
    sign_in(client, other.email)
    theirs = f"/staff/clinicians/{clinician_user.clinician_id}"
    assert client.get(f"{theirs}/availability").status_code == 403
    assert client.get(f"{theirs}/hours").status_code == 403
    assert client.post(f"{theirs}/hours", data=_hours_form(d0_r0=("10:00", "11:00"))).status_code == 403
    assert client.post(f"{theirs}/overrides", data={"on_date": "2099-01-01", "kind": "day_off"}).status_code == 403
    assert (
        client.post(f"{theirs}/time-off", data={"first_day": "2099-01-01", "last_day": "2099-01-02"}).status_code == 403
    )
    assert (
        client.get("/staff/availability")
        .headers["Location"]
        .endswith(f"/staff/clinicians/{other.clinician_id}/availability")
    )
    assert len(_slots(client)) == 7 * 8  # unchanged


def test_an_admin_manages_any_clinicians_availability(client, create_staff, clinician_user):
    admin = create_staff(Role.ADMIN)
    sign_in(client, admin.email)
    assert "Dr Own" in client.get("/staff/availability").text
    response = client.post(
        f"/staff/clinicians/{clinician_user.clinician_id}/hours", data=_hours_form(d0_r0=("10:00", "11:00"))
    )
    assert response.status_code == 302
    assert client.get("/staff/clinicians/999999/availability").status_code == 404


def test_daily_limit_and_minimum_gap_shape_what_patients_can_book(client, clinician_user):
    sign_in(client, clinician_user.email)
    url = f"/staff/clinicians/{clinician_user.clinician_id}/offering"
    assert client.post(url, data={"types": "workspace", "max_per_day": "1", "min_gap_minutes": "0"}).status_code == 302
    slots = _slots(client, days_ahead=2, days=1, tz="America/New_York")
    booked = client.post(
        "/api/v1/bookings",
        json=patient_json(
            type("T", (), {"slug": "workspace"}), slots[0]["start"], clinician_id=clinician_user.clinician_id
        ),
    )
    assert booked.status_code == 201
    assert _slots(client, days_ahead=2, days=1) == []  # the one consultation that day is taken
    assert len(_slots(client, days_ahead=3, days=1)) == 8  # other days are untouched
    assert client.post(url, data={"types": "workspace", "max_per_day": "", "min_gap_minutes": "60"}).status_code == 302
    after_gap = {slot["start"][11:16] for slot in _slots(client, days_ahead=2, days=1)}
    first = int(slots[0]["start"][11:13])
    assert f"{first + 1:02d}:00" not in after_gap and f"{first + 2:02d}:00" in after_gap


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"max_per_day": "0"}, "max_per_day"),
        ({"max_per_day": "many"}, "max_per_day"),
        ({"min_gap_minutes": "-5"}, "min_gap_minutes"),
        ({"types": "no-such-type"}, "types"),
    ],
)
def test_invalid_limits_are_explained(client, clinician_user, data, field):
    sign_in(client, clinician_user.email)
    response = client.post(
        f"/staff/clinicians/{clinician_user.clinician_id}/offering", data={"types": "workspace", **data}
    )
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.text


def test_a_clinician_who_stops_offering_a_type_disappears_from_it(client, clinician_user):
    sign_in(client, clinician_user.email)
    assert (
        client.post(
            f"/staff/clinicians/{clinician_user.clinician_id}/offering", data={"min_gap_minutes": "0"}
        ).status_code
        == 302
    )
    assert _slots(client) == []
