"""Queue emails in the caller's transaction; deliver them after it commits.

Indico's pattern: nothing is sent while a transaction could still roll back.
`queue_email` adds an outbox row to the current session; once that session
commits, the rows it queued are delivered at the end of the request. Rows that
fail stay pending with a backoff and are retried by `flask outbox send`.
"""

from datetime import timedelta

from flask import current_app, render_template
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from kapclinic.notifications.mailer import build_message, transmit
from kapclinic.notifications.models import OutboxMessage, OutboxStatus

_QUEUED = "kapclinic.outbox_queued"
_COMMITTED = "kapclinic.outbox_committed"
MAX_BACKOFF = timedelta(hours=6)
ERROR_TEXT_MAX = 500


def queue_email(recipient, template, context, ics=None, ics_method=None):
    """Add an email to the outbox, rendered from templates/email/<template>.{txt,html}.

    The first line of the .txt template is the subject.
    """
    text = render_template(f"email/{template}.txt", **context)
    subject, _, body_text = text.partition("\n")
    message = OutboxMessage(
        recipient=recipient,
        subject=subject.strip(),
        body_text=body_text.lstrip("\n"),
        body_html=render_template(f"email/{template}.html", **context),
        ics=ics.decode("utf-8") if isinstance(ics, bytes) else ics,
        ics_method=ics_method,
    )
    db.session.add(message)
    db.session.info.setdefault(_QUEUED, []).append(message)
    return message


@event.listens_for(Session, "after_commit")
def _remember_committed_messages(session):
    queued = session.info.pop(_QUEUED, [])
    if queued:
        session.info.setdefault(_COMMITTED, []).extend(message.id for message in queued)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back_messages(session):
    session.info.pop(_QUEUED, None)


def deliver_committed():
    """Send what this session committed since the last call (called after each request)."""
    message_ids = db.session.info.pop(_COMMITTED, [])
    if not message_ids:
        return 0
    rows = db.session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.id.in_(message_ids), OutboxMessage.status == OutboxStatus.PENDING
        )
    ).all()
    return _deliver(rows)


def deliver_due(now=None, limit=100):
    """Send pending messages whose next attempt is due; return how many were sent.

    On PostgreSQL the rows are claimed with FOR UPDATE SKIP LOCKED, so two senders
    running at once never take the same row.
    """
    now = now or now_utc()
    rows = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_dt <= now)
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    return _deliver(rows)


def _deliver(rows):
    sent = 0
    if rows:
        now = now_utc()
        max_attempts = current_app.config["OUTBOX_MAX_ATTEMPTS"]
        for row, error in transmit([(row, build_message(row)) for row in rows]):
            row.attempts += 1
            if error is None:
                row.status = OutboxStatus.SENT
                row.sent_dt = now
                row.last_error = ""
                sent += 1
                continue
            row.last_error = f"{type(error).__name__}: {error}"[:ERROR_TEXT_MAX]
            if row.attempts >= max_attempts:
                row.status = OutboxStatus.FAILED
            else:
                row.next_attempt_dt = now + min(timedelta(minutes=2**row.attempts), MAX_BACKOFF)
            current_app.logger.warning(
                "outbox message %s not delivered (attempt %s): %s", row.id, row.attempts, type(error).__name__
            )
    db.session.commit()
    return sent
