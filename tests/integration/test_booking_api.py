"""The JSON API v1: listing, slots, booking, and refusing bad input without writing anything."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from kapclinic.core.timezones import instant_param, now_utc
from kapclinic.extensions import db
from kapclinic.scheduling.models import Booking
from tests.helpers import patient_json


def _count_bookings():
    return db.session.scalar(select(func.count(Booking.id)))


def _first_slot(client, consultation_type, tz="America/New_York", **params):
    today = now_utc().date()
    response = client.get(
        "/api/v1/slots",
        query_string={
            "type": consultation_type.slug,
            "start": (today + timedelta(days=1)).isoformat(),
            "end": (today + timedelta(days=7)).isoformat(),
            "tz": tz,
            **params,
        },
    )
    assert response.status_code == 200, response.json
    return response.json["slots"][0]


@pytest.fixture
def offered(create_clinician, create_consultation_type):
    clinician = create_clinician()
    return create_consultation_type(clinicians=[clinician]), clinician


def test_integrator_lists_types_and_clinicians_without_private_fields(client, offered):
    consultation_type, clinician = offered
    types = client.get("/api/v1/consultation-types").json
    assert types[0]["slug"] == consultation_type.slug
    assert types[0]["duration_minutes"] == 60
    assert types[0]["modality"] == "video"
    clinicians = client.get("/api/v1/clinicians").json
    assert clinicians[0]["id"] == clinician.id
    assert "email" not in clinicians[0]


def test_slots_are_given_in_the_requested_zone_with_offset(client, offered):
    consultation_type, _ = offered
    slot = _first_slot(client, consultation_type, tz="Asia/Tokyo")
    assert slot["start"].endswith("+09:00")


def test_patient_books_through_the_api_and_gets_a_manage_url(client, offered, mailbox):
    consultation_type, clinician = offered
    slot = _first_slot(client, consultation_type)
    response = client.post(
        "/api/v1/bookings", json=patient_json(consultation_type, slot["start"], clinician_id=clinician.id)
    )
    assert response.status_code == 201, response.json
    body = response.json
    assert body["status"] == "confirmed"
    assert body["start"] == slot["start"]
    assert body["manage_url"].startswith("https://clinic.example.org/manage/")
    assert [message["To"] for message in mailbox.messages] == ["ana.patient@example.com"]


def test_second_booking_of_the_same_slot_gets_409_with_alternatives(client, offered):
    consultation_type, clinician = offered
    slot = _first_slot(client, consultation_type)
    body = patient_json(consultation_type, slot["start"], clinician_id=clinician.id)
    assert client.post("/api/v1/bookings", json=body).status_code == 201
    again = client.post("/api/v1/bookings", json={**body, "email": "someone.else@example.com"})
    assert again.status_code == 409
    assert again.json["error"] == "slot_taken"
    assert again.json["alternatives"]
    assert slot["start"] not in [alternative["start"] for alternative in again.json["alternatives"]]
    assert _count_bookings() == 1


def test_same_idempotency_key_twice_makes_one_booking(client, offered):
    consultation_type, clinician = offered
    slot = _first_slot(client, consultation_type)
    body = patient_json(consultation_type, slot["start"], clinician_id=clinician.id)
    headers = {"Idempotency-Key": "retry-key-0123456789abcdef"}
    first = client.post("/api/v1/bookings", json=body, headers=headers)
    second = client.post("/api/v1/bookings", json=body, headers=headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json["id"] == second.json["id"]
    assert _count_bookings() == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "Eve\r\nBcc: victim@example.com"}, "name"),
        ({"name": "x" * 500}, "name"),
        ({"email": "not-an-email"}, "email"),
        ({"phone": "12"}, "phone"),
        ({"phone": 2125550100}, "phone"),
        ({"date_of_birth": "2999-01-01"}, "date_of_birth"),
        ({"date_of_birth": "12/04/1990"}, "date_of_birth"),
        ({"tz": "Mars/Olympus_Mons"}, "tz"),
        ({"type": "no-such-type"}, "type"),
        ({"clinician_id": 999999}, "clinician_id"),
        ({"clinician_id": "1"}, "clinician_id"),
        ({"start": "tomorrow at nine"}, "start"),
        ({"start": "2030-01-01T09:00:00"}, "start"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_invalid_booking_fields_get_422_per_field_and_write_nothing(client, offered, changes, field):
    consultation_type, clinician = offered
    slot = _first_slot(client, consultation_type)
    body = patient_json(consultation_type, slot["start"], clinician_id=clinician.id)
    response = client.post("/api/v1/bookings", json={**body, **changes})
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]
    assert _count_bookings() == 0


def test_missing_fields_are_each_named(client, offered):
    response = client.post("/api/v1/bookings", json={})
    assert response.status_code == 422
    assert {"type", "start", "name", "email", "phone", "date_of_birth", "tz"} <= set(response.json["errors"])


@pytest.mark.parametrize(
    ("start_shift", "message_part"),
    [(timedelta(days=-2), "passed"), (timedelta(minutes=7), "not one we offer")],
)
def test_start_in_the_past_or_off_the_grid_is_refused(client, offered, start_shift, message_part):
    consultation_type, clinician = offered
    slot = _first_slot(client, consultation_type)
    from kapclinic.core.timezones import parse_instant

    start = instant_param(parse_instant(slot["start"]) + start_shift)
    response = client.post("/api/v1/bookings", json=patient_json(consultation_type, start, clinician_id=clinician.id))
    assert response.status_code == 422
    assert message_part in response.json["errors"]["start"]
    assert _count_bookings() == 0


def test_start_outside_working_hours_is_refused(client, offered):
    consultation_type, clinician = offered
    tomorrow = now_utc().date() + timedelta(days=2)
    three_am_new_york = f"{tomorrow.isoformat()}T03:00:00-05:00"
    response = client.post(
        "/api/v1/bookings", json=patient_json(consultation_type, three_am_new_york, clinician_id=clinician.id)
    )
    assert response.status_code == 422
    assert "start" in response.json["errors"]


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ("name=Ana", "application/x-www-form-urlencoded", 415),
        ("{not json", "application/json", 400),
        ("[1, 2, 3]", "application/json", 400),
        ('"just a string"', "application/json", 400),
    ],
)
def test_non_json_bodies_are_refused_cleanly(client, offered, data, content_type, status):
    response = client.post("/api/v1/bookings", data=data, content_type=content_type)
    assert response.status_code == status
    assert response.is_json
    assert _count_bookings() == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"tz": "Nowhere/Land"}, "tz"),
        ({"start": "2026-02-30"}, "start"),
        ({"end": "yesterday"}, "end"),
        ({"type": "unknown"}, "type"),
        ({"clinician": "abc"}, "clinician"),
    ],
)
def test_bad_slot_queries_get_422_per_field(client, offered, params, field):
    consultation_type, _ = offered
    query = {"type": consultation_type.slug, "start": "2030-01-01", "end": "2030-01-07", "tz": "UTC", **params}
    response = client.get("/api/v1/slots", query_string=query)
    assert response.status_code == 422
    assert field in response.json["errors"]


def test_slot_range_must_be_ordered_and_bounded(client, offered):
    consultation_type, _ = offered
    base = {"type": consultation_type.slug, "tz": "UTC"}
    backwards = client.get("/api/v1/slots", query_string={**base, "start": "2030-01-07", "end": "2030-01-01"})
    too_long = client.get("/api/v1/slots", query_string={**base, "start": "2030-01-01", "end": "2030-12-31"})
    assert backwards.status_code == too_long.status_code == 422
    assert "end" in backwards.json["errors"] and "end" in too_long.json["errors"]


def test_booking_attempts_are_rate_limited(make_app, sqlite_url):
    app = make_app(sqlite_url, RATELIMIT_ENABLED=True, BOOKING_RATE_LIMIT="3 per minute")
    client = app.test_client()
    statuses = [client.post("/api/v1/bookings", json={}).status_code for _ in range(4)]
    assert statuses == [422, 422, 422, 429]


def test_openapi_document_describes_exactly_the_api(client, app):
    document = client.get("/api/v1/openapi.json").json
    assert document["openapi"].startswith("3.1")
    described = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    served = {
        (rule.rule.removeprefix("/api/v1"), method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.") and rule.endpoint != "api.openapi"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert described == served
    required = document["components"]["schemas"]["BookingRequest"]["required"]
    assert set(required) == {"type", "start", "name", "email", "phone", "date_of_birth", "tz"}
