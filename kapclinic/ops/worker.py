"""`flask worker`: the long-running loop that queues due reminders and delivers the outbox.

Several workers may run at once: outbox rows are claimed with FOR UPDATE SKIP LOCKED
and a lease (notifications.services), reminders by a unique row (reminders.services),
so none is sent twice; a worker killed mid-batch leaves its claimed rows to be sent
again once the lease runs out. SIGTERM or Ctrl-C ends the loop after the current round.
"""

import signal
import threading

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from kapclinic.notifications.services import deliver_due
from kapclinic.reminders import services as reminders


def run_round(limit):
    """Queue due reminders (committed first, so they survive a failing mail server), then deliver."""
    queued = reminders.queue_due(now_utc(), limit)
    db.session.commit()
    sent = deliver_due(limit)
    return queued, sent


@click.command("worker")
@click.option("--once", is_flag=True, help="Run one round and exit (for cron, or a check after deploy).")
@click.option("--interval", type=float, default=None, help="Seconds between rounds (default WORKER_INTERVAL_SECONDS).")
@with_appcontext
def worker_command(once, interval):
    """Deliver emails and queue reminders until stopped."""
    interval = current_app.config["WORKER_INTERVAL_SECONDS"] if interval is None else interval
    limit = current_app.config["WORKER_BATCH"]
    stopping = threading.Event()
    for name in (signal.SIGTERM, signal.SIGINT):
        signal.signal(name, lambda *_: stopping.set())
    logger = current_app.logger
    logger.info("worker started", extra={"fields": {"interval_s": interval, "batch": limit}})
    while True:
        try:
            queued, sent = run_round(limit)
        except SQLAlchemyError as error:
            # The database is away (a restart, a failover): keep the process, try next round.
            db.session.rollback()
            logger.error("worker round failed", extra={"fields": {"error": type(error).__name__}})
        else:
            if queued or sent:
                logger.info("worker round", extra={"fields": {"reminders_queued": queued, "emails_sent": sent}})
        if once or stopping.wait(interval):
            break
    logger.info("worker stopped")
