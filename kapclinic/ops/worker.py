"""`flask worker`: the long-running loop that releases unconfirmed holds, answers staff password-reset requests,
queues due reminders and delivers the outbox.

Several workers may run at once: outbox rows are claimed with FOR UPDATE SKIP LOCKED
and a lease (notifications.services), reset requests are deleted as they are taken
(accounts.services), reminders are decided by a unique row (reminders.services),
so none is sent twice; a worker killed mid-batch leaves its claimed rows to others
within seconds (the one it was sending after the lease). A round that did work is
followed at once by the next; the worker sleeps WORKER_INTERVAL_SECONDS only when a
round found nothing to do. If the database fails mid-batch, the worker keeps what it
could not record and writes it first, retrying every second, before claiming more.
SIGTERM or Ctrl-C ends the loop after the current round.
"""

import signal
import threading

import click
from flask import current_app
from flask.cli import with_appcontext

from kapclinic.accounts.services import issue_requested_password_resets
from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from kapclinic.notifications.services import Backlog, deliver_due, settle
from kapclinic.reminders import services as reminders
from kapclinic.scheduling.services import release_expired_holds

BACKLOG_RETRY_SECONDS = 1.0


def _guarded(step, name):
    """Run one step of a round; a failing step (database away, a broken template) must not stop the other."""
    try:
        return step()
    except Exception as error:  # noqa: BLE001 - the loop must go on; the type is logged, never the message
        db.session.rollback()
        current_app.logger.error("worker step failed", extra={"fields": {"step": name, "error": type(error).__name__}})
        return 0


def _queue_reminders(limit):
    queued = reminders.queue_due(now_utc(), limit)
    db.session.commit()
    return queued


def _release_holds():
    released = release_expired_holds(now_utc())
    db.session.commit()
    if released:
        current_app.logger.info("holds released", extra={"fields": {"bookings": released}})
    return released


def _issue_password_resets(limit):
    taken, links = issue_requested_password_resets(now_utc(), limit)
    db.session.commit()
    if taken:
        current_app.logger.info(
            "password reset requests answered", extra={"fields": {"requests": taken, "links": links}}
        )
    return links


def _settle(backlog):
    settle(backlog)
    return True


def run_round(limit, backlog=None):
    """Release unconfirmed holds, answer password-reset requests and queue due reminders (each committed first,
    so they survive a failing mail server), then deliver."""
    _guarded(_release_holds, "holds")
    _guarded(lambda: _issue_password_resets(limit), "password resets")
    queued = _guarded(lambda: _queue_reminders(limit), "reminders")
    sent = _guarded(lambda: deliver_due(limit, backlog), "delivery")
    return queued, sent


def _round_and_pause(limit, backlog, interval):
    """Run a round (or only write the backlog while the database is away); return how long to wait after it."""
    if backlog and not _guarded(lambda: _settle(backlog), "backlog"):
        # The database is still away: claim nothing new, try again shortly.
        return BACKLOG_RETRY_SECONDS
    queued, sent = run_round(limit, backlog)
    if queued or sent:
        current_app.logger.info("worker round", extra={"fields": {"reminders_queued": queued, "emails_sent": sent}})
    # Work found means more may be waiting (a full batch, or emails queued meanwhile): go on at once.
    return BACKLOG_RETRY_SECONDS if backlog else 0 if queued or sent else interval


@click.command("worker")
@click.option("--once", is_flag=True, help="Run one round and exit (for cron, or a check after deploy).")
@click.option(
    "--interval",
    type=float,
    default=None,
    help="Seconds to wait after a round that found nothing to do (default WORKER_INTERVAL_SECONDS).",
)
@with_appcontext
def worker_command(once, interval):
    """Deliver emails and queue reminders until stopped."""
    interval = current_app.config["WORKER_INTERVAL_SECONDS"] if interval is None else interval
    limit = current_app.config["WORKER_BATCH"]
    stopping = threading.Event()
    for name in (signal.SIGTERM, signal.SIGINT):
        signal.signal(name, lambda *_: stopping.set())
    logger = current_app.logger
    # Kept for the worker's life: what a database failure left unwritten (notifications.services.Backlog).
    backlog = Backlog()
    logger.info("worker started", extra={"fields": {"interval_s": interval, "batch": limit}})
    while True:
        # Each round in an app context of its own, as each request is: what it read of the
        # clinic's details (which emails show) is read again, not kept for the worker's life.
        with current_app.app_context():
            pause = _round_and_pause(limit, backlog, interval)
        if once or stopping.wait(pause):
            break
    logger.info("worker stopped")
