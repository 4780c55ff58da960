"""Queue emails in the caller's transaction; deliver them after it commits.

Indico's pattern: nothing is sent while a transaction could still roll back.
`queue_email` adds an outbox row to the current session; once that session
commits, the rows it queued are delivered at the end of the request. Rows that
fail stay pending and are retried by `flask worker` (or a one-off `flask outbox
send`) 30 s later, then after twice as long each time up to 6 hours; after
OUTBOX_MAX_ATTEMPTS, or at once for a permanent refusal, they are marked failed,
for an admin to see and retry.

Under faults: each message is marked sent by one write sent the moment the mail
server accepts it, so a sender killed in between rarely leaves a message to be sent
twice (its Message-ID stays the same if it is). If the database fails mid-batch the
sender stops, keeps in a Backlog what the server accepted, and marks it, and gives
back the claims it did not use, as soon as the database answers, before claiming more.
"""

import smtplib
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app, render_template
from sqlalchemy import event, insert, select, update
from sqlalchemy.orm import Session

from kapclinic.core.clinic import clinic
from kapclinic.core.crypto import UnreadableData
from kapclinic.core.timezones import now_utc
from kapclinic.core.urls import public_url
from kapclinic.extensions import db
from kapclinic.ics.builder import build_invite, invite_from_json
from kapclinic.ics.services import BookingFacts, invite_event, web_calendar_links
from kapclinic.notifications.mailer import build_message, transmit
from kapclinic.notifications.models import OutboxMessage, OutboxStatus

_QUEUED = "kapclinic.outbox_queued"
_COMMITTED = "kapclinic.outbox_committed"
# Rows claimed but not yet being sent are hidden from other senders this long at most
# (the one being sent is leased for OUTBOX_CLAIM_LEASE_SECONDS): a killed sender's batch
# is taken over within it.
CLAIM_HOLD = timedelta(seconds=15)
FIRST_RETRY = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=6)
ERROR_TEXT_MAX = 500
UNREADABLE_ERROR = (
    "cannot be read with the current data keys: its key left KAPCLINIC_DATA_KEY before "
    "`flask intake reencrypt` moved it; put the old key back (after the new one) to send it"
)


def queue_email(recipient, template, context, invite=None, ics_method=None, expires_dt=None):
    """Add an email to the outbox and return its id. It is rendered from templates/email/<template>.{txt,html}
    when it is sent, with `invite` (ics.services.BookingFacts) as its calendar invite if given.

    `context` holds plain values (it is stored as JSON, encrypted): the request does no
    rendering, the sender does it (see _render). The first line of the .txt template is the
    subject. Templates get `clinic_display_name` for what a lock screen shows (the subject);
    bodies, once opened, may use `clinic_name`.
    """
    # One INSERT and no object to track: a booking queues an email on every request.
    message_id = db.session.scalars(
        insert(OutboxMessage).returning(OutboxMessage.id),
        [
            {
                "recipient": recipient,
                "subject": "",
                "template": template,
                "context": {"values": context, "invite": invite.to_json() if invite is not None else None},
                "ics_method": ics_method,
                "expires_dt": expires_dt,
            }
        ],
    ).one()
    db.session.info.setdefault(_QUEUED, []).append(message_id)
    return message_id


@event.listens_for(Session, "after_commit")
def _remember_committed_messages(session):
    if session.in_nested_transaction():
        return  # a savepoint was released; nothing is committed yet
    queued = session.info.pop(_QUEUED, [])
    if queued:
        session.info.setdefault(_COMMITTED, []).extend(queued)


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
    return _deliver(OutboxMessage.id.in_(message_ids), len(message_ids), Backlog())


def deliver_due(limit=100, backlog=None):
    """Send pending messages whose next attempt is due; return how many were sent.

    A long-running sender passes the same `backlog` every time (see Backlog).
    """
    return _deliver(None, limit, Backlog() if backlog is None else backlog)


@dataclass
class Backlog:
    """What a sender could not write when the database failed mid-batch, to write first once it answers.

    `accepted` (id: when): messages the mail server took, to mark sent before their lease ends and
    another sender sends them again. `unsent` (id: the attempts its claim set): claims it never used,
    to give back so they go out at once rather than after the lease.
    """

    accepted: dict = field(default_factory=dict)
    unsent: dict = field(default_factory=dict)

    def __bool__(self):
        return bool(self.accepted or self.unsent)


