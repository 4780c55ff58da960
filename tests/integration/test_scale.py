"""Several real processes on one PostgreSQL (and Redis): two gunicorn instances, several delivery workers.

These start the app the way production does (`gunicorn -c python:kapclinic.ops.gunicorn_conf`,
`flask worker`) with KAPCLINIC_CONFIG=production and read what they did from the
database, the SMTP server on loopback and their logs.
"""

import asyncio
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from kapclinic.extensions import db
from kapclinic.notifications.models import OutboxMessage, OutboxStatus
from kapclinic.scheduling.models import Booking, BookingStatus
from tests.helpers import free_port, patient_json, queue_test_emails, seed_offering

pytestmark = pytest.mark.postgres
BIN = Path(sys.executable).parent
PROJECT = Path(__file__).resolve().parents[2]


def _production_env(database_url, data_key, mail_port, **extra):
    return {
        **os.environ,
        "KAPCLINIC_CONFIG": "production",
        "SECRET_KEY": "640ae1526135ec0365ebe70cdcbdab41c0e6cf680bd3cae131366a537ba3d063",
        "AUDIT_KEY": "9d27c4b1e85f3a60d2b7e9c14f8a05d63b1e7c92a4f06d58e3b2c7a19f40d6e8",
        "INDEX_KEY": "e4b7a1d93c06f28b5e9d2a7c41f08b6d3e5a9c72f1b84d06a3e7c95b2d18f4a6",
        "DATABASE_URL": database_url,
        "KAPCLINIC_DATA_KEY": data_key,
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(mail_port),
        "PUBLIC_BASE_URL": "https://clinic.example.org",
        "CLINIC_TIMEZONE": "America/New_York",
        **extra,
    }


def _wait_ready(port, process, log_path, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, Path(log_path).read_text()[-3000:]
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.2)
    raise AssertionError(f"gunicorn on {port} never became ready:\n{Path(log_path).read_text()[-3000:]}")


