"""The slots API's cache answers repeated questions without the database, and never shows a taken slot.

Answers are versioned per clinician: a booking with one clinician leaves the others' answers
cached, and ends at once every answer that could show the slot it took; a missing answer is
computed once however many ask for it at the same moment.
"""

import threading
import time as clock
import uuid
from datetime import time, timedelta

import pytest
from sqlalchemy import event

from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from kapclinic.scheduling import calendar_cache, services
from kapclinic.scheduling.models import AvailabilityRule, Clinician, ConsultationType
from kapclinic.scheduling.slots import Interval
from tests.helpers import EVERY_DAY, new_feed_path, patient_json, seed_offering, sign_in
from tests.integration import test_redis_faults

pytestmark = pytest.mark.both_databases
# A redis-server of the test's own: other test runs sharing 6379 also have a clinician 1 and 2.
own_redis = test_redis_faults.own_redis


@pytest.fixture
def app(make_app, database_url):
    return make_app(database_url, SLOT_CACHE_SECONDS=60)


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

    from kapclinic.accounts.models import Role

    user = create_staff(Role.CLINICIAN, email="dr.cached@clinic.example.org")
    sign_in(client, user.email)
    feed_path = new_feed_path(client, user.clinician_id)
    patient = app.test_client()
    first, _ = _statements(app, lambda: patient.get(feed_path))
    again, statements = _statements(app, lambda: patient.get(feed_path))
    assert again.data == first.data and b"BEGIN:VEVENT" not in first.data
    assert statements and not any("FROM bookings" in statement for statement in statements), (
        "only the link is looked up"
    )

    offering = seed_offering(app, "feedcache")

    def offer_the_type():
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


def test_deactivating_a_clinicians_account_ends_their_cached_times_at_once(
    app, client, create_staff, create_staff_for_clinician
):
    """Only their staff account changes (Clinician.is_bookable follows it), never the clinician's row."""
    from kapclinic.accounts.models import Role

    offering = seed_offering(app, "leaving")
    account = create_staff_for_clinician(offering.clinician_id)
    path = _slots_path(offering)
    assert client.get(path).json["slots"]
    _, statements = _statements(app, lambda: client.get(path))
    assert statements == [], "the answer is cached"

    admin = app.test_client()
    sign_in(admin, create_staff(Role.ADMIN).email)
    assert admin.post(f"/staff/admin/users/{account.id}/deactivate").status_code == 302
    assert client.get(path).json["slots"] == []
    assert admin.post(f"/staff/admin/users/{account.id}/activate").status_code == 302
    assert client.get(path).json["slots"]


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


# --- versions per clinician, and one computation per missing answer ---------------------------


def _team(app, slug):
    """A type offered by two clinicians working 08:00-18:00 UTC: return (offering of the first, second's id)."""
    offering = seed_offering(app, slug)
    with app.app_context():
        second = Clinician(name="Dr. Second", email=f"second-{uuid.uuid4().hex[:6]}@clinic.example.org", timezone="UTC")
        second.availability_rules = [
            AvailabilityRule(weekday=day, start_time=time(8), end_time=time(18)) for day in EVERY_DAY
        ]
        consultation_type = db.session.scalar(db.select(ConsultationType).where(ConsultationType.slug == slug))
        consultation_type.clinicians.append(second)
        db.session.commit()
        return offering, second.id


def _free(app, offering, clinician_id, computed):
    """The day's free (start, clinician) pairs through the cache, as the slots API asks; `computed` logs each run."""
    day_start = offering.starts[0].replace(hour=0, minute=0)

    def compute():
        computed.append(clinician_id)
        consultation_type = services.consultation_type_by_slug(offering.slug)
        clinician = services.clinician_for_type(consultation_type, clinician_id) if clinician_id else None
        covered = [clinician] if clinician else consultation_type.clinicians
        window = Interval(day_start, day_start + timedelta(days=1))
        found = services.find_slots(consultation_type, window, now_utc(), clinician)
        return [(slot.start_dt, slot.clinician_id) for slot in found], [item.id for item in covered]

    with app.app_context():
        return calendar_cache.answer(("slots", offering.slug, clinician_id, day_start.date()), compute)


def _book(app, offering, clinician_id, start_dt):
    booked = app.test_client().post(
        "/api/v1/bookings", json=patient_json(offering, start_dt.isoformat(), clinician_id=clinician_id)
    )
    assert booked.status_code == 201, booked.json


@pytest.fixture(params=["redis", "memory"])
def cached_app(request, make_app, sqlite_url):
    """An app whose cache is a Redis of the test's own, or the process's memory."""
    storage = request.getfixturevalue("own_redis").url if request.param == "redis" else "memory://"
    return make_app(sqlite_url, SLOT_CACHE_SECONDS=60, RATELIMIT_STORAGE_URI=storage)


