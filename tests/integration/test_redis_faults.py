"""The test's own Redis stops, freezes or fills: the site keeps answering, sign-in fails closed, logs stay readable.

Each test starts its own redis-server on a free port: stopping or freezing the shared one
on 6379 would break everyone else's tests.
"""

import http.client
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import quote
from zoneinfo import available_timezones

import pytest
import redis
from werkzeug.serving import make_server

from kapclinic.extensions import db
from tests.helpers import RUNNING_IN_CI, free_port, patient_json, seed_offering

WRONG_PASSWORD = {"email": "nobody@clinic.example.org", "password": "not the password"}
# The old client waited 5 s per try on a frozen Redis; a page slower than this counts as stalled.
CLIENT_TIMEOUT_SECONDS = 2.5


def _start_redis(port, directory):
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, socket_timeout=1)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return process
        except redis.RedisError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server for this test alone, which it may stop (SIGTERM), start again or freeze (SIGSTOP)."""
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed"
        if RUNNING_IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    processes = [_start_redis(port, tmp_path)]

    def stop():
        processes[-1].terminate()
        processes[-1].wait(10)

    handle = SimpleNamespace(
        url=f"redis://127.0.0.1:{port}/0",
        client=redis.Redis(port=port, socket_timeout=1),
        stop=stop,
        start_again=lambda: processes.append(_start_redis(port, tmp_path)),
        freeze=lambda: os.kill(processes[-1].pid, signal.SIGSTOP),
    )
    yield handle
    for process in processes:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)  # a frozen server cannot even die
            process.terminate()
            process.wait(10)


def _log_lines(captured):
    lines = []
    for line in captured.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


def _booking(client, offering, number):
    body = patient_json(
        offering,
        offering.starts[number].isoformat(),
        clinician_id=offering.clinician_id,
        email=f"patient{number}@example.com",
        phone=f"+1212555010{number}",
    )
    return client.post("/api/v1/bookings", json=body)


def _slots_path(offering, zone="UTC", days=0):
    day = offering.starts[0].date()
    return f"/api/v1/slots?type={offering.slug}&start={day}&end={day + timedelta(days=days)}&tz={quote(zone)}"


def test_with_redis_stopped_staff_sign_in_pauses_with_a_clear_503_while_booking_goes_on_under_local_limits(
    make_app, sqlite_url, mailbox, own_redis, capfd
):
    app = make_app(
        sqlite_url,
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=own_redis.url,
        SLOT_CACHE_SECONDS=60,
        BOOKING_RATE_LIMIT="2 per hour",
        LOGIN_RATE_LIMIT="100 per hour",
    )
    offering = seed_offering(app, "redis-stopped")
    client = app.test_client()
    assert client.post("/staff/login", data=WRONG_PASSWORD).status_code == 401  # Redis there: a normal refusal
    own_redis.stop()

    for answer in (
        client.post("/staff/login", data=WRONG_PASSWORD),
        client.get("/staff/login"),
        client.post("/staff/reset", data={"email": "someone@clinic.example.org"}),
        client.get("/staff/reset/a-link-from-an-email"),
    ):
        assert answer.status_code == 503, answer.request.path
        assert "try again in a few minutes" in answer.text and "tell your administrator" in answer.text
        assert answer.headers["Retry-After"] == "60"

    # Booking fails open, but not wide open: each process keeps counting on its own.
    assert [_booking(client, offering, number).status_code for number in (0, 2, 4)] == [201, 201, 429]
    for _ in range(10):
        assert client.get(_slots_path(offering)).status_code == 200
        client.post("/staff/login", data=WRONG_PASSWORD)

    lines = _log_lines(capfd.readouterr().err)
    limiter_lines = [line for line in lines if line["logger"] == "flask-limiter"]
    cache_lines = [line for line in lines if line["message"] == "calendar cache unavailable"]
    assert len(limiter_lines) == 1 and limiter_lines[0]["level"] == "WARNING", limiter_lines
    assert limiter_lines[0]["error"] == "ConnectionError"
    assert len(cache_lines) == 1 and cache_lines[0]["error"] == "ConnectionError", cache_lines

    # When Redis is back, sign-in is too: Flask-Limiter looks for it again after 1, 2, 4 ... 32 s.
    own_redis.start_again()
    deadline = time.monotonic() + 40
    while client.post("/staff/login", data=WRONG_PASSWORD).status_code == 503:
        assert time.monotonic() < deadline, "sign-in stayed paused with Redis back"
        time.sleep(0.5)
    assert client.post("/staff/login", data=WRONG_PASSWORD).status_code == 401


class _Server:
    """The app on a real socket, so that the test can give up on a page the way a browser would."""

    def __init__(self, app):
        self.port = free_port()
        self._server = make_server("127.0.0.1", self.port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def request(self, method, path, body=None, headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=CLIENT_TIMEOUT_SECONDS)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            connection.close()

    def stop(self):
        self._server.shutdown()


def test_with_redis_frozen_the_landing_page_slots_booking_and_sign_in_all_answer_promptly(
    make_app, sqlite_url, mailbox, own_redis
):
    app = make_app(sqlite_url, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=own_redis.url, SLOT_CACHE_SECONDS=60)
    offering = seed_offering(app, "redis-frozen")
    server = _Server(app)
    try:
        # Connections to Redis are open and pooled, as in a running site, when it freezes.
        assert server.request("GET", _slots_path(offering))[0] == 200
        assert (
            server.request(
                "POST",
                "/staff/login",
                "email=a%40b.org&password=x",
                {"Content-Type": "application/x-www-form-urlencoded"},
            )[0]
            == 401
        )
        own_redis.freeze()

        # Each answers within the client's timeout (a stalled page raises TimeoutError here).
        assert server.request("GET", "/")[0] == 200
        assert server.request("GET", f"/book/{offering.slug}")[0] == 200
        status, body = server.request("GET", _slots_path(offering, days=1))
        assert status == 200 and json.loads(body)["slots"]
        body = json.dumps(patient_json(offering, offering.starts[0].isoformat(), clinician_id=offering.clinician_id))
        assert server.request("POST", "/api/v1/bookings", body, {"Content-Type": "application/json"})[0] == 201
        status, page = server.request(
            "POST", "/staff/login", "email=a%40b.org&password=x", {"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert status == 503 and "try again in a few minutes" in page
    finally:
        server.stop()


def test_a_script_asking_a_thousand_distinct_questions_cannot_grow_the_slots_cache_past_its_bound(
    make_app, sqlite_url, own_redis
):
    app = make_app(sqlite_url, SLOT_CACHE_SECONDS=600, SLOT_CACHE_MAX_ENTRIES=50, RATELIMIT_STORAGE_URI=own_redis.url)
    offering = seed_offering(app, "bounded-cache")
    client = app.test_client()
    zones = sorted(available_timezones() - {"localtime", "Factory"})
    questions = [
        _slots_path(offering, zone, days) + extra
        for extra in ("", f"&clinician={offering.clinician_id}")
        for days in (0, 1)
        for zone in zones
    ][:1000]
    assert len(questions) == 1000
    for path in questions:
        assert client.get(path).status_code == 200, path

    stored = [key for key in own_redis.client.keys("kapclinic:calendar:*") if b"calendar-version" not in key]
    assert len(stored) <= 50 + 1  # the answers, and the index of when each was stored

    # Answers stay right: the newest come from the cache, the evicted are computed again,
    # and both match an app that has no cache at all.
    uncached = make_app(sqlite_url).test_client()
    for path in (questions[-1], questions[0]):
        assert client.get(path).json == uncached.get(path).json
    with app.app_context():
        db.engine.dispose()