@pytest.fixture
def stop_processes():
    processes = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _post_booking(port, body):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(
            "POST", "/api/v1/bookings", body=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _start(command, env, log_path):
    """Start a process of the app with its stderr (its JSON log) in a file."""
    with open(log_path, "wb") as log:
        return subprocess.Popen(command, cwd=PROJECT, env=env, stdout=subprocess.DEVNULL, stderr=log)


def _patient_name(number):
    return f"Scale {chr(65 + number % 26)}{chr(97 + number // 26)} Patient"


def test_two_gunicorn_instances_take_200_simultaneous_bookings_of_20_slots(
    make_app, postgres_url, smtp_server, mailbox, tmp_path, stop_processes
):
    data_key = Fernet.generate_key().decode()
    app = make_app(postgres_url, DATA_KEYS=[data_key])
    offering = seed_offering(app, "scale", duration_minutes=30)
    slots = offering.starts[:20]
    assert len(slots) == 20
    controller, _ = smtp_server
    ports, logs = [free_port(), free_port()], []
    for port in ports:
        log_path = tmp_path / f"gunicorn-{port}.log"
        env = _production_env(
            postgres_url,
            data_key,
            controller.port,
            PORT=str(port),
            WEB_CONCURRENCY="2",
            GUNICORN_THREADS="4",
            BOOKING_RATE_LIMIT="10000 per hour",
        )
        process = _start([str(BIN / "gunicorn"), "-c", "python:kapclinic.ops.gunicorn_conf", "wsgi:app"], env, log_path)
        stop_processes.append(process)
        logs.append(log_path)
    for port, process, log_path in zip(ports, stop_processes, logs, strict=True):
        _wait_ready(port, process, log_path)

    attempts = 200
    barrier = threading.Barrier(attempts)
    results = [None] * attempts

    def attempt(number):
        body = patient_json(
            offering,
            slots[number % 20].isoformat(),
            clinician_id=offering.clinician_id,
            name=_patient_name(number),
            email=f"scale{number}@example.com",
        )
        barrier.wait()
        results[number] = _post_booking(ports[number % 2], body)

    threads = [threading.Thread(target=attempt, args=(number,)) for number in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 20, 409: 180}, (statuses, [body[:300] for status, body in results if status >= 500][:3])
    for status, body in results:
        if status == 409:
            assert json.loads(body)["error"] == "slot_taken"
    with app.app_context():
        booked = db.session.scalars(select(Booking.start_dt).where(Booking.status == BookingStatus.CONFIRMED)).all()
        db.session.rollback()
    assert sorted(booked) == sorted(slots), "one booking per slot, every slot booked"
    deadline = time.monotonic() + 30
    while len(mailbox.messages) < 20 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(mailbox.messages) == 20, "each booking's confirmation went out once"

    for process in stop_processes:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    log_text = "\n".join(path.read_text() for path in logs)
    assert log_text.count('"route": "/api/v1/bookings"') == attempts
    for line in filter(None, log_text.splitlines()):
        json.loads(line)
    assert "example.com" not in log_text and "Scale" not in log_text and "Patient" not in log_text


class SlowMailServer:
    """An SMTP server that takes its time over one chosen message, and counts only what it could confirm.

    A message counts as received only if the sender is still connected after the
    pause: a sender killed while waiting for the reply never learnt that it was sent.
    """

    def __init__(self, hold_message_number=None, every_message_seconds=0.0):
        self.hold_message_number = hold_message_number
        self.every_message_seconds = every_message_seconds
        self.holding = threading.Event()
        self.received = []
        self._lock = threading.Lock()
        self._seen = 0

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            self._seen += 1
            hold = self._seen == self.hold_message_number
        if hold:
            self.holding.set()
            await asyncio.sleep(2)
        await asyncio.sleep(self.every_message_seconds)
        if server.transport is None or server.transport.is_closing():
            return "421 Sender went away"
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.received.append(message["Message-ID"])
        return "250 OK"


def _worker(env, log_path):
    return _start([str(BIN / "flask"), "--app", "kapclinic", "worker", "--interval", "0.1"], env, log_path)


def _queued_outbox(make_app, postgres_url, total):
    """An app on the database and a data key, with `total` emails waiting in the outbox."""
    data_key = Fernet.generate_key().decode()
    app = make_app(postgres_url, DATA_KEYS=[data_key])
    queue_test_emails(app, [f"staff{number}@clinic.example.org" for number in range(total)])
    return app, data_key


def _wait_until_sent(app, total, seconds=60):
    deadline = time.monotonic() + seconds
    sent = 0
    while time.monotonic() < deadline:
        with app.app_context():
            sent = db.session.scalar(select(func.count()).where(OutboxMessage.status == OutboxStatus.SENT))
            db.session.rollback()
        if sent == total:
            break
        time.sleep(0.2)
    time.sleep(0.5)
    return sent


def test_workers_never_send_a_message_twice_even_when_one_is_killed_mid_batch(
    make_app, postgres_url, tmp_path, stop_processes
):
    total = 60
    app, data_key = _queued_outbox(make_app, postgres_url, total)

    server = SlowMailServer(hold_message_number=4)
    controller = Controller(server, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        env = _production_env(
            postgres_url, data_key, controller.port, WORKER_BATCH="10", OUTBOX_CLAIM_LEASE_SECONDS="3"
        )
        first = _worker(env, tmp_path / "worker-1.log")
        stop_processes.append(first)
        assert server.holding.wait(timeout=30), (tmp_path / "worker-1.log").read_text()[-2000:]
        first.kill()  # mid-batch, while it waits for the server's reply
        first.wait(timeout=10)
        others = [_worker(env, tmp_path / f"worker-{number}.log") for number in (2, 3)]
        stop_processes.extend(others)
        sent = _wait_until_sent(app, total)
    finally:
        controller.stop()

    assert sent == total, f"{sent} of {total} sent"
    counts = Counter(server.received)
    assert len(counts) == total and set(counts.values()) == {1}, [item for item in counts.items() if item[1] > 1]
    with app.app_context():
        retried = db.session.scalar(select(func.count()).where(OutboxMessage.attempts > 1))
        db.session.rollback()
    assert retried >= 1, "the killed worker's claimed messages were taken over after the lease"
    worker_logs = "\n".join((tmp_path / f"worker-{number}.log").read_text() for number in (1, 2, 3))
    assert "staff1@clinic.example.org" not in worker_logs and "ref-" not in worker_logs


def test_a_mail_server_slower_than_the_lease_never_gets_a_message_twice(
    make_app, postgres_url, tmp_path, stop_processes
):
    """Batches outlast their one-second lease; the other worker takes what is left, and nothing is sent by both."""
    total = 30
    app, data_key = _queued_outbox(make_app, postgres_url, total)
    server = SlowMailServer(every_message_seconds=0.3)
    controller = Controller(server, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        env = _production_env(
            postgres_url, data_key, controller.port, WORKER_BATCH="10", OUTBOX_CLAIM_LEASE_SECONDS="1"
        )
        stop_processes.extend(_worker(env, tmp_path / f"worker-{number}.log") for number in (1, 2))
        sent = _wait_until_sent(app, total)
    finally:
        controller.stop()
    assert sent == total
    counts = Counter(server.received)
    assert len(counts) == total and set(counts.values()) == {1}, [item for item in counts.items() if item[1] > 1]
