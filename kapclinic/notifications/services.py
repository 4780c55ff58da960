"""Queue emails in the caller's transaction; deliver them after it commits.

Indico's pattern: nothing is sent while a transaction could still roll back.
`queue_email` adds an outbox row to the current session; once that session
commits, the rows it queued are delivered at the end of the request. Rows that
fail stay pending with a backoff and are retried by `flask worker` (or a one-off
`flask outbox send`); after OUTBOX_MAX_ATTEMPTS, or at once for a permanent
refusal, they are marked failed, for an admin to see and retry.
"""

import smtplib
from datetime import timedelta

from flask import current_app, render_template
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from kapclinic.core.clinic import clinic
from kapclinic.core.crypto import UnreadableData
from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from kapclinic.notifications.mailer import build_message, transmit
from kapclinic.notifications.models import OutboxMessage, OutboxStatus

_QUEUED = "kapclinic.outbox_queued"
_COMMITTED = "kapclinic.outbox_committed"
MAX_BACKOFF = timedelta(hours=6)
ERROR_TEXT_MAX = 500
UNREADABLE_ERROR = (
    "cannot be read with the current data keys: its key left KAPCLINIC_DATA_KEY before "
    "`flask intake reencrypt` moved it; put the old key back (after the new one) to send it"
)


def queue_email(recipient, template, context, ics=None, ics_method=None, expires_dt=None):
    """Add an email to the outbox, rendered from templates/email/<template>.{txt,html}.

    The first line of the .txt template is the subject. Templates get `clinic_display_name`
    for what a lock screen shows (the subject); bodies, once opened, may use `clinic_name`.
    """
    context = {"clinic_display_name": clinic().display_name, **context}
    text = render_template(f"email/{template}.txt", **context)
    subject, _, body_text = text.partition("\n")
    message = OutboxMessage(
        recipient=recipient,
        subject=subject.strip(),
        body_text=body_text.lstrip("\n"),
        body_html=render_template(f"email/{template}.html", **context),
        ics=ics.decode("utf-8") if isinstance(ics, bytes) else ics,
        ics_method=ics_method,
        expires_dt=expires_dt,
    )
    db.session.add(message)
    db.session.info.setdefault(_QUEUED, []).append(message)
    return message


@event.listens_for(Session, "after_commit")
def _remember_committed_messages(session):
    if session.in_nested_transaction():
        return  # a savepoint was released; nothing is committed yet
    queued = session.info.pop(_QUEUED, [])
    if queued:
        session.info.setdefault(_COMMITTED, []).extend(message.id for message in queued)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back_messages(session):
    # A savepoint's rollback (a lost race in flush_in_savepoint) leaves the rest of the
    # transaction, and the emails queued in it, to be committed.
    if not session.in_nested_transaction():
        session.info.pop(_QUEUED, None)


def deliver_committed():
    """Send what this session committed since the last call (called after each request)."""
    message_ids = db.session.info.pop(_COMMITTED, [])
    if not message_ids:
        return 0
    return _deliver(OutboxMessage.id.in_(message_ids), limit=len(message_ids))


def deliver_due(limit=100):
    """Send pending messages whose next attempt is due; return how many were sent."""
    return _deliver(None, limit)


def _claim(condition, limit, now):
    """Take due pending rows for this sender and commit, so no lock is held while talking to SMTP.

    The claim pushes next_attempt_dt one lease ahead: another sender skips the rows
    (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite serialises writers), and a sender
    that dies mid-send leaves them to be retried once the lease runs out.
    """
    query = select(OutboxMessage).where(
        OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_dt <= now
    )
    if condition is not None:
        query = query.where(condition)
    rows = db.session.scalars(query.order_by(OutboxMessage.id).limit(limit).with_for_update(skip_locked=True)).all()
    claimed = []
    for row in rows:
        if row.expires_dt is not None and row.expires_dt <= now:
            row.status = OutboxStatus.FAILED
            row.last_error = "expired before it could be sent"
            _drop_body(row)  # it can never be sent now
            continue
        if row.attempts >= current_app.config["OUTBOX_MAX_ATTEMPTS"]:
            # Every try so far ended with its sender gone before recording an outcome.
            row.status = OutboxStatus.FAILED
            row.last_error = row.last_error or "sender stopped before the outcome was recorded"
            continue
        row.attempts += 1
        row.next_attempt_dt = now + timedelta(seconds=current_app.config["OUTBOX_CLAIM_LEASE_SECONDS"])
        try:
            claimed.append((row.id, row.attempts, build_message(row)))
        except UnreadableData:
            # Its key was dropped before `flask intake reencrypt` moved it: no retry can send it.
            row.status = OutboxStatus.FAILED
            row.last_error = UNREADABLE_ERROR
            current_app.logger.error("outbox message %s cannot be read with the current data keys", row.id)
        except Exception as error:  # noqa: BLE001 - one malformed message must not block the others
            _record_failure(row, error, now, final=True)
    db.session.commit()
    return claimed


def _is_permanent(error):
    """A mailbox the server says does not exist (5xx to RCPT) will not appear on a retry.

    Other 5xx answers (a refused login, a sending quota, a greeting refused) are about
    the connection, not this message, and pass: they are retried like any outage.
    """
    return isinstance(error, smtplib.SMTPRecipientsRefused) and all(
        code >= 500 for code, _ in error.recipients.values()
    )


def _drop_body(row):
    """Forget what an email said once it is delivered or can no longer be: it holds the patient's working links."""
    row.body_text = row.body_html = ""
    row.ics = None


def _record_failure(row, error, now, final=False):
    row.last_error = f"{type(error).__name__}: {error}"[:ERROR_TEXT_MAX]
    if final or _is_permanent(error) or row.attempts >= current_app.config["OUTBOX_MAX_ATTEMPTS"]:
        row.status = OutboxStatus.FAILED
    else:
        row.next_attempt_dt = now + min(timedelta(minutes=2**row.attempts), MAX_BACKOFF)
    # Only the id and the error's type: the message text may name the recipient.
    current_app.logger.warning(
        "outbox message %s not delivered (attempt %s): %s", row.id, row.attempts, type(error).__name__
    )


def _held(claimed):
    """Yield each claimed message just before it is sent, renewing its lease; skip one that another sender took.

    A slow mail server can make a batch outlast its lease; another sender may then
    claim the rest (raising `attempts`). Checking the claim per message, right before
    sending it, keeps any message from being sent by both.
    """
    lease = timedelta(seconds=current_app.config["OUTBOX_CLAIM_LEASE_SECONDS"])
    for message_id, attempts, message in claimed:
        renewed = db.session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == message_id,
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.attempts == attempts,
            )
            .values(next_attempt_dt=now_utc() + lease)
        ).rowcount
        db.session.commit()
        if renewed:
            yield message_id, message


def _deliver(condition, limit):
    now = now_utc()
    claimed = _claim(condition, limit, now)
    if not claimed:
        return 0
    sent = 0
    for message_id, error in transmit(_held(claimed)):
        row = db.session.get(OutboxMessage, message_id)
        if error is None:
            row.status = OutboxStatus.SENT
            row.sent_dt = now_utc()
            row.last_error = ""
            _drop_body(row)
            sent += 1
        else:
            _record_failure(row, error, now_utc())
        # One commit per message: a sender killed mid-batch has recorded every message
        # the server accepted, so the lease sends again only what was not delivered.
        db.session.commit()
    return sent
