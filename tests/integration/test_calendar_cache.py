"""The slots API's cache answers repeated questions without the database, and never shows a taken slot."""

import uuid
from datetime import time

import pytest
from sqlalchemy import event

from kapclinic.extensions import db
from kapclinic.scheduling.models import AvailabilityRule, Clinician
from tests.conftest import patient_json, seed_offering


@pytest.fixture
def app(staff_app):
    staff_app.config["SLOT_CACHE_SECONDS"] = 60
    from kapclinic.scheduling import calendar_cache

    calendar_cache.init_app(staff_app)
    return staff_app


def _slots_path(offering):
    day = offering.starts[0].date()
    return f"/api/v1/slots?type={offering.slug}&start={day}&end={day}&tz=UTC"


def _statements(app, function):
    with app.app_context():
        engine = db.engine
    seen = []

    def count(*args):
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        result = function()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return result, seen


def test_a_repeated_question_is_answered_without_the_database(app, client):
    offering = seed_offering(app, "cached")
    first, first_statements = _statements(app, lambda: client.get(_slots_path(offering)))
    second, second_statements = _statements(app, lambda: client.get(_slots_path(offering)))
    assert first.status_code == second.status_code == 200
    assert second.json == first.json and len(first.json["slots"]) > 5
    assert first_statements and second_statements == []


def test_a_booked_slot_is_gone_from_the_next_answer(app, client, mailbox):
    offering = seed_offering(app, "fresh")
    before = client.get(_slots_path(offering)).json["slots"]
    taken = before[0]
    booked = client.post(
        "/api/v1/bookings", json=patient_json(offering, taken["start"], clinician_id=offering.clinician_id)
    )
    assert booked.status_code == 201
    after = client.get(_slots_path(offering)).json["slots"]
    assert taken["start"] not in [slot["start"] for slot in after]


def test_a_change_of_hours_shows_at_once(app, client, in_app):
    offering = seed_offering(app, "hours")
    assert client.get(_slots_path(offering)).json["slots"]

    def day_off_everywhere():
        clinician = db.session.get(Clinician, offering.clinician_id)
        for rule in list(clinician.availability_rules):
            db.session.delete(rule)

    in_app(day_off_everywhere)
    assert client.get(_slots_path(offering)).json["slots"] == []


def test_a_rolled_back_change_keeps_the_cached_answer_valid(app, client):
    offering = seed_offering(app, "rollback")
    first = client.get(_slots_path(offering)).json
    with app.app_context():
        clinician = db.session.get(Clinician, offering.clinician_id)
        clinician.availability_rules.append(AvailabilityRule(weekday=0, start_time=time(1), end_time=time(2)))
        db.session.flush()
        db.session.rollback()
    second, statements = _statements(app, lambda: client.get(_slots_path(offering)))
    assert second.json == first and statements == []


@pytest.mark.postgres
def test_processes_sharing_redis_see_each_others_bookings(make_app, postgres_url, mailbox):
    """Two apps stand for two gunicorn processes: one books, the other's cached answer ends."""
    redis_url = "redis://127.0.0.1:6379/1"
    first = make_app(postgres_url, SLOT_CACHE_SECONDS=60, RATELIMIT_STORAGE_URI=redis_url)
    second = make_app(postgres_url, SLOT_CACHE_SECONDS=60, RATELIMIT_STORAGE_URI=redis_url)
    # A slug of its own: other test runs may share this Redis database.
    offering = seed_offering(first, f"shared-{uuid.uuid4().hex[:8]}")
    reader, writer = first.test_client(), second.test_client()
    before = reader.get(_slots_path(offering)).json["slots"]
    taken = before[0]["start"]
    booked = writer.post("/api/v1/bookings", json=patient_json(offering, taken, clinician_id=offering.clinician_id))
    assert booked.status_code == 201
    assert taken not in [slot["start"] for slot in reader.get(_slots_path(offering)).json["slots"]]


def test_a_feed_is_served_from_the_cache_until_a_consultation_changes(app, client, create_staff, mailbox):
    import re

    from kapclinic.accounts.models import Role
    from tests.conftest import sign_in

    user = create_staff(Role.CLINICIAN, email="dr.cached@clinic.example.org")
    sign_in(client, user.email)
    page = client.post(f"/staff/clinicians/{user.clinician_id}/feed").text
    feed_path = re.search(r'value="https://clinic\.example\.org(/feeds/[^"]+\.ics)"', page).group(1)
    patient = app.test_client()
    first, _ = _statements(app, lambda: patient.get(feed_path))
    again, statements = _statements(app, lambda: patient.get(feed_path))
    assert again.data == first.data and b"BEGIN:VEVENT" not in first.data
    assert statements and not any("FROM bookings" in statement for statement in statements), (
        "only the link is looked up"
    )

    offering = seed_offering(app, "feedcache")

    def offer_the_type():
        from kapclinic.scheduling.models import ConsultationType

        consultation_type = db.session.scalar(db.select(ConsultationType).where(ConsultationType.slug == "feedcache"))
        consultation_type.clinicians.append(db.session.get(Clinician, user.clinician_id))

    with app.app_context():
        offer_the_type()
        db.session.commit()
    day = offering.starts[0].date()
    free = patient.get(f"/api/v1/slots?type=feedcache&start={day}&end={day}&tz=UTC&clinician={user.clinician_id}")
    start = free.json["slots"][0]["start"]
    booked = patient.post("/api/v1/bookings", json=patient_json(offering, start, clinician_id=user.clinician_id))
    assert booked.status_code == 201
    assert b"BEGIN:VEVENT" in patient.get(feed_path).data


def test_clearing_the_weekly_hours_in_the_workspace_ends_the_cached_answer(app, client, create_staff, in_app):
    from kapclinic.accounts.models import Role
    from kapclinic.scheduling.models import ConsultationType
    from tests.conftest import sign_in

    user = create_staff(Role.CLINICIAN, email="dr.hours@clinic.example.org")
    offering = seed_offering(app, "bulk")

    def offer():
        consultation_type = db.session.scalar(db.select(ConsultationType).where(ConsultationType.slug == "bulk"))
        consultation_type.clinicians = [db.session.get(Clinician, user.clinician_id)]

    in_app(offer)
    path = _slots_path(offering)
    assert client.get(path).json["slots"], "the new clinician works 09:00-17:00 every day"
    sign_in(client, user.email)
    assert client.post(f"/staff/clinicians/{user.clinician_id}/hours", data={}).status_code == 302
    assert client.get(path).json["slots"] == []


def test_without_its_redis_the_api_computes_every_answer(make_app, sqlite_url, mailbox):
    """The cache is a shortcut: with Redis unreachable, slots and bookings still work."""
    app = make_app(sqlite_url, SLOT_CACHE_SECONDS=60, RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0")
    offering = seed_offering(app, "noredis")
    client = app.test_client()
    slots = client.get(_slots_path(offering))
    assert slots.status_code == 200 and slots.json["slots"]
    booked = client.post(
        "/api/v1/bookings",
        json=patient_json(offering, slots.json["slots"][0]["start"], clinician_id=offering.clinician_id),
    )
    assert booked.status_code == 201
    assert slots.json["slots"][0]["start"] not in [
        slot["start"] for slot in client.get(_slots_path(offering)).json["slots"]
    ]
