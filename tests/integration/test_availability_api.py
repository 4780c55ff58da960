"""GET /api/v1/availability (a month's days) and /api/v1/times (a day's start times): what a date-first picker asks.

Both must agree with /api/v1/slots, day by day, in the viewer's zone, across a
daylight-saving change: a count the patient sees must be the times they can pick.
"""

from collections import defaultdict
from datetime import date, time, timedelta

import pytest

from kapclinic.api.schemas import MONTH_PATTERN
from kapclinic.core.timezones import now_utc

pytestmark = pytest.mark.both_databases


def _next_march():
    """The next March in full: the United States (14th) and Europe (28th) move their clocks in it."""
    today = now_utc().date()
    return date(today.year if today.month < 3 else today.year + 1, 3, 1)


@pytest.fixture
def offered(create_clinician, create_consultation_type):
    """Two clinicians on one hourly grid whose phases interleave (New York on the hour, Kolkata on the half hour)."""
    march = _next_march()
    new_york = create_clinician(hours=((time(9), time(17)),), timezone="America/New_York")
    kolkata = create_clinician(hours=((time(18), time(23, 30)),), timezone="Asia/Kolkata")
    consultation_type = create_consultation_type(
        clinicians=[new_york, kolkata],
        slot_step_minutes=60,
        horizon_days=(march.replace(day=31) - now_utc().date()).days + 3,
    )
    return consultation_type.slug, march, (new_york.id, kolkata.id)


def _slots_by_day(client, slug, march, tz, **params):
    """Each local day's distinct starts from /api/v1/slots, with the clinicians free at each."""
    response = client.get(
        "/api/v1/slots",
        query_string={"type": slug, "start": march.isoformat(), "end": march.replace(day=31).isoformat(), "tz": tz}
        | params,
    )
    assert response.status_code == 200, response.json
    days = defaultdict(lambda: defaultdict(list))
    for slot in response.json["slots"]:
        days[slot["start"][:10]][slot["start"]].append(slot["clinician_id"])
    return days


# Kathmandu (UTC+5:45): its midnight falls inside New York's working day, between two starts of the grid.
@pytest.mark.parametrize("tz", ["America/Los_Angeles", "Europe/London", "Asia/Kathmandu"])
def test_every_day_of_a_month_with_a_clock_change_counts_the_starts_the_slots_api_gives(client, offered, tz):
    slug, march, _ = offered
    response = client.get(
        "/api/v1/availability", query_string={"type": slug, "month": march.strftime("%Y-%m"), "tz": tz}
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["tz"], body["month"]) == (tz, march.strftime("%Y-%m"))
    assert [day["date"] for day in body["days"]] == [(march + timedelta(days=n)).isoformat() for n in range(31)]
    expected = _slots_by_day(client, slug, march, tz)
    for day in body["days"]:
        starts = sorted(expected.get(day["date"], {}))
        assert day["count"] == len(starts), day["date"]
        assert day["first"] == (starts[0] if starts else None), day["date"]
    assert sum(day["count"] for day in body["days"]) > 31 * 8  # both clinicians, every day: a real month


# Kathmandu (UTC+5:45): its midnight falls inside New York's working day, between two starts of the grid.
@pytest.mark.parametrize("tz", ["America/Los_Angeles", "Europe/London", "Asia/Kathmandu"])
def test_a_days_times_are_its_distinct_starts_each_once_with_every_clinician_free_then(client, offered, tz):
    slug, march, _ = offered
    expected = _slots_by_day(client, slug, march, tz)
    for offset in range(31):
        day = (march + timedelta(days=offset)).isoformat()
        response = client.get("/api/v1/times", query_string={"type": slug, "date": day, "tz": tz})
        assert response.status_code == 200, response.json
        times = response.json["times"]
        assert (response.json["tz"], response.json["date"]) == (tz, day)
        assert [item["start"] for item in times] == sorted(expected.get(day, {})), day
        for item in times:
            assert item["clinician_ids"] == sorted(expected[day][item["start"]])
            assert item["start"][:10] == day and item["end"] > item["start"]


