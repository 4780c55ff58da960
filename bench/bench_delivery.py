"""Measure how long an email waits in the outbox when `flask worker` delivers on PostgreSQL.

Setup: one `flask --app kapclinic worker` process (KAPCLINIC_CONFIG=production, its default
interval and batch) on a new PostgreSQL database, sending to an SMTP server on loopback
(aiosmtpd) that notes when it accepts each message. Two loads:

- steady: emails queued one per transaction at a steady rate (as bookings arrive), for a while;
  the figure is the delay from the row's commit to the server's acceptance (median, p95);
- backlog: many emails queued at once; the figure is how many the worker sends per second.

Usage: python bench/bench_delivery.py [--rate N] [--seconds N] [--backlog N]
"""

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "bench"))
os.environ.setdefault("KAPCLINIC_CONFIG", "testing")

from aiosmtpd.controller import Controller  # noqa: E402
from bench_api import _drop_database, _free_port, _new_database  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

from kapclinic import create_app  # noqa: E402
from kapclinic.extensions import db  # noqa: E402
from kapclinic.notifications.models import OutboxMessage  # noqa: E402

BODY = "Your consultation is confirmed.\n" * 40


class AcceptingServer:
    """Accept every message and note when, by the outbox id in its Message-ID."""

    def __init__(self):
        self.accepted = {}
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        # Message-ID: <outbox-{id}.{created}@domain>
        header = next(line for line in envelope.content.split(b"\r\n") if line.lower().startswith(b"message-id:"))
        message_id = int(header.split(b"outbox-")[1].split(b".")[0])
        with self._lock:
            self.accepted.setdefault(message_id, datetime.now(UTC))
        return "250 OK"

    def count(self):
        with self._lock:
            return len(self.accepted)


def _queue(app, number):
    """Commit one outbox row, as a booking's transaction would; return its id and commit time."""
    with app.app_context():
        message = OutboxMessage(
            recipient=f"patient{number}@example.com", subject="Your consultation", body_text=BODY, body_html=BODY
        )
        db.session.add(message)
        db.session.commit()
        committed = datetime.now(UTC)
        return message.id, committed


def _worker(database_url, data_key, mail_port, log_path):
    env = {
        **os.environ,
        "KAPCLINIC_CONFIG": "production",
        "SECRET_KEY": secrets.token_hex(32),
        "AUDIT_KEY": secrets.token_hex(32),
        "PUBLIC_BASE_URL": "https://clinic.example.org",
        "DATABASE_URL": database_url,
        "KAPCLINIC_DATA_KEY": data_key,
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(mail_port),
    }
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "flask"), "--app", "kapclinic", "worker"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def _wait_for(server, total, seconds):
    deadline = time.monotonic() + seconds
    while server.count() < total and time.monotonic() < deadline:
        time.sleep(0.05)
    return server.count()


def _steady(app, server, rate, seconds):
    """Queue rate x seconds emails at a steady pace; return (median s, p95 s, delivered, queued)."""
    queued = {}
    started = time.monotonic()
    for number in range(int(rate * seconds)):
        pause = started + number / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        message_id, committed = _queue(app, number)
        queued[message_id] = committed
    _wait_for(server, len(queued), 120)
    delays = sorted(
        (server.accepted[message_id] - committed).total_seconds()
        for message_id, committed in queued.items()
        if message_id in server.accepted
    )
    p95 = delays[min(len(delays) - 1, int(len(delays) * 0.95))]
    return statistics.median(delays), p95, len(delays), len(queued)


def _backlog(app, server, total):
    """Queue `total` emails in one transaction; return emails/s from that commit to the last acceptance."""
    before = server.count()
    with app.app_context():
        db.session.add_all(
            OutboxMessage(recipient=f"backlog{n}@example.com", subject="Reminder", body_text=BODY, body_html=BODY)
            for n in range(total)
        )
        db.session.commit()
    started = datetime.now(UTC)
    _wait_for(server, before + total, 300)
    last = max(server.accepted.values())
    return (server.count() - before) / (last - started).total_seconds()


def run(rate=23, seconds=30, backlog=1000):
    """Return the measurements of one run as a dict."""
    database_url, name = _new_database()
    data_key = Fernet.generate_key().decode()
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "DATA_KEYS": [data_key], "MAIL_SERVER": None})
    with app.app_context():
        upgrade()
    server = AcceptingServer()
    controller = Controller(server, hostname="127.0.0.1", port=_free_port())
    controller.start()
    log_path = Path(f"/tmp/bench-delivery-worker-{os.getpid()}.log")
    worker = _worker(database_url, data_key, controller.port, log_path)
    try:
        time.sleep(2)  # the worker starts and finds nothing to do
        median, p95, delivered, queued = _steady(app, server, rate, seconds)
        drain_rate = _backlog(app, server, backlog)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        controller.stop()
        with app.app_context():
            db.engine.dispose()
        _drop_database(name)
    return {
        "setup": f"One `flask worker` (production defaults), PostgreSQL, SMTP on loopback; "
        f"{queued} emails queued one per transaction at {rate}/s, then {backlog} at once",
        "median_s": median,
        "p95_s": p95,
        "delivered": delivered,
        "queued": queued,
        "drain_per_s": drain_rate,
        "rate": rate,
    }


# The same bench before the worker went on at once after a busy round (commit 8fc815a: it slept
# WORKER_INTERVAL_SECONDS, then 5, after every round, and took a pooled connection, checked, for
# each of its two commits per email).
BEFORE = {"median_s": 8.48, "p95_s": 13.44, "drain_per_s": 16.2}


def section(results):
    """The RESULTS.md section for one run, as lines."""
    rows = [("this run", results), ("before (8fc815a, same machine)", BEFORE)]
    return [
        "",
        "## Email delivery by `flask worker` on PostgreSQL",
        "",
        results["setup"] + ".",
        "",
        f"| | median delay at {results['rate']:g}/s | p95 delay | backlog drained, emails/s |",
        "| --- | ---: | ---: | ---: |",
        *(
            f"| {name} | {row['median_s']:.2f} s | {row['p95_s']:.2f} s | {row['drain_per_s']:.1f} |"
            for name, row in rows
        ),
        "",
        f"Delay: from the email's commit to the mail server's acceptance ({results['delivered']} of "
        f"{results['queued']} delivered). Throughput {results['drain_per_s'] / BEFORE['drain_per_s']:.1f}x before.",
        "",
    ]


def print_results(results):
    print(results["setup"])
    print(
        f"steady {results['rate']}/s: median {results['median_s']:.2f} s, p95 {results['p95_s']:.2f} s from commit "
        f"to the mail server ({results['delivered']} of {results['queued']} delivered)"
    )
    print(f"backlog: {results['drain_per_s']:.1f} emails/s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=23)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--backlog", type=int, default=1000)
    args = parser.parse_args()
    print_results(run(args.rate, args.seconds, args.backlog))


if __name__ == "__main__":
    main()