def settle(backlog):
    """Write what `backlog` holds and forget it; raise if the database still fails (the backlog then stays)."""
    if not backlog:
        return
    now = now_utc()
    with _bookkeeping() as connection, connection.begin():
        for message_id, sent_dt in backlog.accepted.items():
            connection.execute(_mark_sent(message_id, sent_dt))
        for message_id, attempts in backlog.unsent.items():
            connection.execute(_give_back(message_id, attempts, now))
    current_app.logger.warning(
        "outbox outcomes written after a database failure",
        extra={"fields": {"sent": len(backlog.accepted), "given_back": len(backlog.unsent)}},
    )
    backlog.accepted.clear()
    backlog.unsent.clear()


def retry_delay(attempts):
    """How long a message waits after its `attempts`-th try failed: 30 s, doubling, at most 6 hours."""
    return min(FIRST_RETRY * 2 ** min(attempts - 1, 20), MAX_BACKOFF)


def _claim(condition, limit, now):
    """Take due pending rows for this sender and commit, so no lock is held while talking to SMTP.

    The claim hides the rows from other senders (FOR UPDATE SKIP LOCKED on PostgreSQL;
    SQLite serialises writers) for CLAIM_HOLD; each is leased again, for the full lease,
    right before it is sent (_held). A sender that dies mid-batch leaves the rows it had not
    reached to others once the hold ends, and the one it was sending once its lease ends.
    """
    query = select(OutboxMessage).where(
        OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_dt <= now
    )
    if condition is not None:
        query = query.where(condition)
    rows = db.session.scalars(query.order_by(OutboxMessage.id).limit(limit).with_for_update(skip_locked=True)).all()
    hold = min(_lease(), CLAIM_HOLD)
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
        row.next_attempt_dt = now + hold
        try:
            _render(row)
            claimed.append((row.id, row.attempts, build_message(row)))
        except UnreadableData:
            # Its key was dropped before `flask intake reencrypt` moved it: no retry can send it.
            row.status = OutboxStatus.FAILED
            row.last_error = UNREADABLE_ERROR
            current_app.logger.error("outbox message %s cannot be read with the current data keys", row.id)
        except Exception as error:  # noqa: BLE001 - one malformed message must not block the others
            for name, value in _failure(row.id, row.attempts, error, now, final=True).items():
                setattr(row, name, value)
    db.session.commit()
    return claimed


def _lease():
    return timedelta(seconds=current_app.config["OUTBOX_CLAIM_LEASE_SECONDS"])


def _is_permanent(error):
    """A mailbox the server says does not exist (5xx to RCPT) will not appear on a retry.

    Other 5xx answers (a refused login, a sending quota, a greeting refused) are about
    the connection, not this message, and pass: they are retried like any outage.
    """
    return isinstance(error, smtplib.SMTPRecipientsRefused) and all(
        code >= 500 for code, _ in error.recipients.values()
    )


def _render(row):
    """Write the subject, the bodies and the invite of a queued email from what its request stored, once.

    The invite is dated when the email was queued. A message queued before the sender
    rendered (its bodies written, its event in `invite`) only has its invite built.
    """
    if row.context is not None:
        values = {
            "clinic_display_name": clinic().display_name,
            "links_again_url": public_url("scheduling.links_again"),
            **row.context["values"],
        }
        facts = row.context["invite"] and BookingFacts.from_json(row.context["invite"])
        if facts:
            values["calendar_links"] = web_calendar_links(facts)
            row.ics = _invite_text(invite_event(facts), row)
        subject, _, body_text = render_template(f"email/{row.template}.txt", **values).partition("\n")
        row.subject, row.body_text = subject.strip(), body_text.lstrip("\n")
        row.body_html = render_template(f"email/{row.template}.html", **values)
        row.context = None
    elif row.invite is not None:
        row.ics = _invite_text(invite_from_json(row.invite), row)
        row.invite = None