def test_a_booking_with_one_clinician_leaves_the_others_answer_cached_and_ends_every_answer_showing_it(
    cached_app, mailbox
):
    app = cached_app
    offering, second_id = _team(app, "versions")
    first_id, computed = offering.clinician_id, []
    asked = {clinician_id: _free(app, offering, clinician_id, computed) for clinician_id in (first_id, second_id, None)}
    taken = offering.starts[0]
    assert (
        (taken, first_id) in asked[first_id] and (taken, first_id) in asked[None] and (taken, second_id) in asked[None]
    )
    assert {clinician_id: _free(app, offering, clinician_id, computed) for clinician_id in asked} == asked
    assert computed == [first_id, second_id, None], "each question was computed once, then served from the cache"

    _book(app, offering, first_id, taken)

    assert _free(app, offering, second_id, computed) == asked[second_id]
    assert computed[3:] == [], "the second clinician's answer was served without computing it again"
    assert (taken, first_id) not in _free(app, offering, first_id, computed)
    any_clinician = _free(app, offering, None, computed)
    assert (taken, first_id) not in any_clinician and (taken, second_id) in any_clinician
    assert computed[3:] == [first_id, None]


def test_an_answer_computed_while_a_booking_commits_is_never_served(cached_app, mailbox):
    """The versions are read before computing: a booking committed meanwhile makes the stored answer stale at once."""
    app = cached_app
    offering = seed_offering(app, "race")
    taken, computed = offering.starts[0], []
    day_start = taken.replace(hour=0, minute=0)

    def compute_while_someone_books():
        consultation_type = services.consultation_type_by_slug(offering.slug)
        window = Interval(day_start, day_start + timedelta(days=1))
        found = services.find_slots(consultation_type, window, now_utc())
        _book(app, offering, offering.clinician_id, taken)  # another request commits before this one stores
        return [(slot.start_dt, slot.clinician_id) for slot in found], [offering.clinician_id]

    with app.app_context():
        question = ("slots", offering.slug, offering.clinician_id, day_start.date())
        stale = calendar_cache.answer(question, compute_while_someone_books)
        db.session.rollback()  # SQLite: end this context's transaction before the next request writes
    assert (taken, offering.clinician_id) in stale
    assert (taken, offering.clinician_id) not in _free(app, offering, offering.clinician_id, computed)
    assert computed == [offering.clinician_id]


def test_many_asking_one_missing_answer_at_once_compute_it_once(cached_app, make_app, sqlite_url):
    """Eight requests at the same moment, in two processes when the cache is Redis: one computes, seven wait."""
    offering = seed_offering(cached_app, "flight")
    storage = cached_app.config["RATELIMIT_STORAGE_URI"]
    apps = [cached_app, make_app(sqlite_url, SLOT_CACHE_SECONDS=60, RATELIMIT_STORAGE_URI=storage)]
    if storage == "memory://":
        apps = [cached_app]  # memory is per process: one process, many threads
    computed, answers, start = [], [], threading.Barrier(8)

    def compute():
        computed.append(threading.get_ident())
        clock.sleep(0.3)  # hold the computation open while the others ask (not an assertion)
        return "the answer", [offering.clinician_id]

    def ask(app):
        start.wait()
        with app.app_context():
            answers.append(calendar_cache.answer(("flight", offering.slug), compute))

    threads = [threading.Thread(target=ask, args=(apps[number % len(apps)],)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == ["the answer"] * 8
    assert len(computed) == 1


def test_with_its_redis_stopped_every_asker_computes_its_own_answer(make_app, sqlite_url, own_redis):
    app = make_app(sqlite_url, SLOT_CACHE_SECONDS=60, RATELIMIT_STORAGE_URI=own_redis.url)
    own_redis.stop()
    computed = []

    def compute():
        computed.append(1)
        return len(computed), None

    with app.app_context():
        assert [calendar_cache.answer(("away",), compute) for _ in range(3)] == [1, 2, 3]


def test_a_worker_round_that_releases_no_hold_keeps_every_cached_answer(cached_app):
    """The worker releases expired holds every few seconds with one UPDATE; finding none, it changes no calendar."""
    offering, computed = seed_offering(cached_app, "holds"), []
    first = _free(cached_app, offering, None, computed)
    with cached_app.app_context():
        assert services.release_expired_holds(now_utc()) == 0
        db.session.commit()
    assert _free(cached_app, offering, None, computed) == first
    assert computed == [None]


def test_the_slots_api_keeps_the_other_clinicians_answer_after_a_booking(app, mailbox):
    """Through the API: after a booking with A, B's answer comes from the cache; A's and any clinician's change."""
    offering, second_id = _team(app, "api-versions")
    client = app.test_client()
    paths = {
        who: _slots_path(offering) + (f"&clinician={who}" if who else "")
        for who in (offering.clinician_id, second_id, None)
    }
    before = {who: client.get(path).json["slots"] for who, path in paths.items()}
    taken = before[offering.clinician_id][0]["start"]
    assert (
        client.post(
            "/api/v1/bookings", json=patient_json(offering, taken, clinician_id=offering.clinician_id)
        ).status_code
        == 201
    )

    second, statements = _statements(app, lambda: client.get(paths[second_id]))
    assert second.json["slots"] == before[second_id] and statements == []
    assert taken not in [slot["start"] for slot in client.get(paths[offering.clinician_id]).json["slots"]]
    after_any = [(slot["start"], slot["clinician_id"]) for slot in client.get(paths[None]).json["slots"]]
    assert (taken, offering.clinician_id) not in after_any and (taken, second_id) in after_any
