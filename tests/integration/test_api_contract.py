"""The OpenAPI document says what the server enforces: what it forbids is refused (422), what it allows is taken.

Each value is judged twice: by a JSON Schema validator reading the served document
(jsonschema_rs, formats checked, as a client's generator or validator would), and by
the server. A client that trusts the document must never be surprised.
"""

from zoneinfo import ZoneInfo

import jsonschema_rs
import pytest

from kapclinic.core.timezones import instant_param
from tests.helpers import patient_json, seed_offering

API = "/api/v1"


@pytest.fixture
def offering(app):
    return seed_offering(app, "contract")


@pytest.fixture
def document(client):
    return client.get(f"{API}/openapi.json").json


def _allows(schema, value):
    return jsonschema_rs.validator_for(schema, validate_formats=True).is_valid(value)


def _start(offering, index, style="utc"):
    start = offering.starts[index]
    return instant_param(start) if style == "utc" else start.astimezone(ZoneInfo("America/New_York")).isoformat()


# (field, value or a function of the offering, whether the document allows it)
BOOKING_CASES = [
    ("start", lambda offering: _start(offering, 0), True),
    ("start", lambda offering: _start(offering, 1, "offset"), True),
    ("start", lambda offering: _start(offering, 2).replace("T", " "), False),
    ("start", lambda offering: _start(offering, 3).replace("-", "").replace(":", ""), False),  # basic format
    ("start", lambda offering: _start(offering, 4)[:16] + "Z", False),  # no seconds
    ("start", lambda offering: _start(offering, 5).removesuffix("Z"), False),  # no offset
    ("date_of_birth", "1990-04-12", True),
    ("date_of_birth", "19900412", False),
    ("date_of_birth", "1990-W15-4", False),
    ("date_of_birth", "12/04/1990", False),
    ("email", "zoe.contract@example.com", True),
    ("email", "not-an-email", False),
    ("email", "zoe contract@example.com", False),
    ("tz", "Asia/Kolkata", True),
    ("tz", "Mars/Olympus_Mons", False),
    ("tz", "america/new_york", False),
    ("tz", "UTC+2", False),
    ("idempotency_key", "a" * 16, True),
    ("idempotency_key", None, True),
    ("idempotency_key", "too-short", False),
    ("idempotency_key", "has spaces in it, sixteen+", False),
    ("clinician_id", 0, False),
    ("clinician_id", 2**31, False),
    ("type", "", False),
    ("name", "", False),
    ("phone", "", False),
]


@pytest.mark.parametrize(
    ("number", "case"),
    list(enumerate(BOOKING_CASES)),
    ids=[f"{field}-{number}" for number, (field, _, _) in enumerate(BOOKING_CASES)],
)
def test_a_booking_field_the_document_forbids_is_refused_and_one_it_allows_is_booked(
    client, offering, document, number, case
):
    field, value, allowed = case
    value = value(offering) if callable(value) else value
    body = patient_json(
        offering, _start(offering, 0), email=f"patient{number}@example.com", phone=f"+121255501{number:02d}"
    )
    body[field] = value
    assert _allows(document["components"]["schemas"]["BookingRequest"], body) is allowed, "the document says otherwise"
    response = client.post(f"{API}/bookings", json=body)
    if allowed:
        assert response.status_code == 201, response.json
    else:
        assert response.status_code == 422 and field in response.json["errors"], response.json


SLOT_CASES = [
    ("start", "2026-01-05", True),
    ("start", "2026-01-05T00:00:00", False),
    ("start", "0", False),
    ("start", "20260105", False),
    ("tz", "Pacific/Chatham", True),
    ("tz", "Mars/Olympus_Mons", False),
    ("clinician", "1", True),
    ("clinician", "1.0", False),
    ("clinician", "+1", False),
    ("clinician", "0", False),
    ("type", "", False),
]


@pytest.mark.parametrize(("field", "value", "allowed"), SLOT_CASES)
def test_a_slots_query_the_document_forbids_is_refused_and_one_it_allows_is_answered(
    client, offering, document, field, value, allowed
):
    parameters = {parameter["name"]: parameter for parameter in document["paths"]["/slots"]["get"]["parameters"]}
    schema = parameters[field]["schema"]
    # A query string is text: an integer parameter's value is read as its number.
    judged = int(value) if schema.get("type") == "integer" and value.isdigit() else value
    assert _allows(schema, judged) is allowed, "the document says otherwise"
    query = {"type": offering.slug, "start": "2026-01-05", "end": "2026-01-06", "tz": "UTC", field: value}
    response = client.get(f"{API}/slots", query_string=query)
    if allowed:
        assert response.status_code == 200, response.json
    else:
        assert response.status_code == 422 and field in response.json["errors"], response.json


def test_the_clinicians_answer_is_what_the_document_describes_with_and_without_a_photo(client, document, in_app):
    from kapclinic.extensions import db
    from kapclinic.scheduling.models import Clinician

    with_photo, without = seed_offering(client.application, "pictured"), seed_offering(client.application, "plain")

    def add_photo():
        clinician = db.session.get(Clinician, with_photo.clinician_id)
        clinician.photo, clinician.photo_type, clinician.photo_version = b"\x89PNG\r\n\x1a\n", "image/png", 1

    in_app(add_photo)
    schema = document["components"]["schemas"]["Clinician"]
    answer = {item["id"]: item for item in client.get(f"{API}/clinicians").json}
    assert answer[with_photo.clinician_id]["photo_url"].startswith("https://clinic.example.org/clinicians/")
    assert answer[without.clinician_id]["photo_url"] is None
    assert all(_allows(schema, item) for item in answer.values())
    assert not _allows(
        schema, {key: value for key, value in answer[without.clinician_id].items() if key != "photo_url"}
    )
