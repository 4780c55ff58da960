"""The clinician workspace: weekly hours, days off, time off, preview, and who may touch whose availability."""

import re
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from kapclinic.accounts.models import Role
from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from kapclinic.scheduling.models import Booking, BookingStatus, ConsultationType, Modality
from tests.helpers import patient_json, sign_in
from tests.integration.test_time_zones_end_to_end import next_offset_change

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
        (
            {"d0_r0": ("09:00", "12:00"), "d0_r1": ("11:00", "14:00")},
            "d0",
            "Monday: 9:00 AM\u201312:00 PM overlaps 11:00 AM\u20132:00 PM",
        ),
        ({"d2_r0": ("nine", "17:00")}, "d2_r0_start", "like 9:00 AM or 09:00"),
        ({"d3_r0": ("09:00", "")}, "d3_r0_end", "Give an end time"),
        ({"d4_r5": ("25:00", "26:00")}, "d4_r5_start", "like 9:00 AM or 09:00"),
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


def test_hours_typed_in_12_hour_form_are_saved(client, clinician_user):
    sign_in(client, clinician_user.email)
    afternoons = _hours_form(**{f"d{day}_r0": ("1pm", "3 PM") for day in range(7)})
    response = client.post(f"/staff/clinicians/{clinician_user.clinician_id}/hours", data=afternoons)
    assert response.status_code == 302
    assert {slot["start"][11:16] for slot in _slots(client)} == {"13:00", "14:00"}


def test_saved_hours_stay_nine_local_across_the_clock_change(client, clinician_user, in_app):
    """Hours typed once are wall-clock hours: 9:00 AM on both sides of the next New York change."""
    in_app(lambda: db.session.execute(db.update(ConsultationType).values(horizon_days=400)))
    sign_in(client, clinician_user.email)
    nine = _hours_form(**{f"d{day}_r0": ("9am", "10am") for day in range(7)})
    assert client.post(f"/staff/clinicians/{clinician_user.clinician_id}/hours", data=nine).status_code == 302
    change_day = next_offset_change("America/New_York", now_utc() + timedelta(days=2))
    days_ahead = (change_day - now_utc().date()).days - 2
    starts = [slot["start"] for slot in _slots(client, days_ahead=days_ahead, days=5)]
    assert {start[11:16] for start in starts} == {"09:00"} and len(starts) == 5
    assert len({start[19:] for start in starts}) == 2  # the UTC offset changes, the wall clock does not


def _hours_page_values(page):
    """{field name: value} of the weekly-hours inputs a page shows (rows not hidden)."""
    shown = {}
    for row in page.split('<div class="range"')[1:]:
        if " hidden>" not in row.split("\n", 1)[0]:
            shown.update(re.findall(r'name="(d\d_r\d_(?:start|end))" type="time" value="([^"]*)"', row))
    return shown


def test_copy_to_weekdays_without_javascript_shows_them_again_unsaved(client, clinician_user):
    sign_in(client, clinician_user.email)
    url = f"/staff/clinicians/{clinician_user.clinician_id}/hours"
    before = _slots(client)
    typed = _hours_form(d0_r0=("9am", "12:00"), d0_r1=("13:00", "17:00"), d5_r0=("10:00", "11:00"))
    response = client.post(url, data={**typed, "action": "copy"})
    assert response.status_code == 200 and "copied to Tuesday to Friday" in response.text
    shown = _hours_page_values(response.text)
    for day in range(5):
        assert shown[f"d{day}_r0_start"] == "09:00" and shown[f"d{day}_r1_end"] == "17:00"
    assert shown["d5_r0_start"] == "10:00" and "d6_r1_start" not in shown
    assert _slots(client) == before  # nothing saved until Save


def test_add_and_remove_a_range_without_javascript_save_nothing(client, clinician_user):
    sign_in(client, clinician_user.email)
    url = f"/staff/clinicians/{clinician_user.clinician_id}/hours"
    before = _slots(client)
    added = client.post(url, data={**_hours_form(d2_r0=("09:00", "10:00")), "action": "add:2"})
    assert added.status_code == 200
    assert {"d2_r0_start", "d2_r1_start"} <= set(_hours_page_values(added.text))
    removed = client.post(
        url, data={**_hours_form(d2_r0=("08:00", "09:00"), d2_r1=("10:00", "11:00")), "action": "remove:2:0"}
    )
    assert removed.status_code == 200 and _hours_page_values(removed.text)["d2_r0_start"] == "10:00"
    assert _slots(client) == before


@pytest.mark.parametrize("action", ["delete-everything", "add:9", "remove:1:9", "x" * 5000])
def test_a_button_not_on_the_hours_page_is_refused(client, clinician_user, action):
    sign_in(client, clinician_user.email)
    before = _slots(client)
    url = f"/staff/clinicians/{clinician_user.clinician_id}/hours"
    response = client.post(url, data={**_hours_form(d0_r0=("10:00", "11:00")), "action": action})
    assert response.status_code == 400
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
    # The shared field macro ties the message to its field, and the typed dates stay.
    assert 'aria-describedby="last_day-error" aria-invalid="true"' in backwards.text
    assert 'value="2099-01-10"' in backwards.text
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
