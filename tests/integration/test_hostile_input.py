"""Hostile and odd input gets a clean 4xx and writes nothing, on SQLite and PostgreSQL."""

import re
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from kapclinic.core.timezones import instant_param, now_utc
from kapclinic.extensions import db
from kapclinic.notifications.models import OutboxMessage, OutboxStatus
from kapclinic.scheduling import services
from kapclinic.scheduling.models import Booking, BookingStatus, Modality
from kapclinic.scheduling.slots import Interval
from tests.helpers import patient_form, patient_json, seed_offering


@pytest.fixture
def seeded(make_app, database_url):
    app = make_app(database_url)
    offering = seed_offering(app, "hostile", zone="America/New_York", modality=Modality.VIDEO)
    slot = SimpleNamespace(start_dt=offering.starts[0])
    return app, SimpleNamespace(slug=offering.slug), SimpleNamespace(id=offering.clinician_id), slot


def _rows(app):
    with app.app_context():
        return db.session.scalar(select(func.count(Booking.id))), db.session.scalar(
            select(func.count(OutboxMessage.id))
        )


@pytest.mark.both_databases
@pytest.mark.parametrize(
    "path",
    [
        "/book/%00",
        "/book/hostile?from=9999-12-25",
        "/book/hostile?from=0001-01-01",
        "/book/hostile?clinician=%C2%B2",
        "/book/hostile?clinician=99999999999999999999",
        "/book/hostile?tz=%00",
        "/book/hostile/details?start=0001-01-01T00:00:00%2B01:00",
        "/book/hostile/details?start=9999-12-31T23:59:59-01:00",
        "/book/hostile/details?start=2030-01-01T09:00:00Z&tz=..%2F..%2Fetc%2Fpasswd",
        "/api/v1/slots?type=%00&start=2030-01-01&end=2030-01-02&tz=UTC",
        "/api/v1/slots?type=hostile&start=0001-01-01&end=0001-01-02&tz=Asia/Tokyo",
        "/api/v1/slots?type=hostile&start=9999-12-30&end=9999-12-31&tz=UTC",
        "/manage/%00",
        "/manage/" + "a" * 5000,
        "/intake/%00/step/about",
    ],
)
def test_hostile_query_strings_get_a_clean_answer(seeded, path):
    app, *_ = seeded
    response = app.test_client().get(path)
    assert 200 <= response.status_code < 500, (path, response.status_code)


@pytest.mark.both_databases
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"type": "hostile\u0000"}, "type"),
        ({"email": "jörg@example.com"}, "email"),
        ({"name": "Ana\u0000Patient"}, "name"),
        ({"phone": "+1 212 555 0100\u0000"}, "phone"),
        ({"start": "9999-12-31T23:00:00Z"}, "start"),
        ({"start": "0001-01-01T00:00:00+01:00"}, "start"),
    ],
)
def test_hostile_booking_fields_are_refused_and_nothing_is_written(seeded, changes, field):
    app, consultation_type, clinician, slot = seeded
    body = {**patient_json(consultation_type, instant_param(slot.start_dt), clinician_id=clinician.id), **changes}
    response = app.test_client().post("/api/v1/bookings", json=body)
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]
    assert _rows(app) == (0, 0)


@pytest.mark.both_databases
def test_cancel_reason_with_control_characters_is_refused(seeded):
    app, consultation_type, clinician, slot = seeded
    client = app.test_client()
    created = client.post(
        "/api/v1/bookings",
        json=patient_json(consultation_type, instant_param(slot.start_dt), clinician_id=clinician.id),
    )
    manage_path = created.json["manage_url"].removeprefix("https://clinic.example.org")
    refused = client.post(manage_path + "/cancel", data={"reason": "bye\u0000"})
    assert refused.status_code == 422
    with app.app_context():
        assert db.session.scalar(select(Booking.status)) is BookingStatus.CONFIRMED


@pytest.mark.both_databases
def test_a_reused_request_key_for_another_booking_is_refused(seeded):
    app, consultation_type, clinician, slot = seeded
    client = app.test_client()
    key = uuid.uuid4().hex
    first = patient_json(
        consultation_type, instant_param(slot.start_dt), clinician_id=clinician.id, idempotency_key=key
    )
    assert client.post("/api/v1/bookings", json=first).status_code == 201
    other_time = instant_param(slot.start_dt + timedelta(hours=2))
    second = {**first, "start": other_time, "email": "someone.else@example.com"}
    response = client.post("/api/v1/bookings", json=second)
    assert response.status_code == 422
    assert "idempotency_key" in response.json["errors"]
    assert _rows(app)[0] == 1


@pytest.mark.usefixtures("app_context")
def test_a_poison_message_does_not_block_the_outbox(app, mailbox):
    """A row SMTP cannot take is marked and skipped; the others go out; the command succeeds."""
    db.session.add_all(
        [
            OutboxMessage(recipient="bad\r\nBcc: x@example.com", subject="s", body_text="t", body_html="<p>t</p>"),
            OutboxMessage(recipient="ok@example.com", subject="Fine", body_text="t", body_html="<p>t</p>"),
        ]
    )
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["outbox", "send"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "sent 1 message(s)"
    assert [message["To"] for message in mailbox.messages] == ["ok@example.com"]
    db.session.expire_all()
    statuses = db.session.scalars(select(OutboxMessage.status).order_by(OutboxMessage.id)).all()
    assert statuses[1] is OutboxStatus.SENT
    assert statuses[0] is not OutboxStatus.SENT


def test_booking_form_refuses_control_characters_in_the_name(client, create_clinician, create_consultation_type):
    clinician = create_clinician()
    consultation_type = create_consultation_type(clinicians=[clinician])
    now = now_utc()
    start = now + timedelta(days=3)
    slot = services.find_slots(consultation_type, Interval(start, start + timedelta(days=1)), now)[0]
    response = client.post(
        f"/book/{consultation_type.slug}/details?start={instant_param(slot.start_dt)}&clinician={clinician.id}",
        data=patient_form(name="Eve\r\nBcc: victim@example.com"),
    )
    assert response.status_code == 422
    assert "line breaks" in response.text
    assert db.session.scalar(select(func.count(Booking.id))) == 0


@pytest.mark.parametrize("text", ["\u202eevil", "Ana\u2028Patient", "Ana\ufffeX", "Ana\U000f0000"])
def test_bidi_overrides_and_unassigned_characters_are_refused_in_names(client, text):
    from kapclinic.core.validation import InvalidField, clean_name

    with pytest.raises(InvalidField):
        clean_name(text)


def test_oversized_bodies_are_refused_before_parsing(client):
    response = client.post("/api/v1/bookings", data="x" * (300 * 1024), content_type="application/json")
    assert response.status_code == 413


def test_pages_with_patient_data_are_never_cached(app, mailbox):
    offering = seed_offering(app, "cache")
    client = app.test_client()
    created = client.post(
        "/api/v1/bookings",
        json=patient_json(offering, instant_param(offering.starts[0]), clinician_id=offering.clinician_id),
    )
    manage_path = created.json["manage_url"].removeprefix("https://clinic.example.org")
    intake_path = re.search(
        r"https://clinic\.example\.org(/intake/\S+)", mailbox.messages[-1].get_body(("plain",)).get_content()
    ).group(1)
    for path in (manage_path, intake_path, f"{intake_path}/step/about", f"{intake_path}/support"):
        assert client.get(path).status_code == 200, path
        assert client.get(path).headers.get("Cache-Control") == "no-store", path
    assert "no-store" not in client.get("/").headers.get("Cache-Control", "")
