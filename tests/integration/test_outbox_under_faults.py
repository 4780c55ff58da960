"""The outbox under faults: a real `flask worker` killed or cut off from PostgreSQL mid-batch, a mail outage.

The worker runs as in production (its own process, KAPCLINIC_CONFIG=production) against a
real SMTP server on loopback that notes every message it accepts. A database drop is
PostgreSQL ending the worker's connections (pg_terminate_backend), with new connections
refused for a while (ALLOW_CONNECTIONS false), as during a restart.
"""

import signal
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from cryptography.fernet import Fernet
from sqlalchemy import func, select, text

from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from kapclinic.notifications.models import OutboxMessage, OutboxStatus
from kapclinic.notifications.services import CLAIM_HOLD, deliver_due, retry_delay
from tests.helpers import free_port, queue_test_emails
from tests.integration import test_scale
from tests.integration.test_scale import BIN, _production_env, _start

WORKER_NAME = "outbox-worker-under-test"
stop_processes = test_scale.stop_processes  # the fixture that ends the processes a test started


class NotingServer:
    """Accept every message, note its Message-ID and the connection it came on, and call `on_accept(count)`."""

    def __init__(self, on_accept=lambda count: None):
        self.on_accept = on_accept
        self._lock = threading.Lock()
        self._received = []
        self.connections = set()  # the client's (address, port) of each SMTP connection

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self._received.append(message["Message-ID"])
            self.connections.add(session.peer)
            count = len(self._received)
        self.on_accept(count)
        return "250 OK"

    @property
    def received(self):
        with self._lock:
            return list(self._received)


