"""Measure GET /api/v1/slots and POST /api/v1/bookings against a bare Flask endpoint on the same server.

Setup: 5 clinicians, 2,000 existing bookings, a 30-day slot query. The app runs in a real
WSGI server (werkzeug, threaded) on 127.0.0.1; the bare endpoint is one indexed primary-key
query on the same database in the same process. Prints each endpoint's throughput and
latency and its ratio to the bare endpoint, measured in this one run.

Usage: python bench/bench_api.py [--database-url URL] [--requests N]
Default database: a fresh SQLite file, migrated to head.
"""

import argparse
import http.client
import json
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, time as wall_time, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("KAPCLINIC_CONFIG", "testing")

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import select, text  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from kapclinic import create_app  # noqa: E402
from kapclinic.core.timezones import now_utc  # noqa: E402
from kapclinic.extensions import db  # noqa: E402
from kapclinic.scheduling import services  # noqa: E402
from kapclinic.scheduling.models import (  # noqa: E402
    AvailabilityRule,
    Booking,
    BookingStatus,
    Clinician,
    ConsultationType,
    Modality,
)
from kapclinic.scheduling.slots import Interval  # noqa: E402

CLINICIANS = 5
EXISTING_BOOKINGS = 2_000
ZONES = ["America/New_York", "America/Los_Angeles", "Europe/London", "Australia/Sydney", "Asia/Kolkata"]


def seed(app):
    with app.app_context():
        clinicians = []
        for number in range(CLINICIANS):
            clinician = Clinician(name=f"Bench {number}", email=f"bench{number}@clinic.example.org", timezone=ZONES[number])
            for weekday in range(7):
                clinician.availability_rules.append(AvailabilityRule(weekday=weekday, start_time=wall_time(7), end_time=wall_time(21)))
            clinicians.append(clinician)
        consultation_type = ConsultationType(
            slug="bench", name="Bench", duration_minutes=45, buffer_after_minutes=15, min_notice_minutes=0,
            horizon_days=120, slot_step_minutes=15, modality=Modality.VIDEO, clinicians=clinicians,
        )
        db.session.add(consultation_type)
        db.session.commit()
        now = now_utc()
        window = Interval(now + timedelta(days=1), now + timedelta(days=91))
        free = services.find_slots(consultation_type, window, now)
        # Take every 4th slot per clinician so bookings never overlap (60-minute blocked span, 15-minute grid).
        chosen = free[:: max(1, len(free) // EXISTING_BOOKINGS)][:EXISTING_BOOKINGS]
        taken = set()
        for slot in chosen:
            blocked = consultation_type.slot_rules.blocked_interval(slot.start_dt)
            key = slot.clinician_id
            if any(key == other and blocked.overlaps(span) for other, span in taken):
                continue
            taken.add((key, blocked))
            db.session.add(
                Booking(
                    public_id=str(uuid.uuid4()), clinician_id=slot.clinician_id, consultation_type_id=consultation_type.id,
                    start_dt=slot.start_dt, end_dt=slot.end_dt, blocked_start_dt=blocked.start_dt, blocked_end_dt=blocked.end_dt,
                    status=BookingStatus.CONFIRMED, patient_name="Bench Patient", patient_email="bench@example.com",
                    patient_phone="+12125550100", patient_date_of_birth=now.date().replace(year=1990),
                    patient_timezone="UTC", contact_consent=False, ical_uid=f"{uuid.uuid4()}@bench",
                    manage_token_hash=uuid.uuid4().hex, created_dt=now, updated_dt=now,
                )
            )
        db.session.commit()
        count = db.session.scalar(select(db.func.count(Booking.id)))
        free_after = services.find_slots(consultation_type, Interval(now + timedelta(days=92), now + timedelta(days=110)), now)
        return count, free_after


def _spaced(slots):
    """Keep slots of each clinician at least one blocked span (60 minutes) apart, so none conflict."""
    last_start, spaced = {}, []
    for slot in slots:
        previous = last_start.get(slot.clinician_id)
        if previous is None or slot.start_dt - previous >= timedelta(minutes=60):
            last_start[slot.clinician_id] = slot.start_dt
            spaced.append(slot)
    return spaced


def add_bare_endpoint(app):
    @app.get("/bench/bare")
    def bare():
        row = db.session.execute(text("SELECT id, status FROM bookings WHERE id = :id"), {"id": 1}).first()
        return {"id": row[0], "status": row[1]}


def serve(app):
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def measure(port, requests, concurrency=4):
    """Send the requests from `concurrency` threads; return (throughput/s, p50 ms, p99 ms, statuses)."""
    latencies, statuses = [], []
    lock = threading.Lock()
    queue = list(requests)

    def worker():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                if not queue:
                    break
                method, path, body = queue.pop()
            started = time.perf_counter()
            headers = {"Content-Type": "application/json"} if body is not None else {}
            connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            response = connection.getresponse()
            response.read()
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                statuses.append(response.status)
        connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return len(latencies) / wall, statistics.median(latencies) * 1000, p99 * 1000, statuses


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="kapclinic-bench-")
    url = args.database_url or f"sqlite:///{workdir}/bench.sqlite3"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "MAIL_SERVER": None, "RATELIMIT_ENABLED": False})
    app.instance_path = workdir
    with app.app_context():
        upgrade()
    add_bare_endpoint(app)
    bookings, free = seed(app)
    server = serve(app)
    port = server.server_port

    today = datetime.now(UTC).date()
    slots_path = (
        f"/api/v1/slots?type=bench&start={today + timedelta(days=1)}&end={today + timedelta(days=30)}&tz=America/Chicago"
    )
    bare = measure(port, [("GET", "/bench/bare", None)] * args.requests)
    slots = measure(port, [("GET", slots_path, None)] * max(20, args.requests // 10))
    posts = [
        ("POST", "/api/v1/bookings", {
            "type": "bench", "clinician_id": slot.clinician_id, "start": slot.start_dt.isoformat(),
            "name": "Bench Patient", "email": f"p{number}@example.com", "phone": "+12125550100",
            "date_of_birth": "1990-01-01", "tz": "UTC",
        })
        for number, slot in enumerate(_spaced(free)[: args.requests // 2])
    ]
    booking = measure(port, posts)
    server.shutdown()

    print(f"database: {url.split(':')[0]}; {CLINICIANS} clinicians, {bookings} existing bookings; 4 concurrent clients")
    print(f"{'endpoint':<34}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'throughput vs bare':>20}")
    for name, (rate, p50, p99, statuses) in (
        ("bare indexed query", bare),
        ("GET /api/v1/slots (30 days)", slots),
        ("POST /api/v1/bookings", booking),
    ):
        print(f"{name:<34}{rate:>9.1f}{p50:>9.1f}{p99:>9.1f}{rate / bare[0]:>19.1%}")
        bad = [status for status in statuses if status >= 500]
        if bad:
            print(f"  !! {len(bad)} server errors")
    created = booking[3].count(201)
    print(f"bookings created: {created} of {len(posts)} (others: {sorted(set(booking[3]) - {201})})")


if __name__ == "__main__":
    main()
