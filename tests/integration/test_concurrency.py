"""Two patients, one time: exactly one gets it, on SQLite (write lock) and PostgreSQL (exclusion constraint)."""

import threading
import traceback
import uuid
from datetime import date, timedelta

import pytest
from flask import got_request_exception
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from kapclinic.core.timezones import instant_param, now_utc
from kapclinic.extensions import db
from kapclinic.patients.services import new_patient
from kapclinic.scheduling.models import Booking, ConsultationType
from tests.helpers import patient_json, seed_offering

pytestmark = pytest.mark.both_databases

ATTEMPTS = 8


def _seed(app, buffer_after=0):
    offering = seed_offering(app, "race", buffer_after_minutes=buffer_after)
    return offering.clinician_id, offering.starts


def _race(app, bodies):
    """POST every body at the same moment from its own thread; return the status codes.

    A server error fails the test with its traceback, so a rare race is diagnosable.
    """
    barrier = threading.Barrier(len(bodies))
    statuses = []
    lock = threading.Lock()
    crashes = []

    def record(sender, exception, **extra):
        crashes.append("".join(traceback.format_exception(exception)))

    got_request_exception.connect(record, app)

    def attempt(body):
        client = app.test_client()
        barrier.wait()
        response = client.post("/api/v1/bookings", json=body)
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=attempt, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    got_request_exception.disconnect(record, app)
    assert not crashes, crashes[0]
    return sorted(statuses)


def _body(clinician_id, start, number):
    body = patient_json(
        type("T", (), {"slug": "race"}),
        instant_param(start),
        clinician_id=clinician_id,
        email=f"patient{number}@example.com",
        tz="UTC",
    )
    return body


def _active_bookings(app):
    with app.app_context():
        return db.session.scalar(select(func.count(Booking.id)))


def test_same_slot_at_the_same_moment_books_exactly_once(make_app, database_url):
    app = make_app(database_url)
    clinician_id, starts = _seed(app)
    statuses = _race(app, [_body(clinician_id, starts[0], number) for number in range(ATTEMPTS)])
    assert statuses == [201] + [409] * (ATTEMPTS - 1)
    assert _active_bookings(app) == 1


def test_overlapping_slots_at_the_same_moment_book_exactly_once(make_app, database_url):
    """10:00 and 10:30 for a 60-minute consultation overlap: only one may stand."""
    app = make_app(database_url)
    clinician_id, starts = _seed(app, buffer_after=15)
    # Late in the (UTC) day the first two starts are evening and next morning: take the first pair half an hour apart.
    pairs = zip(starts, starts[1:], strict=False)
    first, half_hour_later = next((a, b) for a, b in pairs if b - a == timedelta(minutes=30))
    assert half_hour_later - first == timedelta(minutes=30)
    bodies = [_body(clinician_id, first if number % 2 else half_hour_later, number) for number in range(ATTEMPTS)]
    statuses = _race(app, bodies)
    assert statuses.count(201) == 1
    assert statuses.count(409) == ATTEMPTS - 1
    assert _active_bookings(app) == 1


def test_double_submit_with_one_key_at_the_same_moment_books_once(make_app, database_url):
    app = make_app(database_url)
    clinician_id, starts = _seed(app)
    body = {**_body(clinician_id, starts[0], 0), "idempotency_key": uuid.uuid4().hex}
    statuses = _race(app, [body] * 4)
    assert statuses.count(201) == 1
    assert statuses.count(200) == 3
    assert _active_bookings(app) == 1


