"""Measure GET /api/v1/slots and POST /api/v1/bookings under gunicorn on PostgreSQL, against a bare endpoint.

Setup: 5 clinicians, 2,000 existing bookings, a 30-day slot query, asked again and again
(answered from the slot cache) and with a new zone each time (computed). The app runs as in
production (gunicorn, gthread workers, KAPCLINIC_CONFIG=production, Redis for rate
limits) on 127.0.0.1; the bare endpoint (bench_app.py) is one indexed primary-key query
through the same app and server. Every figure comes from this one run, and each
endpoint's throughput is printed as a ratio to the bare endpoint's.

Usage: python bench/bench_api.py [--database-url URL] [--requests N] [--clients N]
Default database: a new PostgreSQL database on 127.0.0.1, dropped afterwards.
"""

import argparse
import http.client
import json
import logging
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from datetime import time as wall_time
from pathlib import Path
from zoneinfo import available_timezones

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("KAPCLINIC_CONFIG", "testing")

from cryptography.fernet import Fernet  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import create_engine, select, text  # noqa: E402

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

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CLINICIANS = 5
EXISTING_BOOKINGS = 2_000
ZONES = ["America/New_York", "America/Los_Angeles", "Europe/London", "Australia/Sydney", "Asia/Kolkata"]


def seed(app):
    with app.app_context():
        clinicians = []
        for number in range(CLINICIANS):
            clinician = Clinician(
                name=f"Bench {number}", email=f"bench{number}@clinic.example.org", timezone=ZONES[number]
            )
            for weekday in range(7):
                clinician.availability_rules.append(
                    AvailabilityRule(weekday=weekday, start_time=wall_time(7), end_time=wall_time(21))
                )
            clinicians.append(clinician)
        consultation_type = ConsultationType(
            slug="bench",
            name="Bench",
            duration_minutes=45,
            buffer_after_minutes=15,
            min_notice_minutes=0,
            horizon_days=120,
            slot_step_minutes=15,
            modality=Modality.VIDEO,
            clinicians=clinicians,
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
                    public_id=str(uuid.uuid4()),
                    clinician_id=slot.clinician_id,
                    consultation_type_id=consultation_type.id,
                    start_dt=slot.start_dt,
                    end_dt=slot.end_dt,
                    blocked_start_dt=blocked.start_dt,
                    blocked_end_dt=blocked.end_dt,
                    status=BookingStatus.CONFIRMED,
                    patient_name="Bench Patient",
                    patient_email="bench@example.com",
                    patient_phone="+12125550100",
                    patient_date_of_birth=now.date().replace(year=1990),
                    patient_timezone="UTC",
                    contact_consent=False,
                    ical_uid=f"{uuid.uuid4()}@bench",
                    manage_token_hash=uuid.uuid4().hex,
                    created_dt=now,
                    updated_dt=now,
                )
            )
        db.session.commit()
        count = db.session.scalar(select(db.func.count(Booking.id)))
        free_after = services.find_slots(
            consultation_type, Interval(now + timedelta(days=92), now + timedelta(days=110)), now
        )
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


def measure(port, requests, concurrency):
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