def test_asking_for_one_clinician_counts_only_their_times(client, offered):
    slug, march, (new_york_id, kolkata_id) = offered
    tz = "America/Los_Angeles"
    query = {"type": slug, "month": march.strftime("%Y-%m"), "tz": tz, "clinician": str(kolkata_id)}
    days = client.get("/api/v1/availability", query_string=query).json["days"]
    expected = _slots_by_day(client, slug, march, tz, clinician=str(kolkata_id))
    assert [day["count"] for day in days] == [len(expected.get(day["date"], {})) for day in days]
    some_day = next(day["date"] for day in days if day["count"])
    times = client.get(
        "/api/v1/times", query_string={"type": slug, "date": some_day, "tz": tz, "clinician": str(kolkata_id)}
    ).json["times"]
    assert times and all(item["clinician_ids"] == [kolkata_id] for item in times)


def test_a_month_and_a_day_are_answered_in_a_few_kilobytes(client, offered):
    slug, march, _ = offered
    month = client.get(
        "/api/v1/availability", query_string={"type": slug, "month": march.strftime("%Y-%m"), "tz": "UTC"}
    )
    day = client.get("/api/v1/times", query_string={"type": slug, "date": march.isoformat(), "tz": "UTC"})
    slots = client.get(
        "/api/v1/slots",
        query_string={"type": slug, "start": march.isoformat(), "end": march.replace(day=31).isoformat(), "tz": "UTC"},
    )
    assert len(month.data) < 4096 and len(day.data) < 4096
    assert len(slots.data) > 10 * len(month.data)  # what a month picker had to download before


@pytest.mark.parametrize(
    ("path", "query", "errors"),
    [
        ("/api/v1/availability", {"month": "2027-13"}, {"month": "Use a month in the form YYYY-MM."}),
        ("/api/v1/availability", {"month": "March"}, {"month": "Use a month in the form YYYY-MM."}),
        ("/api/v1/availability", {"month": "9999-01"}, {"month": "That date is too far from today."}),
        ("/api/v1/availability", {"month": "0000-01"}, {"month": "That date is too far from today."}),
        ("/api/v1/times", {"date": "2027-02-30"}, {"date": None}),
        ("/api/v1/times", {"date": "tomorrow"}, {"date": "Use a date in the form YYYY-MM-DD."}),
        ("/api/v1/times", {"date": "2027-03-01", "tz": "Mars/Olympus"}, {"tz": None}),
        ("/api/v1/times", {"date": "2027-03-01", "type": "no-such-type"}, {"type": "Unknown consultation type."}),
        (
            "/api/v1/times",
            {"date": "2027-03-01", "clinician": "999999"},
            {"clinician": "No such clinician offers this consultation type."},
        ),
        ("/api/v1/times", {"date": "2027-03-01", "clinician": "+1"}, {"clinician": "Use a whole number, like 3."}),
        ("/api/v1/availability", {"month": "2027-03", "start": "2027-03-01"}, {"start": "This field is not accepted."}),
        ("/api/v1/availability", {"type": None}, {"type": "This field is required.", "month": None}),
    ],
)
def test_a_bad_question_gets_a_422_with_a_message_per_field(client, offered, path, query, errors):
    slug, _, _ = offered
    asked = {"type": slug, "tz": "UTC"} | query
    response = client.get(path, query_string={name: value for name, value in asked.items() if value is not None})
    assert response.status_code == 422
    assert response.json["error"] == "invalid"
    assert set(response.json["errors"]) == set(errors)
    for field, message in errors.items():
        assert response.json["errors"][field] == message if message else response.json["errors"][field]


def test_the_openapi_document_describes_both_questions(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path, names in (
        ("/availability", {"type", "month", "tz", "clinician"}),
        ("/times", {"type", "date", "tz", "clinician"}),
    ):
        parameters = {parameter["name"]: parameter for parameter in paths[path]["get"]["parameters"]}
        assert set(parameters) == names
        assert {name for name, parameter in parameters.items() if parameter["required"]} == names - {"clinician"}
        assert set(paths[path]["get"]["responses"]) >= {"200", "422", "429"}
        if path == "/availability":
            assert parameters["month"]["schema"]["pattern"] == MONTH_PATTERN
