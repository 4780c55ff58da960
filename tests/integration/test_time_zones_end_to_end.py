"""Across the next real daylight-saving change, pages and API keep the clinician's wall clock and name the zone."""

import re
from datetime import datetime, time, timedelta

import pytest

from kapclinic.core.timezones import get_zone, now_utc


def next_offset_change(zone_name, after):
    """Return the first local date after `after` whose UTC offset differs from the day before."""
    zone = get_zone(zone_name)
    day = after.date()
    previous = datetime.combine(day, time(12), zone).utcoffset()
    for _ in range(400):
        day += timedelta(days=1)
        offset = datetime.combine(day, time(12), zone).utcoffset()
        if offset != previous:
            return day
        previous = offset
    raise AssertionError(f"no offset change within a year in {zone_name}")


@pytest.mark.parametrize("zone_name", ["America/New_York", "Europe/London"])
def test_api_keeps_nine_am_local_across_the_next_change(client, create_clinician, create_consultation_type, zone_name):
    clinician = create_clinician(timezone=zone_name, hours=((time(9), time(10)), (time(13), time(14))))
    consultation_type = create_consultation_type(clinicians=[clinician], horizon_days=400)
    change_day = next_offset_change(zone_name, now_utc() + timedelta(days=2))
    response = client.get(
        "/api/v1/slots",
        query_string={
            "type": consultation_type.slug,
            "start": (change_day - timedelta(days=2)).isoformat(),
            "end": (change_day + timedelta(days=1)).isoformat(),
            "tz": zone_name,
        },
    )
    starts = [slot["start"] for slot in response.json["slots"]]
    local_times = {start[11:16] for start in starts}
    assert local_times == {"09:00", "13:00"}  # morning and afternoon both stay put
    offsets = {start[19:] for start in starts}
    assert len(offsets) == 2  # the offset itself changes across the week
    assert len(starts) == 8


def test_los_angeles_patient_sees_new_york_hours_shift_only_while_the_zones_differ(
    client, create_clinician, create_consultation_type
):
    """Both change on the same US dates, so a 09:00 New York rule stays 06:00 in Los Angeles."""
    clinician = create_clinician(timezone="America/New_York", hours=((time(9), time(10)),))
    consultation_type = create_consultation_type(clinicians=[clinician], horizon_days=400)
    change_day = next_offset_change("America/New_York", now_utc() + timedelta(days=2))
    labels = []
    for offset in range(-3, 4):  # each day's times, as the patient picks the day in the calendar
        day = (change_day + timedelta(days=offset)).isoformat()
        page = client.get(
            f"/book/{consultation_type.slug}", query_string={"tz": "America/Los_Angeles", "day": day}
        ).text
        labels += re.findall(r'class="slot" href="[^"]+"[^>]*>([^<]+)<', page)
    assert len(labels) == 7
    assert {label.split(" ")[0] for label in labels} == {"6:00"}
    # The heading names the zone; only on the day the clocks change does a time say which side it is on.
    assert sorted(labels) == ["6:00 AM"] * 6 + [f"6:00 AM {'PDT' if change_day.month < 6 else 'PST'}"]