def _body_size(port, path):
    """Bytes in one answer to `path` (as sent: no compression is configured)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        return len(connection.getresponse().read())
    finally:
        connection.close()


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _new_database():
    name = f"kapclinic_bench_{uuid.uuid4().hex[:8]}"
    engine = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", name


def _drop_database(name):
    engine = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def _gunicorn(url, port, data_key, workers, threads):
    env = {
        **os.environ,
        "KAPCLINIC_CONFIG": "production",
        # Production refuses guessable secrets and a non-https public address.
        "SECRET_KEY": secrets.token_hex(32),
        "AUDIT_KEY": secrets.token_hex(32),
        "PUBLIC_BASE_URL": "https://clinic.example.org",
        "DATABASE_URL": url,
        "KAPCLINIC_DATA_KEY": data_key,
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "BOOKING_RATE_LIMIT": "1000000 per hour",
        "SLOTS_RATE_LIMIT": "1000000 per minute",
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "GUNICORN_THREADS": str(threads),
        # As deployed with `flask worker`: requests leave their emails to it (none runs here).
        "OUTBOX_SEND_AFTER_REQUEST": "false",
        "MAIL_SERVER": "127.0.0.1",
    }
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "-c",
            "python:kapclinic.ops.gunicorn_conf",
            "--pythonpath",
            str(ROOT / "bench"),
            "bench_app:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.2)
        finally:
            connection.close()
    process.kill()
    raise SystemExit("gunicorn did not become ready")


def run(database_url=None, requests=400, clients=16, workers=2, threads=4):
    """Return the measurements of one run as a dict."""
    name = None
    if database_url is None:
        database_url, name = _new_database()
    data_key = Fernet.generate_key().decode()
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "DATA_KEYS": [data_key], "MAIL_SERVER": None})
    app.logger.setLevel(logging.WARNING)
    with app.app_context():
        upgrade()
    bookings, free = seed(app)
    with app.app_context():
        # As autovacuum would within its first minute: the planner's statistics for the seeded rows.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))
        db.engine.dispose()
    port = _free_port()
    server = _gunicorn(database_url, port, data_key, workers, threads)
    try:
        today = datetime.now(UTC).date()
        first, last = today + timedelta(days=1), today + timedelta(days=30)
        slots_path = f"/api/v1/slots?type=bench&start={first}&end={last}&tz=America/Chicago"
        measure(port, [("GET", "/bench/bare", None)] * 50, clients)  # warm up every worker
        measure(port, [("GET", slots_path, None)] * 16, clients)
        bare = measure(port, [("GET", "/bench/bare", None)] * requests, clients)
        slots = measure(port, [("GET", slots_path, None)] * requests, clients)
        # Every answer computed: a different zone per request, so no two share a cache entry.
        zones = sorted(available_timezones())
        computed = measure(
            port,
            [
                ("GET", slots_path.replace("America/Chicago", zones[number]), None)
                for number in range(max(32, requests // 8))
            ],
            clients,
        )
        # The date-first picker's questions, every answer computed (a new zone each time).
        month = (today + timedelta(days=30)).strftime("%Y-%m")
        day = (today + timedelta(days=2)).isoformat()
        month_path = f"/api/v1/availability?type=bench&month={month}&tz=America/Chicago"
        day_path = f"/api/v1/times?type=bench&date={day}&tz=America/Chicago"

        def computed_each(path):
            return [
                ("GET", path.replace("America/Chicago", zones[number]), None)
                for number in range(max(32, requests // 8))
            ]

        availability = measure(port, computed_each(month_path), clients)
        times = measure(port, computed_each(day_path), clients)
        sizes = {
            name: _body_size(port, path)
            for name, path in (("slots", slots_path), ("availability", month_path), ("times", day_path))
        }
        posts = [
            (
                "POST",
                "/api/v1/bookings",
                {
                    "type": "bench",
                    "clinician_id": slot.clinician_id,
                    "start": slot.start_dt.isoformat(),
                    # A phone of their own: one number may hold only MAX_ACTIVE_BOOKINGS_PER_PATIENT bookings.
                    "name": "Bench Patient",
                    "email": f"p{number}@example.com",
                    "phone": f"+1212555{1000 + number:04d}",
                    "date_of_birth": "1990-01-01",
                    "tz": "UTC",
                },
            )
            for number, slot in enumerate(_spaced(free)[: requests // 2 + 40])
        ]
        booking = measure(port, posts[40:], clients)
        alone = measure(port, posts[:40], 1)
        bare_alone = measure(port, [("GET", "/bench/bare", None)] * 200, 1)
    finally:
        server.terminate()
        server.wait(timeout=30)
        if name is not None:
            _drop_database(name)
    return {
        "setup": f"gunicorn {workers} workers x {threads} threads, PostgreSQL, {CLINICIANS} clinicians, "
        f"{bookings} existing bookings, {clients} concurrent clients",
        "rows": [
            ("bare indexed query", bare),
            ("GET /api/v1/slots, 30 days (cached)", slots),
            ("GET /api/v1/slots, 30 days (computed)", computed),
            ("GET /api/v1/availability, a month (computed)", availability),
            ("GET /api/v1/times, a day (computed)", times),
            (f"POST /api/v1/bookings ({clients} clients)", booking),
            ("POST /api/v1/bookings (1 client)", alone),
            ("bare indexed query (1 client)", bare_alone),
        ],
        "sizes": sizes,
        "created": booking[3].count(201) + alone[3].count(201),
        "attempted": len(posts),
    }


def not_ok(statuses):
    """Answers that were not 2xx: a refusal (a 429 from a limit, say) would flatter the rates."""
    return sum(not 200 <= status < 300 for status in statuses)


def print_results(results):
    print(results["setup"])
    bare_rate = results["rows"][0][1][0]
    print(f"{'endpoint':<40}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'vs bare':>10}{'not 2xx':>9}")
    for name, (rate, p50, p99, statuses) in results["rows"]:
        print(f"{name:<40}{rate:>9.1f}{p50:>9.1f}{p99:>9.1f}{rate / bare_rate:>10.1%}{not_ok(statuses):>9}")
    print(f"bookings created: {results['created']} of {results['attempted']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    print_results(run(args.database_url, args.requests, args.clients))


if __name__ == "__main__":
    main()