@pytest.mark.postgres
def test_postgres_itself_refuses_overlapping_active_bookings(make_app, postgres_url):
    """The guarantees live in the database: raw inserts that skip the app's checks are refused.

    One clinician never has two active bookings at once, and neither does one patient (with two clinicians).
    """
    app = make_app(postgres_url)
    clinician_id, starts = _seed(app)
    other_clinician_id = seed_offering(app, "race-two").clinician_id
    with app.app_context():
        type_id = db.session.scalar(select(ConsultationType.id))
        patients = [
            new_patient(f"P {number}", f"p{number}@example.com", "+12125550100", date(1990, 1, 1), now_utc())
            for number in (1, 2)
        ]
        db.session.commit()
        columns = (
            "public_id, clinician_id, consultation_type_id, start_dt, end_dt, blocked_start_dt, blocked_end_dt, "
            "status, patient_id, patient_timezone, contact_consent, ical_uid, ical_sequence, manage_token_hash, "
            "created_dt, updated_dt, cancellation_reason"
        )
        insert = text(
            f"INSERT INTO bookings ({columns}) VALUES (:public_id, :clinician_id, :type_id, :start, :end, :start, "
            ":end, :status, :patient_id, 'UTC', true, :uid, 0, :token, now(), now(), '')"
        )

        def values(start, status="confirmed", clinician=clinician_id, patient=patients[0]):
            return {
                "public_id": str(uuid.uuid4()),
                "clinician_id": clinician,
                "type_id": type_id,
                "start": start,
                "end": start + timedelta(hours=1),
                "status": status,
                "patient_id": patient.id,
                "uid": uuid.uuid4().hex,
                "token": uuid.uuid4().hex,
            }

        db.session.execute(insert, values(starts[0]))
        db.session.commit()
        with pytest.raises(IntegrityError, match="ex_bookings_no_overlap"):
            db.session.execute(insert, values(starts[0] + timedelta(minutes=30), patient=patients[1]))
        db.session.rollback()
        with pytest.raises(IntegrityError, match="ex_bookings_patient_no_overlap"):
            db.session.execute(insert, values(starts[0] + timedelta(minutes=30), clinician=other_clinician_id))
        db.session.rollback()
        # Back to back is not an overlap, and a cancelled booking does not hold the time.
        db.session.execute(insert, values(starts[0] + timedelta(hours=1), clinician=other_clinician_id))
        db.session.execute(insert, values(starts[0] + timedelta(minutes=30), status="cancelled"))
        db.session.commit()


def test_cancel_and_reschedule_at_once_leave_one_consistent_story(make_app, database_url, mailbox):
    """Whatever wins, invites never share a SEQUENCE and the newest one matches the booking."""
    from icalendar import Calendar

    app = make_app(database_url)
    clinician_id, starts = _seed(app)
    created = app.test_client().post("/api/v1/bookings", json=_body(clinician_id, starts[0], 0))
    manage_path = created.json["manage_url"].removeprefix("https://clinic.example.org")
    barrier = threading.Barrier(2)
    statuses = {}

    def cancel():
        client = app.test_client()
        barrier.wait()
        statuses["cancel"] = client.post(manage_path + "/cancel", data={}).status_code

    def move():
        client = app.test_client()
        barrier.wait()
        statuses["move"] = client.post(
            f"{manage_path}/reschedule/confirm", query_string={"start": instant_param(starts[4]), "tz": "UTC"}
        ).status_code

    threads = [threading.Thread(target=cancel), threading.Thread(target=move)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    invites = []
    for message in mailbox.messages:
        for part in message.walk():
            if part.get_content_type() == "text/calendar" and part.get_filename() is None:
                calendar = Calendar.from_ical(part.get_payload(decode=True))
                invites.append((int(calendar.walk("VEVENT")[0]["SEQUENCE"]), str(calendar["METHOD"])))
    sequences = [sequence for sequence, _ in invites]
    assert len(sequences) == len(set(sequences)), invites
    with app.app_context():
        booking = db.session.scalar(select(Booking))
        newest_method = max(invites)[1]
        assert newest_method == ("CANCEL" if booking.status.value == "cancelled" else "REQUEST")
        assert max(sequences) == booking.ical_sequence
    assert statuses["cancel"] in (302, 404, 409) and statuses["move"] in (302, 404, 409)


def test_one_patient_racing_for_one_time_with_different_clinicians_gets_exactly_one(make_app, database_url):
    """Eight tabs, eight clinicians, one person, one hour: one booking, and the others are told why (no 5xx)."""
    app = make_app(database_url)
    offerings = [seed_offering(app, f"same-person-{number}") for number in range(ATTEMPTS)]
    bodies = [
        patient_json(offering, instant_param(offering.starts[0]), clinician_id=offering.clinician_id, tz="UTC")
        for offering in offerings
    ]
    assert _race(app, bodies) == [201] + [422] * (ATTEMPTS - 1)
    assert _active_bookings(app) == 1