@pytest.fixture
def smtp():
    """Start a NotingServer; the test sets its `on_accept`."""
    server = NotingServer()
    controller = Controller(server, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, server
    controller.stop()


@pytest.fixture
def outbox(make_app, postgres_url):
    """An app on a new PostgreSQL database with its data key; returns (app, data key)."""
    data_key = Fernet.generate_key().decode()
    return make_app(postgres_url, DATA_KEYS=[data_key]), data_key


def _worker(app, data_key, mail_port, log_path, **settings):
    url = f"{app.config['SQLALCHEMY_DATABASE_URI']}?application_name={WORKER_NAME}"
    env = _production_env(url, data_key, mail_port, **settings)
    return _start([str(BIN / "flask"), "--app", "kapclinic", "worker"], env, log_path)


def _rows(app):
    """(id, status, attempts, next_attempt_dt) of every outbox row, by id."""
    with app.app_context():
        rows = db.session.execute(
            select(
                OutboxMessage.id, OutboxMessage.status, OutboxMessage.attempts, OutboxMessage.next_attempt_dt
            ).order_by(OutboxMessage.id)
        ).all()
        db.session.rollback()
    return rows


def _wait_until_sent(app, total, seconds=90):
    """Poll until `total` rows are sent or the time is up; return how many are."""
    deadline = time.monotonic() + seconds
    while True:
        with app.app_context():
            sent = db.session.scalar(select(func.count()).where(OutboxMessage.status == OutboxStatus.SENT))
            db.session.rollback()
        if sent >= total or time.monotonic() > deadline:
            return sent
        time.sleep(0.2)


def _outbox_id(message_id):
    return int(message_id.split("outbox-")[1].split(".")[0])


@pytest.mark.postgres
def test_a_worker_killed_as_the_server_accepts_has_marked_what_went_before_and_its_batch_waits_seconds(
    outbox, smtp, tmp_path, stop_processes
):
    """Killed as the server answers: at most that one message can go twice, and the rest of
    its batch is due again within the claim hold (15 s), not the lease (60 s)."""
    app, data_key = outbox
    total = 30
    queue_test_emails(app, [f"staff{number}@clinic.example.org" for number in range(total)])
    port, server = smtp
    killed = threading.Event()

    def kill_at_the_fourth(count):
        if count == 4:
            # The server has the message; its answer goes out as the worker dies, so the worker cannot
            # have marked it (or moved on to the next one). A timer a moment later raced the worker
            # on a busy machine: it could reach the next message first.
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            killed.set()

    server.on_accept = kill_at_the_fourth
    first = _worker(app, data_key, port, tmp_path / "worker-1.log", WORKER_BATCH="10")
    stop_processes.append(first)
    assert killed.wait(timeout=60), (tmp_path / "worker-1.log").read_text()[-2000:]
    first.wait(timeout=10)
    killed_at = now_utc()

    accepted = [_outbox_id(message_id) for message_id in server.received]
    rows = _rows(app)
    in_flight = accepted[-1]  # the one the server had just accepted when the kill came
    # Each message the server accepted before it was marked sent as it went.
    assert {row.id for row in rows if row.status is OutboxStatus.SENT} - {in_flight} == set(accepted[:-1])
    # The rest of its batch (claimed, never sent) is due again within the hold; only the one it was
    # sending waits for the lease.
    waiting = [row for row in rows if row.status is OutboxStatus.PENDING and row.id != in_flight]
    assert len(waiting) == total - len(accepted)
    assert max(row.next_attempt_dt for row in waiting) <= killed_at + CLAIM_HOLD

    second = _worker(app, data_key, port, tmp_path / "worker-2.log", WORKER_BATCH="10")
    stop_processes.append(second)
    sent = _wait_until_sent(app, total - 1)  # the one in flight may wait for its lease
    assert sent >= total - 1, (tmp_path / "worker-2.log").read_text()[-2000:]
    counts = Counter(_outbox_id(message_id) for message_id in server.received)
    assert set(counts) >= {row.id for row in rows} - {in_flight}
    assert [message for message, times in counts.items() if times > 1 and message != in_flight] == []


@pytest.mark.postgres
@pytest.mark.parametrize("away_seconds", [0, 3], ids=["connections-cut", "database-away-3s"])
def test_a_database_drop_mid_batch_sends_nothing_twice_and_holds_nothing_back(
    outbox, smtp, postgres_server, tmp_path, stop_processes, away_seconds
):
    """The message the server accepted as the database went away is marked once it answers; the claims the
    worker did not use are given back at once (each message is tried once), not left to their lease."""
    app, data_key = outbox
    total = 30
    queue_test_emails(app, [f"staff{number}@clinic.example.org" for number in range(total)])
    database = app.config["SQLALCHEMY_DATABASE_URI"].rsplit("/", 1)[1]
    port, server = smtp
    dropped, back, ended = threading.Event(), threading.Event(), []

    def allow_connections(allowed):
        with postgres_server.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {allowed}'))
        if allowed:
            back.set()

    def drop_at_the_fourth(count):
        if count != 4:
            return
        # Before the server answers: the worker's next write, the mark of this message, finds no database.
        if away_seconds:
            allow_connections(False)
        with postgres_server.connect() as connection:
            ended.append(
                connection.execute(
                    text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = :n"),
                    {"n": WORKER_NAME},
                ).scalar()
            )
        if away_seconds:
            threading.Timer(away_seconds, allow_connections, args=(True,)).start()
        else:
            back.set()
        dropped.set()

    server.on_accept = drop_at_the_fourth
    worker = _worker(app, data_key, port, tmp_path / "worker.log", WORKER_BATCH="10")
    stop_processes.append(worker)
    try:
        assert dropped.wait(timeout=60)
        assert back.wait(timeout=30)
    finally:
        if not back.is_set():
            allow_connections(True)
    assert ended[0] >= 1, "the worker's connections were ended"
    sent = _wait_until_sent(app, total)
    log = (tmp_path / "worker.log").read_text()
    assert sent == total, log[-3000:]
    counts = Counter(server.received)
    assert len(counts) == total and set(counts.values()) == {1}, counts.most_common(3)
    # Given back, not taken over after a lease: no message needed a second claim.
    assert {row.attempts for row in _rows(app)} == {1}
    assert "outbox outcomes written after a database failure" in log
    assert "staff1@clinic.example.org" not in log


@pytest.mark.postgres
def test_a_full_batch_is_followed_at_once_by_the_next(outbox, smtp, tmp_path, stop_processes):
    """With an hour's pause between idle rounds, a backlog of three and a half batches still goes out in one go,
    each batch over one SMTP connection."""
    app, data_key = outbox
    total = 35
    queue_test_emails(app, [f"staff{number}@clinic.example.org" for number in range(total)])
    port, server = smtp
    worker = _worker(app, data_key, port, tmp_path / "worker.log", WORKER_BATCH="10", WORKER_INTERVAL_SECONDS="3600")
    stop_processes.append(worker)
    assert _wait_until_sent(app, total, seconds=60) == total, (tmp_path / "worker.log").read_text()[-2000:]
    assert len(set(server.received)) == total
    assert len(server.connections) == 4


def test_after_a_mail_outage_the_first_retry_is_due_within_30_seconds_and_the_next_after_twice_that(
    make_app, sqlite_url, mailbox
):
    app = make_app(sqlite_url)
    (message_id,) = queue_test_emails(app, [f"outage-{uuid.uuid4().hex[:6]}@example.com"])
    mailbox.refuse = True
    waits = []
    with app.app_context():
        for _ in range(2):
            before = now_utc()
            assert deliver_due() == 0
            row = db.session.get(OutboxMessage, message_id)
            assert row.status is OutboxStatus.PENDING
            waits.append((row.next_attempt_dt - before, row.next_attempt_dt - now_utc()))
            row.next_attempt_dt = now_utc()  # its retry is due
            db.session.commit()
        mailbox.refuse = False
        assert deliver_due() == 1
    (first_most, first_least), (second_most, second_least) = waits
    assert first_least <= timedelta(seconds=30) <= first_most
    assert second_least <= timedelta(seconds=60) <= second_most
    assert len(mailbox.messages) == 1


def test_the_retries_still_ride_out_a_day_without_mail(make_app, sqlite_url):
    app = make_app(sqlite_url)
    tries = app.config["OUTBOX_MAX_ATTEMPTS"]
    waited = sum((retry_delay(attempt) for attempt in range(1, tries)), timedelta())
    assert timedelta(hours=24) <= waited <= timedelta(hours=36)
    assert retry_delay(tries) == timedelta(hours=6), "the backoff stops growing at 6 hours"