def _invite_text(event, row):
    return build_invite(event, row.created_dt, row.ics_method).decode("utf-8")


def _drop_body(row):
    """Forget what an email said once it is delivered or can no longer be: it holds the patient's working links."""
    row.body_text = row.body_html = ""
    row.ics = row.invite = row.context = None


def _failure(message_id, attempts, error, now, final=False):
    """The columns that record a failed try: failed for good, or pending until its retry is due."""
    values = {"last_error": f"{type(error).__name__}: {error}"[:ERROR_TEXT_MAX]}
    if final or _is_permanent(error) or attempts >= current_app.config["OUTBOX_MAX_ATTEMPTS"]:
        values["status"] = OutboxStatus.FAILED
    else:
        values["next_attempt_dt"] = now + retry_delay(attempts)
    # Only the id and the error's type: the message text may name the recipient.
    current_app.logger.warning(
        "outbox message %s not delivered (attempt %s): %s", message_id, attempts, type(error).__name__
    )
    return values


def _ours(message_id, attempts):
    """The row, while the claim that set `attempts` still holds it (another sender's claim raises attempts)."""
    return update(OutboxMessage).where(
        OutboxMessage.id == message_id,
        OutboxMessage.status == OutboxStatus.PENDING,
        OutboxMessage.attempts == attempts,
    )


def _mark_sent(message_id, sent_dt):
    # Whoever holds the row now: the server took it, so no one must send it again.
    return (
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(status=OutboxStatus.SENT, sent_dt=sent_dt, last_error="", body_text="", body_html="", ics=None)
    )


def _give_back(message_id, attempts, now):
    # Due at once, and the try it never made is not counted.
    return _ours(message_id, attempts).values(next_attempt_dt=now, attempts=attempts - 1)


@contextmanager
def _bookkeeping():
    """One connection for a batch's per-message writes, each committed on its own.

    On PostgreSQL each write is a single autocommitted statement: a message's mark is
    committed by the one packet that carries it, sent the moment the mail server answers,
    so a sender killed after that answer has almost always recorded it (the mark used to
    wait on a pool check, a SELECT and an UPDATE before its COMMIT went out). SQLite
    takes its write lock at BEGIN (kapclinic.core.db), so there each write is a short
    transaction.
    """
    with db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execution_options(isolation_level="AUTOCOMMIT")
        yield connection


def _write(connection, statement):
    with connection.begin():
        return connection.execute(statement).rowcount


def _held(connection, claimed):
    """Yield each claimed message just before it is sent, leasing it anew; skip one that another sender took.

    Another sender may claim the rows this one has not reached once their hold ends
    (raising `attempts`). Checking the claim per message, right before sending it, keeps
    any message from being sent by both; the lease must outlast one slow send.
    """
    for message_id, attempts, message in claimed:
        if _write(connection, _ours(message_id, attempts).values(next_attempt_dt=now_utc() + _lease())):
            yield message_id, message


def _deliver(condition, limit, backlog):
    settle(backlog)  # an interrupted batch's outcomes first, before claiming anything new
    claimed = _claim(condition, limit, now_utc())
    if not claimed:
        return 0
    unused = {message_id: attempts for message_id, attempts, _ in claimed}
    sent = 0
    try:
        with _bookkeeping() as connection, closing(transmit(_held(connection, claimed))) as outcomes:
            for message_id, error in outcomes:
                if error is None:
                    # Remembered before it is written, in case the database fails now.
                    backlog.accepted[message_id] = now_utc()
                    del unused[message_id]
                    _write(connection, _mark_sent(message_id, backlog.accepted[message_id]))
                    del backlog.accepted[message_id]
                    sent += 1
                else:
                    attempts = unused[message_id]
                    _write(
                        connection,
                        _ours(message_id, attempts).values(**_failure(message_id, attempts, error, now_utc())),
                    )
                    del unused[message_id]
    except Exception:
        # Stop the batch: what the server took is marked, and the rest given back (a claim
        # another sender took since no longer matches, and is left alone), now if the
        # database answers again, or by the next call with this backlog.
        backlog.unsent.update(unused)
        with suppress(Exception):
            settle(backlog)
        raise
    return sent
