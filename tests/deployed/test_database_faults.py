"""PostgreSQL drops every connection of the app while patients use it, through nginx and gunicorn as deployed.

What the request lifecycle promises under that fault: every answer comes from the app (its
security headers, its words), never gunicorn's bare 500; a booking the app answered 201 for
exists, and one it answered "nothing was saved" for does not; and no log line of any process
carries a private link's token (gunicorn once logged "Error handling request
/manage/<token>" when Flask-SQLAlchemy's teardown rollback failed on a dead connection).
"""

import json
import shutil
import ssl
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, select, text

from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from kapclinic.scheduling.models import Booking
from tests.deployed.stack import CONSULTATION_SLUG, NGINX, REDIS_SERVER, running_stack
from tests.e2e.conftest import ARTIFACTS
from tests.helpers import POSTGRES_URL, skip_or_fail_without

DATABASE_AWAY = "nothing was saved"
FAULT_SECONDS = 6
CLIENTS = 6


@pytest.fixture(scope="module")
def stack(postgres_server, worker_id):
    for program, package in ((NGINX, "nginx-light"), (REDIS_SERVER, "redis-server")):
        if not program.exists():
            skip_or_fail_without(program.name, f"apt-get install {package}")
    folder = ARTIFACTS / f"database-faults-{worker_id}"
    shutil.rmtree(folder, ignore_errors=True)
    with running_stack(folder) as running:
        yield running


def _send(stack, method, path, body=None):
    """(status, headers, parsed JSON or text) over HTTPS; connection failures count as status 0."""
    context = ssl.create_default_context(cafile=str(stack.folder / "tls.crt"))
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(stack.url + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, context=context, timeout=15) as response:
            status, headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, error.headers, error.read()
    except OSError:
        return 0, {}, ""
    text_body = raw.decode("utf-8", "replace")
    if headers.get("Content-Type", "").startswith("application/json"):
        return status, headers, json.loads(text_body)
    return status, headers, text_body


def _free_starts(stack, count):
    day = (now_utc() + timedelta(days=3)).date()
    status, _, body = _send(
        stack, "GET", f"/api/v1/slots?type={CONSULTATION_SLUG}&start={day}&end={day + timedelta(days=4)}&tz=UTC"
    )
    assert status == 200, body
    return [slot["start"] for slot in body["slots"]][:count]


def _booking_body(start, number):
    return {
        "type": CONSULTATION_SLUG,
        "start": start,
        "tz": "UTC",
        "name": f"Fault Patient {number}",
        "email": f"fault{number}@example.com",
        "phone": f"+1212555{number:04d}",
        "date_of_birth": "1990-01-01",
        "contact_consent": True,
        "idempotency_key": uuid.uuid4().hex,
    }


def _terminate_app_connections(database_url, stop):
    """Kill every backend of the stack's database, again and again, until told to stop."""
    engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = database_url.rsplit("/", 1)[1]
    killed = 0
    with engine.connect() as connection:
        while not stop.is_set():
            killed += connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            ).scalar()
            time.sleep(0.15)
    engine.dispose()
    return killed


def test_connections_dropped_mid_request_give_only_the_apps_own_answers_and_no_token_in_any_log(stack):
    first_start, *starts = _free_starts(stack, 40)
    status, _, booked = _send(stack, "POST", "/api/v1/bookings", _booking_body(first_start, 0))
    assert status == 201, booked
    token = booked["manage_url"].rsplit("/", 1)[1]
    database_url = str(stack.app.config["SQLALCHEMY_DATABASE_URI"])

    answers, bookings_tried = [], []
    lock, stop = threading.Lock(), threading.Event()

    def patient(number):
        round_number = 0
        while not stop.is_set():
            round_number += 1
            for method, path, body in (
                ("GET", f"/manage/{token}", None),
                ("GET", f"/manage/{token}/invite.ics", None),
                ("GET", f"/api/v1/slots?type={CONSULTATION_SLUG}&tz=UTC", None),
            ):
                with lock:
                    answers.append((method, path, *_send(stack, method, path, body)))
            with lock:
                if not starts:
                    continue
                body = _booking_body(starts.pop(), number * 100 + round_number)
            answer = _send(stack, "POST", "/api/v1/bookings", body)
            with lock:
                bookings_tried.append((body, answer))
                answers.append(("POST", "/api/v1/bookings", *answer))

    killer_result = {}
    killer = threading.Thread(
        target=lambda: killer_result.update(killed=_terminate_app_connections(database_url, stop))
    )
    clients = [threading.Thread(target=patient, args=(number,)) for number in range(1, CLIENTS + 1)]
    killer.start()
    for client in clients:
        client.start()
    time.sleep(FAULT_SECONDS)
    stop.set()
    for thread in (*clients, killer):
        thread.join(60)
    stack.assert_running()
    assert killer_result["killed"] > 0  # the fault really happened

    statuses = sorted({status for _, _, status, _, _ in answers})
    assert set(statuses) <= {200, 201, 409, 422, 429, 503}, statuses  # 429: the booking budget per address
    assert 503 in statuses  # some requests met the fault
    for method, path, status, headers, _ in answers:
        # Only the app sets this policy: a bare gunicorn or nginx error page has none.
        assert "frame-ancestors 'none'" in headers.get("Content-Security-Policy", ""), (method, path, status)

    with stack.app.app_context():
        stored = set(db.session.scalars(select(Booking.idempotency_key)))
        db.session.remove()
    for body, (status, _, answer) in bookings_tried:
        if status == 201:
            assert body["idempotency_key"] in stored, "an acknowledged booking was lost"
        elif status == 503 and DATABASE_AWAY in answer["message"]:
            assert body["idempotency_key"] not in stored, "told 'nothing was saved' about a saved booking"

    logs = {path.name: path.read_text(errors="replace") for path in stack.folder.glob("*.log")}
    for name, log in logs.items():
        assert token not in log, f"the private link's token is in {name}"
        assert "Error handling request" not in log, name
